#include "io/npy.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <regex>

#include "core/error.h"
#include "io/atomic_file.h"

namespace hmr::io {
namespace fs = std::filesystem;

std::int64_t NpyArray::count() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

namespace {
std::size_t item_size(const std::string& dtype) {
  if (dtype == "f4" || dtype == "i4" || dtype == "u4") return 4;
  if (dtype == "f8" || dtype == "i8" || dtype == "u8") return 8;
  if (dtype == "i2" || dtype == "u2" || dtype == "f2") return 2;
  if (dtype == "i1" || dtype == "u1" || dtype == "b1") return 1;
  return 0;
}
}  // namespace

NpyArray read_npy(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  HMR_REQUIRE(in.good(), "cannot read {}: {}", path.string(), fs::exists(path) ? "permission denied" : "no such file");
  char magic[8];
  in.read(magic, 8);
  HMR_REQUIRE(in.gcount() == 8 && std::memcmp(magic, "\x93NUMPY", 6) == 0, "cannot read {}: not a .npy file",
              path.string());
  const int major = static_cast<unsigned char>(magic[6]);
  std::uint32_t header_len = 0;
  if (major == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
  }
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  HMR_REQUIRE(static_cast<std::uint32_t>(in.gcount()) == header_len, "cannot read {}: truncated header", path.string());

  std::smatch m;
  HMR_REQUIRE(std::regex_search(header, m, std::regex("'descr'\\s*:\\s*'([<>|=])([a-z][0-9]+)'")),
              "cannot read {}: unsupported dtype in header {}", path.string(), header);
  NpyArray a;
  HMR_REQUIRE(m[1] != ">", "cannot read {}: big-endian arrays are not supported", path.string());
  a.dtype = m[2];
  HMR_REQUIRE(item_size(a.dtype) > 0, "cannot read {}: unsupported dtype {}", path.string(), a.dtype);
  HMR_REQUIRE(!std::regex_search(header, std::regex("'fortran_order'\\s*:\\s*True")),
              "cannot read {}: Fortran-ordered arrays are not supported (save with np.ascontiguousarray)",
              path.string());
  HMR_REQUIRE(std::regex_search(header, m, std::regex("'shape'\\s*:\\s*\\(([^)]*)\\)")),
              "cannot read {}: no shape in header", path.string());
  const std::string dims = m[1];
  static const std::regex number("[0-9]+");
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it)
    a.shape.push_back(std::stoll(it->str()));
  const std::size_t bytes = static_cast<std::size_t>(a.count()) * item_size(a.dtype);
  a.bytes.resize(bytes);
  in.read(reinterpret_cast<char*>(a.bytes.data()), static_cast<std::streamsize>(bytes));
  HMR_REQUIRE(static_cast<std::size_t>(in.gcount()) == bytes, "cannot read {}: truncated data ({} of {} bytes)",
              path.string(), in.gcount(), bytes);
  return a;
}

Matrix read_matrix(const fs::path& path, bool allow_nonfinite) {
  NpyArray a = read_npy(path);
  HMR_REQUIRE(a.shape.size() == 1 || a.shape.size() == 2, "{}: expected a 1-D or 2-D array, got {} dimensions",
              path.string(), a.shape.size());
  const std::int64_t rows = a.shape[0], cols = a.shape.size() == 2 ? a.shape[1] : 1;
  Matrix out(rows, cols);
  const std::int64_t n = rows * cols;
  if (a.dtype == "f4") {
    std::memcpy(out.data(), a.bytes.data(), static_cast<std::size_t>(n) * 4);
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
    input_error("{}: unsupported dtype {} for a feature matrix (use float32)", path.string(), a.dtype);
  }
  std::int64_t br = 0, bc = 0;
  HMR_REQUIRE(allow_nonfinite || all_finite(out, &br, &bc), "{}: non-finite value (NaN or inf) at row {}, column {}",
              path.string(), br, bc);
  return out;
}

std::vector<std::int32_t> read_labels(const fs::path& path) {
  NpyArray a = read_npy(path);
  HMR_REQUIRE(a.shape.size() == 1 || (a.shape.size() == 2 && a.shape[1] == 1),
              "{}: expected a 1-D label array, got {} dimensions", path.string(), a.shape.size());
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
      input_error("{}: unsupported dtype {} for labels (use int32 or int64)", path.string(), a.dtype);
    HMR_REQUIRE(std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 2147483647.0,
                "{}: label {} at index {} is not an integer", path.string(), v, i);
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
