// text/tokenize.cpp — normalisation (ICU Normalizer2, case mapping) and the sklearn / unicode
// tokenizers described in tokenize.h.
//
// Why the sklearn tokenizer is a scanner and not a regex: `(?u)\b\w\w+\b` evaluated by Python's
// re on a str finds exactly the maximal runs of \w code points of length >= 2 (\b needs a non-\w
// code point or the text's edge on both sides, and \w+ is greedy), so one pass over the code
// points with CPython's \w predicate reproduces it. CPython: Modules/_sre/sre.c SRE_UNI_IS_WORD =
// Py_UNICODE_ISALNUM || '_'; Objects/unicodectype.c: isalnum = isalpha (gc Lu/Ll/Lt/Lm/Lo) ||
// isdecimal || isdigit || isnumeric (a numeric value, Unihan numerics included = ICU
// Numeric_Type != None).
#include "text/tokenize.h"

#include <unicode/brkiter.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utext.h>
#include <unicode/utf8.h>

#include <array>
#include <memory>
#include <mutex>

#include "core/error.h"
#include "io/csv.h"

namespace hmr::text {

namespace {

const std::vector<std::string> kEnglish = {
#include "text/stop_words_english.inc"
};
const std::vector<std::string> kBangla = {
#include "text/stop_words_bangla.inc"
};

bool is_ascii(std::string_view s) {
  for (const char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

// Python's \w for ASCII, looked up without ICU (most of any corpus).
constexpr std::array<bool, 128> kAsciiWord = [] {
  std::array<bool, 128> t{};
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
  t['_'] = true;
  return t;
}();

void check_utf8(std::string_view s) {
  const std::size_t bad = io::find_invalid_utf8(s);
  HMR_REQUIRE(bad == std::string_view::npos, "tokenize: invalid UTF-8 at byte offset {} of a document", bad);
}

void check_icu(UErrorCode status, const char* what) {
  if (U_FAILURE(status)) runtime_error("ICU {} failed: {}", what, u_errorName(status));
}

// Prototype break iterators, created once; each thread clones its own (ICU iterators are not
// thread-safe, cloning is much cheaper than creating).
struct Prototypes {
  std::unique_ptr<icu::BreakIterator> word, grapheme;
  Prototypes() {
    UErrorCode st = U_ZERO_ERROR;
    word.reset(icu::BreakIterator::createWordInstance(icu::Locale::getRoot(), st));
    check_icu(st, "word break iterator");
    grapheme.reset(icu::BreakIterator::createCharacterInstance(icu::Locale::getRoot(), st));
    check_icu(st, "character break iterator");
  }
};
const Prototypes& prototypes() {
  static const Prototypes p;
  return p;
}

struct ThreadIterators {
  std::unique_ptr<icu::BreakIterator> word, grapheme;
  UText* word_text = nullptr;
  UText* grapheme_text = nullptr;
  ThreadIterators() {
    word.reset(prototypes().word->clone());
    grapheme.reset(prototypes().grapheme->clone());
    HMR_ASSERT(word && grapheme, "cannot clone ICU break iterators");
  }
  ~ThreadIterators() {
    if (word_text) utext_close(word_text);
    if (grapheme_text) utext_close(grapheme_text);
  }
  ThreadIterators(const ThreadIterators&) = delete;
  ThreadIterators& operator=(const ThreadIterators&) = delete;
};
ThreadIterators& thread_iterators() {
  thread_local ThreadIterators it;
  return it;
}

// Points `bi` at UTF-8 text without copying it (native indexes are byte offsets).
void set_utf8(icu::BreakIterator& bi, UText*& ut, std::string_view s) {
  UErrorCode st = U_ZERO_ERROR;
  ut = utext_openUTF8(ut, s.data(), static_cast<int64_t>(s.size()), &st);
  check_icu(st, "utext_openUTF8");
  bi.setText(ut, st);
  check_icu(st, "BreakIterator::setText");
}

// At least `n` grapheme clusters in `s`? Stops counting once it knows.
bool has_graphemes(std::string_view s, std::int32_t n) {
  if (n <= 1) return !s.empty();
  if (is_ascii(s)) return static_cast<std::int64_t>(s.size()) >= n;  // no CRLF inside a word
  ThreadIterators& it = thread_iterators();
  set_utf8(*it.grapheme, it.grapheme_text, s);
  std::int32_t count = 0;
  for (std::int32_t b = it.grapheme->next(); b != icu::BreakIterator::DONE; b = it.grapheme->next())
    if (++count >= n) return true;
  return false;
}

bool has_letter_or_number(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      if ((b >= '0' && b <= '9') || ((b | 0x20) >= 'a' && (b | 0x20) <= 'z')) return true;
      ++i;
      continue;
    }
    UChar32 c;
    U8_NEXT(s.data(), i, s.size(), c);
    if (c >= 0 && (U_GET_GC_MASK(c) & (U_GC_L_MASK | U_GC_N_MASK))) return true;
  }
  return false;
}

// UAX #29 word-break classes of the ASCII characters that can sit inside a word, for the ASCII
// fast path of the unicode tokenizer (ICU's rules restricted to ASCII; tests/text compares the two
// on random strings). Colon is not MidLetter in ICU's root rules (CLDR removes it).
enum : unsigned char { kWbOther, kWbLetter, kWbNumeric, kWbExtendNumLet, kWbMidLetter, kWbMidNumLet, kWbMidNum };
constexpr std::array<unsigned char, 128> kAsciiWb = [] {
  std::array<unsigned char, 128> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = kWbLetter;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = kWbLetter;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = kWbNumeric;
  t['@'] = kWbLetter;  // ICU's rules add '@' to ALetter (e-mail addresses stay one word)
  t['_'] = kWbExtendNumLet;
  t['.'] = kWbMidNumLet;   // MidNumLet
  t['\''] = kWbMidNumLet;  // Single_Quote joins like MidNumLet (MidNumLetQ)
  t[','] = kWbMidNum;
  t[';'] = kWbMidNum;
  return t;
}();

// Word segments of ASCII text by UAX #29 (WB5-WB13b; nothing else joins ASCII word characters),
// calling emit for each segment that holds a letter or digit. Segments are ASCII, so their
// grapheme count is their length.
template <class Emit>
void ascii_words(std::string_view text, std::int32_t min_len, Emit&& emit) {
  const std::size_t n = text.size();
  const auto cls = [&](std::size_t i) -> unsigned char {
    return i < n ? kAsciiWb[static_cast<unsigned char>(text[i])] : static_cast<unsigned char>(kWbOther);
  };
  const auto wordish = [](unsigned char c) { return c == kWbLetter || c == kWbNumeric || c == kWbExtendNumLet; };
  const auto alnum_at = [&](std::size_t i) {
    return kAsciiWord[static_cast<unsigned char>(text[i])] && text[i] != '_';
  };
  std::size_t i = 0;
  while (i < n) {
    if (!wordish(cls(i))) {
      ++i;
      continue;
    }
    const std::size_t start = i;
    bool alnum = alnum_at(i);
    ++i;
    for (;;) {
      const unsigned char cur = cls(i), prev = cls(i - 1);
      if (wordish(cur)) {  // WB5, WB8, WB9, WB10, WB13a, WB13b: all pairs of these join
        alnum = alnum || alnum_at(i);
        ++i;
        continue;
      }
      const unsigned char next = cls(i + 1);
      const bool wb6 = prev == kWbLetter && (cur == kWbMidLetter || cur == kWbMidNumLet) && next == kWbLetter;
      const bool wb12 = prev == kWbNumeric && (cur == kWbMidNum || cur == kWbMidNumLet) && next == kWbNumeric;
      if (wb6 || wb12) {  // the mid character and the one after it (WB7 / WB11)
        alnum = alnum || alnum_at(i + 1);
        i += 2;
        continue;
      }
      break;
    }
    if (alnum && static_cast<std::int64_t>(i - start) >= min_len) emit(text.substr(start, i - start));
  }
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  return out;
}

}  // namespace

TokenMode parse_token_mode(std::string_view name) {
  if (name == "unicode") return TokenMode::unicode;
  if (name == "sklearn") return TokenMode::sklearn;
  input_error("unknown token mode '{}' (expected unicode or sklearn)", name);
}

Normalization parse_normalization(std::string_view name) {
  if (name == "auto") return Normalization::automatic;
  if (name == "nfc") return Normalization::nfc;
  if (name == "none") return Normalization::none;
  input_error("unknown normalisation '{}' (expected auto, nfc or none)", name);
}

Analyzer parse_analyzer(std::string_view name) {
  if (name == "word") return Analyzer::word;
  if (name == "char_wb") return Analyzer::char_wb;
  if (name == "char") return Analyzer::chars;
  input_error("unknown analyzer '{}' (expected word, char_wb or char)", name);
}

const char* to_string(TokenMode m) { return m == TokenMode::unicode ? "unicode" : "sklearn"; }
const char* to_string(Analyzer a) {
  return a == Analyzer::word ? "word" : (a == Analyzer::char_wb ? "char_wb" : "char");
}
const char* to_string(Normalization n) {
  return n == Normalization::automatic ? "auto" : (n == Normalization::nfc ? "nfc" : "none");
}

const std::vector<std::string>& builtin_stop_words(std::string_view name) {
  if (name == "english") return kEnglish;
  if (name == "bangla" || name == "bengali") return kBangla;
  input_error("unknown stop-word list '{}' (built in: english, bangla)", name);
}

bool python_is_word(char32_t c) {
  if (c < 128) return kAsciiWord[c];
  const UChar32 u = static_cast<UChar32>(c);
  if (U_GET_GC_MASK(u) & U_GC_L_MASK) return true;
  return u_getIntPropertyValue(u, UCHAR_NUMERIC_TYPE) != U_NT_NONE;
}

std::int64_t count_graphemes(std::string_view s) {
  if (s.empty()) return 0;
  ThreadIterators& it = thread_iterators();
  set_utf8(*it.grapheme, it.grapheme_text, s);
  std::int64_t count = 0;
  for (std::int32_t b = it.grapheme->next(); b != icu::BreakIterator::DONE; b = it.grapheme->next()) ++count;
  return count;
}

Tokenizer::Tokenizer(const TokenizerOptions& options) : options_(options) {
  HMR_REQUIRE(options_.min_graphemes >= 1, "tokenize: the shortest token must be >= 1 character, got {}",
              options_.min_graphemes);
  if (options_.analyzer == Analyzer::word) {
    HMR_REQUIRE(options_.ngram_min == 1 && options_.ngram_max == 1,
                "tokenize: word n-grams are not supported (ngram range {}-{}; use 1-1, or a character analyzer)",
                options_.ngram_min, options_.ngram_max);
  } else {
    HMR_REQUIRE(options_.ngram_min >= 1 && options_.ngram_min <= options_.ngram_max,
                "tokenize: the character n-gram range must satisfy 1 <= min <= max, got {}-{}", options_.ngram_min,
                options_.ngram_max);
    return;  // stop words do not apply to character n-grams (as in scikit-learn)
  }
  // Stop words are normalised the way documents are, so "AND" in a list matches "and" tokens.
  const auto add = [this](const std::string& w) {
    check_utf8(w);
    stop_.insert(normalize_case(w));
  };
  for (const auto& name : options_.stop_lists)
    for (const auto& w : builtin_stop_words(name)) add(w);
  for (const auto& w : options_.stop_words) add(w);
}

// Python's str.isspace(): general category Zs, or bidirectional class WS, B or S (what
// str.split() and re's \s split on).
static bool python_is_space(UChar32 c) {
  if (c < 128) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  if (u_charType(c) == U_SPACE_SEPARATOR) return true;
  const UCharDirection d = u_charDirection(c);
  return d == U_WHITE_SPACE_NEUTRAL || d == U_BLOCK_SEPARATOR || d == U_SEGMENT_SEPARATOR;
}

std::string Tokenizer::normalize(std::string_view doc) const {
  std::string text = normalize_case(doc);
  if (options_.analyzer == Analyzer::word) return text;
  // char: runs of >= 2 whitespace characters become one space (sklearn's \s\s+ -> " "; a single
  // tab or newline stays). char_wb: the words of str.split(), each preceded and followed by one
  // space ("  a\tb " -> " a b "), so every padded word " w " is a substring of the text.
  const bool wb = options_.analyzer == Analyzer::char_wb;
  std::string out;
  out.reserve(text.size() + 2);
  if (wb) out.push_back(' ');
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t at = i;
    UChar32 c;
    U8_NEXT(text.data(), i, text.size(), c);
    if (c < 0 || !python_is_space(c)) {
      out.append(text, at, i - at);
      continue;
    }
    std::size_t run_end = i, run = 1;
    while (run_end < text.size()) {
      std::size_t j = run_end;
      UChar32 d;
      U8_NEXT(text.data(), j, text.size(), d);
      if (d < 0 || !python_is_space(d)) break;
      run_end = j;
      ++run;
    }
    if (wb) {
      if (out.size() > 1 && out.back() != ' ') out.push_back(' ');
    } else if (run >= 2) {
      out.push_back(' ');
    } else {
      out.append(text, at, i - at);
    }
    i = run_end;
  }
  if (wb && out.back() != ' ') out.push_back(' ');
  if (wb && out.size() == 1) out.clear();  // no words at all
  return out;
}

