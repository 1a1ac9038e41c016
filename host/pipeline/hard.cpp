// pipeline/hard.cpp — hmr hard: genre structure from per-clip audio features.
//   input   a GTZAN-layout folder (label = folder; MFCC summaries computed here, librosa parity)
//           or a Kaggle-layout features CSV (feature columns chosen by a regex, default all 57)
//   rows    [n x d] features, genre labels; --gtzan: features.set = mfcc (d = 40: 20 MFCC means +
//           variances) or kaggle57 (the Kaggle table's 57 columns, audio/features.h)
//   segments (--gtzan, features.segment_seconds > 0) the same summaries of every whole segment of
//           each clip (3 s by default): the VAEs train on the segments, and a track's latent is
//           the mean of its segments' mu (more, and more local, training rows than one per clip)
//   methods vae_kmeans        beta-VAE (beta 4, latent 16) mu -> K-Means, k = number of genres
//           raw_kmeans        K-Means on the standardised features
//           pca_kmeans        PCA (16) of the standardised features -> K-Means
//           plain_vae_kmeans  the same VAE with beta 1 -> K-Means
// All methods see the same tracks, are scored on their own space (per track) and against the genre;
// the baselines use the whole-clip summaries.
// Sources: Higgins et al., beta-VAE (ICLR 2017); Tzanetakis & Cook, GTZAN (2002).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "audio/features.h"
#include "audio/mfcc.h"
#include "audio/segments.h"
#include "audio/sources.h"
#include "core/error.h"
#include "core/log.h"
#include "core/nvtx.h"
#include "core/progress.h"
#include "decomp/pca.h"
#include "io/npy.h"
#include "pipeline/runner.h"
#include "prep/standardize.h"
#include "prep/transform.h"

