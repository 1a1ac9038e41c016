// pipeline/common.cpp — what the three experiments share: staged outputs, settings from the
// Config, K-Means + scoring of a method on its own space, t-SNE plots, label files, fusion and id
// matching, metrics.json and the stage-timings table.
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "decomp/pca.h"
#include "eval/metrics.h"
#include "io/atomic_file.h"
#include "io/csv.h"
#include "io/npy.h"
#include "nn/history.h"
#include "pipeline/runner.h"
#include "plot/canvas.h"
#include "plot/heatmap.h"
#include "plot/lines.h"
#include "plot/scatter.h"
#include "prep/standardize.h"
#include "text/lyrics.h"

namespace hmr::pipeline {
namespace fs = std::filesystem;

// ---- public helpers ----------------------------------------------------------------------------

LyricsInput parse_lyrics_arg(const std::string& arg) {
  text::LyricsSource src = text::LyricsSource::parse(arg);
  return {fs::path(src.path), std::move(src.language)};
}

const MethodScores* ExperimentResult::find(const std::string& method) const {
  for (const auto& m : results)
    if (m.method == method) return &m;
  return nullptr;
}

std::vector<std::pair<std::size_t, std::size_t>> match_ids(const std::vector<std::string>& a_ids,
                                                           const std::vector<std::string>& b_ids) {
  std::map<std::string, std::size_t> b_index;
  for (std::size_t j = 0; j < b_ids.size(); ++j) {
    const bool fresh = b_index.emplace(b_ids[j], j).second;
    HMR_REQUIRE(fresh, "duplicate id '{}' (rows are paired by id, so ids must be unique)", b_ids[j]);
  }
  std::set<std::string> seen;
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t i = 0; i < a_ids.size(); ++i) {
    HMR_REQUIRE(seen.insert(a_ids[i]).second, "duplicate id '{}' (rows are paired by id, so ids must be unique)",
                a_ids[i]);
    auto it = b_index.find(a_ids[i]);
    if (it != b_index.end()) out.emplace_back(i, it->second);
  }
  return out;
}

std::vector<std::int32_t> encode_labels(const std::vector<std::string>& values, std::vector<std::string>& names) {
  std::set<std::string> distinct(values.begin(), values.end());
  names.assign(distinct.begin(), distinct.end());
  std::map<std::string, std::int32_t> code;
  for (std::size_t i = 0; i < names.size(); ++i) code[names[i]] = static_cast<std::int32_t>(i);
  std::vector<std::int32_t> out(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) out[i] = code[values[i]];
  return out;
}

namespace detail {
LabelSet encode_known_labels(const std::string& name, const std::vector<std::string>& values) {
  LabelSet l;
  l.name = name;
  std::vector<std::string> known;
  for (const auto& v : values)
    if (!v.empty()) known.push_back(v);
  encode_labels(known, l.names);
  for (const auto& v : values) {
    const auto it = std::lower_bound(l.names.begin(), l.names.end(), v);
    l.codes.push_back(v.empty() ? -1 : static_cast<std::int32_t>(it - l.names.begin()));
  }
  return l;
}
}  // namespace detail

Matrix fuse_blocks(Backend& backend, const std::vector<const Matrix*>& blocks, const std::vector<double>& weights) {
  HMR_REQUIRE(!blocks.empty() && blocks.size() == weights.size(), "fusion: {} blocks but {} weights", blocks.size(),
              weights.size());
  const std::int64_t n = blocks.front()->rows();
  std::int64_t cols = 0;
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    HMR_REQUIRE(blocks[b]->rows() == n, "fusion: block {} has {} rows, block 0 has {} (rows must be the same tracks)",
                b, blocks[b]->rows(), n);
    HMR_REQUIRE(std::isfinite(weights[b]) && weights[b] >= 0.0, "fusion: weight {} of block {} must be >= 0",
                weights[b], b);
    cols += blocks[b]->cols();
  }
  Matrix fused(n, cols);
  std::int64_t at = 0;
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    const Matrix& x = *blocks[b];
    const Matrix z = prep::apply_scaler(backend, prep::fit_scaler(backend, x), x);
    const float s = static_cast<float>(weights[b]);
    for (std::int64_t r = 0; r < n; ++r)
      for (std::int64_t c = 0; c < x.cols(); ++c) fused(r, at + c) = s * z(r, c);
    at += x.cols();
  }
  return fused;
}

namespace {
// JSON number or null (NaN/inf cannot be written as JSON numbers).
nlohmann::ordered_json num(double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nullptr; }
}  // namespace