// Character n-grams of a text normalize() prepared, as views into it (see tokenize.h).
void Tokenizer::char_ngram_views(std::string_view text, std::vector<std::string_view>& out) const {
  // Byte offsets of the code points of a span, plus its end.
  std::vector<std::size_t> cp;
  const auto code_points = [&](std::string_view span) {
    cp.clear();
    for (std::size_t i = 0; i < span.size();) {
      cp.push_back(i);
      UChar32 c;
      U8_NEXT(span.data(), i, span.size(), c);
    }
    cp.push_back(span.size());
  };
  const auto piece = [&](std::string_view span, std::size_t from, std::size_t n) {
    return span.substr(cp[from], cp[from + n] - cp[from]);
  };
  const std::size_t lo = static_cast<std::size_t>(options_.ngram_min);
  const std::size_t hi = static_cast<std::size_t>(options_.ngram_max);
  if (options_.analyzer == Analyzer::chars) {
    code_points(text);
    const std::size_t len = cp.size() - 1;
    for (std::size_t n = lo; n <= std::min(hi, len); ++n)
      for (std::size_t i = 0; i + n <= len; ++i) out.push_back(piece(text, i, n));
    return;
  }
  // char_wb: the text is " w1 w2 ... wk "; the padded word i spans from the space before it to the
  // space after it (shared with its neighbours).
  std::size_t start = 0;
  while (start + 1 < text.size()) {
    const std::size_t end = text.find(' ', start + 1);  // the space after the word
    const std::string_view w = text.substr(start, end - start + 1);
    code_points(w);
    const std::size_t len = cp.size() - 1;
    for (std::size_t n = lo; n <= hi; ++n) {
      if (len <= n) {  // the whole padded word, once, and no longer n-grams (sklearn's break)
        out.push_back(w);
        break;
      }
      for (std::size_t off = 0; off + n <= len; ++off) out.push_back(piece(w, off, n));
    }
    start = end;
  }
}

