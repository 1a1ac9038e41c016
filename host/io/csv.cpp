// io/csv.cpp — RFC 4180 CSV parsing (see csv.h) with UTF-8 validation per RFC 3629 / Unicode
// 15 §3.9 (Table 3-7 well-formed byte sequences) and U+FFFD substitution of maximal subparts.
#include "io/csv.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "core/printable.h"

namespace hmr::io {

namespace {

// Length of the well-formed UTF-8 sequence starting at s[i], or, when it is ill-formed, minus the
// length of its maximal subpart (the longest prefix that could start a well-formed sequence;
// at least 1). Table 3-7 of the Unicode standard gives the allowed second-byte ranges.
int utf8_step(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned c = b(i);
  if (c < 0x80) return 1;
  int n = 0;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlongs
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;  // no overlongs
    if (c == 0xF4) hi = 0x8F;  // <= U+10FFFF
  } else {
    return -1;  // C0, C1, F5..FF, or a stray continuation byte
  }
  for (int k = 1; k < n; ++k) {
    if (i + static_cast<std::size_t>(k) >= s.size()) return -k;
    const unsigned d = b(i + static_cast<std::size_t>(k));
    const unsigned l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (d < l || d > h) return -k;
  }
  return n;
}

// 1-based line of byte `offset` (LF, CRLF and lone CR each end a line).
std::int64_t line_of(std::string_view s, std::size_t offset) {
  std::int64_t line = 1;
  for (std::size_t i = 0; i < offset && i < s.size(); ++i) {
    if (s[i] == '\n')
      ++line;
    else if (s[i] == '\r' && (i + 1 >= s.size() || s[i + 1] != '\n'))
      ++line;
  }
  return line;
}

std::string trim_spaces(std::string_view v) {
  std::size_t a = 0, b = v.size();
  while (a < b && (v[a] == ' ' || v[a] == '\t')) ++a;
  while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t')) --b;
  return std::string(v.substr(a, b - a));
}

}  // namespace

std::size_t find_invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    // Fast path over ASCII runs: lyrics are mostly ASCII or 3-byte scripts.
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const int n = utf8_step(s, i);
    if (n < 0) return i;
    i += static_cast<std::size_t>(n);
  }
  return std::string_view::npos;
}

std::string replace_invalid_utf8(std::string_view s, std::int64_t* replaced) {
  std::string out;
  out.reserve(s.size());
  std::int64_t count = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    const int n = utf8_step(s, i);
    if (n > 0) {
      out.append(s.substr(i, static_cast<std::size_t>(n)));
      i += static_cast<std::size_t>(n);
    } else {
      out.append("\xEF\xBF\xBD");
      ++count;
      i += static_cast<std::size_t>(-n);
    }
  }
  if (replaced) *replaced += count;
  return out;
}

std::string csv_field(std::string_view s) {
  const bool edge_space = !s.empty() && (s.front() == ' ' || s.front() == '\t' || s.back() == ' ' || s.back() == '\t');
  if (!edge_space && s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';  // a quote inside a quoted field is doubled
    out += c;
  }
  out += '"';
  return out;
}

std::optional<std::size_t> CsvTable::find_column(std::string_view name) const {
  const std::string want = trim_spaces(name);
  for (std::size_t c = 0; c < header.size(); ++c)
    if (trim_spaces(header[c]) == want) return c;
  return std::nullopt;
}

namespace {

// The separator a one-column header was probably written with: ';' (spreadsheets in locales with a
// decimal comma) or a tab (TSV), whichever occurs more; 0 when neither does or the header has more
// than one column (then commas did split it).
char foreign_delimiter(const std::vector<std::string>& header) {
  if (header.size() != 1) return 0;
  const auto semis = std::count(header[0].begin(), header[0].end(), ';');
  const auto tabs = std::count(header[0].begin(), header[0].end(), '\t');
  if (semis == 0 && tabs == 0) return 0;
  return semis >= tabs ? ';' : '\t';
}

std::string hint_for(const std::vector<std::string>& header) {
  const char d = foreign_delimiter(header);
  if (d == 0) return {};
  return fmt::format("; the file looks {}-separated: hmr reads comma-separated CSV (RFC 4180)", d == ';' ? ";" : "tab");
}

}  // namespace

std::string CsvTable::delimiter_hint() const { return hint_for(header); }