std::string metrics_json(const ExperimentResult& r) {
  nlohmann::ordered_json j;
  j["task"] = to_string(r.task);
  j["device"] = r.device;
  j["seed"] = r.seed;
  j["n_samples"] = r.n_samples;
  j["k"] = r.k;
  j["primary_label"] = r.primary_label;
  if (!r.second_label.empty()) j["second_label"] = r.second_label;
  j["n_excluded"] = r.excluded.size();
  nlohmann::ordered_json t = nlohmann::ordered_json::object();
  for (const auto& [stage, s] : r.timings.items()) t[stage] = s;
  t["total"] = r.timings.total();
  j["timings_s"] = t;
  nlohmann::ordered_json res = nlohmann::ordered_json::object();
  const std::string suffix = r.second_label.empty() ? "" : "_" + r.second_label;
  for (const auto& m : r.results) {
    nlohmann::ordered_json e;
    e["silhouette"] = num(m.silhouette);
    e["calinski_harabasz"] = num(m.calinski_harabasz);
    e["davies_bouldin"] = num(m.davies_bouldin);
    if (m.ari) e["ari"] = num(*m.ari);
    if (m.nmi) e["nmi"] = num(*m.nmi);
    if (m.purity) e["purity"] = num(*m.purity);
    if (m.ari_second) e["ari" + suffix] = num(*m.ari_second);
    if (m.nmi_second) e["nmi" + suffix] = num(*m.nmi_second);
    if (m.purity_second) e["purity" + suffix] = num(*m.purity_second);
    for (const auto& [more, sfx] : {std::pair{&m.more, std::string()}, std::pair{&m.more_second, suffix}}) {
      if (more->ami) e["ami" + sfx] = num(*more->ami);
      if (more->homogeneity) e["homogeneity" + sfx] = num(*more->homogeneity);
      if (more->completeness) e["completeness" + sfx] = num(*more->completeness);
      if (more->v_measure) e["v_measure" + sfx] = num(*more->v_measure);
      if (more->fowlkes_mallows) e["fowlkes_mallows" + sfx] = num(*more->fowlkes_mallows);
      if (more->accuracy) e["accuracy" + sfx] = num(*more->accuracy);
    }
    e["n_noise"] = m.n_noise;
    e["space"] = m.space;
    res[m.method] = e;
  }
  j["results"] = res;
  return j.dump(2) + "\n";
}

std::string timings_table(const StageTimings& t) {
  std::size_t w = 5;
  for (const auto& [stage, s] : t.items()) w = std::max(w, stage.size());
  std::string out;
  for (const auto& [stage, s] : t.items()) out += fmt::format("  {:<{}}  {:9.3f} s\n", stage, w, s);
  out += fmt::format("  {:<{}}  {:9.3f} s\n", "total", w, t.total());
  return out;
}

