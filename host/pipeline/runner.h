// pipeline/runner.h — machinery the three experiment runners share (not a public API): the
// staged output folder, stage settings read from the Config, K-Means + scoring of one method,
// t-SNE plots, and the report/metrics writers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "audio/mfcc.h"
#include "cluster/kmeans.h"
#include "embed/tsne.h"
#include "io/output.h"
#include "nn/vae.h"
#include "pipeline/experiments.h"
#include "text/tfidf.h"

namespace hmr::pipeline::detail {

// The run's --out folder (io::OutputDirectory: checked and locked before any work, written into a
// staging folder beside it and switched in whole by commit(); without commit, e.g. on an
// exception, the staging folder is removed and `out` stays as it was). Files written through
// path() are recorded for the report and metrics.
class OutputDir {
 public:
  // Input error when out is unusable, is in use by another run, holds files hmr did not write or
  // holds one of `inputs`.
  OutputDir(const std::filesystem::path& out, Task task, const std::vector<std::filesystem::path>& inputs);
  std::filesystem::path path(const std::string& name);  // staging path of `name` (recorded)
  const std::filesystem::path& out() const { return out_; }
  const std::vector<std::string>& names() const { return names_; }
  void commit() { dir_.commit(); }

 private:
  std::filesystem::path out_;
  io::OutputDirectory dir_;
  std::vector<std::string> names_;
};

// A label of the samples: int codes into sorted names.
struct LabelSet {
  std::string name;  // "language", "genre"
  std::vector<std::int32_t> codes;
  std::vector<std::string> names;
  bool empty() const { return codes.empty(); }
};

// A result with the run's identity filled in (task, device, seed, primary label, out).
ExperimentResult begin_result(Task task, const Backend& b, const Config& c, const std::filesystem::path& out,
                              const std::string& primary_label);

// Settings from the Config.
audio::MfccParams mfcc_params(const Config& c);  // [mfcc], checked
nn::VaeConfig vae_settings(const Config& c, const std::string& section, std::uint64_t seed);
// The batch lowered to the number of rows when it is larger (a note says so).
void fit_batch(nn::VaeConfig& v, std::int64_t rows, const std::string& what, std::vector<std::string>& notes);
cluster::KMeansOptions kmeans_settings(const Config& c, int k, std::uint64_t seed);
// perplexity lowered to (n - 1) / 3 when n is small; *note receives a sentence when it was.
embed::TsneOptions tsne_settings(const Config& c, std::int64_t n, std::uint64_t seed, std::string* note);
text::TfidfOptions tfidf_settings(const Config& c);
// "character 1-3-grams within words (char_wb), unicode mode, max_features 5000" for reports.
std::string tfidf_description(const Config& c);

// The experiments' VAE step: the batch fitted to x (fit_batch), train on x (stage
// "train_<model_tag>"), mu of x (stage "encode"; then `pool` of mu when given, e.g. segments to
// tracks), a note with the architecture and the final losses, and model_<model_tag>.safetensors +
// latent_<latent_tag>.npy written (stage "write"). `what` names the model in notes.
// The per-epoch losses are written beside the model as model_<model_tag>.history.json
// (nn/history.h) and returned for loss_plot.
struct EncodedVae {
  nn::VaeConfig config;     // as trained (batch fitted)
  Matrix mu;                // [n x latent] (pooled when a pool was given)
  nn::TrainReport history;  // train_vae's report: the losses of every epoch
};
EncodedVae train_and_encode(Backend& b, const Matrix& x, nn::VaeConfig vc, const std::string& what,
                            const std::string& model_tag, const std::string& latent_tag, OutputDir& out,
                            StageTimings& timings, std::vector<std::string>& notes,
                            const std::function<Matrix(Matrix)>& pool = {});

// K-Means on x with k clusters; input error when k > rows.
std::vector<std::int32_t> cluster_rows(Backend& b, const Matrix& x, const cluster::KMeansOptions& opt,
                                       const std::string& what);

// The PCA baseline: PCA of x (components from [pca], lowered to min(n, d) with a note; solver
// and seed from the Config) and K-Means of the PCA space with `km`. Stage timings "pca" and
// "kmeans" are added to `timings`.
struct PcaKMeans {
  Matrix z;                          // [n x components] the PCA space (the method is scored on it)
  std::vector<std::int32_t> labels;  // K-Means of z
  std::int64_t components = 0;
  double explained = 0;  // share of the variance z keeps
};
PcaKMeans pca_kmeans(Backend& b, const Matrix& x, const Config& c, const cluster::KMeansOptions& km,
                     const std::string& what, std::uint64_t seed, StageTimings& timings,
                     std::vector<std::string>& notes);

// Internal metrics on x, label metrics against primary/second (when non-empty; a second label
// may have -1 codes = unknown, those rows are left out of its metrics).
MethodScores score_method(Backend& b, const std::string& method, const std::string& space, const Matrix& x,
                          const std::vector<std::int32_t>& pred, const LabelSet& primary, const LabelSet& second,
                          const Config& c, std::uint64_t seed);

// t-SNE of x, saved as embedding_<tag>.npy, with one PNG+SVG scatter per colouring
// (tsne_<tag>_<label.name>.png/.svg). Returns the plot file names (PNG) for the report.
std::vector<std::string> tsne_plots(Backend& b, const Matrix& x, const std::string& tag, const std::string& title,
                                    const std::vector<LabelSet>& colourings, const Config& c, std::uint64_t seed,
                                    OutputDir& out, StageTimings& timings, std::vector<std::string>& notes);

// [plot] width, height (CSS px) and dpi, checked (input error naming the problem).
struct PlotSettings {
  int width = 900, height = 720, dpi = 96;
};
PlotSettings plot_settings(const Config& c);

// The loss curves of a trained VAE (total, reconstruction, KL per epoch; the validation total
// when rows were held out) as loss_<model_tag>.png/.svg. Returns the PNG name.
std::string loss_plot(OutputDir& out, const std::string& model_tag, const std::string& what,
                      const nn::TrainReport& history, const Config& c);

// A method's clusters against each non-empty label (-1 = "(unknown)"): heatmaps of the
// contingency counts, contingency_<method>_<label.name>.png/.svg. Returns the PNG names.
std::vector<std::string> contingency_plots(OutputDir& out, const std::string& method,
                                           const std::vector<std::int32_t>& clusters,
                                           const std::vector<LabelSet>& labels, const Config& c);

// Writes labels (.npy) and their names (.txt, one per line).
void write_labels(OutputDir& out, const std::string& stem, const std::vector<std::int32_t>& codes,
                  const std::vector<std::string>* names = nullptr);
void write_lines(OutputDir& out, const std::string& name, const std::vector<std::string>& lines);

// Records a row left out: "<id><where>: <reason>" in r.excluded (excluded.txt, the report) and the
// structured row in r.excluded_rows (results.csv). `where` is e.g. " (line 5)".
void exclude(ExperimentResult& r, const std::string& id, const std::string& where, const std::string& reason,
             std::vector<std::pair<std::string, std::string>> labels = {});

// results.csv: one row per input row/track. Columns: id, each label (its value's name, empty when
// unknown), each method's cluster (an integer), excluded (0/1), excluded_reason. The first rows
// are the clustered ones in ids.txt order (row i is row i of every labels_<method>.npy and
// truth_<label>.npy), then r.excluded_rows in excluded.txt order with empty cluster cells.
// Fields are RFC 4180-quoted (io::csv_field), UTF-8 without a byte-order mark, CRLF line ends.
void write_results_csv(OutputDir& out, const ExperimentResult& r, const std::vector<std::string>& ids,
                       const std::vector<LabelSet>& labels,
                       const std::vector<std::pair<std::string, std::vector<std::int32_t>>>& methods);

// A label where some values are unknown (""): codes into the sorted known values, -1 = unknown.
LabelSet encode_known_labels(const std::string& name, const std::vector<std::string>& values);

// What the report says besides the result.
struct ReportInputs {
  std::vector<std::string> inputs;      // "lyrics: a.csv (bn), 640 rows" ...
  std::vector<std::string> counts;      // "language: bn 32, en 32"
  std::vector<std::string> notes;       // perplexity lowered, rows skipped, ...
  std::vector<std::string> plots;       // t-SNE PNG names
  std::vector<std::string> heatmaps;    // contingency PNG names
  std::vector<std::string> loss_plots;  // training loss curve PNG names
};
void write_report(OutputDir& out, const ExperimentResult& r, const ReportInputs& in, const Config& c);
void write_metrics(OutputDir& out, const ExperimentResult& r);
// The last step of every experiment: metrics.json (timings up to here; report.md repeats them),
// report.md, the one switch of the staged folder into --out, and r.files.
void finish_run(OutputDir& out, ExperimentResult& r, const ReportInputs& in, const Config& c);

// "bn 32, en 32"
std::string label_counts(const LabelSet& l);

}  // namespace hmr::pipeline::detail
