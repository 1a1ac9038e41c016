// pipeline/experiments.h — the three experiments end to end (hmr easy | medium | hard):
//
//   Easy    lyrics CSVs (language per file or per column) -> TF-IDF -> text VAE -> K-Means on mu
//           (vae_kmeans); baseline PCA(32) -> K-Means, scored on its own PCA space (pca_kmeans).
//   Medium  manifest id,audio,lyrics|lyrics_file,language[,genre]: MFCC summary -> audio VAE,
//           lyrics -> TF-IDF -> text VAE; fused = [w_t * z(mu_text) | w_a * z(mu_audio)] of
//           the SAME track (rows matched by id) -> K-Means (fused); text_only and audio_only on
//           the same tracks. Tracks missing a modality are listed and left out.
//   Hard    GTZAN folder (label = folder) or Kaggle features CSV -> standardised features ->
//           beta-VAE -> K-Means, k = number of genres (vae_kmeans); baselines on the same rows:
//           raw_kmeans (standardised features), pca_kmeans, plain_vae_kmeans (beta 1).
// Each method is scored on its own space (silhouette, Calinski-Harabasz, Davies-Bouldin) and
// against the primary label (ari, nmi, purity: language for Easy/Medium, genre for Hard) and a
// second label with suffixed keys (ari_genre, ...). Outputs in `out` (schema: DESIGN.md):
// metrics.json, report.md, config.toml, tsne_*.png/.svg, latent_*.npy, labels_*.npy, truth_*.npy,
// ids.txt, results.csv, model_*.safetensors, and .hmr-run.json (what io::OutputDirectory writes: the command and
// the file list). Files are staged in a hidden folder beside `out` and switched in whole when the
// run succeeds (io/output.h), so a failed run leaves no partial outputs and a re-used `out` no
// file of an earlier run.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/backend.h"
#include "core/matrix.h"
#include "core/timer.h"
#include "pipeline/config.h"

namespace hmr::pipeline {

// --lyrics FILE.csv[:LANG] by the rule of text::LyricsSource::parse (text/lyrics.h). Without
// :LANG the file needs a language column (config experiment.language_column).
struct LyricsInput {
  std::filesystem::path path;
  std::string language;  // "" = from the file's language column
};
LyricsInput parse_lyrics_arg(const std::string& arg);

struct EasyInputs {
  std::vector<LyricsInput> lyrics;
};
struct MediumInputs {
  std::filesystem::path manifest;
};
struct HardInputs {
  std::filesystem::path gtzan;     // a GTZAN-layout folder, or
  std::filesystem::path features;  // a Kaggle-layout features CSV (exactly one of the two)
};

// The scores of one method (the metrics.json "results" entry). Second-label fields are keyed
// with a suffix ("ari_genre").
struct MethodScores {
  std::string method;  // vae_kmeans, pca_kmeans, raw_kmeans, plain_vae_kmeans, text_only, audio_only, fused
  std::string space;   // what was clustered and scored, for the report ("VAE mu (32-d)")
  double silhouette = 0, calinski_harabasz = 0, davies_bouldin = 0;
  std::optional<double> ari, nmi, purity;                       // vs the primary label
  std::optional<double> ari_second, nmi_second, purity_second;  // vs the second label
  // The other label metrics (eval::score_labels: scikit-learn's definitions; accuracy is the best
  // one-to-one matching of clusters to classes), vs the primary and the second label.
  struct More {
    std::optional<double> ami, homogeneity, completeness, v_measure, fowlkes_mallows, accuracy;
  };
  More more, more_second;
  // Points the method labelled -1 (noise: DBSCAN / HDBSCAN). Every metric counts them as one more
  // cluster, as scikit-learn does; K-Means never produces any.
  std::int64_t n_noise = 0;
};

// A track/row left out of every method, for results.csv: its id as the other outputs spell it,
// why, and the labels it has (label name -> value, e.g. {"language", "bn"}) where they are known.
struct ExcludedRow {
  std::string id;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> labels;
};

struct ExperimentResult {
  Task task = Task::easy;
  std::string device;  // backend name
  std::uint64_t seed = 0;
  std::int64_t n_samples = 0;
  int k = 0;
  std::string primary_label;  // "language" | "genre"
  std::string second_label;   // "" | "genre"
  std::vector<MethodScores> results;
  StageTimings timings;
  std::vector<std::string> excluded;       // "id: reason" for tracks/rows left out (excluded.txt)
  std::vector<ExcludedRow> excluded_rows;  // the same rows, structured (results.csv)
  std::vector<std::string> files;          // files written into out (relative names)
  std::filesystem::path out;
  const MethodScores* find(const std::string& method) const;
};

// Run an experiment with a resolved config; writes everything into `out` (created if needed).
// Input errors (exit 2) for: missing inputs, a folder without audio, a single genre, k larger
// than the number of samples, lyrics files without usable rows, an unwritable `out`.
ExperimentResult run_easy(Backend& backend, const EasyInputs& in, const Config& config,
                          const std::filesystem::path& out);
ExperimentResult run_medium(Backend& backend, const MediumInputs& in, const Config& config,
                            const std::filesystem::path& out);
ExperimentResult run_hard(Backend& backend, const HardInputs& in, const Config& config,
                          const std::filesystem::path& out);

// ---- building blocks (exposed for tests and for callers composing their own runs) ----

// Fusion of per-track latent blocks (same rows, same order): each block standardised column by
// column (StandardScaler fitted on that block, on the backend), multiplied by its weight, and the
// blocks concatenated: [n x sum(cols_b)]. A block's share of the total variance is
// weight^2 * cols_b, so a 32-d text latent weighs twice a 16-d audio latent at equal weights.
Matrix fuse_blocks(Backend& backend, const std::vector<const Matrix*>& blocks, const std::vector<double>& weights);

// Rows of `a_ids` and `b_ids` with the same id: pairs (index in a, index in b), in a's order.
// Input error on a duplicated id within either list.
std::vector<std::pair<std::size_t, std::size_t>> match_ids(const std::vector<std::string>& a_ids,
                                                           const std::vector<std::string>& b_ids);

// Label strings -> int32 codes into sorted names (names receives the sorted distinct values).
std::vector<std::int32_t> encode_labels(const std::vector<std::string>& values, std::vector<std::string>& names);

// metrics.json text of a result (DESIGN.md schema).
std::string metrics_json(const ExperimentResult& r);

// One line per stage with seconds, and the total (what `hmr <task>` prints).
std::string timings_table(const StageTimings& t);

// Prints the methods' label metrics, the stage timings and where the report is (stdout), unless -q.
void print_summary(const ExperimentResult& r);

}  // namespace hmr::pipeline
