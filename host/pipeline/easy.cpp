// pipeline/easy.cpp — hmr easy: language (and genre) structure of lyrics.
//   input    lyrics CSVs, one text column each; language per file (FILE.csv:LANG) or per row
//            (language column); genre from a genre column when every file has one
//   TF-IDF   [n x <=5000] CSR (scikit-learn TfidfVectorizer semantics, Unicode tokens)
//   methods  vae_kmeans  text VAE (5000-512-32, sigmoid/BCE) mu -> K-Means, scored on mu
//            pca_kmeans  PCA (32) of the TF-IDF matrix -> K-Means, scored on the PCA space (its
//                        own space: the seed scored this baseline on the VAE's latent instead)
// Rows with empty lyrics (after dropping [Chorus]-style tags) or no TF-IDF term are listed and
// left out; a file without any usable row is an input error.
#include <fmt/ranges.h>
#include <algorithm>
#include <map>

#include "core/error.h"
#include "core/log.h"
#include "decomp/pca.h"
#include "io/csv.h"
#include "io/npy.h"
#include "pipeline/runner.h"
#include "text/lyrics.h"

namespace hmr::pipeline {
namespace fs = std::filesystem;
using namespace detail;

namespace {

struct Row {
  std::string id, text, language, genre;
};

// The genre column of a file: the configured name, or with "auto" the first known one present.
std::optional<std::size_t> genre_column(const io::CsvTable& t, const std::string& setting) {
  if (setting.empty()) return std::nullopt;
  if (setting != "auto") return t.find_column(setting);
  for (const char* name : {"genre", "genre_en", "genre/0", "label"})
    if (auto c = t.find_column(name)) return c;
  return std::nullopt;
}

}  // namespace

ExperimentResult run_easy(Backend& b, const EasyInputs& in, const Config& c, const fs::path& out_dir) {
  c.validate();  // every setting before any input is read
  HMR_REQUIRE(!in.lyrics.empty(), "easy: give at least one --lyrics FILE.csv[:LANG]");
  std::error_code ec;
  for (const auto& l : in.lyrics)
    HMR_REQUIRE(fs::is_regular_file(l.path, ec), "--lyrics {}: no such file", l.path.string());
  ExperimentResult r = begin_result(Task::easy, b, c, out_dir, "language");
  std::vector<fs::path> inputs;
  for (const auto& l : in.lyrics) inputs.push_back(l.path);
  OutputDir out(out_dir, Task::easy, inputs);
  ReportInputs rep;
  const std::uint64_t seed = r.seed;

  // ---- read the files ----
  std::vector<Row> rows;
  bool all_have_genre = true;
  {
    ScopedStage st(&r.timings, "load");
    const std::string text_col = c.get_string("experiment.lyrics_column");
    const std::string lang_col = c.get_string("experiment.language_column");
    const std::string genre_setting = c.get_string("experiment.genre_column");
    const bool strip = c.get_bool("experiment.strip_section_tags");
    for (const auto& src : in.lyrics) {
      const io::CsvTable t = io::read_csv(src.path);
      const std::string name = src.path.string();
      const std::size_t tc = t.column(text_col);
      std::optional<std::size_t> lc;
      if (src.language.empty()) {
        lc = t.find_column(lang_col);
        HMR_REQUIRE(lc.has_value(), "--lyrics {}: no language given (use {}:LANG) and no '{}' column (columns: {})",
                    name, name, lang_col, fmt::join(t.header, ", "));
      }
      const auto gc = genre_column(t, genre_setting);
      if (!gc) all_have_genre = false;
      std::int64_t used = 0, empty = 0;
      for (std::size_t i = 0; i < t.size(); ++i) {
        Row row;
        row.id = fmt::format("{}:{}", src.path.filename().string(), t.lines[i]);
        row.text = t.at(i, tc);
        if (strip) row.text = text::strip_section_tags(row.text);
        row.language = src.language.empty() ? t.at(i, *lc) : src.language;
        if (gc) row.genre = t.at(i, *gc);
        if (row.text.find_first_not_of(" \t\r\n") == std::string::npos) {
          r.excluded.push_back(fmt::format("{}: empty lyrics", row.id));
          ++empty;
          continue;
        }
        if (row.language.empty()) {
          r.excluded.push_back(fmt::format("{}: no language", row.id));
          ++empty;
          continue;
        }
        rows.push_back(std::move(row));
        ++used;
      }
      HMR_REQUIRE(used > 0,
                  "--lyrics {}: no usable rows ({} data rows, {} with empty lyrics or language in column '{}')", name,
                  t.size(), empty, t.header.empty() ? text_col : t.header[tc]);
      rep.inputs.push_back(fmt::format(
          "lyrics `{}`{}: {} rows used of {}{}", name,
          src.language.empty() ? std::string(" (language column)") : fmt::format(" (language {})", src.language), used,
          t.size(), gc ? fmt::format(", genre column '{}'", t.header[*gc]) : ""));
    }
  }

  // ---- TF-IDF; rows without any kept term are left out ----
  text::Csr tfidf;
  text::TfidfModel model;
  {
    std::vector<std::string> docs;
    for (const auto& row : rows) docs.push_back(row.text);
    ScopedStage st(&r.timings, "tfidf");
    tfidf = text::fit_transform(b, docs, tfidf_settings(c), model);
  }
  const std::int64_t min_tokens = std::max<std::int64_t>(1, c.get_int("experiment.min_tokens"));
  std::vector<std::int64_t> keep;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::int64_t terms = tfidf.indptr[i + 1] - tfidf.indptr[i];
    if (terms >= min_tokens)
      keep.push_back(static_cast<std::int64_t>(i));
    else
      r.excluded.push_back(fmt::format("{}: {} TF-IDF terms (min {})", rows[i].id, terms, min_tokens));
  }
  HMR_REQUIRE(!keep.empty(), "easy: no lyrics row has a TF-IDF term (all {} rows are empty after tokenising)",
              rows.size());
  Matrix x;
  {
    text::Csr kept;
    kept.rows = static_cast<std::int64_t>(keep.size());
    kept.cols = tfidf.cols;
    kept.indptr.push_back(0);
    for (std::size_t r2 = 0; r2 < keep.size(); ++r2) {
      const std::int64_t i = keep[r2];
      for (std::int64_t p = tfidf.indptr[static_cast<std::size_t>(i)];
           p < tfidf.indptr[static_cast<std::size_t>(i) + 1]; ++p) {
        kept.indices.push_back(tfidf.indices[static_cast<std::size_t>(p)]);
        kept.data.push_back(tfidf.data[static_cast<std::size_t>(p)]);
      }
      kept.indptr.push_back(static_cast<std::int64_t>(kept.data.size()));
    }
    tfidf = std::move(kept);
    x = text::to_dense(tfidf);
  }
  const std::int64_t n = x.rows();
  r.n_samples = n;
  r.k = static_cast<int>(c.get_int("experiment.k"));
  HMR_REQUIRE(r.k >= 2, "experiment.k = {}: need at least 2 clusters", r.k);
  HMR_REQUIRE(r.k <= n, "k = {} clusters but only {} lyrics rows: k cannot exceed the number of rows", r.k, n);