std::size_t CsvTable::column(std::string_view spec) const {
  if (auto c = find_column(spec)) return *c;
  const bool digits =
      !spec.empty() && std::all_of(spec.begin(), spec.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  if (digits && spec.size() < 10) {
    const std::size_t idx = static_cast<std::size_t>(std::stoll(std::string(spec)));
    HMR_REQUIRE(idx < columns(), "{}: column index {} is out of range (the file has {} columns)", source, idx,
                columns());
    return idx;
  }
  // Names come from the file (a quoted header may hold line breaks): escaped to keep one line.
  std::string names;
  for (const auto& h : header) names += (names.empty() ? "" : ", ") + printable(h);
  input_error("{}: no column named '{}' (columns: {}){}", source, printable(spec), names, delimiter_hint());
}

const std::string& CsvTable::at(std::size_t row, std::size_t col) const {
  static const std::string empty;
  const auto& r = rows.at(row);
  return col < r.size() ? r[col] : empty;
}

const std::string& CsvTable::need(std::size_t row, std::size_t col) const {
  // A table built by hand (no widths) has every field it holds.
  const std::size_t written = row < widths.size() ? widths[row] : rows.at(row).size();
  if (col >= written) {
    const std::string name =
        col < header.size() ? fmt::format(" '{}'", printable(trim_spaces(header[col]))) : std::string();
    input_error("{}: line {} has {} field{}, the header has {} (no value for column{}){}", source,
                row < lines.size() ? lines[row] : static_cast<std::int64_t>(row) + 2, written, written == 1 ? "" : "s",
                columns(), name, delimiter_hint());
  }
  return at(row, col);
}

CsvTable parse_csv(std::string_view text, const CsvOptions& opt, const std::string& source) {
  CsvTable t;
  t.source = source;
  // The offsets in messages are offsets into the file, BOM included.
  std::size_t base = 0;
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") {
    text.remove_prefix(3);
    base = 3;
  }
  std::string fixed;
  if (const std::size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) {
    // Advise a flag only when the calling command has one (hmr tfidf's --lossy; easy has none).
    HMR_REQUIRE(opt.lossy, "{}: invalid UTF-8 at line {}, byte offset {} (byte 0x{:02X}); convert the file to UTF-8{}",
                source, line_of(text, bad), bad + base, static_cast<unsigned>(static_cast<unsigned char>(text[bad])),
                opt.lossy_flag.empty()
                    ? std::string()
                    : fmt::format(" or pass {} to replace invalid bytes with U+FFFD", opt.lossy_flag));
    fixed = replace_invalid_utf8(text, &t.replaced);
    text = fixed;
  }

  const char delim = opt.delimiter;
  HMR_REQUIRE(delim != '"' && delim != '\n' && delim != '\r', "csv: the delimiter cannot be a quote or line break");
  const std::size_t n = text.size();
  std::size_t i = 0;
  std::int64_t line = 1;
  std::vector<std::string> record;
  std::string field;
  bool first = opt.header;

  // Consumes one line break at i (CRLF, LF or CR) if present.
  const auto eat_newline = [&]() -> bool {
    if (i < n && text[i] == '\r') {
      ++i;
      if (i < n && text[i] == '\n') ++i;
      ++line;
      return true;
    }
    if (i < n && text[i] == '\n') {
      ++i;
      ++line;
      return true;
    }
    return false;
  };

  while (i < n) {
    if (opt.skip_blank_lines && (text[i] == '\n' || text[i] == '\r')) {
      eat_newline();
      continue;
    }
    const std::int64_t record_line = line;
    record.clear();
    for (;;) {  // one field per iteration
      field.clear();
      if (i < n && text[i] == '"') {
        const std::int64_t open_line = line;
        ++i;
        for (;;) {
          HMR_REQUIRE(i < n, "{}: line {}: quoted field opened here is never closed (missing '\"')", source, open_line);
          const char c = text[i];
          if (c == '"') {
#ifdef HMR_FUZZ_PLANT
            // Planted for the fuzzing self-check (scripts/run-fuzz.sh, fuzz build only): the
            // lookahead loses its bound, so a closing quote at the very end reads one byte past.
            if (text.data()[i + 1] == '"') {
#else
            if (i + 1 < n && text[i + 1] == '"') {
#endif
              field.push_back('"');
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (c == '\n' || (c == '\r' && (i + 1 >= n || text[i + 1] != '\n'))) ++line;
          field.push_back(c);
          ++i;
        }
        // After the closing quote: a delimiter, a line break or the end. Anything else is read
        // as Python's csv module reads it (appended to the field) unless strict.
        if (i < n && text[i] != delim && text[i] != '\n' && text[i] != '\r') {
          HMR_REQUIRE(!opt.strict, "{}: line {}: text after the closing quote of a field", source, line);
          while (i < n && text[i] != delim && text[i] != '\n' && text[i] != '\r') field.push_back(text[i++]);
        }
      } else {
        const std::size_t start = i;
        while (i < n && text[i] != delim && text[i] != '\n' && text[i] != '\r') {
          HMR_REQUIRE(!(opt.strict && text[i] == '"'), "{}: line {}: a quote inside an unquoted field", source, line);
          ++i;
        }
        field.assign(text.substr(start, i - start));
      }
      record.push_back(field);
      if (i < n && text[i] == delim) {
        ++i;
        continue;
      }
      eat_newline();
      break;
    }
    if (first) {
      t.header = record;
      first = false;
      continue;
    }
    const std::size_t width = t.header.empty() ? record.size() : t.header.size();
    const std::size_t written = record.size();
    if (!t.header.empty()) {
      if (record.size() < width) {
        record.resize(width);
        ++t.short_rows;
      } else if (record.size() > width) {
        // A ;-separated file with decimal commas ("0,5;1,2") fails here, before any column lookup.
        HMR_REQUIRE(opt.allow_ragged, "{}: line {}: {} fields, but the header has {}{}", source, record_line,
                    record.size(), width, hint_for(t.header));
      }
    }
    t.rows.push_back(record);
    t.lines.push_back(record_line);
    t.widths.push_back(written);
  }
  return t;
}

CsvTable read_csv(const std::filesystem::path& path, const CsvOptions& options) {
  std::ifstream in(path, std::ios::binary);
  HMR_REQUIRE(in.good(), "{}: cannot open CSV file (missing or unreadable)", path.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  HMR_REQUIRE(!in.bad(), "{}: read error", path.string());
  return parse_csv(text, options, path.string());
}

}  // namespace hmr::io
