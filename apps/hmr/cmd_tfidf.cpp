// hmr tfidf — lyrics CSVs -> TF-IDF with scikit-learn TfidfVectorizer semantics, written as a
// scipy-compatible tfidf.npz (or dense tfidf.npy), vocabulary.txt, idf.npy, labels.npy and
// summary.json. Thin: parse, call text::run_tfidf_job, print.
#include <cstdio>
#include <fstream>
#include <limits>

#include "checks.h"
#include "cli.h"
#include "core/error.h"
#include "core/log.h"
#include "io/output.h"
#include "text/tfidf_job.h"

namespace {

// What `hmr tfidf` writes (a folder of an older hmr with only these is replaced; output.h).
const hmr::io::DirectoryKind kTfidfOutput{
    "tfidf",
    "tfidf_model.json",
    {"tfidf.npz", "tfidf.npy", "vocabulary.txt", "idf.npy", "tfidf_model.json", "labels.npy", "label_names.txt",
     "documents.tsv", "summary.json", ".*.tmp????????"}};

struct TfidfArgs {
  std::vector<std::string> lyrics, stop_lists;
  std::string stop_file, column, language_column = "language";
  std::string mode = "unicode", normalize = "auto", norm = "l2", min_df = "1", max_df = "1.0", format = "npz";
  std::string model;
  std::int64_t max_features = 0;
  int min_chars = 2;
  std::string analyzer = "word";
  std::vector<std::int32_t> ngram_range;
  bool lossy = false, no_lowercase = false, binary = false, no_idf = false, no_smooth = false, sublinear = false;
  bool dense = false;
};

std::vector<std::string> read_word_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  HMR_REQUIRE(in.good(), "{}: cannot open stop-word file", path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (!line.empty() && line[0] != '#') out.push_back(line);
  }
  return out;
}

