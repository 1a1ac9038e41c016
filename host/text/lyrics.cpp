// text/lyrics.cpp — lyrics corpora from CSV files (see lyrics.h).
#include "text/lyrics.h"

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <string_view>

#include "core/error.h"
#include "core/log.h"
#include "core/printable.h"
#include "io/csv.h"

namespace hmr::text {

namespace {

// Only white space (Unicode White_Space) or nothing: a missing lyric, not a document.
bool blank(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    UChar32 c;
    U8_NEXT(s.data(), i, s.size(), c);
    if (c < 0 || !u_isUWhiteSpace(c)) return false;
  }
  return true;
}

std::int32_t label_of(Corpus& c, const std::string& name) {
  const auto it = std::find(c.label_names.begin(), c.label_names.end(), name);
  if (it != c.label_names.end()) return static_cast<std::int32_t>(it - c.label_names.begin());
  c.label_names.push_back(name);
  return static_cast<std::int32_t>(c.label_names.size() - 1);
}

}  // namespace

LyricsSource LyricsSource::parse(const std::string& spec) {
  HMR_REQUIRE(!spec.empty(), "--lyrics: empty argument (expected FILE.csv or FILE.csv:LANG)");
  const std::size_t colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0) return {spec, ""};
  const std::string tag = spec.substr(colon + 1);
  const bool plausible = !tag.empty() && tag.size() <= 16 && std::all_of(tag.begin(), tag.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_';
  });
  if (!plausible) return {spec, ""};
  return {spec.substr(0, colon), tag};
}

Corpus read_lyrics(const std::vector<LyricsSource>& sources, const LyricsOptions& options) {
  HMR_REQUIRE(!sources.empty(), "no lyrics files given");
  Corpus corpus;
  io::CsvOptions csv;
  csv.lossy = options.lossy;
  for (const auto& src : sources) {
    const io::CsvTable t = io::read_csv(src.path, csv);
    corpus.replaced_utf8 += t.replaced;
    std::size_t col = 0;
    if (!options.column.empty())
      col = t.column(options.column);
    else if (auto c = t.find_column("lyrics"))
      col = *c;
    HMR_REQUIRE(t.columns() > 0, "{}: the file has no columns", src.path);
    std::optional<std::size_t> lang_col;
    if (src.language.empty()) {
      lang_col = t.find_column(options.language_column);
      HMR_REQUIRE(lang_col.has_value(),
                  "{}: no language given (write {}:LANGUAGE) and no '{}' column to read it from (columns: {})",
                  src.path, src.path, options.language_column, printable(fmt::format("{}", fmt::join(t.header, ", "))));
    }
    std::int64_t kept = 0, empty = 0;
    for (std::size_t r = 0; r < t.size(); ++r) {
      const std::string& text = t.at(r, col);
      if (blank(text)) {
        corpus.skipped.push_back({src.path, t.lines[r], "empty text"});
        ++empty;
        continue;
      }
      std::string lang = src.language;
      if (lang_col) {
        lang = t.at(r, *lang_col);
        if (blank(lang)) {
          corpus.skipped.push_back({src.path, t.lines[r], "missing language"});
          continue;
        }
      }
      corpus.docs.push_back(text);
      corpus.labels.push_back(label_of(corpus, lang));
      corpus.files.push_back(src.path);
      corpus.lines.push_back(t.lines[r]);
      ++kept;
    }
    if (empty > 0) spdlog::warn("{}: skipped {} rows with empty text", src.path, empty);
    spdlog::info("{}: {} documents (column '{}')", src.path, kept,
                 t.header.empty() ? std::to_string(col) : t.header[col]);
  }
  return corpus;
}

std::string strip_section_tags(const std::string& lyrics) {
  std::string out;
  std::istringstream in(lyrics);
  std::string line;
  while (std::getline(in, line)) {
    std::string_view t(line);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t' || t.back() == '\r')) t.remove_suffix(1);
    if (t.size() >= 2 && t.front() == '[' && t.back() == ']' && t.find(']') == t.size() - 1) continue;
    out += line;
    out += '\n';
  }
  return out;
}

}  // namespace hmr::text
