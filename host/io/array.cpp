// io/array.cpp — array inputs from .npy, .npz members and numeric CSV (see io/array.h). The CSV
// rules follow what pandas writes (DataFrame.to_csv: header of column names, an unnamed index
// as the first column with an empty header field; NaN as an empty field) and what
// numpy.savetxt(delimiter=",") writes (no header); numbers are parsed with std::from_chars
// (locale-independent, correctly rounded to double, then to float32 as numpy's astype does).
#include "io/array.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>

#include <fmt/ranges.h>

#include "core/error.h"
#include "core/log.h"
#include "core/printable.h"
#include "io/csv.h"
#include "io/npz.h"

namespace hmr::io {
namespace fs = std::filesystem;

namespace {

enum class Kind { npy, npz, csv };

struct Spec {
  fs::path file;
  std::string member;  // after ':' in "X.npz:name"
  std::string where;   // the spec as given, for messages
};

std::string lower_ext(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e;
}

Spec parse_spec(const std::string& spec) {
  HMR_REQUIRE(!spec.empty(), "no array file named");
  std::error_code ec;
  if (fs::exists(spec, ec)) return {spec, "", spec};  // a plain path wins, ':' or not
  const auto colon = spec.rfind(':');
  if (colon != std::string::npos && colon > 0) {
    const fs::path file = spec.substr(0, colon);
    if (lower_ext(file) == ".npz" || fs::is_regular_file(file, ec)) {
      HMR_REQUIRE(fs::exists(file, ec), "cannot read {}: no such file", file.string());
      HMR_REQUIRE(colon + 1 < spec.size(), "{}: name the array after ':' (e.g. {}:arr_0)", spec, file.string());
      return {file, spec.substr(colon + 1), spec};
    }
  }
  input_error("cannot read {}: no such file", spec);
}

Kind kind_of(const Spec& s) {
  char head[6] = {};
  {
    std::ifstream in(s.file, std::ios::binary);
    HMR_REQUIRE(in.good(), "cannot read {}: {}", s.file.string(),
                fs::is_directory(s.file) ? "is a folder" : "permission denied");
    in.read(head, 6);
  }
  Kind k;
  if (std::memcmp(head, "\x93NUMPY", 6) == 0)
    k = Kind::npy;
  else if (std::memcmp(head, "PK\x03\x04", 4) == 0 || lower_ext(s.file) == ".npz")
    k = Kind::npz;
  else if (lower_ext(s.file) == ".csv")
    k = Kind::csv;
  else if (lower_ext(s.file) == ".npy")
    k = Kind::npy;  // read_npy says what is wrong with it
  else
    input_error(
        "cannot read {}: not an .npy, .npz or .csv file (hmr reads arrays from .npy, X.npz:name and numeric "
        ".csv)",
        s.file.string());
  HMR_REQUIRE(s.member.empty() || k == Kind::npz,
              "cannot read {}: ':{}' names an array inside an .npz archive, and {} is not one", s.where,
              printable(s.member), s.file.string());
  return k;
}

// A CSV cell as a number: "" and nan/inf as numpy writes them, True/False as pandas writes bools.
enum class Cell { integer, real, missing, bad };
Cell parse_cell(std::string_view t, double* out) {
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  if (t.empty()) {
    *out = std::nan("");
    return Cell::missing;
  }
  if (t == "True" || t == "False") {
    *out = t == "True";
    return Cell::integer;
  }
  if (t.front() == '+') t.remove_prefix(1);  // from_chars takes no '+'
  std::int64_t i = 0;
  auto r = std::from_chars(t.data(), t.data() + t.size(), i);
  if (r.ec == std::errc() && r.ptr == t.data() + t.size()) {
    *out = static_cast<double>(i);
    return Cell::integer;
  }
  r = std::from_chars(t.data(), t.data() + t.size(), *out);
  if (r.ptr == t.data() + t.size() && (r.ec == std::errc() || r.ec == std::errc::result_out_of_range))
    return std::isfinite(*out) ? Cell::real : Cell::missing;
  return Cell::bad;
}

bool is_number(std::string_view t) {
  double v;
  const Cell c = parse_cell(t, &v);
  return c == Cell::integer || c == Cell::real || (c == Cell::missing && !t.empty());
}

void log_notes(const std::string& what, const std::string& where, const std::vector<std::string>& notes) {
  if (notes.empty()) return;
  spdlog::info("{}{}{}: {} (converted in memory)", what, what.empty() ? "" : " ", where, fmt::join(notes, "; "));
}

}  // namespace

NpyArray parse_numeric_csv(std::string_view text, const std::string& where, bool allow_nonfinite,
                           std::vector<std::string>* notes) {
  CsvOptions opt;
  opt.header = false;
  opt.allow_ragged = true;  // widths are checked here, against the first record
  const CsvTable t = parse_csv(text, opt, where);
  HMR_REQUIRE(!t.rows.empty(), "{}: the CSV file holds no rows", where);
  const auto& first = t.rows.front();
  const std::size_t width = first.size();
  // Header: a field that is not a number, or pandas' default column labels 0..m-1 (m >= 2, or
  // after an empty index field), which a data row almost never is.
  bool header =
      std::any_of(first.begin(), first.end(), [](const std::string& f) { return !f.empty() && !is_number(f); });
  bool default_labels = false;
  if (!header) {
    const std::size_t from = !first.empty() && first[0].empty() ? 1 : 0;
    default_labels = width - from >= 1 && (width - from >= 2 || from == 1);
    for (std::size_t k = from; k < width && default_labels; ++k) default_labels = first[k] == std::to_string(k - from);
    header = default_labels;
  }
  // pandas' index: an unnamed first column (empty header field, or "Unnamed: 0" after a round trip).
  const bool index = header && width >= 2 && (first[0].empty() || first[0] == "Unnamed: 0");
  const std::size_t skip = index ? 1 : 0, cols = width - skip;
  const std::size_t rows = t.rows.size() - (header ? 1 : 0);
  HMR_REQUIRE(rows > 0, "{}: the CSV file has a header but no data rows", where);
  const auto col_name = [&](std::size_t c) {
    return header ? fmt::format("column {} ('{}')", c + 1, printable(first[c])) : fmt::format("column {}", c + 1);
  };
  std::vector<double> values(rows * cols);
  bool all_integer = true;
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t rec = r + (header ? 1 : 0);
    const auto& row = t.rows[rec];
    const std::int64_t line = t.lines[rec];
    if (row.size() != width) {
      std::string hint;
      if (width == 1 && (first[0].find(';') != std::string::npos || first[0].find('\t') != std::string::npos))
        hint = "; the file looks ;- or tab-separated: hmr reads comma-separated CSV";
      input_error("{}: line {} has {} fields, line {} has {}{}", where, line, row.size(), t.lines.front(), width, hint);
    }
    for (std::size_t c = 0; c < cols; ++c) {
      double v = 0;
      const std::string& f = row[c + skip];
      const Cell k = parse_cell(f, &v);
      if (k == Cell::bad) {
        std::string hint;
        if (width == 1 && (f.find(';') != std::string::npos || f.find('\t') != std::string::npos))
          hint = "; the file looks ;- or tab-separated: hmr reads comma-separated CSV";
        else
          hint = "; hmr reads numeric CSV: drop text columns first (df.select_dtypes('number').to_csv(...))";
        input_error("{}: line {}, {}: '{}' is not a number{}", where, line, col_name(c + skip), printable(f), hint);
      }
      HMR_REQUIRE(k != Cell::missing || allow_nonfinite, "{}: line {}, {}: {} (hmr needs every value finite)", where,
                  line, col_name(c + skip), f.empty() ? "empty cell (a missing value)" : "'" + printable(f) + "'");
      all_integer &= k == Cell::integer;
      values[r * cols + c] = v;
    }
  }
  NpyArray a;
  a.shape = {static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols)};
  if (all_integer) {
    a.dtype = "i8";
    a.bytes.resize(values.size() * 8);
    for (std::size_t k = 0; k < values.size(); ++k) {
      const auto v = static_cast<std::int64_t>(values[k]);
      std::memcpy(a.bytes.data() + k * 8, &v, 8);
    }
  } else {
    a.dtype = "f8";
    a.bytes.resize(values.size() * 8);
    if (!values.empty()) std::memcpy(a.bytes.data(), values.data(), a.bytes.size());
  }
  if (notes) {
    if (default_labels)
      notes->push_back(fmt::format("first line taken as pandas' default column names 0..{}", width - skip - 1));
    else if (header)
      notes->push_back("first line taken as the header");
    if (index) notes->push_back("first column dropped (pandas' unnamed index; write with index=False to avoid it)");
  }
  return a;
}

