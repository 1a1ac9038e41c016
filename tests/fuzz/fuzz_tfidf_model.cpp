// tests/fuzz/fuzz_tfidf_model.cpp — libFuzzer target for the TF-IDF model reader
// (text::parse_model: tfidf_model.json and vocabulary.txt, the files `hmr tfidf --model` reads).
// The input is the JSON, then a NUL byte, then vocabulary.txt (no NUL: an empty vocabulary). An
// accepted model must be one a transform can index safely, and must survive save -> load.
#include <algorithm>
#include <cmath>

#include "fuzz_common.h"
#include "text/tfidf.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hmr;
  const std::string_view in = fuzz::as_text(data, size);
  const auto nul = in.find('\0');
  const std::string_view json = in.substr(0, nul), vocabulary = nul == in.npos ? "" : in.substr(nul + 1);
  fuzz::expect_clean([&] {
    const text::TfidfModel m = text::parse_model(json, vocabulary, "fuzz");
    const std::size_t n = m.vocabulary.size();
    fuzz::check(n > 0 && m.df.size() == n && m.idf.size() == n, "one df and idf per term");
    fuzz::check(std::adjacent_find(m.vocabulary.begin(), m.vocabulary.end(),
                                   [](const auto& a, const auto& b) { return !(a < b); }) == m.vocabulary.end(),
                "vocabulary sorted and unique");
    for (std::size_t t = 0; t < n; ++t) {
      fuzz::check(m.df[t] >= 1 && m.df[t] <= m.n_documents, "df within [1, n_documents]");
      fuzz::check(std::isfinite(m.idf[t]) && m.idf[t] > 0, "idf finite and positive");
    }
    const auto& o = m.options;
    fuzz::check(o.tokens.ngram_min >= 1 && o.tokens.ngram_min <= o.tokens.ngram_max && o.tokens.ngram_max <= 64,
                "ngram range");
    fuzz::check(o.tokens.min_graphemes >= 1 && o.max_features >= 0, "option ranges");
    for (const auto* b : {&o.min_df, &o.max_df})
      fuzz::check(b->fraction ? b->value >= 0 && b->value <= 1 : b->value >= 1, "document-frequency bounds");
    // Whatever was accepted writes out and reads back as the same model.
    const auto dir = fuzz::dir_of_this_process() / "model";
    text::save_model(dir, m);
    const text::TfidfModel back = text::load_model(dir);
    fuzz::check(
        back.vocabulary == m.vocabulary && back.df == m.df && back.n_documents == m.n_documents && back.idf == m.idf,
        "model round trip");
    fuzz::check(text::options_to_json(back.options) == text::options_to_json(m.options), "options round trip");
  });
  return 0;
}
