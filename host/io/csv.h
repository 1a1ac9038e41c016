// io/csv.h — RFC 4180 CSV reader (and the field quoting of hmr's CSV outputs) shared by the lyrics front end (text
// stage), the Kaggle features CSV and audio manifests.
//
// Accepted input: UTF-8 with or without a byte-order mark; records end in CRLF, LF or a lone CR;
// fields may be quoted with '"', and a quoted field may hold commas, doubled quotes ("") and line
// breaks (kept as written, so a CRLF inside a quoted field stays CRLF). The first record is the
// header unless Options::header is false. Invalid UTF-8 is an input error naming the file, the
// 1-based line and the byte offset of the first bad byte (or, with Options::lossy, each maximal
// invalid subsequence becomes U+FFFD as WHATWG/Unicode "substitution of maximal subparts" says).
// A quote inside an unquoted field, text after a closing quote or an unterminated quoted field are
// input errors with file/line under Options::strict; by default they are read the way Python's csv
// module and pandas read them (the quote is kept literally / the text is appended), because real
// lyrics files contain them. Records with fewer fields than the header are padded with empty
// fields and counted (short_rows), and the width each had is kept, so a consumer that needs a
// missing field says "line N has K fields, the header has M" (CsvTable::need) instead of reading
// an empty cell; records with more are an error unless allow_ragged.
// hmr reads comma-separated files only: a header read as one column that holds ';' or a tab is
// taken for a ;- or tab-separated file, and the errors a consumer raises on it say so
// (CsvTable::delimiter_hint), since "no column named 'id'" alone does not tell the user why.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hmr::io {

struct CsvOptions {
  char delimiter = ',';
  bool header = true;  // first record holds the column names
  bool lossy = false;  // replace invalid UTF-8 with U+FFFD instead of failing
  // The caller's command-line flag that sets `lossy` ("--lossy" for hmr tfidf): the invalid-UTF-8
  // error advises it. Empty (the default) = the caller offers no such flag, so no advice.
  std::string lossy_flag;
  bool allow_ragged = false;     // keep records with more fields than the header (extra fields kept)
  bool skip_blank_lines = true;  // a line with nothing on it (outside quotes) is not a record
  bool strict = false;           // stray quotes (in an unquoted field / after a closing quote) are errors
};

struct CsvTable {
  std::string source;                          // file name (for messages)
  std::vector<std::string> header;             // column names ([] when header = false)
  std::vector<std::vector<std::string>> rows;  // data records, fields as UTF-8
  std::vector<std::int64_t> lines;             // 1-based line where each data record starts
  std::vector<std::size_t> widths;             // fields each data record had as written (before padding)
  std::int64_t replaced = 0;                   // invalid UTF-8 sequences replaced (lossy)
  std::int64_t short_rows = 0;                 // records padded up to the header's width

  std::size_t size() const { return rows.size(); }
  std::size_t columns() const { return header.empty() ? (rows.empty() ? 0 : rows.front().size()) : header.size(); }

  // Index of the column named `name` (exact match after trimming ASCII spaces), if any.
  std::optional<std::size_t> find_column(std::string_view name) const;
  // Column by name, or by 0-based index when `spec` is all digits ("3"); input error naming the
  // file and the available columns when there is no such column.
  std::size_t column(std::string_view spec) const;
  // Field `col` of data record `row` ("" when the record is shorter).
  const std::string& at(std::size_t row, std::size_t col) const;
  // Field `col` of data record `row` for a consumer that needs it: an input error "FILE: line N has
  // K fields, the header has M (no value for column 'c')" when the record, as written, stops
  // before `col` (a short row is a malformed record there, not an empty cell).
  const std::string& need(std::size_t row, std::size_t col) const;
  // "" normally; when the header is one column holding ';' or a tab, a clause to append to an error
  // ("; the file looks ;-separated: hmr reads comma-separated CSV (RFC 4180)").
  std::string delimiter_hint() const;
};

// Reads a CSV file. Input error (exit 2) on a missing/unreadable file or malformed content.
CsvTable read_csv(const std::filesystem::path& path, const CsvOptions& options = {});
// Parses CSV text already in memory; `source` names it in messages.
CsvTable parse_csv(std::string_view text, const CsvOptions& options = {}, const std::string& source = "<memory>");

// UTF-8 validation (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). Returns the byte offset
// of the first invalid byte, or npos when `s` is valid.
std::size_t find_invalid_utf8(std::string_view s);
// `s` with each maximal invalid subsequence replaced by U+FFFD; *replaced counts them.
std::string replace_invalid_utf8(std::string_view s, std::int64_t* replaced = nullptr);

// One field of a CSV record as RFC 4180 writes it: quoted ("" for each quote inside) when it holds
// a comma, a quote, CR or LF, or starts or ends with a space or tab (kept exactly by readers that
// trim unquoted fields); as is otherwise. Bytes other than those pass through, so UTF-8 stays UTF-8.
std::string csv_field(std::string_view s);

}  // namespace hmr::io