fs::path array_file(const std::string& spec) {
  std::error_code ec;
  if (spec.empty() || fs::exists(spec, ec)) return spec;
  const auto colon = spec.rfind(':');
  if (colon != std::string::npos && colon > 0 && fs::exists(spec.substr(0, colon), ec)) return spec.substr(0, colon);
  return spec;  // missing: reading it says so
}

namespace {
NpyArray load(const std::string& spec, std::vector<std::string>* notes, bool allow_nonfinite, Kind* kind) {
  const Spec s = parse_spec(spec);
  *kind = kind_of(s);
  switch (*kind) {
    case Kind::npy:
      return read_npy(s.file);
    case Kind::npz:
      return npz_array(read_file_bytes(s.file), s.file.string(), s.member);
    case Kind::csv:
      break;
  }
  return parse_numeric_csv(read_file_bytes(s.file), s.file.string(), allow_nonfinite, notes);
}
}  // namespace

NpyArray load_array(const std::string& spec, std::vector<std::string>* notes, bool allow_nonfinite) {
  Kind kind;
  return load(spec, notes, allow_nonfinite, &kind);
}

Matrix read_array(const std::string& spec, const std::string& what, bool allow_nonfinite) {
  std::vector<std::string> notes, conv;
  Kind kind;
  const NpyArray a = load(spec, &notes, allow_nonfinite, &kind);
  Matrix m = as_matrix(a, spec, allow_nonfinite, &conv);
  // CSV cells are text: making them float32 is the reading itself, not a conversion to note.
  for (auto& c : conv)
    if (kind != Kind::csv || c.find(" -> float32") == std::string::npos) notes.push_back(std::move(c));
  log_notes(what, spec, notes);
  return m;
}

std::vector<std::int32_t> read_label_array(const std::string& spec, const std::string& what) {
  std::vector<std::string> notes, conv;
  Kind kind;
  const NpyArray a = load(spec, &notes, false, &kind);
  auto labels = as_labels(a, spec, &conv);
  for (auto& c : conv) notes.push_back(std::move(c));
  log_notes(what, spec, notes);
  return labels;
}

}  // namespace hmr::io
