// text/tokenize_test.cpp — the two tokenizers: sklearn mode against Python itself (its \w over
// every code point, str.lower() of every code point it changes, and sklearn's analyzer on the
// fixture corpora), unicode mode by the properties it promises (Bangla words whole, NFC, case
// folding, >= 2 grapheme clusters), stop words and invalid input.
#include <gtest/gtest.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <fmt/format.h>
#include <algorithm>
#include <cstring>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "support/compare.h"
#include "text/lyrics.h"
#include "text/tokenize.h"

namespace {

using hmr::text::TokenizerOptions;
using hmr::text::TokenMode;

nlohmann::json load_json(const std::string& rel) {
  std::ifstream in(hmr::test::fixture(rel));
  EXPECT_TRUE(in.good()) << "missing fixture " << rel << " (tests/fixtures/gen_text.py makes it)";
  nlohmann::json j;
  in >> j;
  return j;
}

hmr::text::Tokenizer tokenizer(TokenMode mode, std::vector<std::string> stop_lists = {}) {
  TokenizerOptions o;
  o.mode = mode;
  o.stop_lists = std::move(stop_lists);
  return hmr::text::Tokenizer(o);
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string utf8(char32_t c) {
  std::string s;
  icu::UnicodeString(static_cast<UChar32>(c)).toUTF8String(s);
  return s;
}

// Python's Unicode database version from the fixture ("14.0.0").
struct Version {
  UVersionInfo v{};
};
Version python_unicode_version(const nlohmann::json& j) {
  Version v;
  u_versionFromString(v.v, j.at("unicode").get<std::string>().c_str());
  return v;
}

// Assigned in Python's (older) Unicode version as well as ICU's, so both must agree on it.
bool assigned_in_both(char32_t c, const Version& pyv) {
  const auto& py = pyv.v;
  UVersionInfo age;
  u_charAge(static_cast<UChar32>(c), age);
  return u_charType(static_cast<UChar32>(c)) != U_UNASSIGNED && std::memcmp(age, py, sizeof(UVersionInfo)) <= 0;
}

TEST(TextTokenize, PythonWordClassOverEveryCodePoint) {
  const auto j = load_json("text/python_unicode.json");
  const Version py = python_unicode_version(j);
  std::vector<bool> is_word(0x110000, false);
  for (const auto& r : j.at("word_ranges"))
    for (std::uint32_t c = r[0].get<std::uint32_t>(); c <= r[1].get<std::uint32_t>(); ++c) is_word[c] = true;
  std::int64_t checked = 0, mismatches = 0;
  std::string first;
  for (char32_t c = 0; c < 0x110000; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    if (!assigned_in_both(c, py) && !is_word[c]) continue;  // newer than Python's database
    ++checked;
    if (hmr::text::python_is_word(c) != is_word[c]) {
      if (mismatches++ == 0)
        first = fmt::format("U+{:04X} python {} icu {}", static_cast<std::uint32_t>(c), is_word[c],
                            hmr::text::python_is_word(c));
    }
  }
  EXPECT_EQ(mismatches, 0) << "first: " << first;
  EXPECT_GT(checked, 140000);
}

TEST(TextTokenize, PythonLowerOfEveryChangedCodePoint) {
  const auto j = load_json("text/python_unicode.json");
  const Version py = python_unicode_version(j);
  TokenizerOptions o;
  o.mode = TokenMode::sklearn;
  const hmr::text::Tokenizer tok(o);
  std::int64_t mismatches = 0, checked = 0;
  std::string first;
  for (const auto& [key, val] : j.at("lower").items()) {
    const auto c = static_cast<char32_t>(std::stoul(key));
    if (!assigned_in_both(c, py)) continue;
    std::string want;
    for (const auto& cp : val) want += utf8(cp.get<char32_t>());
    ++checked;
    const std::string got = tok.normalize(utf8(c));
    if (got != want && mismatches++ == 0) first = fmt::format("U+{:04X}", static_cast<std::uint32_t>(c));
  }
  EXPECT_EQ(mismatches, 0) << "first mismatch at " << first;
  EXPECT_GT(checked, 1000);
  // Final sigma depends on context: sklearn's str.lower() gives "οδος" with U+03C2 at the end.
  EXPECT_EQ(tok.normalize(j["final_sigma"]["in"].get<std::string>()), j["final_sigma"]["out"].get<std::string>());
}

TEST(TextTokenize, SklearnModeMatchesSklearnAnalyzerOnFixtureCorpora) {
  for (const char* corpus : {"english", "mixed"}) {
    const auto j = load_json(fmt::format("text/sklearn_{}.json", corpus));
    const auto c = hmr::text::read_lyrics({{hmr::test::fixture(fmt::format("text/{}.csv", corpus)), ""}});
    ASSERT_EQ(c.size(), j["n_docs"].get<std::int64_t>()) << corpus;
    const auto tok = tokenizer(TokenMode::sklearn);
    for (std::size_t d = 0; d < c.docs.size(); ++d)
      EXPECT_EQ(tok.tokenize(c.docs[d]), j["tokens"][d].get<std::vector<std::string>>())
          << corpus << " document " << d << ": " << c.docs[d];
  }
}

TEST(TextTokenize, UnicodeModeKeepsBanglaWordsWholeWhereSklearnSplitsThem) {
  const auto uni = tokenizer(TokenMode::unicode), skl = tokenizer(TokenMode::sklearn);
  const std::string text = "একদিন আমি তোমার কাছে যাব, ক্ষমা করো আমায়";
  const auto u = uni.tokenize(text), s = skl.tokenize(text);
  // vowel signs (ি, া, ো) and a conjunct with virama (ক্ষ) stay inside their words
  for (const char* w : {"একদিন", "আমি", "তোমার", "কাছে", "যাব", "ক্ষমা", "করো", "আমায়"})
    EXPECT_TRUE(contains(u, w)) << "unicode mode lost " << w;
  EXPECT_TRUE(contains(s, "একদ")) << "sklearn mode should cut একদিন at the vowel sign";
  EXPECT_FALSE(contains(s, "একদিন"));
  EXPECT_FALSE(contains(s, "ক্ষমা"));
  EXPECT_TRUE(contains(s, "ষম"));  // ক + virama + ষ + ম + া -> "ক" (too short), "ষম"
}

TEST(TextTokenize, UnicodeModeNormalisesNfdAndKeepsJoiners) {
  const auto uni = tokenizer(TokenMode::unicode);
  const std::string nfc = "\u09A8\u09DF\u09A8";        // নয়ন with precomposed য়... which NFC decomposes
  const std::string nfd = "\u09A8\u09AF\u09BC\u09A8";  // য + nukta
  EXPECT_EQ(uni.tokenize(nfc), uni.tokenize(nfd));
  ASSERT_EQ(uni.tokenize(nfd).size(), 1u);
  // র + ZWJ + ্ + য + া + ব (the র‍্য ligature): one word
  const std::string zwj = "\u09B0\u200D\u09CD\u09AF\u09BE\u09AC আর";
  const auto t = uni.tokenize(zwj);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0], "\u09B0\u200D\u09CD\u09AF\u09BE\u09AC");
}

