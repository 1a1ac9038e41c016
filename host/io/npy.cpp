#include "io/npy.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <string_view>
#include <type_traits>

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
  bool big_endian = false;       // descr '>': bytes swapped after reading
  bool fortran = false;          // fortran_order True: transposed to C order after reading
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
      p.skip();
      // A structured dtype is a list of (name, descr) pairs: numeric arrays only.
      HMR_REQUIRE(p.i >= text.size() || text[p.i] != '[',
                  "cannot read {}: structured (record) arrays are not supported; save a plain numeric array", where);
      const std::string descr = p.string();
      HMR_REQUIRE(descr.size() >= 2, "cannot read {}: unsupported dtype '{}'", where, printable(descr));
      // '=' is native order and '|' not applicable: hmr's hosts are little-endian.
      h.big_endian = descr[0] == '>';
      h.dtype = descr[0] == '<' || descr[0] == '|' || descr[0] == '=' || descr[0] == '>' ? descr.substr(1) : descr;
      HMR_REQUIRE(item_size(h.dtype) > 0, "cannot read {}: unsupported dtype {}", where, printable(descr));
      have_descr = true;
    } else if (key == "fortran_order" && !have_order) {
      h.fortran = p.boolean();
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

// Big-endian payloads become little-endian and Fortran-ordered ones C-ordered, once, in place
// (the transpose needs one scratch copy), so every consumer sees what numpy's
// np.ascontiguousarray(a, a.dtype.newbyteorder('<')) would give. Notes what was done.
void normalize(NpyArray& a, const NpyHeader& h) {
  const std::size_t item = item_size(a.dtype);
  const bool numeric = !a.dtype.empty() && a.dtype[0] != 'S';
  if (h.big_endian && numeric && item > 1) {
    for (std::size_t k = 0; k + item <= a.bytes.size(); k += item) std::reverse(&a.bytes[k], &a.bytes[k] + item);
    a.converted.push_back("big-endian -> little-endian");
  }
  if (!h.fortran) return;
  if (a.shape.size() >= 2 && a.count() > 1) {
    // Visit the C-order destination, keeping the Fortran offset of the same index: in Fortran
    // order the first index varies fastest (stride 1), the last slowest.
    const std::size_t nd = a.shape.size();
    std::vector<std::int64_t> stride(nd), idx(nd, 0);
    std::int64_t s = 1;
    for (std::size_t j = 0; j < nd; ++j) {
      stride[j] = s;
      s *= a.shape[j];
    }
    std::vector<unsigned char> c(a.bytes.size());
    const std::int64_t n = a.count();
    std::int64_t src = 0;
    for (std::int64_t k = 0; k < n; ++k) {
      std::memcpy(&c[static_cast<std::size_t>(k) * item], &a.bytes[static_cast<std::size_t>(src) * item], item);
      for (std::size_t j = nd; j-- > 0;) {  // odometer, last index fastest
        src += stride[j];
        if (++idx[j] < a.shape[j]) break;
        src -= stride[j] * a.shape[j];
        idx[j] = 0;
      }
    }
    a.bytes.swap(c);
  }
  // 0-D and 1-D arrays are the same in both orders; the note still says what the file held.
  a.converted.push_back("Fortran order -> C order");
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
  NpyArray a = to_array(NpyHeader(h));
  a.bytes.resize(static_cast<std::size_t>(h.data_bytes));
  if (!a.bytes.empty()) std::memcpy(a.bytes.data(), payload.data(), a.bytes.size());
  normalize(a, h);
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
  NpyArray a = to_array(NpyHeader(h));
  a.bytes.resize(static_cast<std::size_t>(bytes));
  in.read(reinterpret_cast<char*>(a.bytes.data()), static_cast<std::streamsize>(bytes));
  HMR_REQUIRE(static_cast<std::uint64_t>(in.gcount()) == bytes, "cannot read {}: truncated data ({} of {} bytes)",
              where, in.gcount(), bytes);
  normalize(a, h);
  return a;
}

Matrix read_matrix(const fs::path& path, bool allow_nonfinite) {
  return as_matrix(read_npy(path), path.string(), allow_nonfinite);
}

std::vector<std::int32_t> read_labels(const fs::path& path) { return as_labels(read_npy(path), path.string()); }

std::string dtype_name(const std::string& dtype) {
  static const std::pair<const char*, const char*> names[] = {
      {"f2", "float16"}, {"f4", "float32"}, {"f8", "float64"}, {"i1", "int8"},   {"i2", "int16"},  {"i4", "int32"},
      {"i8", "int64"},   {"u1", "uint8"},   {"u2", "uint16"},  {"u4", "uint32"}, {"u8", "uint64"}, {"b1", "bool"}};
  for (const auto& [d, n] : names)
    if (dtype == d) return n;
  return dtype;
}

float half_to_float(std::uint16_t h) {
  // IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits; every value is exact in
  // binary32, so the conversion is exact (numpy's astype(float32) gives the same bits).
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  std::uint32_t bits = 0;
  if (exp == 0) {
    const float v = std::ldexp(static_cast<float>(mant), -24);  // zero or subnormal
    return sign ? -v : v;
  }
  if (exp == 31)
    bits = sign | 0x7f800000u | (mant << 13);  // inf, NaN (payload kept)
  else
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

namespace {
// Calls f(T{}) with the C++ type of a numeric dtype; false when the dtype is not numeric.
template <class F>
bool visit_numeric(const std::string& dtype, F&& f) {
  if (dtype == "f4")
    f(float{});
  else if (dtype == "f8")
    f(double{});
  else if (dtype == "f2")
    f(std::uint16_t{});  // binary16 bits: callers check the dtype
  else if (dtype == "i1")
    f(std::int8_t{});
  else if (dtype == "i2")
    f(std::int16_t{});
  else if (dtype == "i4")
    f(std::int32_t{});
  else if (dtype == "i8")
    f(std::int64_t{});
  else if (dtype == "u1")
    f(std::uint8_t{});
  else if (dtype == "u2")
    f(std::uint16_t{});
  else if (dtype == "u4")
    f(std::uint32_t{});
  else if (dtype == "u8")
    f(std::uint64_t{});
  else if (dtype == "b1")
    f(bool{});
  else
    return false;
  return true;
}

// Element k of a numeric array as T (memcpy: the payload has no alignment promise).
template <class T>
T element(const NpyArray& a, std::int64_t k) {
  T v;
  std::memcpy(&v, a.bytes.data() + static_cast<std::size_t>(k) * sizeof(T), sizeof(T));
  return v;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  return fmt::format("({}{})", fmt::join(shape, ", "), shape.size() == 1 ? "," : "");
}
}  // namespace

Matrix as_matrix(const NpyArray& a, const std::string& where, bool allow_nonfinite, std::vector<std::string>* notes) {
  HMR_REQUIRE(!a.shape.empty(), "{}: expected an array of samples, got a 0-D scalar", where);
  const std::int64_t rows = a.shape[0];
  // Trailing dimensions join into features, in C order, as X.reshape(len(X), -1) does. The
  // element count was checked against the file when it was read, but with 0 rows that count is 0
  // whatever the other dimensions say, so their product is checked here (a fuzzer's find).
  std::int64_t cols = 1;
  for (std::size_t j = 1; j < a.shape.size(); ++j)
    HMR_REQUIRE(!__builtin_mul_overflow(cols, a.shape[j], &cols) && cols <= (std::int64_t{1} << 40),
                "{}: shape {} has more features per sample than hmr can hold (the trailing dimensions multiply "
                "past 2^40)",
                where, shape_text(a.shape));
  // (10^18, 0) holds no bytes, so the size checks pass, but every consumer loops over the rows.
  HMR_REQUIRE(cols > 0 || rows == 0, "{}: the array has {} rows of 0 columns (no features)", where, rows);
  Matrix out(rows, cols);
  const std::int64_t n = rows * cols;
  float* o = out.data();
  const bool ok = visit_numeric(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>) {
      if (n > 0) std::memcpy(o, a.bytes.data(), static_cast<std::size_t>(n) * 4);  // empty: both may be null
    } else if constexpr (std::is_same_v<T, std::uint16_t>) {
      if (a.dtype == "f2")
        for (std::int64_t i = 0; i < n; ++i) o[i] = half_to_float(element<std::uint16_t>(a, i));
      else
        for (std::int64_t i = 0; i < n; ++i) o[i] = static_cast<float>(element<std::uint16_t>(a, i));
    } else if constexpr (std::is_same_v<T, bool>) {
      for (std::int64_t i = 0; i < n; ++i) o[i] = a.bytes[static_cast<std::size_t>(i)] != 0 ? 1.f : 0.f;
    } else {
      for (std::int64_t i = 0; i < n; ++i) o[i] = static_cast<float>(element<T>(a, i));
    }
  });
  HMR_REQUIRE(ok, "{}: unsupported dtype {} for a numeric array (hmr reads float16/32/64, int8-64, uint8-64, bool)",
              where, printable(a.dtype));
  std::int64_t br = 0, bc = 0;
  HMR_REQUIRE(allow_nonfinite || all_finite(out, &br, &bc), "{}: non-finite value (NaN or inf) at row {}, column {}",
              where, br, bc);
  if (notes) {
    for (const auto& c : a.converted) notes->push_back(c);
    if (a.dtype != "f4") notes->push_back(dtype_name(a.dtype) + " -> float32");
    if (a.shape.size() == 1)
      notes->push_back(
          fmt::format("1-D {} read as {} samples of 1 feature, as X.reshape(-1, 1)", shape_text(a.shape), rows));
    else if (a.shape.size() > 2)
      notes->push_back(fmt::format("{}-D {} flattened to {} samples x {} features, as X.reshape(len(X), -1) (C order)",
                                   a.shape.size(), shape_text(a.shape), rows, cols));
  }
  return out;
}

