// text/lyrics.cpp — lyrics corpora from CSV files (see lyrics.h).
#include "text/lyrics.h"

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include "core/error.h"
#include "core/log.h"
#include "core/printable.h"
#include "io/csv.h"

namespace hmr::text {

namespace fs = std::filesystem;

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

// The genre column by LyricsOptions::genre_column: "auto" takes the first of the names the
// lyrics data sets in use carry (the shared Bangla set: genre_en; the English one: genre/0).
std::optional<std::size_t> find_genre_column(const io::CsvTable& t, const std::string& setting) {
  if (setting.empty()) return std::nullopt;
  if (setting != "auto") return t.find_column(setting);
  for (const char* name : {"genre", "genre_en", "genre/0", "label"})
    if (auto c = t.find_column(name)) return c;
  return std::nullopt;
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

const char* to_string(SkipReason why) {
  switch (why) {
    case SkipReason::empty_text:
      return "empty text";
    case SkipReason::missing_language:
      return "missing language";
  }
  return "?";
}

Corpus read_lyrics(const std::vector<LyricsSource>& sources, const LyricsOptions& options) {
  HMR_REQUIRE(!sources.empty(), "no lyrics files given");
  // Ids are "<file name>:<line>", short and stable when the files are moved; two sources with the
  // same file name (a/lyrics.csv, b/lyrics.csv) would collide, so those keep the path as given.
  std::map<std::string, std::set<std::string>> paths_of_name;
  for (const auto& src : sources) {
    auto& paths = paths_of_name[fs::path(src.path).filename().string()];
    HMR_REQUIRE(paths.insert(src.path).second, "{}: the file is given twice (its rows would be read twice)", src.path);
  }
  Corpus corpus;
  io::CsvOptions csv;
  csv.lossy = options.lossy;
  csv.lossy_flag = options.lossy_flag;
  for (const auto& src : sources) {
    const io::CsvTable t = io::read_csv(src.path, csv);
    corpus.replaced_utf8 += t.replaced;
    HMR_REQUIRE(t.columns() > 0, "{}: the file has no columns", src.path);
    std::size_t col = 0;
    if (!options.column.empty()) {
      col = t.column(options.column);
    } else if (auto c = t.find_column("lyrics")) {
      col = *c;
    } else {
      // A lone column is the text only when the header does not look like a row of another
      // separator ("id;lyrics;language" read as one column would feed the ids to TF-IDF).
      HMR_REQUIRE(t.columns() == 1 && t.delimiter_hint().empty(),
                  "{}: no 'lyrics' column and no text column named (give --column NAME; columns: {}){}", src.path,
                  printable(fmt::format("{}", fmt::join(t.header, ", "))), t.delimiter_hint());
    }
    std::optional<std::size_t> lang_col;
    if (src.language.empty()) {
      lang_col = t.find_column(options.language_column);
      HMR_REQUIRE(lang_col.has_value(),
                  "{}: no language given (write {}:LANGUAGE) and no '{}' column to read it from (columns: {})",
                  src.path, src.path, options.language_column, printable(fmt::format("{}", fmt::join(t.header, ", "))));
    }
    const std::optional<std::size_t> genre_col = find_genre_column(t, options.genre_column);
    const fs::path p(src.path);
    const std::string id_stem = paths_of_name[p.filename().string()].size() > 1 ? src.path : p.filename().string();
    LyricsFileSummary summary;
    summary.path = src.path;
    summary.text_column = t.header.empty() ? std::to_string(col) : t.header[col];
    if (genre_col) summary.genre_column = t.header[*genre_col];
    summary.rows = static_cast<std::int64_t>(t.size());
    std::int64_t empty = 0;
    for (std::size_t r = 0; r < t.size(); ++r) {
      std::string id = fmt::format("{}:{}", id_stem, t.lines[r]);
      std::string text = options.strip_section_tags ? strip_section_tags(t.at(r, col)) : t.at(r, col);
      if (blank(text)) {
        corpus.skipped.push_back({src.path, t.lines[r], std::move(id), SkipReason::empty_text});
        ++empty;
        continue;
      }
      std::string lang = src.language;
      if (lang_col) {
        lang = t.at(r, *lang_col);
        if (blank(lang)) {
          corpus.skipped.push_back({src.path, t.lines[r], std::move(id), SkipReason::missing_language});
          continue;
        }
      }
      corpus.docs.push_back(std::move(text));
      corpus.labels.push_back(label_of(corpus, lang));
      corpus.files.push_back(src.path);
      corpus.lines.push_back(t.lines[r]);
      corpus.ids.push_back(std::move(id));
      corpus.genres.push_back(genre_col ? t.at(r, *genre_col) : std::string());
      ++summary.kept;
    }
    if (empty > 0) spdlog::warn("{}: skipped {} rows with empty text", src.path, empty);
    spdlog::info("{}: {} documents (column '{}')", src.path, summary.kept, summary.text_column);
    corpus.sources.push_back(std::move(summary));
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