// ---- runner machinery --------------------------------------------------------------------------
namespace detail {

namespace {
const fs::path& required_out(const fs::path& out) {
  HMR_REQUIRE(!out.empty(), "--out DIR is required (where the report, metrics and plots go)");
  return out;
}
}  // namespace

OutputDir::OutputDir(const fs::path& out, Task task, const std::vector<fs::path>& inputs)
    : out_(out), dir_(required_out(out), io::experiment_directory(to_string(task)), inputs) {}

fs::path OutputDir::path(const std::string& name) {
  if (std::find(names_.begin(), names_.end(), name) == names_.end()) names_.push_back(name);
  return dir_.stage() / name;
}

nn::VaeConfig vae_settings(const Config& c, const std::string& section, std::uint64_t seed) {
  nn::VaeConfig v = nn::vae_config_from_toml(c.table(section));
  v.seed = seed;
  v.validate();
  return v;
}

void fit_batch(nn::VaeConfig& v, std::int64_t rows, const std::string& what, std::vector<std::string>& notes) {
  if (v.batch <= rows) return;
  notes.push_back(fmt::format("{}: batch lowered from {} to {} (the number of rows)", what, v.batch, rows));
  v.batch = static_cast<int>(rows);
}

EncodedVae train_and_encode(Backend& b, const Matrix& x, nn::VaeConfig vc, const std::string& what,
                            const std::string& model_tag, const std::string& latent_tag, OutputDir& out,
                            StageTimings& timings, std::vector<std::string>& notes,
                            const std::function<Matrix(Matrix)>& pool) {
  fit_batch(vc, x.rows(), what, notes);
  nn::TrainReport tr;
  nn::VaeModel model;
  {
    ScopedStage st(&timings, "train_" + model_tag);
    Progress bar("train_" + model_tag, vc.epochs, "epoch");
    model = nn::train_vae(b, x, vc, &tr, [&bar](const nn::EpochStats& e) {
      bar.update(e.epoch + 1, fmt::format("loss {:.4g}", e.total));
    });
    bar.finish(tr.epochs.empty() ? std::string() : fmt::format("loss {:.4g}", tr.epochs.back().total));
  }
  EncodedVae e;
  {
    ScopedStage st(&timings, "encode");
    e.mu = nn::encode_mu(b, model, x);
    if (pool) e.mu = pool(std::move(e.mu));
  }
  if (!tr.epochs.empty()) {
    const auto& last = tr.epochs.back();
    notes.push_back(fmt::format(
        "{}: {}-{}-{} trained {} epochs in {:.2f} s, final loss {:.4f} (reconstruction {:.4f}, KL {:.4f})", what,
        x.cols(), fmt::join(vc.hidden, "-"), vc.latent, tr.epochs.size(), tr.seconds, last.total, last.recon, last.kl));
  }
  ScopedStage st(&timings, "write");
  const std::string model_name = "model_" + model_tag + ".safetensors";
  nn::save_safetensors(out.path(model_name), model);
  nn::write_history(out.path(nn::history_path_for(model_name).string()), tr);
  io::write_npy(out.path("latent_" + latent_tag + ".npy"), e.mu);
  e.config = std::move(vc);
  e.history = std::move(tr);
  return e;
}

cluster::KMeansOptions kmeans_settings(const Config& c, int k, std::uint64_t seed) {
  cluster::KMeansOptions o;
  o.k = k;
  o.n_init = static_cast<int>(c.get_int("kmeans.n_init"));
  o.max_iter = static_cast<int>(c.get_int("kmeans.max_iter"));
  o.tol = c.get_double("kmeans.tol");
  o.seed = seed;
  return o;
}

embed::TsneOptions tsne_settings(const Config& c, std::int64_t n, std::uint64_t seed, std::string* note) {
  embed::TsneOptions o;
  o.perplexity = c.get_double("tsne.perplexity");
  o.theta = c.get_double("tsne.theta");
  o.iters = static_cast<int>(c.get_int("tsne.iters"));
  o.early_exag = c.get_double("tsne.early_exag");
  o.exag_iters = static_cast<int>(c.get_int("tsne.exag_iters"));
  o.learning_rate = c.get_double("tsne.learning_rate");
  o.momentum = c.get_double("tsne.momentum");
  o.final_momentum = c.get_double("tsne.final_momentum");
  const std::string init = c.get_string("tsne.init");
  HMR_REQUIRE(init == "pca" || init == "random", "tsne.init must be \"pca\" or \"random\" (got \"{}\")", init);
  o.init = init == "pca" ? embed::TsneInit::pca : embed::TsneInit::random;
  o.seed = seed;
  o.exag_iters = std::min(o.exag_iters, o.iters);
  const double max_perp = static_cast<double>(n - 1) / 3.0;
  if (o.perplexity > max_perp) {
    if (note)
      *note = fmt::format("t-SNE perplexity lowered from {:g} to {:.2f} = (n - 1) / 3 for n = {} samples", o.perplexity,
                          max_perp, n);
    o.perplexity = max_perp;
  }
  return o;
}

text::TfidfOptions tfidf_settings(const Config& c) {
  text::TfidfOptions o;
  o.max_features = c.get_int("tfidf.max_features");
  HMR_REQUIRE(o.max_features >= 0, "tfidf.max_features must be >= 0 (0 = no limit)");
  auto bound = [&](const char* key) {
    // An integer is a document count, a float a share of the documents (scikit-learn).
    const toml::node* n = c.root().at_path(key).node();
    if (n && n->is_integer()) return text::DfBound::count(n->as_integer()->get());
    return text::DfBound::share(c.get_double(key));
  };
  o.min_df = bound("tfidf.min_df");
  o.max_df = bound("tfidf.max_df");
  o.tokens.mode = text::parse_token_mode(c.get_string("tfidf.token_mode"));
  o.tokens.analyzer = text::parse_analyzer(c.get_string("tfidf.analyzer"));
  const toml::array* range = c.root().at_path("tfidf.ngram_range").as_array();
  HMR_REQUIRE(range && range->size() == 2 && range->get(0)->is_integer() && range->get(1)->is_integer(),
              "tfidf.ngram_range must be two integers [min, max]");
  o.tokens.ngram_min = static_cast<std::int32_t>(range->get(0)->as_integer()->get());
  o.tokens.ngram_max = static_cast<std::int32_t>(range->get(1)->as_integer()->get());
  o.tokens.lowercase = c.get_bool("tfidf.lowercase");
  o.sublinear_tf = c.get_bool("tfidf.sublinear_tf");
  if (c.has("tfidf.stop_words")) {
    const toml::array* a = c.root().at_path("tfidf.stop_words").as_array();
    if (a)
      for (const auto& e : *a)
        if (auto s = e.as_string()) o.tokens.stop_lists.push_back(s->get());
  }
  return o;
}

ExperimentResult begin_result(Task task, const Backend& b, const Config& c, const fs::path& out,
                              const std::string& primary_label) {
  ExperimentResult r;
  r.task = task;
  r.device = b.name();
  r.seed = c.seed();
  r.primary_label = primary_label;
  r.out = out;
  return r;
}

audio::MfccParams mfcc_params(const Config& c) {
  audio::MfccParams p;
  p.sample_rate = static_cast<int>(c.get_int("mfcc.sample_rate"));
  p.n_fft = static_cast<int>(c.get_int("mfcc.n_fft"));
  p.hop_length = static_cast<int>(c.get_int("mfcc.hop_length"));
  p.n_mels = static_cast<int>(c.get_int("mfcc.n_mels"));
  p.n_mfcc = static_cast<int>(c.get_int("mfcc.n_mfcc"));
  audio::check_params(p);
  return p;
}

PcaKMeans pca_kmeans(Backend& b, const Matrix& x, const Config& c, const cluster::KMeansOptions& km,
                     const std::string& what, std::uint64_t seed, StageTimings& timings,
                     std::vector<std::string>& notes) {
  PcaKMeans out;
  out.components = c.get_int("pca.components");
  HMR_REQUIRE(out.components >= 1, "pca.components = {}: must be >= 1", out.components);
  const std::int64_t max_comps = std::min(x.rows(), x.cols());
  if (out.components > max_comps) {
    notes.push_back(fmt::format("PCA components lowered from {} to {} = min(n, d)", out.components, max_comps));
    out.components = max_comps;
  }
  decomp::PcaOptions po;
  po.solver = decomp::parse_pca_solver(c.get_string("pca.solver"));
  po.seed = seed;
  decomp::Pca pca;
  {
    ScopedStage st(&timings, "pca");
    // One step, but 11 s on the 1503 x 27091 TF-IDF of the real lyrics (loaded 2-core machine):
    // announced, so a terminal or log shows it began.
    Progress bar("pca", 1, "fit");
    out.z = decomp::fit_transform(b, x, static_cast<int>(out.components), &pca, po);
    bar.finish(fmt::format("{} x {} -> {} components", x.rows(), x.cols(), out.components));
  }
  for (double v : pca.explained_variance_ratio) out.explained += v;
  ScopedStage st(&timings, "kmeans");
  out.labels = cluster_rows(b, out.z, km, what);
  return out;
}

std::string tfidf_description(const Config& c) {
  const text::TfidfOptions o = tfidf_settings(c);
  std::string terms = "words";
  if (o.tokens.analyzer != text::Analyzer::word)
    terms = fmt::format("character {}-{}-grams{} ({})", o.tokens.ngram_min, o.tokens.ngram_max,
                        o.tokens.analyzer == text::Analyzer::char_wb ? " within words" : "",
                        text::to_string(o.tokens.analyzer));
  return fmt::format("{}, {} mode, max_features {}", terms, text::to_string(o.tokens.mode), o.max_features);
}

std::vector<std::int32_t> cluster_rows(Backend& b, const Matrix& x, const cluster::KMeansOptions& opt,
                                       const std::string& what) {
  HMR_REQUIRE(opt.k >= 2, "k = {} clusters: need at least 2", opt.k);
  HMR_REQUIRE(opt.k <= x.rows(), "k = {} clusters but only {} {}: k cannot exceed the number of samples", opt.k,
              x.rows(), what);
  return cluster::kmeans(b, x, opt).labels;
}

namespace {
// Label metrics on the rows whose truth code is >= 0 (a predicted -1, noise, stays: one more
// cluster, as scikit-learn counts it).
void label_metrics(const std::vector<std::int32_t>& truth, const std::vector<std::int32_t>& pred,
                   std::optional<double>& ari, std::optional<double>& nmi, std::optional<double>& purity,
                   MethodScores::More& more) {
  std::vector<std::int32_t> t, p;
  for (std::size_t i = 0; i < truth.size(); ++i)
    if (truth[i] >= 0) {
      t.push_back(truth[i]);
      p.push_back(pred[i]);
    }
  if (t.size() < 2) return;
  eval::ClusterScores l;
  eval::score_labels(t, p, l);
  ari = l.ari;
  nmi = l.nmi;
  purity = l.purity;
  more = {l.ami, l.homogeneity, l.completeness, l.v_measure, l.fowlkes_mallows, l.accuracy};
}

// The labels as the plots draw them: unknown codes (-1) become one more class, "(unknown)".
LabelSet with_unknown_class(const LabelSet& l) {
  LabelSet out = l;
  if (std::any_of(out.codes.begin(), out.codes.end(), [](std::int32_t v) { return v < 0; })) {
    out.names.push_back("(unknown)");
    for (auto& v : out.codes)
      if (v < 0) v = static_cast<std::int32_t>(out.names.size() - 1);
  }
  return out;
}
}  // namespace

MethodScores score_method(Backend& b, const std::string& method, const std::string& space, const Matrix& x,
                          const std::vector<std::int32_t>& pred, const LabelSet& primary, const LabelSet& second,
                          const Config& c, std::uint64_t seed) {
  MethodScores s;
  s.method = method;
  s.space = space;
  std::set<std::int32_t> distinct(pred.begin(), pred.end());
  if (distinct.size() >= 2 && static_cast<std::int64_t>(distinct.size()) < x.rows()) {
    eval::SilhouetteOptions so;
    so.sample_size = c.get_int("metrics.silhouette_sample_size");
    so.seed = seed;
    if (so.sample_size >= x.rows()) so.sample_size = 0;
    s.silhouette = eval::silhouette(b, x, pred, so);
    s.calinski_harabasz = eval::calinski_harabasz(x, pred);
    s.davies_bouldin = eval::davies_bouldin(x, pred);
  } else {
    spdlog::warn("{}: K-Means found {} distinct cluster(s); internal metrics are undefined (NaN)", method,
                 distinct.size());
    s.silhouette = s.calinski_harabasz = s.davies_bouldin = std::nan("");
  }
  s.n_noise = eval::count_noise(pred);
  if (!primary.empty()) label_metrics(primary.codes, pred, s.ari, s.nmi, s.purity, s.more);
  if (!second.empty()) label_metrics(second.codes, pred, s.ari_second, s.nmi_second, s.purity_second, s.more_second);
  return s;
}

void write_lines(OutputDir& out, const std::string& name, const std::vector<std::string>& lines) {
  io::write_atomically(out.path(name), [&](std::ostream& os) {
    for (const auto& l : lines) os << l << '\n';
  });
}

void exclude(ExperimentResult& r, const std::string& id, const std::string& where, const std::string& reason,
             std::vector<std::pair<std::string, std::string>> labels) {
  r.excluded.push_back(fmt::format("{}{}: {}", id, where, reason));
  r.excluded_rows.push_back({id, reason, std::move(labels)});
}

void write_results_csv(OutputDir& out, const ExperimentResult& r, const std::vector<std::string>& ids,
                       const std::vector<LabelSet>& labels,
                       const std::vector<std::pair<std::string, std::vector<std::int32_t>>>& methods) {
  std::vector<const LabelSet*> cols;
  for (const LabelSet& l : labels) {
    if (l.empty()) continue;
    HMR_ASSERT(l.codes.size() == ids.size(), "results.csv: label '{}' has {} rows, ids.txt {}", l.name, l.codes.size(),
               ids.size());
    cols.push_back(&l);
  }
  for (const auto& [m, p] : methods)
    HMR_ASSERT(p.size() == ids.size(), "results.csv: method '{}' has {} rows, ids.txt {}", m, p.size(), ids.size());
  // RFC 4180 ends records with CRLF; pandas, Python's csv module and io::read_csv all take it.
  const char* eol = "\r\n";
  io::write_atomically(out.path("results.csv"), [&](std::ostream& os) {
    os << "id";
    for (const LabelSet* l : cols) os << ',' << io::csv_field(l->name);
    for (const auto& m : methods) os << ',' << io::csv_field(m.first);
    os << ",excluded,excluded_reason" << eol;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      os << io::csv_field(ids[i]);
      for (const LabelSet* l : cols) {
        const std::int32_t v = l->codes[i];
        os << ',' << (v >= 0 ? io::csv_field(l->names[static_cast<std::size_t>(v)]) : std::string());
      }
      for (const auto& m : methods) os << ',' << m.second[i];
      os << ",0," << eol;
    }
    for (const ExcludedRow& e : r.excluded_rows) {
      os << io::csv_field(e.id);
      for (const LabelSet* l : cols) {
        os << ',';
        for (const auto& [name, value] : e.labels)
          if (name == l->name) {
            os << io::csv_field(value);
            break;
          }
      }
      for (std::size_t m = 0; m < methods.size(); ++m) os << ',';  // not clustered: empty cells
      os << ",1," << io::csv_field(e.reason) << eol;
    }
  });
}