std::string Tokenizer::normalize_case(std::string_view doc) const {
  const bool unicode = options_.mode == TokenMode::unicode;
  const bool nfc =
      options_.normalization == Normalization::nfc || (options_.normalization == Normalization::automatic && unicode);
  // ASCII is NFC already, and lower-casing and case folding agree on it.
  if (is_ascii(doc)) return options_.lowercase ? ascii_lower(doc) : std::string(doc);
  check_utf8(doc);
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(doc.data(), static_cast<int32_t>(doc.size())));
  UErrorCode st = U_ZERO_ERROR;
  const icu::Normalizer2* nfc_norm = nfc ? icu::Normalizer2::getNFCInstance(st) : nullptr;
  check_icu(st, "NFC instance");
  if (nfc_norm && !nfc_norm->isNormalized(u, st)) {
    u = nfc_norm->normalize(u, st);
    check_icu(st, "NFC normalisation");
  }
  if (options_.lowercase) {
    if (unicode) {
      u.foldCase(U_FOLD_CASE_DEFAULT);  // full folding: "Straße" -> "strasse"
      // Folding can leave a non-NFC sequence (e.g. U+01F0 -> j + U+030C): normalise again.
      if (nfc_norm && !nfc_norm->isNormalized(u, st)) u = nfc_norm->normalize(u, st);
      check_icu(st, "NFC normalisation");
    } else {
      u.toLower(icu::Locale::getRoot());  // = Python str.lower(): full mapping + final sigma
    }
  }
  std::string out;
  out.reserve(doc.size());
  u.toUTF8String(out);
  return out;
}

