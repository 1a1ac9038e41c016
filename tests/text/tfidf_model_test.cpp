// The TF-IDF model reader against hostile model files (issue 17): a model fitted and saved by
// hmr, then one field of tfidf_model.json (or a line of vocabulary.txt) changed by the test.
// Each change is refused as one input-error line naming the file and the field; before the
// reader checked types and ranges, nlohmann converted 1e123 to int with undefined behaviour,
// took 3.5 as 3 and accepted negative document frequencies and an inverted n-gram range.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/errors.h"
#include "support/files.h"
#include "text/tfidf.h"

namespace {

namespace fs = std::filesystem;
using hmr::text::TfidfModel;
using hmr::text::TfidfOptions;

// A saved model of three tiny documents; character n-grams so every option field is present.
struct SavedModel {
  hmr::test::ScratchDir dir{"tfidf_model"};
  nlohmann::json json;
  std::string vocabulary;
  SavedModel() {
    TfidfOptions o;
    o.tokens.analyzer = hmr::text::Analyzer::char_wb;
    o.tokens.ngram_min = 2;
    o.tokens.ngram_max = 3;
    TfidfModel m;
    hmr::text::fit_transform({"alpha beta", "beta gamma", "gamma delta alpha"}, o, m);
    hmr::text::save_model(dir.p, m);
    json = nlohmann::json::parse(hmr::test::slurp(dir.p / "tfidf_model.json"));
    vocabulary = hmr::test::slurp(dir.p / "vocabulary.txt");
  }
  // The message of loading the model with `edit` applied to the JSON (and `voc` as vocabulary).
  std::string refusal(const std::function<void(nlohmann::json&)>& edit, const std::string* voc = nullptr) {
    nlohmann::json j = json;
    edit(j);
    const std::string text = j.dump(1);
    const std::string v = voc ? *voc : vocabulary;
    // The file reader and the in-memory reader give the same answer.
    const std::string in_memory = hmr::test::input_error_of([&] { hmr::text::parse_model(text, v, dir.p.string()); });
    std::ofstream(dir.p / "tfidf_model.json", std::ios::binary) << text;
    std::ofstream(dir.p / "vocabulary.txt", std::ios::binary) << v;
    const std::string from_file = hmr::test::input_error_of([&] { hmr::text::load_model(dir.p); });
    EXPECT_EQ(in_memory, from_file);
    return from_file;
  }
};

TEST(TextTfidfModel, EachBadFieldIsOneLineNamingIt) {
  SavedModel s;
  ASSERT_NO_THROW(hmr::text::load_model(s.dir.p));
  const auto n = s.json["n_documents"].get<std::int64_t>();
  struct Case {
    std::string says;
    std::function<void(nlohmann::json&)> edit;
  };
  const std::vector<Case> cases = {
      {"'options.min_graphemes' must be an integer (got a fraction)",
       [](auto& j) { j["options"]["min_graphemes"] = 1e123; }},
      {"'options.min_graphemes' must be an integer (got a fraction)",
       [](auto& j) { j["options"]["min_graphemes"] = 3.5; }},
      {"'options.min_graphemes' must lie in [1, 1000] (got 0)", [](auto& j) { j["options"]["min_graphemes"] = 0; }},
      {"'options.ngram_range[1]' must lie in [5, 64] (got 2)",
       [](auto& j) {
         j["options"]["ngram_range"] = {5, 2};
       }},
      {"'options.ngram_range' must hold two lengths (got 3)",
       [](auto& j) {
         j["options"]["ngram_range"] = {1, 2, 3};
       }},
      {"'options.max_features' must lie in [0, 2147483647] (got 1099511627776)",
       [](auto& j) { j["options"]["max_features"] = std::int64_t{1} << 40; }},
      {"'options.max_df' as a fraction of the documents must lie in [0, 1] (got 1.5)",
       [](auto& j) { j["options"]["max_df"] = 1.5; }},
      {"'options.min_df' must lie in [1, 9007199254740992] (got -2)", [](auto& j) { j["options"]["min_df"] = -2; }},
      {"'options.norm' must be a string (got number)", [](auto& j) { j["options"]["norm"] = 7; }},
      {"'options.token_mode' is 'bad\\nline', not one of unicode, sklearn",
       [](auto& j) { j["options"]["token_mode"] = "bad\nline"; }},
      {"'options.stop_lists' holds 'klingon', not english or bangla",
       [](auto& j) { j["options"]["stop_lists"] = {"klingon"}; }},
      {"'options.use_idf' must be true or false (got string)", [](auto& j) { j["options"]["use_idf"] = "yes"; }},
      {"'options.binary' is missing", [](auto& j) { j["options"].erase("binary"); }},
      {"'options' must be an object (got array)", [](auto& j) { j["options"] = nlohmann::json::array(); }},
      {"'format' is 'other', not hmr-tfidf-model-1", [](auto& j) { j["format"] = "other"; }},
      {"'(top level)' must be an object (got array)", [](auto& j) { j = nlohmann::json::array({1}); }},
      {"'n_documents' must lie in [1, 9007199254740992] (got 0)", [](auto& j) { j["n_documents"] = 0; }},
      {"'df[0]' must lie in [1, " + std::to_string(n) + "] (got -1)", [](auto& j) { j["df"][0] = -1; }},
      {"'df[1]' must lie in [1, " + std::to_string(n) + "] (got " + std::to_string(n + 1) + ")",
       [n](auto& j) { j["df"][1] = n + 1; }},
      {"'idf[1]' must be a number (got string)", [](auto& j) { j["idf"][1] = "x"; }},
      {"'idf[0]' must be positive (got -1)", [](auto& j) { j["idf"][0] = -1.0; }},
      {"'vocabulary_size' is 1, but", [](auto& j) { j["vocabulary_size"] = 1; }},
      {"df and", [](auto& j) { j["idf"].erase(j["idf"].size() - 1); }},
  };
  for (const auto& c : cases) {
    const std::string e = s.refusal(c.edit);
    EXPECT_NE(e.find("tfidf_model.json"), std::string::npos) << e;
    EXPECT_NE(e.find(c.says), std::string::npos) << "expected: " << c.says << "\n     got: " << e;
  }
}

TEST(TextTfidfModel, BadVocabularyLinesAreRefused) {
  SavedModel s;
  const std::string sorted = s.vocabulary;
  auto first_two_swapped = sorted;
  const auto a = sorted.find('\n'), b = sorted.find('\n', a + 1);
  first_two_swapped = sorted.substr(a + 1, b - a) + sorted.substr(0, a + 1) + sorted.substr(b + 1);
  const std::string duplicated = sorted.substr(0, a + 1) + sorted.substr(0, a + 1) + sorted.substr(a + 1);
  const std::string with_empty = "\n" + sorted;
  struct Case {
    std::string voc;
    const char* says;
  };
  for (const Case& c :
       {Case{first_two_swapped, "line 2 is sorted before line 1"}, Case{duplicated, "line 2 is the same as line 1"},
        Case{with_empty, "line 1 is empty"}, Case{"", "empty vocabulary"}}) {
    const std::string e = s.refusal([](auto&) {}, &c.voc);
    EXPECT_NE(e.find("vocabulary.txt: "), std::string::npos) << e;
    EXPECT_NE(e.find(c.says), std::string::npos) << "expected: " << c.says << "\n     got: " << e;
  }
}

TEST(TextTfidfModel, InvalidJsonIsOneLine) {
  SavedModel s;
  for (const std::string& text : {std::string("{\"format\": "), std::string("\xff\xfe"), std::string()}) {
    const std::string e =
        hmr::test::input_error_of([&] { hmr::text::parse_model(text, s.vocabulary, s.dir.p.string()); });
    EXPECT_NE(e.find("tfidf_model.json: not valid JSON"), std::string::npos) << e;
  }
}

}  // namespace