void write_labels(OutputDir& out, const std::string& stem, const std::vector<std::int32_t>& codes,
                  const std::vector<std::string>* names) {
  io::write_npy(out.path(stem + ".npy"), codes);
  if (names) write_lines(out, stem + "_names.txt", *names);
}

std::vector<std::string> tsne_plots(Backend& b, const Matrix& x, const std::string& tag, const std::string& title,
                                    const std::vector<LabelSet>& colourings, const Config& c, std::uint64_t seed,
                                    OutputDir& out, StageTimings& timings, std::vector<std::string>& notes) {
  std::vector<std::string> plots;
  if (!c.get_bool("tsne.enabled")) return plots;
  if (x.rows() < 5) {
    notes.push_back(fmt::format("t-SNE of {} skipped: {} samples (needs at least 5)", tag, x.rows()));
    return plots;
  }
  std::string note;
  const embed::TsneOptions opt = tsne_settings(c, x.rows(), seed, &note);
  if (!note.empty() && std::find(notes.begin(), notes.end(), note) == notes.end()) notes.push_back(note);
  embed::TsneResult res;
  {
    ScopedStage st(&timings, "tsne");
    Progress bar("tsne_" + tag, opt.iters, "iteration");
    res = embed::tsne(b, x, opt, [&bar](int it, double kl) { bar.update(it, fmt::format("KL {:.4f}", kl)); });
    bar.finish();
  }
  ScopedStage st(&timings, "plots");
  const PlotSettings ps = plot_settings(c);
  io::write_npy(out.path("embedding_" + tag + ".npy"), res.y);
  for (const LabelSet& l : colourings) {
    const std::string stem = "tsne_" + tag + "_" + l.name;
    plot::ScatterOptions so;
    so.title = fmt::format("{} — coloured by {} (t-SNE, KL {:.3f})", title, l.name, res.kl);
    so.x_label = "t-SNE 1";
    so.y_label = "t-SNE 2";
    so.legend_title = l.name;
    so.width = ps.width;
    so.height = ps.height;
    so.dpi = ps.dpi;
    const LabelSet drawn = with_unknown_class(l);
    plot::scatter_plot(res.y, drawn.codes, drawn.names, so, out.path(stem + ".png").string(),
                       out.path(stem + ".svg").string());
    plots.push_back(stem + ".png");
  }
  return plots;
}

