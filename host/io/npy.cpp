#include "io/npy.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <string_view>

#include <fmt/ranges.h>

#include "core/error.h"
#include "core/printable.h"
#include "io/atomic_file.h"

namespace hmr::io {
namespace fs = std::filesystem;

// The shape was checked not to overflow when the array was read.
std::int64_t NpyArray::count() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

namespace {
// Bytes per element of a numpy descr without its byte-order character; "S<n>" is a fixed-width
// byte string (scipy's format.npy member). 0: not supported.
std::size_t item_size(const std::string& dtype) {
  if (dtype == "f4" || dtype == "i4" || dtype == "u4") return 4;
  if (dtype == "f8" || dtype == "i8" || dtype == "u8") return 8;
  if (dtype == "i2" || dtype == "u2" || dtype == "f2") return 2;
  if (dtype == "i1" || dtype == "u1" || dtype == "b1") return 1;
  // "S" then 1-4 digits, no leading zero: std::stoul alone would throw on "Sx" and take "S-1".
  if (dtype.size() >= 2 && dtype.size() <= 5 && dtype[0] == 'S' && dtype[1] != '0' &&
      std::all_of(dtype.begin() + 1, dtype.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::stoul(dtype.substr(1));
  return 0;
}

// numpy refuses headers above 10000 bytes by default (max_header_size); allow more, but never
// allocate what a 4-byte length field claims before the file is known to hold it.
constexpr std::uint64_t kMaxHeader = 1u << 20;

// A reader over the header dict numpy writes: {'descr': '<f4', 'fortran_order': False,
// 'shape': (3, 4), } (any spacing, either quote, optional trailing commas). Only the three keys
// numpy writes are allowed, each exactly once.
struct HeaderParser {
  std::string_view s;
  std::size_t i = 0;
  const std::string& where;

  [[noreturn]] void fail(const char* why) const {
    input_error("cannot read {}: malformed .npy header ({} at byte {} of the header)", where, why, i);
  }
  void skip() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  bool eat(char c) {
    skip();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  void expect(char c, const char* why) {
    if (!eat(c)) fail(why);
  }
  std::string string() {
    skip();
    if (i >= s.size() || (s[i] != '\'' && s[i] != '"')) fail("expected a quoted string");
    const char q = s[i++];
    const std::size_t end = s.find(q, i);
    if (end == std::string_view::npos || end - i > 64) fail("unterminated string");
    std::string out(s.substr(i, end - i));
    i = end + 1;
    return out;
  }
  bool boolean() {
    skip();
    for (const auto& [word, value] : {std::pair<std::string_view, bool>{"False", false}, {"True", true}})
      if (s.substr(i, word.size()) == word) {
        i += word.size();
        return value;
      }
    fail("expected True or False");
  }
  std::vector<std::int64_t> shape() {
    expect('(', "expected '(' opening the shape");
    std::vector<std::int64_t> dims;
    while (!eat(')')) {
      skip();
      const bool negative = i < s.size() && s[i] == '-';
      if (negative) ++i;
      const std::size_t start = i;
      std::uint64_t v = 0;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        if (v > (static_cast<std::uint64_t>(INT64_MAX) - 9) / 10)
          input_error("cannot read {}: dimension {} of the shape is too large", where, dims.size());
        v = v * 10 + static_cast<std::uint64_t>(s[i++] - '0');
      }
      if (i == start) fail("expected a dimension");
      if (i < s.size() && s[i] == 'L') ++i;  // Python 2 longs
      if (negative && v > 0)
        input_error("cannot read {}: dimension {} of the shape is negative (-{})", where, dims.size(), v);
      if (dims.size() >= 32) fail("more than 32 dimensions");
      dims.push_back(static_cast<std::int64_t>(v));
      if (!eat(',')) {
        expect(')', "expected ',' or ')' in the shape");
        break;
      }
    }
    return dims;
  }
};

struct NpyHeader {
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t data_bytes = 0;  // the payload the shape needs
};

NpyHeader parse_header(std::string_view text, const std::string& where) {
  HeaderParser p{text, 0, where};
  NpyHeader h;
  bool have_descr = false, have_order = false, have_shape = false;
  p.expect('{', "expected '{'");
  while (!p.eat('}')) {
    const std::string key = p.string();
    p.expect(':', "expected ':' after a key");
    if (key == "descr" && !have_descr) {
      const std::string descr = p.string();
      HMR_REQUIRE(descr.size() >= 2, "cannot read {}: unsupported dtype '{}'", where, printable(descr));
      HMR_REQUIRE(descr[0] != '>', "cannot read {}: big-endian arrays are not supported", where);
      h.dtype = descr[0] == '<' || descr[0] == '|' || descr[0] == '=' ? descr.substr(1) : descr;
      HMR_REQUIRE(item_size(h.dtype) > 0, "cannot read {}: unsupported dtype {}", where, printable(descr));
      have_descr = true;
    } else if (key == "fortran_order" && !have_order) {
      HMR_REQUIRE(!p.boolean(),
                  "cannot read {}: Fortran-ordered arrays are not supported (save with np.ascontiguousarray)", where);
      have_order = true;
    } else if (key == "shape" && !have_shape) {
      h.shape = p.shape();
      have_shape = true;
    } else {
      input_error("cannot read {}: unexpected or repeated key '{}' in the .npy header", where, printable(key));
    }
    if (!p.eat(',')) {
      p.expect('}', "expected ',' or '}'");
      break;
    }
  }
  HMR_REQUIRE(have_descr && have_order && have_shape, "cannot read {}: the .npy header lacks {}", where,
              !have_descr   ? "descr"
              : !have_order ? "fortran_order"
                            : "shape");
  // Element and byte counts in 64 bits without wrapping: 2^32 x 2^32 once wrapped to 0.
  std::uint64_t n = 1;
  for (const std::int64_t d : h.shape) {
    const auto u = static_cast<std::uint64_t>(d);
    HMR_REQUIRE(u == 0 || n <= static_cast<std::uint64_t>(INT64_MAX) / u,
                "cannot read {}: shape ({}) is too large (the element count overflows 64 bits)", where,
                fmt::join(h.shape, ", "));
    n *= u;
  }
  const std::uint64_t item = item_size(h.dtype);
  HMR_REQUIRE(n <= static_cast<std::uint64_t>(INT64_MAX) / item,
              "cannot read {}: shape ({}) is too large ({} elements of {} bytes overflow 64 bits)", where,
              fmt::join(h.shape, ", "), n, item);
  h.data_bytes = n * item;
  return h;
}

// Magic, version and header length from the first 12 bytes (fewer when the file is shorter).
// Returns the header length and sets *start to the header's offset.
std::uint64_t parse_preamble(std::string_view head, std::uint64_t file_size, const std::string& where,
                             std::size_t* start) {
  HMR_REQUIRE(head.size() >= 10 && std::memcmp(head.data(), "\x93NUMPY", 6) == 0, "cannot read {}: not a .npy file",
              where);
  const int major = static_cast<unsigned char>(head[6]);
  HMR_REQUIRE(major >= 1 && major <= 3, "cannot read {}: unsupported .npy format version {}", where, major);
  const auto b = [&](std::size_t k) { return static_cast<std::uint64_t>(static_cast<unsigned char>(head[k])); };
  std::uint64_t len = 0;
  if (major == 1) {
    len = b(8) | (b(9) << 8);
    *start = 10;
  } else {
    HMR_REQUIRE(head.size() >= 12, "cannot read {}: truncated header", where);
    len = b(8) | (b(9) << 8) | (b(10) << 16) | (b(11) << 24);
    *start = 12;
  }
  HMR_REQUIRE(len <= file_size - *start, "cannot read {}: truncated header ({} bytes claimed, the file holds {})",
              where, len, file_size - *start);
  HMR_REQUIRE(len <= kMaxHeader, "cannot read {}: a header of {} bytes is implausibly large", where, len);
  return len;
}

void check_payload(const NpyHeader& h, std::uint64_t have, std::uint64_t total, const std::string& where) {
  HMR_REQUIRE(have == h.data_bytes,
              "cannot read {}: the header's shape ({}) of {} needs {} bytes of data, the {}-byte file holds {} after "
              "its header ({})",
              where, fmt::join(h.shape, ", "), h.dtype, h.data_bytes, total, have,
              have < h.data_bytes ? "truncated, or the shape is wrong" : "the shape is wrong");
}

NpyArray to_array(NpyHeader&& h) {
  NpyArray a;
  a.dtype = std::move(h.dtype);
  a.shape = std::move(h.shape);
  return a;
}
}  // namespace

NpyArray parse_npy(std::string_view bytes, const std::string& where) {
  std::size_t start = 0;
  const std::uint64_t len = parse_preamble(bytes.substr(0, 12), bytes.size(), where, &start);
  NpyHeader h = parse_header(bytes.substr(start, len), where);
  const std::string_view payload = bytes.substr(start + len);
#ifndef HMR_PLANT_NPY_BUG
  check_payload(h, payload.size(), bytes.size(), where);
#endif
  // HMR_PLANT_NPY_BUG (fuzzer self-test builds only) drops the size check above, so a short
  // payload is read past its end: the npy fuzzer must find that.
  NpyArray a = to_array(std::move(h));
  a.bytes.resize(static_cast<std::size_t>(h.data_bytes));
  if (!a.bytes.empty()) std::memcpy(a.bytes.data(), payload.data(), a.bytes.size());
  return a;
}

NpyArray read_npy(const fs::path& path) {
  const std::string where = path.string();
  std::error_code ec;
  HMR_REQUIRE(fs::exists(path, ec), "cannot read {}: no such file", where);
  HMR_REQUIRE(fs::is_regular_file(path, ec), "cannot read {}: not a regular file", where);
  std::ifstream in(path, std::ios::binary);
  HMR_REQUIRE(in.good(), "cannot read {}: permission denied", where);
  const std::uint64_t file_size = fs::file_size(path, ec);
  HMR_REQUIRE(!ec, "cannot read {}: {}", where, ec.message());
  char head[12] = {};
  in.read(head, 12);
  std::size_t start = 0;
  const std::uint64_t len =
      parse_preamble(std::string_view(head, static_cast<std::size_t>(in.gcount())), file_size, where, &start);
  std::string header(static_cast<std::size_t>(len), '\0');
  in.seekg(static_cast<std::streamoff>(start));
  in.read(header.data(), static_cast<std::streamsize>(len));
  HMR_REQUIRE(static_cast<std::uint64_t>(in.gcount()) == len, "cannot read {}: truncated header", where);
  NpyHeader h = parse_header(header, where);
  // The claimed payload against the bytes on disk, before anything of that size is allocated.
  check_payload(h, file_size - start - len, file_size, where);
  const std::uint64_t bytes = h.data_bytes;
  NpyArray a = to_array(std::move(h));
  a.bytes.resize(static_cast<std::size_t>(bytes));
  in.read(reinterpret_cast<char*>(a.bytes.data()), static_cast<std::streamsize>(bytes));
  HMR_REQUIRE(static_cast<std::uint64_t>(in.gcount()) == bytes, "cannot read {}: truncated data ({} of {} bytes)",
              where, in.gcount(), bytes);
  return a;
}

Matrix read_matrix(const fs::path& path, bool allow_nonfinite) {
  return as_matrix(read_npy(path), path.string(), allow_nonfinite);
}

std::vector<std::int32_t> read_labels(const fs::path& path) { return as_labels(read_npy(path), path.string()); }

Matrix as_matrix(const NpyArray& a, const std::string& where, bool allow_nonfinite) {
  HMR_REQUIRE(a.shape.size() == 1 || a.shape.size() == 2, "{}: expected a 1-D or 2-D array, got {} dimensions", where,
              a.shape.size());
  const std::int64_t rows = a.shape[0], cols = a.shape.size() == 2 ? a.shape[1] : 1;
  // (10^18, 0) holds no bytes, so the size checks pass, but every consumer loops over the rows.
  HMR_REQUIRE(cols > 0 || rows == 0, "{}: the array has {} rows of 0 columns (no features)", where, rows);
  Matrix out(rows, cols);
  const std::int64_t n = rows * cols;
  if (a.dtype == "f4") {
    if (n > 0) std::memcpy(out.data(), a.bytes.data(), static_cast<std::size_t>(n) * 4);  // empty: both may be null
  } else if (a.dtype == "f8") {
    const auto* d = reinterpret_cast<const double*>(a.bytes.data());
    for (std::int64_t i = 0; i < n; ++i) out.data()[i] = static_cast<float>(d[i]);
  } else if (a.dtype == "i4") {
    const auto* d = reinterpret_cast<const std::int32_t*>(a.bytes.data());
    for (std::int64_t i = 0; i < n; ++i) out.data()[i] = static_cast<float>(d[i]);
  } else if (a.dtype == "i8") {
    const auto* d = reinterpret_cast<const std::int64_t*>(a.bytes.data());
    for (std::int64_t i = 0; i < n; ++i) out.data()[i] = static_cast<float>(d[i]);
  } else {
    input_error("{}: unsupported dtype {} for a feature matrix (use float32)", where, a.dtype);
  }
  std::int64_t br = 0, bc = 0;
  HMR_REQUIRE(allow_nonfinite || all_finite(out, &br, &bc), "{}: non-finite value (NaN or inf) at row {}, column {}",
              where, br, bc);
  return out;
}

std::vector<std::int32_t> as_labels(const NpyArray& a, const std::string& where) {
  HMR_REQUIRE(a.shape.size() == 1 || (a.shape.size() == 2 && a.shape[1] == 1),
              "{}: expected a 1-D label array, got {} dimensions", where, a.shape.size());
  const std::int64_t n = a.count();
  std::vector<std::int32_t> out(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    double v = 0;
    if (a.dtype == "i4")
      v = reinterpret_cast<const std::int32_t*>(a.bytes.data())[i];
    else if (a.dtype == "i8")
      v = static_cast<double>(reinterpret_cast<const std::int64_t*>(a.bytes.data())[i]);
    else if (a.dtype == "u1")
      v = a.bytes[static_cast<std::size_t>(i)];
    else if (a.dtype == "f4")
      v = reinterpret_cast<const float*>(a.bytes.data())[i];
    else if (a.dtype == "f8")
      v = reinterpret_cast<const double*>(a.bytes.data())[i];
    else
      input_error("{}: unsupported dtype {} for labels (use int32 or int64)", where, a.dtype);
    HMR_REQUIRE(std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 2147483647.0,
                "{}: label {} at index {} is not an integer", where, v, i);
    out[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(v);
  }
  return out;
}

std::string npy_bytes(const std::string& dtype, const std::vector<std::int64_t>& shape, const void* data,
                      std::size_t bytes) {
  std::string dims;
  for (std::size_t i = 0; i < shape.size(); ++i)
    dims += std::to_string(shape[i]) + (shape.size() == 1 ? "," : (i + 1 < shape.size() ? ", " : ""));
  const char order = item_size(dtype) == 1 ? '|' : '<';
  std::string header = fmt::format("{{'descr': '{}{}', 'fortran_order': False, 'shape': ({}), }}", order, dtype, dims);
  // Pad so that the data starts on a 64-byte boundary (numpy's convention), ending with '\n'.
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>((header.size() >> 8) & 0xff));
  out += header;
  out.append(static_cast<const char*>(data), bytes);
  return out;
}

void write_npy_raw(const fs::path& path, const std::string& dtype, const std::vector<std::int64_t>& shape,
                   const void* data, std::size_t bytes) {
  const std::string image = npy_bytes(dtype, shape, data, bytes);
  write_atomically(path,
                   [&](std::ostream& out) { out.write(image.data(), static_cast<std::streamsize>(image.size())); });
}

void write_npy(const fs::path& path, const Matrix& m) {
  write_npy_raw(path, "f4", {m.rows(), m.cols()}, m.data(), m.size() * 4);
}
void write_npy(const fs::path& path, const std::vector<float>& v) {
  write_npy_raw(path, "f4", {static_cast<std::int64_t>(v.size())}, v.data(), v.size() * 4);
}
void write_npy(const fs::path& path, const std::vector<std::int32_t>& v) {
  write_npy_raw(path, "i4", {static_cast<std::int64_t>(v.size())}, v.data(), v.size() * 4);
}
void write_npy(const fs::path& path, const std::vector<std::int64_t>& v) {
  write_npy_raw(path, "i8", {static_cast<std::int64_t>(v.size())}, v.data(), v.size() * 8);
}

}  // namespace hmr::io