TEST(TextTokenize, UnicodeModeCaseFoldsAndCountsGraphemes) {
  const auto uni = tokenizer(TokenMode::unicode), skl = tokenizer(TokenMode::sklearn);
  EXPECT_EQ(uni.tokenize("Straße ΟΔΟΣ"), (std::vector<std::string>{"strasse", "οδοσ"}));  // full folding
  EXPECT_EQ(skl.tokenize("Straße ΟΔΟΣ"), (std::vector<std::string>{"straße", "οδος"}));   // str.lower()
  // one user-perceived character is too short, in any script: "a", "I", "কি" (ক + ি)
  EXPECT_EQ(uni.tokenize("a I কি ok"), (std::vector<std::string>{"ok"}));
  EXPECT_EQ(hmr::text::count_graphemes("কি"), 1);
  EXPECT_EQ(hmr::text::count_graphemes("একদিন"), 4);
  // words with apostrophes stay whole; numbers (Bangla digits too) are tokens; emoji are not
  EXPECT_EQ(uni.tokenize("Don't stop ২০২৪ 🎵🎵"), (std::vector<std::string>{"don't", "stop", "২০২৪"}));
  EXPECT_EQ(skl.tokenize("Don't stop ২০২৪ 🎵🎵"), (std::vector<std::string>{"don", "stop", "২০২৪"}));
}