void Tokenizer::token_views(std::string_view text, std::vector<std::string_view>& out) const {
  if (options_.analyzer != Analyzer::word) return char_ngram_views(text, out);
  const auto emit = [&](std::string_view tok) {
    if (stop_.empty() || stop_.find(tok) == stop_.end()) out.push_back(tok);
  };
  if (options_.mode == TokenMode::sklearn) {
    std::size_t start = 0, run = 0;  // run: code points in the current \w run
    std::size_t i = 0;
    while (i < text.size()) {
      const std::size_t at = i;
      bool word;
      const unsigned char b = static_cast<unsigned char>(text[i]);
      if (b < 0x80) {
        word = kAsciiWord[b];
        ++i;
      } else {
        UChar32 c;
        U8_NEXT(text.data(), i, text.size(), c);
        word = c >= 0 && python_is_word(static_cast<char32_t>(c));
      }
      if (word) {
        if (run++ == 0) start = at;
      } else {
        if (run >= 2) emit(text.substr(start, at - start));
        run = 0;
      }
    }
    if (run >= 2) emit(text.substr(start));
    return;
  }
  if (text.empty()) return;
  if (is_ascii(text)) return ascii_words(text, options_.min_graphemes, emit);
  ThreadIterators& it = thread_iterators();
  icu::BreakIterator& bi = *it.word;
  set_utf8(bi, it.word_text, text);
  std::int32_t a = bi.first();
  for (std::int32_t b = bi.next(); b != icu::BreakIterator::DONE; a = b, b = bi.next()) {
    // Spaces, punctuation and symbol-only segments (emoji) hold no letter or number.
    const std::string_view seg = text.substr(static_cast<std::size_t>(a), static_cast<std::size_t>(b - a));
    if (!has_letter_or_number(seg)) continue;
    if (!has_graphemes(seg, options_.min_graphemes)) continue;
    emit(seg);
  }
}

void Tokenizer::tokenize_into(std::string_view doc, std::vector<std::string>& out) const {
  const std::string norm = normalize(doc);
  std::vector<std::string_view> views;
  token_views(norm, views);
  for (const auto v : views) out.emplace_back(v);
}

std::vector<std::string> Tokenizer::tokenize(std::string_view doc) const {
  std::vector<std::string> out;
  tokenize_into(doc, out);
  return out;
}

bool Tokenizer::is_stop_word(std::string_view token) const { return stop_.find(token) != stop_.end(); }

}  // namespace hmr::text