PlotSettings plot_settings(const Config& c) {
  PlotSettings p;
  // Range first so a huge value is reported as itself, not as a wrapped int.
  for (const char* key : {"plot.width", "plot.height", "plot.dpi"}) {
    const std::int64_t v = c.get_int(key);
    HMR_REQUIRE(v >= 1 && v <= 1000000, "{} = {}: out of range", key, v);
  }
  p.width = static_cast<int>(c.get_int("plot.width"));
  p.height = static_cast<int>(c.get_int("plot.height"));
  p.dpi = static_cast<int>(c.get_int("plot.dpi"));
  plot::check_size(p.width, p.height, p.dpi);
  return p;
}

std::string loss_plot(OutputDir& out, const std::string& model_tag, const std::string& what,
                      const nn::TrainReport& history, const Config& c) {
  const PlotSettings ps = plot_settings(c);
  std::vector<plot::Series> s(3);
  s[0].name = "total";
  s[1].name = "reconstruction";
  s[2].name = "KL (free bits applied)";
  plot::Series val{"validation total", {}, {}, true};
  for (const auto& e : history.epochs) {
    const double x = e.epoch + 1;
    for (auto& v : s) v.x.push_back(x);
    s[0].y.push_back(e.total);
    s[1].y.push_back(e.recon);
    s[2].y.push_back(e.kl);
    if (e.val_total >= 0) {
      val.x.push_back(x);
      val.y.push_back(e.val_total);
    }
  }
  if (!val.x.empty()) s.push_back(val);
  plot::LineOptions lo;
  lo.title = fmt::format("{}: training loss per epoch (per-sample means, {})", what, history.backend);
  lo.x_label = "epoch";
  lo.y_label = "loss";
  lo.width = ps.width;
  lo.height = ps.height * 3 / 4;
  lo.dpi = ps.dpi;
  const std::string stem = "loss_" + model_tag;
  plot::line_plot(s, lo, out.path(stem + ".png").string(), out.path(stem + ".svg").string());
  return stem + ".png";
}

