// pipeline/easy.cpp — hmr easy: language (and genre) structure of lyrics.
//   input    lyrics CSVs, one text column each; language per file (FILE.csv:LANG) or per row
//            (language column); genre from a genre column when every file has one
//   TF-IDF   [n x <=5000] CSR (scikit-learn TfidfVectorizer semantics, Unicode tokens)
//   methods  vae_kmeans  text VAE (5000-512-32, sigmoid/BCE) mu -> K-Means, scored on mu
//            pca_kmeans  PCA (32) of the TF-IDF matrix -> K-Means, scored on the PCA space (its
//                        own space: the seed scored this baseline on the VAE's latent instead)
// Rows with empty lyrics (after dropping [Chorus]-style tags) or no TF-IDF term are listed and
// left out; a file without any usable row is an input error. Row ids (ids.txt, excluded.txt) are
// text::read_lyrics's: "<file name>:<line>", the path as given where two files share a name.
#include <algorithm>

#include "core/error.h"
#include "core/log.h"
#include "core/nvtx.h"
#include "core/progress.h"
#include "decomp/pca.h"
#include "io/npy.h"
#include "pipeline/runner.h"
#include "text/lyrics.h"

namespace hmr::pipeline {
namespace fs = std::filesystem;
using namespace detail;

ExperimentResult run_easy(Backend& b, const EasyInputs& in, const Config& c, const fs::path& out_dir) {
  // One NVTX range for the whole experiment, around its stages' ranges.
  NvtxRange range("easy");
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

  // ---- read the files (text::read_lyrics: the reader hmr tfidf uses too) ----
  text::Corpus corpus;
  {
    ScopedStage st(&r.timings, "load");
    std::vector<text::LyricsSource> sources;
    for (const auto& l : in.lyrics) sources.push_back({l.path.string(), l.language});
    text::LyricsOptions read;
    read.column = c.get_string("experiment.lyrics_column");
    read.language_column = c.get_string("experiment.language_column");
    read.genre_column = c.get_string("experiment.genre_column");
    read.strip_section_tags = c.get_bool("experiment.strip_section_tags");
    corpus = text::read_lyrics(sources, read);
    for (const auto& s : corpus.skipped) {
      // The file's language (FILE.csv:LANG) is known even for a row left out.
      std::vector<std::pair<std::string, std::string>> known;
      for (std::size_t f = 0; f < in.lyrics.size(); ++f)
        if (corpus.sources.size() > f && corpus.sources[f].path == s.file && !in.lyrics[f].language.empty())
          known.emplace_back("language", in.lyrics[f].language);
      exclude(r, s.id, "", s.reason == text::SkipReason::empty_text ? "empty lyrics" : "no language", std::move(known));
    }
    for (std::size_t f = 0; f < corpus.sources.size(); ++f) {
      const text::LyricsFileSummary& s = corpus.sources[f];
      const std::string& language = in.lyrics[f].language;
      HMR_REQUIRE(s.kept > 0,
                  "--lyrics {}: no usable rows ({} data rows, {} with empty lyrics or language in column '{}')", s.path,
                  s.rows, s.rows - s.kept, s.text_column);
      rep.inputs.push_back(fmt::format(
          "lyrics `{}`{}: {} rows used of {}{}", s.path,
          language.empty() ? std::string(" (language column)") : fmt::format(" (language {})", language), s.kept,
          s.rows, s.genre_column.empty() ? "" : fmt::format(", genre column '{}'", s.genre_column)));
    }
  }
  const bool all_have_genre = std::all_of(corpus.sources.begin(), corpus.sources.end(),
                                          [](const text::LyricsFileSummary& s) { return !s.genre_column.empty(); });

  // ---- TF-IDF; rows without any kept term are left out ----
  text::Csr tfidf;
  text::TfidfModel model;
  {
    ScopedStage st(&r.timings, "tfidf");
    // One step, but seconds on thousands of songs: announced, so a terminal or log shows it began.
    Progress bar("tfidf", 1, "fit");
    tfidf = text::fit_transform(b, corpus.docs, tfidf_settings(c), model);
    bar.finish(fmt::format("{} terms", tfidf.cols));
  }
  const std::int64_t min_tokens = std::max<std::int64_t>(1, c.get_int("experiment.min_tokens"));
  std::vector<std::int64_t> keep;
  for (std::size_t i = 0; i < corpus.docs.size(); ++i) {
    const std::int64_t terms = tfidf.indptr[i + 1] - tfidf.indptr[i];
    if (terms >= min_tokens)
      keep.push_back(static_cast<std::int64_t>(i));
    else
      exclude(
          r, corpus.ids[i], "", fmt::format("{} TF-IDF terms (min {})", terms, min_tokens),
          {{"language", corpus.label_names[static_cast<std::size_t>(corpus.labels[i])]}, {"genre", corpus.genres[i]}});
  }
  HMR_REQUIRE(!keep.empty(), "easy: no lyrics row has a TF-IDF term (all {} rows are empty after tokenising)",
              corpus.docs.size());
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
    for (const std::int64_t i : keep) {
      const auto d = static_cast<std::size_t>(i);
      ids.push_back(corpus.ids[d]);
      lv.push_back(corpus.label_names[static_cast<std::size_t>(corpus.labels[d])]);
      gv.push_back(corpus.genres[d]);
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
  const EncodedVae text_vae =
      train_and_encode(b, x, vae_settings(c, "vae", seed), "text VAE", "text_vae", "vae", out, r.timings, rep.notes);
  const Matrix& mu = text_vae.mu;
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
    ScopedStage st(&r.timings, "plots");
    rep.heatmaps = contingency_plots(out, "vae_kmeans", vae_labels, {lang, genre}, c);
    rep.loss_plots.push_back(loss_plot(out, "text_vae", "text VAE", text_vae.history, c));
  }

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
    write_results_csv(out, r, ids, {lang, genre}, {{"vae_kmeans", vae_labels}, {"pca_kmeans", pca.labels}});
    c.write(out.path("config.toml"));
  }
  if (!r.excluded.empty())
    spdlog::info("easy: {} row(s) left out (empty lyrics or no terms), listed in excluded.txt", r.excluded.size());
  finish_run(out, r, rep, c);
  return r;
}

}  // namespace hmr::pipeline
