// hmr train — train a (beta-)VAE on a feature matrix and save it as .safetensors (PyTorch names).
// Features: any array io::read_array takes (X.npy of any numeric dtype, X.npz:name, numeric CSV),
// a Kaggle-layout features.csv (MFCC columns chosen by --columns) or a TF-IDF tfidf.npz (scipy
// CSR, densified; used as is, not standardised).
// Settings: defaults < --config FILE.toml ([vae] table or root) < --set key=value < flags.
// --resume MODEL continues a run from MODEL and MODEL.optim.safetensors (Adam state, epochs done;
// written beside every --out): settings then start from the model's, the architecture fixed.
// Thin: parse, call hmr::nn::train_vae / resume_vae, print.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "audio/sources.h"
#include "checks.h"
#include "cli.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "io/array.h"
#include "io/npy.h"
#include "io/npz.h"
#include "io/output.h"
#include "nn/history.h"
#include "nn/vae.h"
#include "text/tfidf.h"

namespace hmr::app {

// Reads the feature matrix of `hmr train` / `hmr embed` (shared by both commands): a Kaggle
// features CSV (MFCC columns picked by --columns) and a scipy.sparse tfidf.npz have their own
// readers; every other array (X.npy, X.npz:name, numeric CSV) goes through io::read_array.
Matrix read_vae_features(const std::string& path, const std::string& columns, bool* sparse_text) {
  namespace fs = std::filesystem;
  const fs::path file = io::array_file(path);
  HMR_REQUIRE(fs::exists(file), "{}: no such features file", path);
  std::string ext = file.extension().string();
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const bool whole_file = file.string() == path;
  if (sparse_text) *sparse_text = false;
  if (whole_file && ext == ".csv" && audio::is_features_csv(file))
    return audio::read_features_csv(path, columns).features;
  if (whole_file && ext == ".npz") {
    bool csr = false;
    for (const auto& m : io::npz_members(io::read_file_bytes(file), path)) csr |= m.name == "indptr.npy";
    if (csr) {
      if (sparse_text) *sparse_text = true;
      return text::to_dense(text::read_npz(path));
    }
  }
  return io::read_array(path, "--features");
}

}  // namespace hmr::app