namespace hmr::pipeline {
namespace fs = std::filesystem;
using namespace detail;

namespace {

struct HardData {
  Matrix x;                          // [n x d] features
  Matrix seg;                        // [m x d] segment summaries (empty: the VAEs train on x)
  std::vector<std::int64_t> seg_of;  // [m] the row of x each segment belongs to
  std::vector<std::string> ids;
  LabelSet genre;
  std::vector<std::string> columns;
  std::string input_line;
};

HardData load_gtzan(Backend& b, const fs::path& root, const Config& c, StageTimings& timings,
                    ExperimentResult& result) {
  std::error_code ec;
  HMR_REQUIRE(fs::exists(root, ec), "--gtzan {}: no such folder", root.string());
  HMR_REQUIRE(fs::is_directory(root, ec), "--gtzan {}: not a folder (give ROOT with ROOT/<genre>/*.wav)",
              root.string());
  audio::AudioSet set;
  {
    ScopedStage st(&timings, "load");
    set = audio::list_gtzan(root);
  }
  HMR_REQUIRE(set.size() > 0, "--gtzan {}: no audio files in ROOT/<genre>/", root.string());
  HMR_REQUIRE(set.label_names.size() >= 2,
              "--gtzan {}: only one genre folder ('{}'); genre clustering needs at least 2 genres", root.string(),
              set.label_names.empty() ? std::string("?") : set.label_names.front());
  const audio::MfccParams p = mfcc_params(c);
  const double seg_s = c.get_double("features.segment_seconds");
  HMR_REQUIRE(seg_s >= 0.0 && std::isfinite(seg_s), "features.segment_seconds = {}: must be >= 0 (0 = whole clips)",
              seg_s);
  const std::string feature_set = c.get_string("features.set");
  // Both sets give: rows of the readable clips (input positions in r.index), skipped files, and
  // with segments their rows (seg, seg_of).
  struct Computed {
    Matrix summaries, seg;
    std::vector<std::size_t> index;
    std::vector<audio::SkippedFile> skipped;
    std::vector<std::int64_t> seg_of;
    std::vector<std::string> columns;
  } r;
  std::int64_t seg_frames = 0;
  if (feature_set == "kaggle57") {
    // The Kaggle table's 57 features (audio/features.h); segments are cut from the samples and
    // computed on their own, as features_3_sec.csv is.
    audio::FeatureParams fp;
    fp.sample_rate = p.sample_rate;
    fp.n_fft = p.n_fft;
    fp.hop_length = p.hop_length;
    fp.n_mels = p.n_mels;
    fp.n_mfcc = p.n_mfcc;
    audio::FeatureOptions fo;
    fo.segment_seconds = seg_s;
    fo.offset = c.get_double("mfcc.offset");
    fo.duration = c.get_double("mfcc.duration");
    ScopedStage st(&timings, "features");
    Progress bar("features", static_cast<std::int64_t>(set.paths.size()), "file");
    fo.progress = [&bar](std::size_t done, std::size_t) { bar.update(static_cast<std::int64_t>(done)); };
    audio::FeatureResult f = audio::features_files(b, set.paths, fp, fo);
    bar.finish();
    r = {std::move(f.rows),    std::move(f.seg_rows), std::move(f.index),
         std::move(f.skipped), std::move(f.seg_of),   std::move(f.columns)};
  } else {
    audio::MfccOptions mo;
    mo.keep_frames = seg_s > 0.0;
    mo.offset = c.get_double("mfcc.offset");
    mo.duration = c.get_double("mfcc.duration");
    audio::MfccResult m;
    {
      ScopedStage st(&timings, "mfcc");
      Progress bar("mfcc", static_cast<std::int64_t>(set.paths.size()), "file");
      mo.progress = [&bar](std::size_t done, std::size_t) { bar.update(static_cast<std::int64_t>(done)); };
      m = audio::mfcc_files(b, set.paths, p, mo);
      bar.finish();
    }
    r.summaries = std::move(m.summaries);
    r.index = std::move(m.index);
    r.skipped = std::move(m.skipped);
    r.columns = audio::summary_columns(p.n_mfcc);
    if (seg_s > 0.0) {
      ScopedStage st(&timings, "segments");
      seg_frames = audio::segment_frames(seg_s, p.sample_rate, p.hop_length);
      audio::Segments segs = audio::segment_summaries(m.frames, seg_frames);
      r.seg = std::move(segs.rows);
      r.seg_of = std::move(segs.of);
    }
  }
  for (const auto& s : r.skipped) {
    // excluded.txt names the file (what the user fixes); results.csv the clip's id as ids.txt
    // spells ids, with the genre its folder gives.
    std::size_t i = 0;
    while (i < set.paths.size() && set.paths[i].string() != s.path) ++i;
    result.excluded.push_back(fmt::format("{}: unreadable audio ({})", s.path, s.reason));
    if (i < set.paths.size())
      result.excluded_rows.push_back({set.ids[i],
                                      fmt::format("unreadable audio ({})", s.reason),
                                      {{"genre", set.label_names[static_cast<std::size_t>(set.labels[i])]}}});
    else
      result.excluded_rows.push_back({s.path, fmt::format("unreadable audio ({})", s.reason), {}});
  }
  HMR_REQUIRE(r.summaries.rows() > 0, "--gtzan {}: none of the {} audio files could be read (first: {})", root.string(),
              set.size(), r.skipped.empty() ? std::string("?") : r.skipped.front().reason);
  // The genres are those with a readable clip: a folder whose every clip was skipped is no genre of
  // this run, or k (= genres) would count a class no track has, and one genre with usable clips
  // would still run, scoring ARI 0 / purity 1 against a single class.
  std::vector<std::int32_t> kept_codes;
  for (std::size_t i : r.index) kept_codes.push_back(set.labels[i]);
  const std::set<std::int32_t> present(kept_codes.begin(), kept_codes.end());
  if (present.size() < 2) {
    const std::set<std::size_t> read(r.index.begin(), r.index.end());
    std::map<std::string, int> skipped_per_genre;
    for (std::size_t i = 0; i < set.size(); ++i)
      if (!read.count(i)) ++skipped_per_genre[set.label_names[static_cast<std::size_t>(set.labels[i])]];
    std::vector<std::string> where;
    for (const auto& [g, k] : skipped_per_genre) where.push_back(fmt::format("{} in '{}'", k, g));
    input_error(
        "--gtzan {}: only 1 genre ('{}') has readable clips; genre clustering needs at least 2 ({} of {} clips "
        "skipped as unreadable audio: {}; first: {})",
        root.string(), set.label_names[static_cast<std::size_t>(*present.begin())], set.size() - r.index.size(),
        set.size(), fmt::join(where, ", "), r.skipped.empty() ? std::string("?") : r.skipped.front().reason);
  }
  HardData d;
  d.x = std::move(r.summaries);
  d.genre.name = "genre";
  // Codes renumbered over the genres present, in the same (sorted) order.
  std::map<std::int32_t, std::int32_t> code_of;
  for (std::int32_t g : present) {
    code_of[g] = static_cast<std::int32_t>(d.genre.names.size());
    d.genre.names.push_back(set.label_names[static_cast<std::size_t>(g)]);
  }
  for (std::size_t j = 0; j < r.index.size(); ++j) {
    d.ids.push_back(set.ids[r.index[j]]);
    d.genre.codes.push_back(code_of.at(kept_codes[j]));
  }
  std::string dropped;
  for (std::size_t g = 0; g < set.label_names.size(); ++g)
    if (!present.count(static_cast<std::int32_t>(g)))
      dropped += fmt::format("{}'{}'", dropped.empty() ? "" : ", ", set.label_names[g]);
  d.columns = std::move(r.columns);
  const std::string what =
      feature_set == "kaggle57"
          ? fmt::format(
                "features.set = kaggle57: the Kaggle GTZAN table's {} features computed from the audio "
                "(chroma, rms, spectral centroid/bandwidth/roll-off, zero-crossing rate, HPSS, tempo, "
                "{} MFCC means + variances; librosa 0.10 parity)",
                d.columns.size(), p.n_mfcc)
          : fmt::format(
                "features.set = mfcc: MFCC summaries (librosa 0.10 defaults, {} coefficients: mean + "
                "variance = {} features)",
                p.n_mfcc, d.columns.size());
  d.input_line =
      fmt::format("GTZAN folder `{}`: {} clips in {} genre folders, {} read, {} genres with readable clips{}; {}",
                  root.string(), set.size(), set.label_names.size(), d.x.rows(), d.genre.names.size(),
                  dropped.empty() ? "" : fmt::format(" (none readable in {})", dropped), what);
  if (seg_s > 0.0) {
    d.seg = std::move(r.seg);
    d.seg_of = std::move(r.seg_of);
    d.input_line +=
        feature_set == "kaggle57"
            ? fmt::format(
                  "; the VAEs train on {} segments of {:g} s (each segment's own {} features, as Kaggle's "
                  "features_3_sec.csv), a track's latent is the mean of its segments' mu; the baselines use "
                  "the whole-clip rows",
                  d.seg.rows(), seg_s, d.columns.size())
            : fmt::format(
                  "; the VAEs train on {} segments of {} frames ({:g} s; the same summaries), a track's latent "
                  "is the mean of its segments' mu; the baselines use the whole-clip summaries",
                  d.seg.rows(), seg_frames, seg_s);
  }
  return d;
}

HardData load_features(const fs::path& csv, const Config& c, StageTimings& timings) {
  std::error_code ec;
  HMR_REQUIRE(fs::is_regular_file(csv, ec), "--features {}: no such file", csv.string());
  ScopedStage st(&timings, "load");
  const std::string label_col = c.get_string("features.label_column");
  HMR_REQUIRE(!label_col.empty(), "features.label_column is empty: Hard needs the genre labels");
  audio::FeatureTable t =
      audio::read_features_csv(csv, c.get_string("features.columns"), label_col, c.get_string("features.id_column"));
  HMR_REQUIRE(!t.labels.empty(), "--features {}: no label column '{}'", csv.string(), label_col);
  HMR_REQUIRE(t.label_names.size() >= 2, "--features {}: only one genre ('{}'); genre clustering needs at least 2",
              csv.string(), t.label_names.front());
  HardData d;
  d.x = std::move(t.features);
  d.ids = std::move(t.ids);
  d.genre.name = "genre";
  d.genre.codes = std::move(t.labels);
  d.genre.names = std::move(t.label_names);
  d.columns = std::move(t.columns);
  d.input_line = fmt::format("Kaggle-layout features CSV `{}`: {} rows, {} feature columns matching '{}'", csv.string(),
                             d.x.rows(), d.x.cols(), c.get_string("features.columns"));
  return d;
}

}  // namespace

ExperimentResult run_hard(Backend& b, const HardInputs& in, const Config& c, const fs::path& out_dir) {
  // One NVTX range for the whole experiment, around its stages' ranges.
  NvtxRange range("hard");
  c.validate();  // every setting before any input is read
  HMR_REQUIRE(in.gtzan.empty() != in.features.empty(),
              "hard: give exactly one input: --gtzan DIR (GTZAN layout) or --features FILE.csv (Kaggle layout)");
  ExperimentResult r = begin_result(Task::hard, b, c, out_dir, "genre");
  OutputDir out(out_dir, Task::hard, {in.gtzan, in.features});
  ReportInputs rep;

  HardData d = in.gtzan.empty() ? load_features(in.features, c, r.timings) : load_gtzan(b, in.gtzan, c, r.timings, r);
  if (c.get_bool("features.log_variance")) {
    // Variances of MFCCs span orders of magnitude and are skewed; their logarithm is closer to
    // Gaussian, which is what K-Means and an MSE-trained VAE assume.
    const int logged = prep::log_variance_columns(d.x, d.columns, prep::NegativeVariance::error, d.ids);
    // Segment variances are computed here; a negative one is float rounding.
    if (d.seg.rows() > 0) prep::log_variance_columns(d.seg, d.columns, prep::NegativeVariance::clamp);
    rep.notes.push_back(fmt::format("features.log_variance: ln(v + 1e-6) of {} variance columns", logged));
  }
  const std::int64_t n = d.x.rows();
  r.n_samples = n;
  const std::int64_t k_cfg = c.get_int("experiment.k");
  HMR_REQUIRE(k_cfg >= 0, "experiment.k = {}: must be >= 2 (or 0 for the number of genres)", k_cfg);
  r.k = static_cast<int>(k_cfg == 0 ? static_cast<std::int64_t>(d.genre.names.size()) : k_cfg);
  HMR_REQUIRE(r.k >= 2, "experiment.k = {}: need at least 2 clusters", r.k);
  HMR_REQUIRE(r.k <= n, "k = {} clusters but only {} tracks: k cannot exceed the number of tracks", r.k, n);
  rep.inputs.push_back(d.input_line);
  rep.counts.push_back("genre: " + label_counts(d.genre));
  const LabelSet none;
  const std::uint64_t seed = r.seed;
  const cluster::KMeansOptions km = kmeans_settings(c, r.k, seed);

  // Baseline 1: K-Means on the standardised features.
  Matrix xs;
  {
    ScopedStage st(&r.timings, "standardize");
    xs = prep::apply_scaler(b, prep::fit_scaler(b, d.x), d.x);
  }
  std::vector<std::pair<std::string, std::vector<std::int32_t>>> labels;
  const std::string feat_space = fmt::format("standardised features ({}-d)", d.x.cols());
  if (c.get_bool("baselines.raw")) {
    std::vector<std::int32_t> p;
    {
      ScopedStage st(&r.timings, "kmeans");
      p = cluster_rows(b, xs, km, "tracks");
    }
    ScopedStage st(&r.timings, "metrics");
    r.results.push_back(score_method(b, "raw_kmeans", feat_space, xs, p, d.genre, none, c, seed));
    labels.emplace_back("raw_kmeans", std::move(p));
  }

  // Baseline 2: PCA + K-Means, scored on the PCA space.
  if (c.get_bool("baselines.pca")) {
    PcaKMeans pca = pca_kmeans(b, xs, c, km, "tracks", seed, r.timings, rep.notes);
    {
      ScopedStage st(&r.timings, "metrics");
      r.results.push_back(
          score_method(b, "pca_kmeans",
                       fmt::format("PCA {} components ({:.1f}% of the variance)", pca.components, 100 * pca.explained),
                       pca.z, pca.labels, d.genre, none, c, seed));
    }
    io::write_npy(out.path("latent_pca.npy"), pca.z);
    labels.emplace_back("pca_kmeans", std::move(pca.labels));
  }

  // The VAEs (the model standardises its input itself and keeps the scaler in the model file).
  // With segments they train on the segment rows and a track's latent is the mean of its segments' mu.
  const bool segmented = d.seg.rows() > 0;
  const Matrix& train_rows = segmented ? d.seg : d.x;
  std::vector<std::pair<std::string, nn::TrainReport>> histories;  // drawn with the other plots
  auto vae_method = [&](const std::string& method, const std::string& file_tag, float beta) {
    nn::VaeConfig vc = vae_settings(c, "vae", seed);
    vc.beta = beta;
    std::function<Matrix(Matrix)> pool;
    if (segmented) pool = [&](Matrix m) { return audio::pool_segments(m, d.seg_of, n); };
    EncodedVae e = train_and_encode(b, train_rows, vc, file_tag, file_tag, file_tag, out, r.timings, rep.notes, pool);
    histories.emplace_back(file_tag, std::move(e.history));
    const Matrix& mu = e.mu;
    std::vector<std::int32_t> p;
    {
      ScopedStage st(&r.timings, "kmeans");
      p = cluster_rows(b, mu, km, "tracks");
    }
    {
      ScopedStage st(&r.timings, "metrics");
      r.results.push_back(score_method(b, method,
                                       fmt::format("{} mu ({}-d, beta {:g}{})", file_tag, e.config.latent, beta,
                                                   segmented ? ", mean over segments" : ""),
                                       mu, p, d.genre, none, c, seed));
    }
    labels.emplace_back(method, std::move(p));
    return e.mu;
  };
  const float beta = static_cast<float>(c.get_double("vae.beta"));
  const Matrix mu = vae_method("vae_kmeans", "vae", beta);
  if (c.get_bool("baselines.plain_vae")) vae_method("plain_vae_kmeans", "plain_vae", 1.0f);
  // The primary method first in the tables.
  std::stable_partition(r.results.begin(), r.results.end(),
                        [](const MethodScores& m) { return m.method == "vae_kmeans"; });

  // Plots of the beta-VAE latent.
  LabelSet cluster_set;
  cluster_set.name = "cluster";
  for (const auto& [m, p] : labels)
    if (m == "vae_kmeans") cluster_set.codes = p;
  for (int i = 0; i < r.k; ++i) cluster_set.names.push_back(fmt::format("cluster {}", i));
  rep.plots = tsne_plots(b, mu, "vae", fmt::format("Hard: beta-VAE latent (beta {:g})", beta), {d.genre, cluster_set},
                         c, seed, out, r.timings, rep.notes);
  {
    ScopedStage st(&r.timings, "plots");
    rep.heatmaps = contingency_plots(out, "vae_kmeans", cluster_set.codes, {d.genre}, c);
    for (const auto& [tag, h] : histories) rep.loss_plots.push_back(loss_plot(out, tag, tag, h, c));
  }

  {
    ScopedStage st(&r.timings, "write");
    io::write_npy(out.path("features.npy"), d.x);
    if (segmented) io::write_npy(out.path("features_segments.npy"), d.seg);
    write_lines(out, "feature_columns.txt", d.columns);
    write_lines(out, "ids.txt", d.ids);
    write_labels(out, "truth_genre", d.genre.codes, &d.genre.names);
    for (const auto& [m, p] : labels) write_labels(out, "labels_" + m, p);
    if (!r.excluded.empty()) write_lines(out, "excluded.txt", r.excluded);
    write_results_csv(out, r, d.ids, {d.genre}, labels);
    c.write(out.path("config.toml"));
  }
  finish_run(out, r, rep, c);
  return r;
}

}  // namespace hmr::pipeline