  std::vector<std::string> ids;
  LabelSet lang, genre;
  lang.name = "language";
  {
    std::vector<std::string> lv, gv;
    for (std::int64_t i : keep) {
      ids.push_back(rows[static_cast<std::size_t>(i)].id);
      lv.push_back(rows[static_cast<std::size_t>(i)].language);
      gv.push_back(rows[static_cast<std::size_t>(i)].genre);
    }
    lang.codes = encode_labels(lv, lang.names);
    const bool any_genre = std::any_of(gv.begin(), gv.end(), [](const std::string& g) { return !g.empty(); });
    if (all_have_genre && any_genre) {
      genre = encode_known_labels("genre", gv);
      r.second_label = "genre";
    }
  }
  HMR_REQUIRE(lang.names.size() >= 2 || r.k >= 2, "easy: one language only");
  if (lang.names.size() < 2)
    rep.notes.push_back(fmt::format("only one language ({}): language ARI/NMI are trivially 0", lang.names.front()));
  rep.inputs.push_back(fmt::format("TF-IDF: {} rows x {} terms ({}), {} stored values", n, tfidf.cols,
                                   tfidf_description(c), tfidf.nnz()));
  rep.counts.push_back("language: " + label_counts(lang));
  if (!genre.empty())
    rep.counts.push_back(fmt::format("genre ({} values): {}", genre.names.size(), label_counts(genre)));
  const cluster::KMeansOptions km = kmeans_settings(c, r.k, seed);

  // ---- text VAE -> mu -> K-Means ----
  const Matrix mu =
      train_and_encode(b, x, vae_settings(c, "vae", seed), "text VAE", "text_vae", "vae", out, r.timings, rep.notes).mu;
  std::vector<std::int32_t> vae_labels;
  {
    ScopedStage st(&r.timings, "kmeans");
    vae_labels = cluster_rows(b, mu, km, "lyrics rows");
  }
  {
    ScopedStage st(&r.timings, "metrics");
    r.results.push_back(score_method(b, "vae_kmeans", fmt::format("text VAE mu ({}-d)", mu.cols()), mu, vae_labels,
                                     lang, genre, c, seed));
  }

  // ---- baseline: PCA -> K-Means on its own space ----
  const PcaKMeans pca = pca_kmeans(b, x, c, km, "lyrics rows", seed, r.timings, rep.notes);
  {
    ScopedStage st(&r.timings, "metrics");
    r.results.push_back(score_method(
        b, "pca_kmeans",
        fmt::format("PCA {} components of TF-IDF ({:.1f}% of the variance)", pca.components, 100 * pca.explained),
        pca.z, pca.labels, lang, genre, c, seed));
  }

  // ---- plots of the VAE latent ----
  LabelSet cluster_set;
  cluster_set.name = "cluster";
  cluster_set.codes = vae_labels;
  for (int i = 0; i < r.k; ++i) cluster_set.names.push_back(fmt::format("cluster {}", i));
  std::vector<LabelSet> colourings{lang, cluster_set};
  if (!genre.empty()) colourings.push_back(genre);
  rep.plots =
      tsne_plots(b, mu, "vae", "Easy: text VAE latent of the lyrics", colourings, c, seed, out, r.timings, rep.notes);

  {
    ScopedStage st(&r.timings, "write");
    io::write_npy(out.path("latent_pca.npy"), pca.z);
    text::write_npz(out.path("tfidf.npz"), tfidf);
    write_lines(out, "vocabulary.txt", model.vocabulary);
    write_labels(out, "labels_vae_kmeans", vae_labels);
    write_labels(out, "labels_pca_kmeans", pca.labels);
    write_labels(out, "truth_language", lang.codes, &lang.names);
    if (!genre.empty()) write_labels(out, "truth_genre", genre.codes, &genre.names);
    write_lines(out, "ids.txt", ids);
    if (!r.excluded.empty()) write_lines(out, "excluded.txt", r.excluded);
    c.write(out.path("config.toml"));
  }
  if (!r.excluded.empty())
    spdlog::info("easy: {} row(s) left out (empty lyrics or no terms), listed in excluded.txt", r.excluded.size());
  write_metrics(out, r);
  write_report(out, r, rep, c);
  out.commit();
  r.files = out.names();
  return r;
}

}  // namespace hmr::pipeline