namespace {

// Numeric flags are applied only when given (sub.count), so no value doubles as "unset": 0 epochs
// or a 0-d latent are refused by their range, never replaced by the configured default.
struct TrainArgs {
  std::string features, columns = "mfcc", hidden, activation, output, loss, history, standardize = "auto";
  std::string resume, optimizer_state;
  int epochs = 0, batch = 0, latent = 0, warmup = 0, patience = 0;
  float lr = 0, beta = 0, val_fraction = 0, clip_norm = 0, weight_decay = 0;
  bool no_graph = false;
};

void setup(CLI::App& sub, hmr::app::Common& common) {
  auto a = std::make_shared<TrainArgs>();
  sub.add_option("--features", a->features,
                 "X.npy | X.npz:name | numeric X.csv | features.csv (Kaggle layout, --columns) | tfidf.npz (sparse)")
      ->required();
  sub.add_option("--columns", a->columns, "features.csv: regex selecting the feature columns")->capture_default_str();
  sub.add_option("--epochs", a->epochs, "training epochs (default 100)")->check(hmr::app::int_range(1, 1000000));
  sub.add_option("--batch,--batch-size", a->batch, "minibatch size (default 64)")->check(hmr::app::int_range(1));
  sub.add_option("--lr,--learning-rate", a->lr, "Adam learning rate (default 1e-3)")
      ->check(hmr::app::real_range(0, true));
  sub.add_option("--beta", a->beta, "KL weight (beta-VAE; default 1)")->check(hmr::app::real_range(0, false));
  sub.add_option("--warmup", a->warmup, "epochs over which beta ramps up linearly (default 0)")
      ->check(hmr::app::int_range(0));
  sub.add_option("--hidden", a->hidden, "encoder widths, e.g. 512 or 128,64 (decoder mirrors them)");
  sub.add_option("--latent", a->latent, "latent dimension (default 16)")->check(hmr::app::int_range(1, 65536));
  sub.add_option("--activation", a->activation, "hidden activation: relu | identity | sigmoid | tanh");
  sub.add_option("--output", a->output, "decoder output: identity | sigmoid");
  sub.add_option("--loss", a->loss, "reconstruction loss: mse (sum over features) | bce (needs sigmoid output)");
  sub.add_option("--weight-decay", a->weight_decay, "Adam L2 weight decay (default 0)")
      ->check(hmr::app::real_range(0, false));
  sub.add_option("--clip-norm", a->clip_norm, "clip the global gradient norm (0 = off)")
      ->check(hmr::app::real_range(0, false));
  sub.add_option("--val-fraction", a->val_fraction, "rows held out for validation (default 0)")
      ->check(hmr::app::real_range(0, false, 1, true));
  sub.add_option("--patience", a->patience, "early stopping after N epochs without validation gain (0 = off)")
      ->check(hmr::app::int_range(0));
  sub.add_option("--standardize", a->standardize,
                 "auto (yes for dense features, no for tfidf.npz) | true | false; statistics are saved with the model")
      ->check(CLI::IsMember({"auto", "true", "false"}))
      ->capture_default_str();
  sub.add_flag("--no-cuda-graph", a->no_graph, "launch every step directly instead of replaying a CUDA Graph");
  sub.add_option("--history", a->history, "per-epoch losses as JSON (default: MODEL.history.json beside --out)");
  sub.add_option("--resume", a->resume,
                 "continue training MODEL.safetensors (hmr's, with its MODEL.optim.safetensors) for --epochs more "
                 "epochs (default: the model's epochs setting); same features, seed and settings give the bits of "
                 "one longer run");
  sub.add_option("--optimizer-state", a->optimizer_state,
                 "where to write Adam's state for a later --resume (default: MODEL.optim.safetensors beside --out)");
  sub.footer(
      "--out MODEL.safetensors is required; MODEL.optim.safetensors (optimizer state) and MODEL.history.json are\n"
      "written beside it. Examples:\n"
      "  hmr train --features X.npy --config vae.toml --beta 4 --latent 16 --out model.safetensors\n"
      "  hmr train --features X.npy --resume model.safetensors --epochs 50 --out model_150.safetensors");
  sub.callback([a, &common, &sub] {
    using namespace hmr::nn;
    HMR_REQUIRE(!common.out.empty(), "train: --out MODEL.safetensors is required");
    std::vector<hmr::io::OutputFiles::Target> targets{{common.out, "--out"}};
    const std::filesystem::path history =
        a->history.empty() ? hmr::nn::history_path_for(common.out) : std::filesystem::path(a->history);
    targets.push_back({history.string(), a->history.empty() ? "--out (history)" : "--history"});
    const std::filesystem::path optim =
        a->optimizer_state.empty() ? optimizer_path_for(common.out) : std::filesystem::path(a->optimizer_state);
    targets.push_back({optim.string(), a->optimizer_state.empty() ? "--out (optimizer state)" : "--optimizer-state"});
    std::vector<std::filesystem::path> inputs{hmr::io::array_file(a->features), common.config};
    if (!a->resume.empty()) {
      inputs.push_back(a->resume);
      inputs.push_back(optimizer_path_for(a->resume));
    }
    hmr::io::OutputFiles outs(std::move(targets), inputs);
    VaeConfig c;
    bool standardize_set = false;
    // A resumed run starts from the model's settings (its hmr.config) and Adam state.
    VaeModel start;
    TrainState state;
    if (!a->resume.empty()) {
      start = load_safetensors(a->resume);
      state = load_train_state(optimizer_path_for(a->resume), start);
      c = start.config;
      HMR_REQUIRE(common.config.empty(),
                  "train: --config cannot be combined with --resume (the settings come from "
                  "the model; change them with --set or flags)");
      HMR_REQUIRE(a->standardize == "auto" || (a->standardize == "true") == start.standardized,
                  "train --resume: --standardize {} contradicts the model ({}standardised)", a->standardize,
                  start.standardized ? "" : "not ");
    }
    if (!common.config.empty()) {
      c = vae_config_from_file(common.config);
      toml::table root = toml::parse_file(common.config);
      const toml::table* t = root["vae"].as_table() ? root["vae"].as_table() : &root;
      standardize_set = t->contains("standardize");
    }
    for (const auto& kv : common.sets) {
      const auto eq = kv.find('=');
      HMR_REQUIRE(eq != std::string::npos, "train: --set expects key=value, got '{}'", kv);
      apply_override(c, kv.substr(0, eq), kv.substr(eq + 1));
      standardize_set |= kv.substr(0, eq) == "standardize" || kv.substr(0, eq) == "vae.standardize";
    }
    const auto given = [&sub](const char* flag) { return sub.count(flag) > 0; };
    if (given("--epochs")) c.epochs = a->epochs;
    if (given("--batch")) c.batch = a->batch;
    if (given("--lr")) c.lr = a->lr;
    if (given("--beta")) c.beta = a->beta;
    if (given("--warmup")) c.warmup_epochs = a->warmup;
    if (given("--hidden")) apply_override(c, "hidden", a->hidden);
    if (given("--latent")) c.latent = a->latent;
    if (!a->activation.empty()) c.activation = parse_activation(a->activation);
    if (!a->output.empty()) c.output = parse_output(a->output);
    if (!a->loss.empty()) c.loss = parse_loss(a->loss);
    if (given("--weight-decay")) c.weight_decay = a->weight_decay;
    if (given("--clip-norm")) c.clip_norm = a->clip_norm;
    if (given("--val-fraction")) c.val_fraction = a->val_fraction;
    if (given("--patience")) c.patience = a->patience;
    if (a->no_graph) c.cuda_graph = false;
    if (sub.get_parent()->count("--seed")) c.seed = common.seed;

    c.validate();  // every setting before the features are read
    bool sparse_text = false;
    const hmr::Matrix x = hmr::app::read_vae_features(a->features, a->columns, &sparse_text);
    if (!a->resume.empty())
      c.standardize = start.standardized;
    else if (a->standardize != "auto")
      c.standardize = a->standardize == "true";
    else if (sparse_text && !standardize_set)
      c.standardize = false;  // TF-IDF is used as is

    auto backend = common.backend();
    spdlog::info("train: {} rows x {} features, hidden [{}], latent {}, {} + {} x KL, {} epochs, batch {}, lr {}",
                 x.rows(), x.cols(), fmt::join(c.hidden, ", "), c.latent, to_string(c.loss), c.beta, c.epochs, c.batch,
                 c.lr);
    auto sink = hmr::ProgressSink::standard();
    sink.start_at_once = false;  // train_vae checks the input first: a bad one stays one error line
    hmr::Progress bar("train", c.epochs, "epoch", sink);
    TrainReport rep;
    TrainState state_out;
    const auto on_epoch = [&, e0 = state.epochs_done](const EpochStats& e) {
      std::string s = fmt::format("loss {:.4g} (recon {:.4g}, kl {:.4g})", e.total, e.recon, e.kl);
      if (e.val_total >= 0) s += fmt::format(" val {:.4g}", e.val_total);
      bar.update(e.epoch - e0 + 1, s);
    };
    if (!a->resume.empty()) {
      spdlog::info("train: resuming {} after {} epochs (Adam step {})", a->resume, state.epochs_done, state.adam_step);
    }
    const VaeModel m = a->resume.empty() ? train_vae(*backend, x, c, &rep, on_epoch, &state_out)
                                         : resume_vae(*backend, x, start, state, c, &rep, on_epoch, &state_out);
    const auto& last = rep.epochs.back();
    bar.finish(fmt::format("loss {:.4g}", last.total));
    save_safetensors(outs.path(common.out), m);
    save_train_state(outs.path(optim.string()), m, state_out);
    hmr::nn::write_history(outs.path(history.string()), rep);
    outs.commit();
    std::printf("trained on %s: %zu epochs%s, loss %.6g (recon %.6g, kl %.6g)", rep.backend.c_str(), rep.epochs.size(),
                rep.stopped_early ? " (early stop)" : "", last.total, last.recon, last.kl);
    if (last.val_total >= 0) std::printf(", val %.6g (best epoch %d)", last.val_total, rep.best_epoch + 1);
    std::printf("\n%lld training rows, %.1f s, %.0f samples/s%s\nmodel: %s\n", static_cast<long long>(rep.n_train),
                rep.seconds, rep.samples_per_second, rep.cuda_graph ? ", CUDA Graph replay" : "", common.out.c_str());
    std::printf("history: %s\noptimizer state: %s\n", history.c_str(), optim.c_str());
  });
}

HMR_COMMAND("train", "train a (beta-)VAE on features (.npy, features.csv, tfidf.npz) -> model.safetensors", setup);

}  // namespace
