// text/lyrics.h — lyrics corpora from CSV files (io/csv.h): one text column per file, a language
// label per file (or per row from a `language` column). Rows whose text is missing, empty or only
// white space are skipped and reported (file and line), never turned into empty documents.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hmr::text {

struct LyricsSource {
  std::string path;
  std::string language;  // "" = take it from each row's language column
  // The one `--lyrics` rule of every command (hmr tfidf, hmr easy): "FILE.csv:LANG" ->
  // {FILE.csv, LANG}; "FILE.csv" -> {FILE.csv, ""}. The last ':' splits only when what follows it
  // is a plausible language tag (1-16 ASCII letters, digits, '-', '_') and something precedes it,
  // so a ':' inside a path ("odd:dir/x.csv", "dir:x.csv", "C:\\x.csv") is kept. Input error when empty.
  static LyricsSource parse(const std::string& spec);
};

struct LyricsOptions {
  std::string column;                        // name or 0-based index; "" = "lyrics", else the first
  std::string language_column = "language";  // used when a source has no language
  bool lossy = false;                        // replace invalid UTF-8 with U+FFFD
  std::string lossy_flag;                    // the caller's flag for `lossy`, advised on bad UTF-8 ("" = none)
};

struct SkippedRow {
  std::string file;
  std::int64_t line = 0;
  std::string reason;  // "empty text", "missing language"
};

struct Corpus {
  std::vector<std::string> docs;         // [n] text as read (UTF-8)
  std::vector<std::int32_t> labels;      // [n] index into label_names
  std::vector<std::string> label_names;  // in order of first appearance
  std::vector<std::string> files;        // [n] source file of each document
  std::vector<std::int64_t> lines;       // [n] 1-based line where its record starts
  std::vector<SkippedRow> skipped;       // rows left out, with why
  std::int64_t replaced_utf8 = 0;        // invalid sequences replaced (lossy)
  std::int64_t size() const { return static_cast<std::int64_t>(docs.size()); }
};

// Reads every source in order and concatenates them. Input errors: missing files, invalid UTF-8
// (unless lossy), no such column, a source without a language and no language column.
Corpus read_lyrics(const std::vector<LyricsSource>& sources, const LyricsOptions& options = {});

// Drops lines that are only a [Section] tag ("[Chorus]", "[Verse 1: X]", blanks and tabs around
// it); every kept line ends in '\n'.
std::string strip_section_tags(const std::string& lyrics);

}  // namespace hmr::text