TEST(TextTokenize, AsciiFastPathSegmentsLikeIcu) {
  // ASCII text takes a hand-written UAX #29 path; appending " ü" (a one-character word that
  // is not a token, after a space that breaks) sends the same text through ICU.
  const auto seed = hmr::test::test_seed();
  std::mt19937_64 rng(seed);
  // every ASCII character (controls included), word characters and joiners weighted up
  std::string alphabet = "aZk09_.,;:'@aZk09.'";
  for (int c = 1; c < 128; ++c) alphabet += static_cast<char>(c);
  const auto uni = tokenizer(TokenMode::unicode);
  std::int64_t tokens = 0;
  for (int k = 0; k < 100000; ++k) {
    std::string s;
    const int len = 1 + static_cast<int>(rng() % 14);
    for (int c = 0; c < len; ++c) s += alphabet[rng() % alphabet.size()];
    const auto fast = uni.tokenize(s), icu = uni.tokenize(s + " \u00FC");
    ASSERT_EQ(fast, icu) << "text: [" << s << "]";
    tokens += static_cast<std::int64_t>(fast.size());
  }
  EXPECT_GT(tokens, 50000);
}

TEST(TextTokenize, StopWordLists) {
  const auto& en = hmr::text::builtin_stop_words("english");
  EXPECT_EQ(en.size(), 318u);  // sklearn's ENGLISH_STOP_WORDS (generated list)
  EXPECT_TRUE(std::is_sorted(en.begin(), en.end()));
  const auto skl = tokenizer(TokenMode::sklearn, {"english"});
  EXPECT_EQ(skl.tokenize("The night is young and THE city"), (std::vector<std::string>{"night", "young", "city"}));
  const auto bn = tokenizer(TokenMode::unicode, {"bangla"});
  EXPECT_EQ(bn.tokenize("আমি তোমার গান গাই"), (std::vector<std::string>{"গান", "গাই"}));
  EXPECT_TRUE(bn.is_stop_word("আমার"));
  EXPECT_THROW(hmr::text::builtin_stop_words("klingon"), hmr::Error);
  TokenizerOptions o;
  o.stop_words = {"NIGHT"};  // normalised like the text
  EXPECT_EQ(hmr::text::Tokenizer(o).tokenize("night owl"), (std::vector<std::string>{"owl"}));
}

TEST(TextTokenize, InvalidUtf8IsAnInputError) {
  const auto uni = tokenizer(TokenMode::unicode);
  try {
    uni.tokenize("ok \xE0\xA6 broken");
    FAIL() << "no error";
  } catch (const hmr::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("byte offset 3"), std::string::npos) << e.what();
  }
}

TEST(TextTokenize, ModesAndNamesParse) {
  EXPECT_EQ(hmr::text::parse_token_mode("sklearn"), TokenMode::sklearn);
  EXPECT_EQ(hmr::text::parse_normalization("nfc"), hmr::text::Normalization::nfc);
  EXPECT_THROW(hmr::text::parse_token_mode("regex"), hmr::Error);
  EXPECT_THROW(hmr::text::parse_normalization("nfkc"), hmr::Error);
}

}  // namespace