void setup(CLI::App& sub, hmr::app::Common& common) {
  auto a = std::make_shared<TfidfArgs>();
  sub.add_option("--lyrics", a->lyrics,
                 "lyrics CSV, FILE.csv:LANGUAGE (or FILE.csv with a 'language' column); repeat for more files")
      ->required();
  sub.add_option("--column", a->column,
                 "text column: name or 0-based index (default: 'lyrics'; a file without it must name one unless it has "
                 "one column)");
  sub.add_option("--language-column", a->language_column, "column with each row's language when FILE has no :LANG")
      ->capture_default_str();
  sub.add_flag("--lossy", a->lossy, "replace invalid UTF-8 with U+FFFD instead of stopping");
  hmr::app::add_choice(sub, "--token-mode", a->mode,
                       "unicode (ICU words, Bangla kept whole) | sklearn ((?u)\\b\\w\\w+\\b)", {"unicode", "sklearn"});
  hmr::app::add_choice(sub, "--analyzer", a->analyzer,
                       "word | char_wb (character n-grams inside space-padded words) | char (sklearn's analyzer)",
                       {"word", "char_wb", "char"});
  sub.add_option("--ngram-range", a->ngram_range, "character analyzers: n-gram lengths MIN,MAX (sklearn ngram_range)")
      ->delimiter(',')
      ->expected(2)
      ->check(hmr::app::int_range(1, 64));
  hmr::app::add_choice(sub, "--normalize", a->normalize,
                       "auto (NFC in unicode mode, none in sklearn mode) | nfc | none", {"auto", "nfc", "none"});
  sub.add_flag("--no-lowercase", a->no_lowercase, "keep case (sklearn lowercase=False)");
  sub.add_option("--stop-words", a->stop_lists, "built-in stop-word lists: english, bangla")
      ->delimiter(',')
      ->check(CLI::IsMember({"english", "bangla"}));
  sub.add_option("--stop-words-file", a->stop_file, "extra stop words, one per line ('#' starts a comment)");
  sub.add_option("--min-chars", a->min_chars, "unicode mode: shortest token in user-perceived characters")
      ->check(hmr::app::int_range(1, 1000))
      ->capture_default_str();
  sub.add_option("--min-df", a->min_df, "ignore terms in fewer documents: count (2) or fraction (0.01)")
      ->capture_default_str();
  sub.add_option("--max-df", a->max_df, "ignore terms in more documents: count (500) or fraction (0.8)")
      ->capture_default_str();
  sub.add_option("--max-features", a->max_features, "keep the N most frequent terms (0 = all)")
      ->check(hmr::app::int_range(0, std::numeric_limits<std::int32_t>::max()))
      ->capture_default_str();
  sub.add_flag("--binary", a->binary, "tf = 1 for every present term");
  sub.add_flag("--no-idf", a->no_idf, "no idf weighting (use_idf=False)");
  sub.add_flag("--no-smooth-idf", a->no_smooth, "idf = ln(n / df) + 1 (smooth_idf=False)");
  sub.add_flag("--sublinear-tf", a->sublinear, "tf = 1 + ln(count)");
  hmr::app::add_choice(sub, "--norm", a->norm, "row norm: l2 | l1 | none", {"l2", "l1", "none"});
  hmr::app::add_choice(sub, "--format", a->format, "matrix output: npz (scipy CSR) | npy (dense float32) | both",
                       {"npz", "npy", "both"});
  sub.add_flag("--dense", a->dense, "also write the dense tfidf.npy (= --format both)");
  sub.add_option("--model", a->model, "transform with the model saved in DIR (vocabulary.txt, tfidf_model.json)");
  sub.footer(
      "Writes into --out DIR: tfidf.npz (scipy.sparse.load_npz), vocabulary.txt, idf.npy, tfidf_model.json,\n"
      "labels.npy + label_names.txt, documents.tsv, summary.json. Rows with empty text are skipped and listed.");
  sub.callback([a, &common] {
    HMR_REQUIRE(!common.out.empty(), "tfidf: --out DIR is required");
    hmr::text::TfidfJob job;
    for (const auto& spec : a->lyrics) job.sources.push_back(hmr::text::LyricsSource::parse(spec));
    std::vector<std::filesystem::path> inputs{a->stop_file, a->model};
    for (const auto& src : job.sources) inputs.push_back(src.path);
    hmr::io::OutputDirectory out(common.out, kTfidfOutput, inputs);
    job.read.column = a->column;
    job.read.language_column = a->language_column;
    job.read.lossy = a->lossy;
    job.read.lossy_flag = "--lossy";  // this command offers it, so its UTF-8 errors may advise it
    auto& o = job.tfidf;
    o.tokens.mode = hmr::text::parse_token_mode(a->mode);
    o.tokens.analyzer = hmr::text::parse_analyzer(a->analyzer);
    if (!a->ngram_range.empty()) {
      o.tokens.ngram_min = a->ngram_range[0];
      o.tokens.ngram_max = a->ngram_range[1];
    }
    o.tokens.normalization = hmr::text::parse_normalization(a->normalize);
    o.tokens.lowercase = !a->no_lowercase;
    o.tokens.stop_lists = a->stop_lists;
    if (!a->stop_file.empty()) o.tokens.stop_words = read_word_file(a->stop_file);
    o.tokens.min_graphemes = a->min_chars;
    o.min_df = hmr::text::DfBound::parse(a->min_df);
    o.max_df = hmr::text::DfBound::parse(a->max_df);
    o.max_features = a->max_features;
    o.binary = a->binary;
    o.use_idf = !a->no_idf;
    o.smooth_idf = !a->no_smooth;
    o.sublinear_tf = a->sublinear;
    o.norm = hmr::text::parse_norm(a->norm);
    job.format = a->dense ? hmr::text::MatrixFormat::both : hmr::text::parse_matrix_format(a->format);
    job.out = out.stage();
    job.model_dir = a->model;
    auto backend = common.backend();
    const auto r = hmr::text::run_tfidf_job(*backend, job);
    out.commit();
    const auto& s = r.summary;
    std::printf(
        "tfidf (%s mode, %s): %lld documents x %lld terms, %lld stored values, %lld empty rows, %zu rows "
        "skipped\n",
        hmr::text::to_string(r.model.options.tokens.mode), s["mode"].get<std::string>().c_str(),
        static_cast<long long>(r.matrix.rows), static_cast<long long>(r.matrix.cols),
        static_cast<long long>(r.matrix.nnz()), static_cast<long long>(r.stats.empty_rows), r.corpus.skipped.size());
    for (const auto& [lang, n] : s["documents_per_language"].items())
      std::printf("  %-10s %6lld documents, %8lld tokens\n", lang.c_str(),
                  static_cast<long long>(n.get<std::int64_t>()),
                  static_cast<long long>(s["tokens_per_language"][lang].get<std::int64_t>()));
    std::printf("outputs in %s\n", common.out.c_str());
  });
}

HMR_COMMAND("tfidf", "lyrics CSVs -> TF-IDF matrix (scikit-learn semantics; Unicode-correct Bangla tokens)", setup);

}  // namespace
