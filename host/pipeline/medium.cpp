// pipeline/medium.cpp — hmr medium: paired tracks (audio + lyrics) and their fused latent.
//   manifest  id,audio,lyrics|lyrics_file,language[,genre] (paths relative to the manifest)
//   audio     MFCC summary [n x 40] -> audio VAE (40-128-64-16) -> mu_audio [n x 16]
//   lyrics    TF-IDF [n x <=5000] -> text VAE (5000-512-32, sigmoid/BCE) -> mu_text [n x 32]
//   fused     [w_t * z(mu_text) | w_a * z(mu_audio)] (z: StandardScaler per column, fitted per
//             block) row by row of the SAME track (joined on id, never on position) -> K-Means
// text_only / audio_only cluster each mu alone, on the same tracks. A track whose audio is
// missing or unreadable, whose lyrics are missing, empty or tokenless, or whose language is empty
// is listed (excluded.txt, report.md) and left out of every method.

#include <algorithm>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "audio/mfcc.h"
#include "core/error.h"
#include "core/log.h"
#include "core/nvtx.h"
#include "core/progress.h"
#include "io/csv.h"
#include "io/npy.h"
#include "pipeline/runner.h"
#include "text/lyrics.h"

namespace hmr::pipeline {
namespace fs = std::filesystem;
using namespace detail;

namespace {

struct Track {
  std::string id, language, genre, lyrics;
  fs::path audio;
  std::int64_t line = 0;
};

// The labels a track's manifest row gives, for results.csv (a left-out track keeps them).
std::vector<std::pair<std::string, std::string>> labels_of(const Track& t) {
  return {{"language", t.language}, {"genre", t.genre}};
}

std::optional<std::size_t> optional_column(const io::CsvTable& t, const std::string& name) {
  if (name.empty()) return std::nullopt;
  return t.find_column(name);
}

}  // namespace

ExperimentResult run_medium(Backend& b, const MediumInputs& in, const Config& c, const fs::path& out_dir) {
  // One NVTX range for the whole experiment, around its stages' ranges.
  NvtxRange range("medium");
  c.validate();  // every setting before any input is read
  std::error_code ec;
  HMR_REQUIRE(!in.manifest.empty(), "medium: --manifest tracks.csv is required");
  HMR_REQUIRE(fs::is_regular_file(in.manifest, ec), "--manifest {}: no such file", in.manifest.string());
  ExperimentResult r = begin_result(Task::medium, b, c, out_dir, "language");
  OutputDir out(out_dir, Task::medium, {in.manifest});
  ReportInputs rep;
  const std::uint64_t seed = r.seed;

  // ---- manifest -> candidate tracks ----
  std::vector<Track> tracks;
  const fs::path base = in.manifest.parent_path();
  bool has_genre = false;
  {
    ScopedStage st(&r.timings, "load");
    const io::CsvTable t = io::read_csv(in.manifest);
    const std::string src = in.manifest.string();
    const std::size_t id_col = t.column(c.get_string("experiment.id_column"));
    const std::size_t audio_col = t.column(c.get_string("experiment.audio_column"));
    const std::size_t lang_col = t.column(c.get_string("experiment.language_column"));
    const auto lyr_col = optional_column(t, c.get_string("experiment.lyrics_column"));
    const auto lyr_file_col = optional_column(t, c.get_string("experiment.lyrics_file_column"));
    HMR_REQUIRE(lyr_col || lyr_file_col, "--manifest {}: no lyrics column ('{}' with the text or '{}' with a file){}",
                src, c.get_string("experiment.lyrics_column"), c.get_string("experiment.lyrics_file_column"),
                t.delimiter_hint());
    constexpr std::size_t kNoColumn = std::numeric_limits<std::size_t>::max();
    // The first lyrics column a row must reach to say anything about its lyrics.
    const std::size_t lyr_first = std::min(lyr_col.value_or(kNoColumn), lyr_file_col.value_or(kNoColumn));
    const auto genre_col = optional_column(t, c.get_string("experiment.genre_column"));
    has_genre = genre_col.has_value();
    HMR_REQUIRE(t.size() > 0, "--manifest {}: no tracks (only a header)", src);
    const bool strip = c.get_bool("experiment.strip_section_tags");
    std::map<std::string, std::int64_t> seen;
    for (std::size_t row = 0; row < t.size(); ++row) {
      Track tr;
      tr.line = t.lines[row];
      // A row cut short is a malformed record ("line 5 has 2 fields, the header has 4"), not a
      // track without language or lyrics to be quietly left out.
      for (std::size_t col : {id_col, audio_col, lang_col, lyr_first}) t.need(row, col);
      tr.id = t.at(row, id_col);
      HMR_REQUIRE(!tr.id.empty(), "{}:{}: empty id", src, tr.line);
      const auto [it, fresh] = seen.emplace(tr.id, tr.line);
      HMR_REQUIRE(fresh, "{}:{}: id '{}' already used on line {} (tracks are paired by id)", src, tr.line, tr.id,
                  it->second);
      tr.language = t.at(row, lang_col);
      if (genre_col) tr.genre = t.at(row, *genre_col);
      const std::string& a = t.at(row, audio_col);
      if (tr.language.empty()) {
        exclude(r, tr.id, fmt::format(" (line {})", tr.line), "no language", labels_of(tr));
        continue;
      }
      if (a.empty()) {
        exclude(r, tr.id, fmt::format(" (line {})", tr.line), "no audio path", labels_of(tr));
        continue;
      }
      tr.audio = fs::path(a).is_absolute() ? fs::path(a) : base / a;
      if (!fs::is_regular_file(tr.audio, ec)) {
        exclude(r, tr.id, fmt::format(" (line {})", tr.line), fmt::format("audio file {} not found", tr.audio.string()),
                labels_of(tr));
        continue;
      }
      if (lyr_col && !t.at(row, *lyr_col).empty()) {
        tr.lyrics = t.at(row, *lyr_col);
      } else if (lyr_file_col && !t.at(row, *lyr_file_col).empty()) {
        const std::string& lf = t.at(row, *lyr_file_col);
        const fs::path p = fs::path(lf).is_absolute() ? fs::path(lf) : base / lf;
        std::ifstream f(p, std::ios::binary);
        if (!f.good()) {
          exclude(r, tr.id, fmt::format(" (line {})", tr.line), fmt::format("lyrics file {} not readable", p.string()),
                  labels_of(tr));
          continue;
        }
        std::stringstream ss;
        ss << f.rdbuf();
        tr.lyrics = ss.str();
        if (io::find_invalid_utf8(tr.lyrics) != std::string::npos) {
          exclude(r, tr.id, fmt::format(" (line {})", tr.line), fmt::format("lyrics file {} is not UTF-8", p.string()),
                  labels_of(tr));
          continue;
        }
      }
      if (strip) tr.lyrics = text::strip_section_tags(tr.lyrics);
      if (tr.lyrics.find_first_not_of(" \t\r\n") == std::string::npos) {
        exclude(r, tr.id, fmt::format(" (line {})", tr.line), "no lyrics", labels_of(tr));
        continue;
      }
      tracks.push_back(std::move(tr));
    }
  }
  HMR_REQUIRE(!tracks.empty(), "--manifest {}: no track has both readable audio and lyrics ({} left out, first: {})",
              in.manifest.string(), r.excluded.size(), r.excluded.empty() ? "" : r.excluded.front());

  // ---- audio: MFCC summaries, keyed by id ----
  std::map<std::string, std::size_t> audio_row;
  Matrix summaries;
  const audio::MfccParams mp = mfcc_params(c);
  {
    std::vector<fs::path> paths;
    for (const auto& t : tracks) paths.push_back(t.audio);
    audio::MfccOptions mo;
    mo.offset = c.get_double("mfcc.offset");
    mo.duration = c.get_double("mfcc.duration");
    audio::MfccResult res;
    {
      ScopedStage st(&r.timings, "mfcc");
      Progress bar("mfcc", static_cast<std::int64_t>(paths.size()), "file");
      mo.progress = [&bar](std::size_t done, std::size_t) { bar.update(static_cast<std::int64_t>(done)); };
      res = audio::mfcc_files(b, paths, mp, mo);
      bar.finish();
    }
    for (std::size_t i = 0; i < res.index.size(); ++i) audio_row[tracks[res.index[i]].id] = i;
    for (const auto& s : res.skipped) {
      for (const auto& t : tracks)
        if (t.audio.string() == s.path)
          exclude(r, t.id, fmt::format(" (line {})", t.line), fmt::format("unreadable audio ({})", s.reason),
                  labels_of(t));
    }
    summaries = std::move(res.summaries);
  }
  std::vector<Track> kept;
  for (auto& t : tracks)
    if (audio_row.count(t.id)) kept.push_back(std::move(t));
  tracks = std::move(kept);

  // ---- lyrics: TF-IDF; tracks whose lyrics have too few terms are left out ----
  text::Csr tfidf;
  text::TfidfModel tmodel;
  {
    const std::int64_t min_tokens = c.get_int("experiment.min_tokens");
    for (int round = 0; round < 2; ++round) {
      HMR_REQUIRE(!tracks.empty(), "--manifest {}: no track is left with both audio and lyrics ({} left out)",
                  in.manifest.string(), r.excluded.size());
      std::vector<std::string> docs;
      for (const auto& t : tracks) docs.push_back(t.lyrics);
      {
        ScopedStage st(&r.timings, "tfidf");
        Progress bar("tfidf", 1, "fit");  // one step, but seconds on thousands of songs
        tfidf = text::fit_transform(b, docs, tfidf_settings(c), tmodel);
        bar.finish(fmt::format("{} terms", tfidf.cols));
      }
      std::vector<Track> ok;
      for (std::size_t i = 0; i < tracks.size(); ++i) {
        const std::int64_t terms = tfidf.indptr[i + 1] - tfidf.indptr[i];
        if (terms >= std::max<std::int64_t>(min_tokens, 1))
          ok.push_back(std::move(tracks[i]));
        else
          exclude(r, tracks[i].id, fmt::format(" (line {})", tracks[i].line),
                  fmt::format("lyrics have {} TF-IDF terms (min {})", terms, min_tokens), labels_of(tracks[i]));
      }
      const bool all = ok.size() == tracks.size();
      tracks = std::move(ok);
      if (all) break;  // else refit on the tracks that stay
    }
  }
  const std::int64_t n = static_cast<std::int64_t>(tracks.size());
  r.n_samples = n;
  r.k = static_cast<int>(c.get_int("experiment.k"));
  HMR_REQUIRE(r.k >= 2, "experiment.k = {}: need at least 2 clusters", r.k);
  HMR_REQUIRE(r.k <= n, "k = {} clusters but only {} complete tracks: k cannot exceed the number of tracks", r.k, n);

  // Rows of both modalities in the same (manifest) order, joined on id.
  std::vector<std::string> ids;
  for (const auto& t : tracks) ids.push_back(t.id);
  Matrix x_text = text::to_dense(tfidf);
  Matrix x_audio(n, summaries.cols());
  for (std::int64_t i = 0; i < n; ++i) {
    const std::size_t src = audio_row.at(ids[static_cast<std::size_t>(i)]);
    std::copy(summaries.row(static_cast<std::int64_t>(src)),
              summaries.row(static_cast<std::int64_t>(src)) + summaries.cols(), x_audio.row(i));
  }

  LabelSet lang, genre;
  lang.name = "language";
  {
    std::vector<std::string> v;
    for (const auto& t : tracks) v.push_back(t.language);
    lang.codes = encode_labels(v, lang.names);
  }
  if (has_genre) {
    std::vector<std::string> v;
    bool any = false;
    for (const auto& t : tracks) {
      v.push_back(t.genre);
      any = any || !t.genre.empty();
    }
    if (any) {
      genre = encode_known_labels("genre", v);
      r.second_label = "genre";
    }
  }
  rep.inputs.push_back(fmt::format("manifest `{}`: {} tracks with both modalities ({} left out)", in.manifest.string(),
                                   n, r.excluded.size()));
  rep.inputs.push_back(
      fmt::format("audio: MFCC summaries ({} coefficients, mean + variance = {} features)", mp.n_mfcc, x_audio.cols()));
  rep.inputs.push_back(
      fmt::format("lyrics: TF-IDF, {} terms ({}), {} stored values", tfidf.cols, tfidf_description(c), tfidf.nnz()));
  rep.counts.push_back("language: " + label_counts(lang));
  if (!genre.empty()) rep.counts.push_back("genre: " + label_counts(genre));

  // ---- the two VAEs ----
  std::vector<std::pair<std::string, nn::TrainReport>> histories;  // drawn with the other plots
  auto train = [&](const std::string& tag, const Matrix& x) {
    EncodedVae e = train_and_encode(b, x, vae_settings(c, tag, seed), tag, tag, tag.substr(0, tag.find('_')), out,
                                    r.timings, rep.notes);
    histories.emplace_back(tag, std::move(e.history));
    return std::move(e.mu);
  };
  const Matrix mu_text = train("text_vae", x_text);
  const Matrix mu_audio = train("audio_vae", x_audio);
  Matrix fused;
  {
    ScopedStage st(&r.timings, "fuse");
    fused = fuse_blocks(b, {&mu_text, &mu_audio},
                        {c.get_double("fusion.text_weight"), c.get_double("fusion.audio_weight")});
  }

  // ---- K-Means + scores per method, each on its own space ----
  const cluster::KMeansOptions km = kmeans_settings(c, r.k, seed);
  std::vector<std::int32_t> fused_labels;
  std::vector<std::pair<std::string, std::vector<std::int32_t>>> method_labels;  // results.csv columns
  auto method = [&](const std::string& name, const std::string& space, const Matrix& x) {
    std::vector<std::int32_t> p;
    {
      ScopedStage st(&r.timings, "kmeans");
      p = cluster_rows(b, x, km, "complete tracks");
    }
    {
      ScopedStage st(&r.timings, "metrics");
      r.results.push_back(score_method(b, name, space, x, p, lang, genre, c, seed));
    }
    write_labels(out, "labels_" + name, p);
    method_labels.emplace_back(name, p);
    return p;
  };
  fused_labels =
      method("fused",
             fmt::format("fused latent ({}-d: text {} + audio {}, weights {:g}/{:g})", fused.cols(), mu_text.cols(),
                         mu_audio.cols(), c.get_double("fusion.text_weight"), c.get_double("fusion.audio_weight")),
             fused);
  method("text_only", fmt::format("text VAE mu ({}-d)", mu_text.cols()), mu_text);
  method("audio_only", fmt::format("audio VAE mu ({}-d)", mu_audio.cols()), mu_audio);

  LabelSet cluster_set;
  cluster_set.name = "cluster";
  cluster_set.codes = fused_labels;
  for (int i = 0; i < r.k; ++i) cluster_set.names.push_back(fmt::format("cluster {}", i));
  std::vector<LabelSet> colourings{lang};
  if (!genre.empty()) colourings.push_back(genre);
  colourings.push_back(cluster_set);
  rep.plots = tsne_plots(b, fused, "fused", "Medium: fused text + audio latent", colourings, c, seed, out, r.timings,
                         rep.notes);
  {
    ScopedStage st(&r.timings, "plots");
    rep.heatmaps = contingency_plots(out, "fused", fused_labels, {lang, genre}, c);
    for (const auto& [tag, h] : histories) rep.loss_plots.push_back(loss_plot(out, tag, tag, h, c));
  }

  {
    ScopedStage st(&r.timings, "write");
    io::write_npy(out.path("latent_fused.npy"), fused);
    io::write_npy(out.path("features_audio.npy"), x_audio);
    text::write_npz(out.path("tfidf.npz"), tfidf);
    write_lines(out, "vocabulary.txt", tmodel.vocabulary);
    write_lines(out, "ids.txt", ids);
    write_labels(out, "truth_language", lang.codes, &lang.names);
    if (!genre.empty()) write_labels(out, "truth_genre", genre.codes, &genre.names);
    if (!r.excluded.empty()) write_lines(out, "excluded.txt", r.excluded);
    write_results_csv(out, r, ids, {lang, genre}, method_labels);
    c.write(out.path("config.toml"));
  }
  if (!r.excluded.empty())
    spdlog::warn("medium: {} track(s) left out (missing or unreadable modality), listed in excluded.txt; first: {}",
                 r.excluded.size(), r.excluded.front());
  finish_run(out, r, rep, c);
  return r;
}

}  // namespace hmr::pipeline
