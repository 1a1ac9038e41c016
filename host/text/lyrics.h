// text/lyrics.h — lyrics corpora from CSV files (io/csv.h): one text column per file, a language
// label per file (or per row from a `language` column), optionally a genre per row. Rows whose text
// is missing, empty or only white space (after dropping [Chorus]-style lines, when asked) are
// skipped and reported (file, line, id, why), never turned into empty documents. The one reader of
// every command that takes --lyrics (hmr tfidf, hmr easy).
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
  // Name or 0-based index. "" = the `lyrics` column; a file without one is an input error (naming
  // its columns) unless it has exactly one column: guessing, say, an id column gives a corpus of ids.
  std::string column;
  std::string language_column = "language";  // used when a source has no language
  // "" = no genres; "auto" = the first of genre, genre_en, genre/0, label that a file has; else
  // that column where a file has it. A file without the column gives its documents genre "".
  std::string genre_column;
  bool strip_section_tags = false;  // drop [Chorus]-style lines (strip_section_tags) before the empty check
  bool lossy = false;               // replace invalid UTF-8 with U+FFFD
  std::string lossy_flag;           // the caller's flag for `lossy`, advised on bad UTF-8 ("" = none)
};

enum class SkipReason { empty_text, missing_language };
const char* to_string(SkipReason why);  // "empty text", "missing language"

struct SkippedRow {
  std::string file;
  std::int64_t line = 0;
  std::string id;  // as Corpus::ids
  SkipReason reason = SkipReason::empty_text;
};

// What was read from one source, in the order given.
struct LyricsFileSummary {
  std::string path;
  std::string text_column;   // its header name (the index when the file has no header)
  std::string genre_column;  // "" = none
  std::int64_t rows = 0;     // data rows
  std::int64_t kept = 0;     // rows that became documents
};

struct Corpus {
  std::vector<std::string> docs;         // [n] text as read (UTF-8), less tag lines when stripped
  std::vector<std::int32_t> labels;      // [n] index into label_names
  std::vector<std::string> label_names;  // in order of first appearance
  std::vector<std::string> files;        // [n] source file of each document
  std::vector<std::int64_t> lines;       // [n] 1-based line where its record starts
  // [n] "<file name>:<line>"; where two sources share a file name ("a/lyrics.csv", "b/lyrics.csv")
  // their ids use the path as given instead, so ids are unique across the corpus.
  std::vector<std::string> ids;
  std::vector<std::string> genres;         // [n] "" without a genre column (LyricsOptions::genre_column)
  std::vector<LyricsFileSummary> sources;  // one per source
  std::vector<SkippedRow> skipped;         // rows left out, with why
  std::int64_t replaced_utf8 = 0;          // invalid sequences replaced (lossy)
  std::int64_t size() const { return static_cast<std::int64_t>(docs.size()); }
};

// Reads every source in order and concatenates them. Input errors: missing files, invalid UTF-8
// (unless lossy), no such column, no text column named and no `lyrics` column in a file of several
// columns, a source without a language and no language column, the same path given twice.
Corpus read_lyrics(const std::vector<LyricsSource>& sources, const LyricsOptions& options = {});

// Drops lines that are only a [Section] tag ("[Chorus]", "[Verse 1: X]", blanks and tabs around
// it); every kept line ends in '\n'.
std::string strip_section_tags(const std::string& lyrics);

}  // namespace hmr::text
