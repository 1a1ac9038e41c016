// text/tfidf_test.cpp — TF-IDF parity with scikit-learn TfidfVectorizer (fixtures made by
// tests/fixtures/gen_text.py on corpora written for hmr; every option the fixtures cover), the
// model and npz files, corpus reading, errors, and — when ../shared/data/lyrics is present — parity
// on real Bangla + English lyrics and the unicode-mode acceptance properties.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/npy.h"
#include "support/compare.h"
#include "support/errors.h"
#include "text/lyrics.h"
#include "text/tfidf.h"

using hmr::test::input_error_of;
namespace fs = std::filesystem;
using hmr::text::Csr;
using hmr::text::DfBound;
using hmr::text::TfidfModel;
using hmr::text::TfidfOptions;

namespace {

nlohmann::json load_json(const std::string& rel) {
  std::ifstream in(hmr::test::fixture(rel));
  EXPECT_TRUE(in.good()) << "missing fixture " << rel;
  nlohmann::json j;
  in >> j;
  return j;
}

fs::path tmp_dir(const std::string& tag) {
  auto d = fs::temp_directory_path() / ("hmr_text_" + tag + "_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

DfBound bound(const nlohmann::json& v) {
  return v.is_number_integer() ? DfBound::count(v.get<std::int64_t>()) : DfBound::share(v.get<double>());
}

// TfidfVectorizer keyword arguments (as the fixture stores them) -> hmr options, sklearn mode.
TfidfOptions sklearn_options(const nlohmann::json& kw) {
  TfidfOptions o;
  o.tokens.mode = hmr::text::TokenMode::sklearn;
  for (const auto& [k, v] : kw.items()) {
    if (k == "min_df")
      o.min_df = bound(v);
    else if (k == "max_df")
      o.max_df = bound(v);
    else if (k == "max_features")
      o.max_features = v.get<std::int64_t>();
    else if (k == "sublinear_tf")
      o.sublinear_tf = v.get<bool>();
    else if (k == "smooth_idf")
      o.smooth_idf = v.get<bool>();
    else if (k == "use_idf")
      o.use_idf = v.get<bool>();
    else if (k == "binary")
      o.binary = v.get<bool>();
    else if (k == "norm")
      o.norm = v.is_null() ? hmr::text::Norm::none : hmr::text::parse_norm(v.get<std::string>());
    else if (k == "stop_words")
      o.tokens.stop_lists = {v.get<std::string>()};
    else if (k == "normalize")
      o.tokens.normalization = hmr::text::parse_normalization(v.get<std::string>());
    else if (k == "analyzer")
      o.tokens.analyzer = hmr::text::parse_analyzer(v.get<std::string>());
    else if (k == "ngram_range") {
      o.tokens.ngram_min = v[0].get<std::int32_t>();
      o.tokens.ngram_max = v[1].get<std::int32_t>();
    } else if (k == "fit_docs")
      continue;
    else
      ADD_FAILURE() << "fixture option " << k << " not mapped";
  }
  return o;
}

std::vector<std::string> corpus_docs(const std::string& name) {
  return hmr::text::read_lyrics({{hmr::test::fixture("text/" + name + ".csv"), ""}}).docs;
}

// Same sparsity pattern as sklearn's (sorted) CSR and values within 1e-6.
void expect_matches(const Csr& got, const nlohmann::json& want, const std::string& what) {
  ASSERT_EQ(got.rows, want["shape"][0].get<std::int64_t>()) << what;
  ASSERT_EQ(got.cols, want["shape"][1].get<std::int64_t>()) << what;
  EXPECT_EQ(got.indptr, want["indptr"].get<std::vector<std::int64_t>>()) << what;
  EXPECT_EQ(got.indices, want["indices"].get<std::vector<std::int32_t>>()) << what;
  EXPECT_ALLCLOSE(got.data, want["data"].get<std::vector<double>>(), 1e-6, 0.0) << what;
}

class TextSklearnParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TextSklearnParity, EveryFixtureConfiguration) {
  const std::string corpus = GetParam();
  const auto j = load_json("text/sklearn_" + corpus + ".json");
  const auto docs = corpus_docs(corpus);
  ASSERT_EQ(static_cast<std::int64_t>(docs.size()), j["n_docs"].get<std::int64_t>());
  int configs = 0;
  for (const auto& [name, want] : j["configs"].items()) {
    const std::string what = corpus + "/" + name;
    const TfidfOptions o = sklearn_options(want["options"]);
    TfidfModel model;
    Csr x;
    if (name == "transform_new") {
      const std::int64_t cut = want["options"]["fit_docs"].get<std::int64_t>();
      const std::vector<std::string> fit_docs(docs.begin(), docs.begin() + cut), rest(docs.begin() + cut, docs.end());
      model = hmr::text::fit(fit_docs, o);
      x = hmr::text::transform(model, rest);
    } else {
      x = hmr::text::fit_transform(docs, o, model);
    }
    EXPECT_EQ(model.vocabulary, want["vocabulary"].get<std::vector<std::string>>()) << what;
    if (want.contains("idf")) {
      EXPECT_ALLCLOSE(model.idf, want["idf"].get<std::vector<double>>(), 1e-12, 1e-12) << what;
    }
    expect_matches(x, want, what);
    ++configs;
  }
  EXPECT_GE(configs, 8);
}

INSTANTIATE_TEST_SUITE_P(Corpora, TextSklearnParity, ::testing::Values("english", "mixed"));

TEST(TextTfidf, MaxFeaturesTiesKeepTheEarlierTermInVocabularyOrder) {
  // corpus frequencies: a 3, c 2, b 2, d 1 -> max_features 2 keeps a and the first of the tied b/c
  TfidfOptions o;
  TfidfModel m;
  o.max_features = 2;
  hmr::text::fit_transform({"aa cc bb", "aa cc bb dd", "aa"}, o, m);
  EXPECT_EQ(m.vocabulary, (std::vector<std::string>{"aa", "bb"}));
  o.max_features = 3;
  hmr::text::fit_transform({"aa cc bb", "aa cc bb dd", "aa"}, o, m);
  EXPECT_EQ(m.vocabulary, (std::vector<std::string>{"aa", "bb", "cc"}));
}

TEST(TextTfidf, EmptyRowsStayZeroAndAreCounted) {
  TfidfOptions o;
  TfidfModel m;
  hmr::text::TfidfStats st;
  const Csr x = hmr::text::fit_transform({"hello world", "?!", "world music"}, o, m, &st);
  EXPECT_EQ(st.empty_rows, 1);
  EXPECT_EQ(x.indptr[1], x.indptr[2]);
  EXPECT_EQ(st.tokens, (std::vector<std::int64_t>{2, 0, 2}));
  const hmr::Matrix d = hmr::text::to_dense(x);
  for (std::int64_t c = 0; c < d.cols(); ++c) EXPECT_EQ(d(1, c), 0.0f);
  EXPECT_NEAR(d(0, 0) * d(0, 0) + d(0, 1) * d(0, 1) + d(0, 2) * d(0, 2), 1.0, 1e-6);
}

TEST(TextTfidf, BadOptionsAndEmptyVocabulariesAreInputErrors) {
  TfidfModel m;
  TfidfOptions o;
  o.tokens.stop_lists = {"english"};
  EXPECT_THROW(hmr::text::fit_transform({"the and of", "a an"}, o, m), hmr::Error);  // only stop words
  o = {};
  o.min_df = DfBound::count(3);
  o.max_df = DfBound::count(2);
  EXPECT_THROW(hmr::text::fit_transform({"aa bb", "aa"}, o, m), hmr::Error);  // max_df < min_df
  o = {};
  o.min_df = DfBound::count(5);
  EXPECT_THROW(hmr::text::fit_transform({"aa bb", "aa"}, o, m), hmr::Error);  // nothing survives pruning
  o = {};
  o.max_df = DfBound::share(1.5);
  EXPECT_THROW(hmr::text::fit_transform({"aa bb"}, o, m), hmr::Error);
  EXPECT_THROW(hmr::text::fit_transform({}, TfidfOptions{}, m), hmr::Error);
  EXPECT_EQ(DfBound::parse("5").fraction, false);
  EXPECT_EQ(DfBound::parse("1.0").fraction, true);
  EXPECT_EQ(DfBound::parse("1e-2").value, 0.01);
  EXPECT_THROW(DfBound::parse("five"), hmr::Error);
}

TEST(TextTfidf, SavedModelTransformsNewDocumentsIdentically) {
  const auto docs = corpus_docs("mixed");
  TfidfOptions o;  // unicode mode
  o.sublinear_tf = true;
  o.tokens.stop_lists = {"english", "bangla"};
  TfidfModel m;
  hmr::text::fit_transform(docs, o, m);
  const auto d = tmp_dir("model");
  hmr::text::save_model(d, m);
  const TfidfModel back = hmr::text::load_model(d);
  EXPECT_EQ(back.vocabulary, m.vocabulary);
  EXPECT_EQ(back.idf, m.idf);  // float64 in the JSON: exact
  EXPECT_EQ(back.df, m.df);
  EXPECT_EQ(hmr::text::options_to_json(back.options), hmr::text::options_to_json(m.options));
  const std::vector<std::string> fresh = {"একদিন নতুন গান, a new song", "nothing known here"};
  const Csr a = hmr::text::transform(m, fresh), b = hmr::text::transform(back, fresh);
  EXPECT_EQ(a.indices, b.indices);
  EXPECT_TRUE(hmr::test::bitwise_equal(a.data, b.data));
  EXPECT_GT(a.nnz(), 0);
  const auto idf = hmr::io::read_matrix(d / "idf.npy");
  EXPECT_EQ(idf.rows(), static_cast<std::int64_t>(m.vocabulary.size()));
  fs::remove_all(d);
}

TEST(TextTfidf, NpzRoundTripAndLayout) {
  TfidfModel m;
  const Csr x = hmr::text::fit_transform(corpus_docs("english"), TfidfOptions{}, m);
  const auto d = tmp_dir("npz");
  hmr::text::write_npz(d / "x.npz", x);
  const Csr y = hmr::text::read_npz(d / "x.npz");
  EXPECT_EQ(y.rows, x.rows);
  EXPECT_EQ(y.cols, x.cols);
  EXPECT_EQ(y.indptr, x.indptr);
  EXPECT_EQ(y.indices, x.indices);
  EXPECT_TRUE(hmr::test::bitwise_equal(y.data, x.data));
  // A zip: local header signature first, end-of-central-directory record last.
  std::ifstream in(d / "x.npz", std::ios::binary);
  const std::string z((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(z.substr(0, 4), std::string("PK\x03\x04", 4));
  EXPECT_EQ(z.substr(z.size() - 22, 4), std::string("PK\x05\x06", 4));
  // a flipped payload byte is caught by the CRC
  std::string bad = z;
  bad[200] = static_cast<char>(bad[200] ^ 0x55);
  std::ofstream(d / "bad.npz", std::ios::binary) << bad;
  EXPECT_THROW(hmr::text::read_npz(d / "bad.npz"), hmr::Error);
  // scipy itself, where a Python with scipy is at hand (HMR_PYTHON, else python3)
  const char* py_env = std::getenv("HMR_PYTHON");
  const std::string py = py_env ? py_env : "python3";
  if (std::system((py + " -c 'import scipy.sparse' 2>/dev/null").c_str()) != 0) {
    std::printf("[ info ] %s has no scipy: scipy.sparse.load_npz check not run\n", py.c_str());
  } else {
    const std::string cmd = fmt::format(
        "{} -c \"import scipy.sparse as sp, sys; X = sp.load_npz('{}'); "
        "sys.exit(0 if X.shape == ({}, {}) and X.nnz == {} and X.format == 'csr' else 3)\"",
        py, (d / "x.npz").string(), x.rows, x.cols, x.nnz());
    EXPECT_EQ(std::system(cmd.c_str()), 0) << "scipy.sparse.load_npz rejected the file: " << cmd;
  }
  fs::remove_all(d);
}

TEST(TextTfidf, ReadsNpzWrittenByScipy) {
  const Csr m = hmr::text::read_npz(hmr::test::fixture("text/scipy_csr.npz"));
  std::ifstream in(hmr::test::fixture("text/scipy_csr.json"));
  nlohmann::json j;
  in >> j;
  std::vector<double> want;
  for (const auto& row : j["dense"])
    for (const auto& v : row) want.push_back(v.get<double>());
  ASSERT_EQ(m.rows, static_cast<std::int64_t>(j["dense"].size()));
  EXPECT_ALLCLOSE(hmr::text::to_dense(m).vec(), want, 0.0, 0.0);
}

// Reader options by position (designated initialisers would warn about the fields left out).
hmr::text::LyricsOptions read_opts(const std::string& column, const std::string& genre_column = "",
                                   bool strip_section_tags = false, bool lossy = false) {
  hmr::text::LyricsOptions o;
  o.column = column;
  o.genre_column = genre_column;
  o.strip_section_tags = strip_section_tags;
  o.lossy = lossy;
  return o;
}

TEST(TextLyrics, SourcesLanguagesAndSkippedRows) {
  const auto d = tmp_dir("lyrics");
  std::ofstream(d / "a.csv", std::ios::binary) << "title,lyrics\nx,\"one\ntwo\"\ny,\nz,   \nw,three\n";
  std::ofstream(d / "b.csv", std::ios::binary) << "lyrics,language\nhello,en\nbonjour,fr\nnada,\n";
  const auto c = hmr::text::read_lyrics({hmr::text::LyricsSource::parse((d / "a.csv").string() + ":english"),
                                         hmr::text::LyricsSource::parse((d / "b.csv").string())},
                                        read_opts(""));
  EXPECT_EQ(c.docs, (std::vector<std::string>{"one\ntwo", "three", "hello", "bonjour"}));
  EXPECT_EQ(c.label_names, (std::vector<std::string>{"english", "en", "fr"}));
  EXPECT_EQ(c.labels, (std::vector<std::int32_t>{0, 0, 1, 2}));
  EXPECT_EQ(c.lines, (std::vector<std::int64_t>{2, 6, 2, 3}));
  ASSERT_EQ(c.skipped.size(), 3u);
  EXPECT_EQ(c.skipped[0].line, 4);
  EXPECT_EQ(c.skipped[0].reason, hmr::text::SkipReason::empty_text);
  EXPECT_EQ(c.skipped[0].id, "a.csv:4");
  EXPECT_EQ(c.skipped[1].line, 5);
  EXPECT_EQ(c.skipped[2].reason, hmr::text::SkipReason::missing_language);
  EXPECT_EQ(c.skipped[2].id, "b.csv:4");
  EXPECT_EQ(c.ids, (std::vector<std::string>{"a.csv:2", "a.csv:6", "b.csv:2", "b.csv:3"}));
  ASSERT_EQ(c.sources.size(), 2u);
  EXPECT_EQ(c.sources[0].rows, 4);
  EXPECT_EQ(c.sources[0].kept, 2);
  EXPECT_EQ(c.sources[0].text_column, "lyrics");
  EXPECT_EQ(hmr::text::LyricsSource::parse("C:/dir/x.csv").language, "");    // ':' followed by a path
  EXPECT_EQ(hmr::text::LyricsSource::parse("dir:x.csv").path, "dir:x.csv");  // '.': not a language tag
  EXPECT_EQ(hmr::text::LyricsSource::parse("x.csv:bn").language, "bn");
  EXPECT_THROW(hmr::text::read_lyrics({{(d / "a.csv").string(), ""}}), hmr::Error);  // no language anywhere
  EXPECT_THROW(hmr::text::read_lyrics({{(d / "a.csv").string(), "en"}}, read_opts("nope")), hmr::Error);
  std::ofstream(d / "bad.csv", std::ios::binary) << "lyrics\nok\nbad \xFF byte\n";
  try {
    hmr::text::read_lyrics({{(d / "bad.csv").string(), "en"}});
    ADD_FAILURE() << "invalid UTF-8 accepted";
  } catch (const hmr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 3, byte offset 14"), std::string::npos) << e.what();
  }
  const auto lossy = hmr::text::read_lyrics({{(d / "bad.csv").string(), "en"}}, read_opts("", "", false, true));
  EXPECT_EQ(lossy.docs[1], "bad \xEF\xBF\xBD byte");
  EXPECT_EQ(lossy.replaced_utf8, 1);
  fs::remove_all(d);
}

// Issue 17: without a named column and without a `lyrics` column the reader used column 0, often
// an id column, and built a corpus of ids. Now it refuses, naming the file and its columns, unless
// the file has one column only (then there is nothing to guess).
TEST(TextLyrics, NoLyricsColumnIsRefusedUnlessTheFileHasOneColumn) {
  const auto d = tmp_dir("lyrics_column");
  std::ofstream(d / "ids.csv", std::ios::binary) << "id,text\n17,hello there\n18,good night\n";
  std::ofstream(d / "one.csv", std::ios::binary) << "words\nhello there\n";
  const std::string ids = (d / "ids.csv").string();
  const std::string msg = input_error_of([&] { hmr::text::read_lyrics({{ids, "en"}}); });
  EXPECT_NE(msg.find(ids + ": no 'lyrics' column"), std::string::npos) << msg;
  EXPECT_NE(msg.find("columns: id, text"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
  // named, by name or index, it is read
  EXPECT_EQ(hmr::text::read_lyrics({{ids, "en"}}, read_opts("text")).docs,
            (std::vector<std::string>{"hello there", "good night"}));
  EXPECT_EQ(hmr::text::read_lyrics({{ids, "en"}}, read_opts("1")).docs,
            (std::vector<std::string>{"hello there", "good night"}));
  EXPECT_EQ(hmr::text::read_lyrics({{(d / "one.csv").string(), "en"}}).docs, std::vector<std::string>{"hello there"});
  // a ;-separated file is one column to a comma reader, but its header gives it away: refused
  // with the hint instead of reading "17;hello there;en" as lyrics
  std::ofstream(d / "semi.csv", std::ios::binary) << "id;lyrics;language\n17;hello there;en\n";
  const std::string semi = (d / "semi.csv").string();
  const std::string msg2 = input_error_of([&] { hmr::text::read_lyrics({{semi, "en"}}); });
  EXPECT_NE(msg2.find(semi + ": no 'lyrics' column"), std::string::npos) << msg2;
  EXPECT_NE(msg2.find("looks ;-separated"), std::string::npos) << msg2;
  fs::remove_all(d);
}

// Issue 17: ids were "<file name>:<line>", so two files both named lyrics.csv gave the same ids.
TEST(TextLyrics, IdsAreUniqueWhenFilesShareAName) {
  const auto d = tmp_dir("lyrics_ids");
  fs::create_directories(d / "a");
  fs::create_directories(d / "b");
  std::ofstream(d / "a" / "lyrics.csv", std::ios::binary) << "lyrics\nfirst\n\"  \"\n";
  std::ofstream(d / "b" / "lyrics.csv", std::ios::binary) << "lyrics\nsecond\n";
  std::ofstream(d / "c.csv", std::ios::binary) << "lyrics\nthird\n";
  const std::string a = (d / "a" / "lyrics.csv").string(), b = (d / "b" / "lyrics.csv").string();
  const auto c = hmr::text::read_lyrics({{a, "en"}, {b, "en"}, {(d / "c.csv").string(), "en"}});
  // the two lyrics.csv keep their paths as given; a file name seen once stays short
  EXPECT_EQ(c.ids, (std::vector<std::string>{a + ":2", b + ":2", "c.csv:2"}));
  ASSERT_EQ(c.skipped.size(), 1u);
  EXPECT_EQ(c.skipped[0].id, a + ":3");
  std::vector<std::string> all = c.ids;
  for (const auto& s : c.skipped) all.push_back(s.id);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "duplicate id";
  // the same path twice would read its rows (and ids) twice
  const std::string msg = input_error_of([&] { hmr::text::read_lyrics({{a, "en"}, {a, "bn"}}); });
  EXPECT_NE(msg.find(a + ": the file is given twice"), std::string::npos) << msg;
  fs::remove_all(d);
}

TEST(TextLyrics, GenreColumnAndSectionTags) {
  const auto d = tmp_dir("lyrics_genre");
  std::ofstream(d / "g.csv", std::ios::binary)
      << "label,genre_en,lyrics\nx,rock,\"[Chorus]\nla la\"\ny,folk,\"[Verse 1: A]\n  [Outro]  \"\n";
  std::ofstream(d / "n.csv", std::ios::binary) << "lyrics\nplain\n";
  const std::string g = (d / "g.csv").string(), n = (d / "n.csv").string();
  // auto: genre, genre_en, genre/0, label in that order of preference
  const auto c = hmr::text::read_lyrics({{g, "en"}, {n, "en"}}, read_opts("", "auto", true));
  EXPECT_EQ(c.docs, (std::vector<std::string>{"la la\n", "plain\n"}));
  EXPECT_EQ(c.genres, (std::vector<std::string>{"rock", ""}));
  ASSERT_EQ(c.sources.size(), 2u);
  EXPECT_EQ(c.sources[0].genre_column, "genre_en");
  EXPECT_EQ(c.sources[1].genre_column, "");
  // the second row is only tags: empty once they are dropped
  ASSERT_EQ(c.skipped.size(), 1u);
  EXPECT_EQ(c.skipped[0].id, "g.csv:4");
  // a named genre column; none by default; tags kept by default
  EXPECT_EQ(hmr::text::read_lyrics({{g, "en"}}, read_opts("", "label")).genres, (std::vector<std::string>{"x", "y"}));
  const auto plain = hmr::text::read_lyrics({{g, "en"}});
  EXPECT_EQ(plain.genres, (std::vector<std::string>{"", ""}));
  EXPECT_EQ(plain.docs[0], "[Chorus]\nla la");
  fs::remove_all(d);
}

// FNV-1a 64 (what gen_text.py stores instead of the vocabulary itself).
std::string fnv1a64(const std::string& s) {
  std::uint64_t h = 0xCBF29CE484222325ull;
  for (const unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return fmt::format("{:016x}", h);
}

hmr::text::Corpus shared_corpus() {
  const std::string bn = hmr::test::shared_data("lyrics/bangla_lyrics.csv");
  const std::string en = hmr::test::shared_data("lyrics/english_lyrics.csv");
  if (bn.empty() || en.empty()) return {};
  return hmr::text::read_lyrics({{bn, "bangla"}, {en, "english"}});
}

TEST(TextSharedData, SklearnModeMatchesSklearnOnRealLyrics) {
  const auto c = shared_corpus();
  if (c.docs.empty()) GTEST_SKIP() << "../shared/data/lyrics absent: real-lyrics parity not checked";
  const auto j = load_json("text/shared_lyrics.json");
  ASSERT_EQ(c.size(), j["n_docs"].get<std::int64_t>());
  ASSERT_FALSE(j["configs"].empty()) << "fixture: no configs";  // else the loop checks nothing
  for (const auto& [name, want] : j["configs"].items()) {
    const TfidfOptions o = sklearn_options(want["options"]);
    TfidfModel m;
    const Csr x = hmr::text::fit_transform(c.docs, o, m);
    EXPECT_EQ(static_cast<std::int64_t>(m.vocabulary.size()), want["vocabulary_size"].get<std::int64_t>()) << name;
    std::string joined;
    for (std::size_t k = 0; k < m.vocabulary.size(); ++k) joined += (k ? "\n" : "") + m.vocabulary[k];
    EXPECT_EQ(fnv1a64(joined), want["vocabulary_fnv1a64"].get<std::string>()) << name;
    EXPECT_EQ(x.nnz(), want["nnz"].get<std::int64_t>()) << name;
    double sum = 0, idf_sum = 0;
    for (const float v : x.data) sum += v;
    for (const double v : m.idf) idf_sum += v;
    EXPECT_NEAR(sum, want["data_sum"].get<double>(), 1e-6 * static_cast<double>(x.nnz())) << name;
    EXPECT_NEAR(idf_sum, want["idf_sum"].get<double>(), 1e-9 * idf_sum) << name;
    for (const auto& [term, t] : want["probe_terms"].items()) {
      EXPECT_EQ(m.find(term), t["column"].get<std::int64_t>()) << term;
      if (m.find(term) >= 0) {
        EXPECT_NEAR(m.idf[static_cast<std::size_t>(m.find(term))], t["idf"].get<double>(), 1e-9);
      }
    }
    for (const auto& [row, r] : want["rows"].items()) {
      const auto i = static_cast<std::size_t>(std::stoll(row));
      const std::vector<std::int32_t> idx(x.indices.begin() + x.indptr[i], x.indices.begin() + x.indptr[i + 1]);
      const std::vector<float> val(x.data.begin() + x.indptr[i], x.data.begin() + x.indptr[i + 1]);
      EXPECT_EQ(idx, r["indices"].get<std::vector<std::int32_t>>()) << name << " row " << row;
      EXPECT_ALLCLOSE(val, r["data"].get<std::vector<double>>(), 1e-6, 0.0) << name << " row " << row;
    }
  }
}

TEST(TextSharedData, UnicodeModeKeepsBanglaWordsOnRealLyrics) {
  const auto c = shared_corpus();
  if (c.docs.empty()) GTEST_SKIP() << "../shared/data/lyrics absent: unicode-mode properties not checked";
  TfidfModel m;
  hmr::text::fit_transform(c.docs, TfidfOptions{}, m);
  EXPECT_GE(m.find("একদিন"), 0);
  EXPECT_GE(m.find("আমার"), 0);
  std::int64_t bangla = 0, with_sign = 0;
  for (const auto& t : m.vocabulary) {
    // U+0980..U+09FF: Bengali block; vowel signs U+09BE..U+09CC and the au length mark U+09D7
    // are E0 A6 BE..E0 A7 8C / E0 A7 97 in UTF-8.
    bool bn = false, sign = false;
    for (std::size_t i = 0; i + 2 < t.size(); ++i) {
      const auto b0 = static_cast<unsigned char>(t[i]), b1 = static_cast<unsigned char>(t[i + 1]),
                 b2 = static_cast<unsigned char>(t[i + 2]);
      if (b0 != 0xE0 || (b1 != 0xA6 && b1 != 0xA7)) continue;
      bn = true;
      const unsigned cp = 0x0980u + ((b1 - 0xA6u) << 6) + (b2 - 0x80u);
      sign = sign || (cp >= 0x09BE && cp <= 0x09CC && cp != 0x09CD) || cp == 0x09D7;
    }
    bangla += bn;
    with_sign += sign;
  }
  ASSERT_GT(bangla, 1000);
  EXPECT_GE(static_cast<double>(with_sign), 0.8 * static_cast<double>(bangla))
      << with_sign << " of " << bangla << " Bangla terms carry a vowel sign";
  std::printf("[ info ] unicode mode: %lld of %lld Bangla terms carry a vowel sign\n",
              static_cast<long long>(with_sign), static_cast<long long>(bangla));
}

}  // namespace

// What parse_npz says about the npz of `m` (written by write_npz), or "(accepted)".
std::string npz_error_of(const Csr& m) {
  const auto d = tmp_dir("npz_hostile");
  hmr::text::write_npz(d / "m.npz", m);
  std::ifstream in(d / "m.npz", std::ios::binary);
  const std::string z((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove_all(d);
  try {
    hmr::text::parse_npz(z, "m.npz");
  } catch (const hmr::Error& e) {
    EXPECT_EQ(e.exit_code(), 2) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    return e.what();
  }
  return "(accepted)";
}

TEST(TextTfidf, NpzWhoseArraysBreakTheCsrInvariantsIsRefused) {
  // Issue 17: read_npz returned whatever indptr and indices the file held, and to_dense and the
  // weighting kernels index with them. The writer does not check them, so it can write liars.
  Csr good;
  good.rows = 2;
  good.cols = 3;
  good.indptr = {0, 2, 3};
  good.indices = {0, 2, 1};
  good.data = {1.0f, 2.0f, 3.0f};
  EXPECT_EQ(npz_error_of(good), "(accepted)");
  Csr m = good;
  m.indices[1] = 3;  // column 3 of 3
  EXPECT_NE(npz_error_of(m).find("outside [0, 3)"), std::string::npos) << npz_error_of(m);
  m = good;
  m.indices[0] = -1;
  EXPECT_NE(npz_error_of(m).find("outside"), std::string::npos) << npz_error_of(m);
  m = good;
  m.indptr = {0, 4, 3};  // row 1 would run from 4 back to 3
  EXPECT_NE(npz_error_of(m).find("decreases"), std::string::npos) << npz_error_of(m);
  m = good;
  m.indptr = {1, 2, 3};
  EXPECT_NE(npz_error_of(m).find("from 0 to nnz"), std::string::npos) << npz_error_of(m);
  m = good;
  m.cols = -4;
  EXPECT_NE(npz_error_of(m).find("non-negative"), std::string::npos) << npz_error_of(m);
}

TEST(TextTfidf, TruncatedOrLyingNpzIsRefused) {
  Csr good;
  good.rows = 1;
  good.cols = 2;
  good.indptr = {0, 1};
  good.indices = {1};
  good.data = {0.5f};
  const auto d = tmp_dir("npz_cut");
  hmr::text::write_npz(d / "m.npz", good);
  std::ifstream in(d / "m.npz", std::ios::binary);
  const std::string z((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove_all(d);
  for (std::size_t keep = 0; keep < z.size(); keep += 7) {
    try {
      hmr::text::parse_npz(z.substr(0, keep), "cut.npz");
      // A cut inside the central directory still holds every member: that is a whole matrix.
      EXPECT_GT(keep, z.find(std::string("PK\x01\x02", 4))) << "accepted a cut at byte " << keep;
    } catch (const hmr::Error& e) {
      EXPECT_EQ(e.exit_code(), 2) << e.what();
    }
  }
  // A member size of 4 GiB - 2 in a file of a few hundred bytes.
  std::string liar = z;
  liar[18] = liar[19] = liar[20] = static_cast<char>(0xFF);
  liar[21] = static_cast<char>(0xFE);
  try {
    hmr::text::parse_npz(liar, "liar.npz");
    FAIL() << "accepted a lying member size";
  } catch (const hmr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated zip member"), std::string::npos) << e.what();
  }
}