std::vector<std::int32_t> as_labels(const NpyArray& a, const std::string& where, std::vector<std::string>* notes) {
  HMR_REQUIRE(a.shape.size() == 1 || (a.shape.size() == 2 && a.shape[1] == 1),
              "{}: expected a 1-D label array, got shape {}", where, shape_text(a.shape));
  const std::int64_t n = a.count();
  std::vector<std::int32_t> out(static_cast<std::size_t>(n));
  bool floating = false;
  const bool ok = visit_numeric(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    for (std::int64_t i = 0; i < n; ++i) {
      double v = 0;
      if constexpr (std::is_same_v<T, bool>)
        v = a.bytes[static_cast<std::size_t>(i)] != 0;
      else if constexpr (std::is_same_v<T, std::uint16_t>)
        v = a.dtype == "f2" ? half_to_float(element<std::uint16_t>(a, i)) : element<std::uint16_t>(a, i);
      else
        v = static_cast<double>(element<T>(a, i));
      // Integer codes are taken as they are; floats only when whole (pandas turns an integer column
      // with a missing value into float64), never rounded.
      HMR_REQUIRE(std::isfinite(v) && v == std::floor(v),
                  "{}: label {} at index {} is not a whole number (labels are integer class codes)", where, v, i);
      HMR_REQUIRE(std::fabs(v) <= 2147483647.0, "{}: label {} at index {} does not fit 32 bits", where, v, i);
      out[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(v);
    }
    floating = std::is_floating_point_v<T> || a.dtype == "f2";
  });
  HMR_REQUIRE(ok, "{}: unsupported dtype {} for labels (integer class codes: int8-64, uint8-64, bool)", where,
              printable(a.dtype));
  if (notes) {
    for (const auto& c : a.converted) notes->push_back(c);
    // Integer codes of any width are the codes themselves (range-checked above): no note.
    if (floating) notes->push_back(dtype_name(a.dtype) + " labels are whole numbers: read as integer codes");
    if (a.dtype == "b1") notes->push_back("bool labels read as codes 0 and 1");
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