std::vector<std::string> contingency_plots(OutputDir& out, const std::string& method,
                                           const std::vector<std::int32_t>& clusters,
                                           const std::vector<LabelSet>& labels, const Config& c) {
  const PlotSettings ps = plot_settings(c);
  std::vector<std::string> names;
  std::vector<std::string> cluster_names;
  for (auto v : std::set<std::int32_t>(clusters.begin(), clusters.end()))
    if (v >= 0) {
      if (cluster_names.size() <= static_cast<std::size_t>(v)) cluster_names.resize(static_cast<std::size_t>(v) + 1);
      cluster_names[static_cast<std::size_t>(v)] = fmt::format("cluster {}", v);
    }
  for (const LabelSet& l : labels) {
    if (l.empty() || l.codes.size() != clusters.size()) continue;
    const LabelSet drawn = with_unknown_class(l);
    const std::vector<std::string>& col_names = drawn.names;
    const std::vector<std::int32_t>& codes = drawn.codes;
    plot::HeatmapOptions ho;
    ho.title = fmt::format("{} clusters vs {} (counts)", method, l.name);
    ho.row_title = "cluster";
    ho.col_title = l.name;
    ho.dpi = ps.dpi;
    const std::string stem = "contingency_" + method + "_" + l.name;
    plot::heatmap_plot(plot::contingency(clusters, codes), cluster_names, col_names, ho,
                       out.path(stem + ".png").string(), out.path(stem + ".svg").string());
    names.push_back(stem + ".png");
  }
  return names;
}

std::string label_counts(const LabelSet& l) {
  std::vector<std::int64_t> n(l.names.size(), 0);
  std::int64_t unknown = 0;
  for (auto v : l.codes) {
    if (v >= 0 && static_cast<std::size_t>(v) < n.size())
      ++n[static_cast<std::size_t>(v)];
    else
      ++unknown;
  }
  std::string s;
  for (std::size_t i = 0; i < n.size(); ++i) s += fmt::format("{}{} {}", i ? ", " : "", l.names[i], n[i]);
  if (unknown) s += fmt::format("{}(unknown) {}", s.empty() ? "" : ", ", unknown);
  return s;
}

namespace {
std::string cell(const std::optional<double>& v) { return v ? fmt::format("{:.4f}", *v) : "—"; }
std::string cell(double v) { return std::isfinite(v) ? fmt::format("{:.4f}", v) : "NaN"; }
}  // namespace

void write_report(OutputDir& out, const ExperimentResult& r, const ReportInputs& in, const Config& c) {
  std::ostringstream md;
  const char* title = r.task == Task::easy     ? "Easy — lyrics: TF-IDF -> text VAE -> K-Means"
                      : r.task == Task::medium ? "Medium — paired lyrics + audio, fused latents"
                                               : "Hard — genre from audio features with a beta-VAE";
  md << "# hmr " << to_string(r.task) << ": " << title << "\n\n";
  md << fmt::format("device `{}`, seed {}, {} samples, k = {}", r.device, r.seed, r.n_samples, r.k);
  if (!r.excluded.empty()) md << fmt::format(", {} left out (listed below)", r.excluded.size());
  md << ".\n\n## Inputs\n\n";
  for (const auto& s : in.inputs) md << "- " << s << "\n";
  for (const auto& s : in.counts) md << "- " << s << "\n";
  md << "\n## Results\n\n";
  md << fmt::format("Label metrics are against **{}**", r.primary_label);
  if (!r.second_label.empty()) md << fmt::format(" (and **{}** in the second table)", r.second_label);
  md << "; internal metrics are computed on each method's own space. Silhouette and Calinski-Harabasz: "
        "higher is better; Davies-Bouldin: lower is better.\n\n";
  // A noise column only when some method labelled points -1 (noise counts as one more cluster).
  const bool noise = std::any_of(r.results.begin(), r.results.end(), [](const auto& m) { return m.n_noise > 0; });
  md << fmt::format(
      "| method | space | ARI | NMI | purity | silhouette | Calinski-Harabasz | Davies-Bouldin |{}\n"
      "|---|---|---:|---:|---:|---:|---:|---:|{}\n",
      noise ? " noise points |" : "", noise ? "---:|" : "");
  for (const auto& m : r.results)
    md << fmt::format("| `{}` | {} | {} | {} | {} | {} | {} | {} |{}\n", m.method, m.space, cell(m.ari), cell(m.nmi),
                      cell(m.purity), cell(m.silhouette), cell(m.calinski_harabasz), cell(m.davies_bouldin),
                      noise ? fmt::format(" {} |", m.n_noise) : "");
  if (noise) md << "\nNoise points (label -1) count as one more cluster in every metric, as in scikit-learn.\n";
  md << fmt::format(
      "\nMore label metrics against **{}** (AMI: adjusted mutual information; FMI: Fowlkes-Mallows; accuracy: "
      "best one-to-one matching of clusters to classes):\n\n"
      "| method | AMI | homogeneity | completeness | V-measure | FMI | accuracy |\n"
      "|---|---:|---:|---:|---:|---:|---:|\n",
      r.primary_label);
  for (const auto& m : r.results)
    md << fmt::format("| `{}` | {} | {} | {} | {} | {} | {} |\n", m.method, cell(m.more.ami), cell(m.more.homogeneity),
                      cell(m.more.completeness), cell(m.more.v_measure), cell(m.more.fowlkes_mallows),
                      cell(m.more.accuracy));
  if (!r.second_label.empty()) {
    md << fmt::format(
        "\nAgainst **{}** (same clusters):\n\n| method | ARI | NMI | purity | AMI | V-measure | FMI | accuracy |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|\n",
        r.second_label);
    for (const auto& m : r.results)
      md << fmt::format("| `{}` | {} | {} | {} | {} | {} | {} | {} |\n", m.method, cell(m.ari_second),
                        cell(m.nmi_second), cell(m.purity_second), cell(m.more_second.ami),
                        cell(m.more_second.v_measure), cell(m.more_second.fowlkes_mallows),
                        cell(m.more_second.accuracy));
  }
  auto figures = [&](const char* heading, const char* intro, const std::vector<std::string>& pngs) {
    if (pngs.empty()) return;
    md << "\n## " << heading << "\n\n" << intro << "\n\n";
    for (const auto& p : pngs) {
      const std::string svg = p.substr(0, p.size() - 4) + ".svg";
      md << fmt::format("![{}]({})\n\n[SVG]({})\n\n", p, p, svg);
    }
  };
  figures("Plots", "t-SNE of the latent, one plot per colouring (legend ordered by class size).", in.plots);
  figures("Clusters vs labels",
          "Contingency counts of the primary method's clusters (rows) against each label (columns): a "
          "cluster that mixes classes is a row with several dark cells.",
          in.heatmaps);
  figures("Training",
          "Per-epoch losses of each VAE as the engine reported them (model_*.history.json holds the numbers).",
          in.loss_plots);
  md << "## Stage timings\n\n| stage | seconds |\n|---|---:|\n";
  for (const auto& [stage, s] : r.timings.items()) md << fmt::format("| {} | {:.3f} |\n", stage, s);
  md << fmt::format("| **total** | **{:.3f}** |\n", r.timings.total());
  if (!in.notes.empty()) {
    md << "\n## Notes\n\n";
    for (const auto& n : in.notes) md << "- " << n << "\n";
  }
  if (!r.excluded.empty()) {
    md << fmt::format("\n## Left out ({})\n\n", r.excluded.size());
    const std::size_t show = std::min<std::size_t>(r.excluded.size(), 200);
    for (std::size_t i = 0; i < show; ++i) md << "- " << r.excluded[i] << "\n";
    if (show < r.excluded.size()) md << fmt::format("- ... and {} more (excluded.txt)\n", r.excluded.size() - show);
  }
  md << "\n## Files\n\n";
  std::vector<std::string> names = out.names();
  names.push_back("report.md");
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  for (const auto& n : names) {
    md << "- `" << n << "`";
    // The one file meant for a spreadsheet or pandas says what its rows are.
    if (n == "results.csv") md << ": one row per input row (id, labels, each method's cluster, excluded + why)";
    md << "\n";
  }
  md << "\n## Configuration\n\n```toml\n" << c.to_toml() << "```\n";
  const std::string text = md.str();
  io::write_atomically(out.path("report.md"), [&](std::ostream& os) { os << text; });
}

void write_metrics(OutputDir& out, const ExperimentResult& r) {
  const std::string text = metrics_json(r);
  io::write_atomically(out.path("metrics.json"), [&](std::ostream& os) { os << text; });
}

void finish_run(OutputDir& out, ExperimentResult& r, const ReportInputs& in, const Config& c) {
  write_metrics(out, r);
  write_report(out, r, in, c);
  out.commit();
  r.files = out.names();
}

}  // namespace detail

void print_summary(const ExperimentResult& r) {
  if (quiet()) return;
  std::string table =
      fmt::format("hmr {}: {} samples, k = {}, device {}\n", to_string(r.task), r.n_samples, r.k, r.device);
  table += fmt::format("  {:<18} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10}\n", "method", "ARI", "NMI", "purity", "AMI",
                       "accuracy", "silhouette");
  for (const auto& m : r.results)
    table += fmt::format("  {:<18} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10}{}\n", m.method, detail::cell(m.ari),
                         detail::cell(m.nmi), detail::cell(m.purity), detail::cell(m.more.ami),
                         detail::cell(m.more.accuracy), detail::cell(m.silhouette),
                         m.n_noise > 0 ? fmt::format("  ({} noise points)", m.n_noise) : "");
  table += "stage timings:\n" + timings_table(r.timings);
  table += fmt::format("report: {}\n", (r.out / "report.md").string());
  std::fputs(table.c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace hmr::pipeline
