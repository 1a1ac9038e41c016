// text/npz.cpp — sparse matrices as .npz, the layout scipy.sparse.save_npz writes for a
// csr_matrix: a zip archive (stored members, optionally zip64 sizes as numpy writes them) of the
// .npy arrays data, indices, indptr, shape and format. Members are found by io::npz_members and
// parsed by io::parse_npy; the reader takes every offset, size and index from the file as hostile: each is checked
// against the bytes present and against the CSR invariants (indptr starts at 0, never decreases, ends at nnz; every
// column index inside [0, cols)) before a matrix is returned, so to_dense and the TF-IDF kernels can index with them
// unchecked.
#include <array>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <string_view>
#include <type_traits>

#include "core/error.h"
#include "core/printable.h"
#include "io/atomic_file.h"
#include "io/npy.h"
#include "io/npz.h"
#include "text/tfidf.h"

namespace hmr::text {

namespace {

void put16(std::string& s, std::uint32_t v) {
  s.push_back(static_cast<char>(v & 0xff));
  s.push_back(static_cast<char>((v >> 8) & 0xff));
}
void put32(std::string& s, std::uint32_t v) {
  put16(s, v & 0xffff);
  put16(s, v >> 16);
}
// CRC-32 of the zip format (ISO 3309 / ITU-T V.42, reflected polynomial 0xEDB88320, initial and
// final XOR 0xFFFFFFFF; check value CRC("123456789") = 0xCBF43926). zlib's crc32() computes the
// same; it is written out here because the build does not link zlib.
std::uint32_t zip_crc32(std::string_view bytes) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (const char ch : bytes) c = table[(c ^ static_cast<unsigned char>(ch)) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

struct ZipEntry {
  std::string name;
  std::string bytes;
};

// A zip archive with stored (uncompressed) members; fixed 1980-01-01 timestamps so the same
// matrix gives the same file. Zip64 is not needed below 4 GiB (checked).
std::string zip_stored(const std::vector<ZipEntry>& entries) {
  constexpr std::uint32_t kDosTime = 0, kDosDate = (0u << 9) | (1u << 5) | 1u;
  std::string out, central;
  for (const auto& e : entries) {
    HMR_REQUIRE(e.bytes.size() < 0xFFFFFFFFull && out.size() < 0xFFFFFFFFull,
                "npz: member {} is too large for a zip without zip64", e.name);
    const std::uint32_t crc = zip_crc32(e.bytes);
    const auto size = static_cast<std::uint32_t>(e.bytes.size());
    const auto offset = static_cast<std::uint32_t>(out.size());
    put32(out, 0x04034b50);
    put16(out, 20);  // version needed: 2.0
    put16(out, 0);   // flags
    put16(out, 0);   // method: stored
    put16(out, kDosTime);
    put16(out, kDosDate);
    put32(out, crc);
    put32(out, size);
    put32(out, size);
    put16(out, static_cast<std::uint32_t>(e.name.size()));
    put16(out, 0);
    out += e.name;
    out += e.bytes;
    put32(central, 0x02014b50);
    put16(central, 20);  // made by: 2.0, MS-DOS attributes
    put16(central, 20);
    put16(central, 0);
    put16(central, 0);
    put16(central, kDosTime);
    put16(central, kDosDate);
    put32(central, crc);
    put32(central, size);
    put32(central, size);
    put16(central, static_cast<std::uint32_t>(e.name.size()));
    put16(central, 0);  // extra
    put16(central, 0);  // comment
    put16(central, 0);  // disk
    put16(central, 0);  // internal attributes
    put32(central, 0);  // external attributes
    put32(central, offset);
    central += e.name;
  }
  const auto cd_offset = static_cast<std::uint32_t>(out.size());
  out += central;
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<std::uint32_t>(entries.size()));
  put16(out, static_cast<std::uint32_t>(entries.size()));
  put32(out, static_cast<std::uint32_t>(central.size()));
  put32(out, cd_offset);
  put16(out, 0);
  return out;
}

}  // namespace

void write_npz(const std::filesystem::path& path, const Csr& m) {
  HMR_REQUIRE(static_cast<std::int64_t>(m.indptr.size()) == m.rows + 1 && m.indices.size() == m.data.size(),
              "npz: inconsistent CSR matrix ({} rows, {} indptr, {} indices, {} values)", m.rows, m.indptr.size(),
              m.indices.size(), m.data.size());
  std::vector<ZipEntry> e;
  // scipy's member order: indices, indptr, format, shape, data; int32 index arrays where they fit.
  e.push_back({"indices.npy", io::npy_bytes("i4", {m.nnz()}, m.indices.data(), m.indices.size() * 4)});
  if (m.nnz() <= INT32_MAX) {
    std::vector<std::int32_t> p(m.indptr.begin(), m.indptr.end());
    e.push_back({"indptr.npy", io::npy_bytes("i4", {m.rows + 1}, p.data(), p.size() * 4)});
  } else {
    e.push_back({"indptr.npy", io::npy_bytes("i8", {m.rows + 1}, m.indptr.data(), m.indptr.size() * 8)});
  }
  e.push_back({"format.npy", io::npy_bytes("S3", {}, "csr", 3)});
  const std::int64_t shape[2] = {m.rows, m.cols};
  e.push_back({"shape.npy", io::npy_bytes("i8", {2}, shape, sizeof(shape))});
  e.push_back({"data.npy", io::npy_bytes("f4", {m.nnz()}, m.data.data(), m.data.size() * 4)});
  const std::string zip = zip_stored(e);
  io::write_atomically(path, [&](std::ostream& os) { os.write(zip.data(), static_cast<std::streamsize>(zip.size())); });
}

namespace {

// The values of a 1-D integer or float member as T; `what` names it in messages.
template <class T>
std::vector<T> member_values(const io::NpyArray& a, const std::string& where, const char* what) {
  HMR_REQUIRE(a.shape.size() == 1, "{}: member {} must be 1-D (it has {} dimensions)", where, what, a.shape.size());
  const auto n = static_cast<std::size_t>(a.count());
  std::vector<T> out(n);
  const auto take = [&](auto tag) {
    using S = decltype(tag);
    for (std::size_t k = 0; k < n; ++k) {
      S x;
      std::memcpy(&x, a.bytes.data() + k * sizeof(S), sizeof(S));
      out[k] = static_cast<T>(x);
    }
  };
  if (a.dtype == "f4" && std::is_floating_point_v<T>)
    take(float{});
  else if (a.dtype == "f8" && std::is_floating_point_v<T>)
    take(double{});
  else if (a.dtype == "i4")
    take(std::int32_t{});
  else if (a.dtype == "i8") {
    // An int64 index that does not fit the destination would wrap silently.
    for (std::size_t k = 0; k < n; ++k) {
      std::int64_t x;
      std::memcpy(&x, a.bytes.data() + k * sizeof(x), sizeof(x));
      if constexpr (std::is_integral_v<T>)
        HMR_REQUIRE(x >= std::numeric_limits<T>::min() && x <= std::numeric_limits<T>::max(),
                    "{}: member {} holds {} at position {}, out of range", where, what, x, k);
      out[k] = static_cast<T>(x);
    }
  } else
    input_error("{}: member {} has dtype {}, expected {}", where, what, a.dtype,
                std::is_floating_point_v<T> ? "float32 or float64" : "int32 or int64");
  return out;
}

}  // namespace

Csr parse_npz(std::string_view z, const std::string& where) {
  // The zip walk (stored or deflated members, zip64 sizes, CRCs) is io::npz_members'.
  std::map<std::string, io::NpyArray> members;
  for (const io::NpzMember& e : io::npz_members(z, where))
    members[e.name] = io::parse_npy(e.bytes(), where + ":" + e.name);
  for (const char* need : {"data.npy", "indices.npy", "indptr.npy", "shape.npy", "format.npy"})
    HMR_REQUIRE(members.count(need), "{}: not a sparse-matrix .npz (no {})", where, need);
  const io::NpyArray& format = members["format.npy"];
  HMR_REQUIRE(format.bytes.size() >= 3 && std::memcmp(format.bytes.data(), "csr", 3) == 0,
              "{}: the matrix is not in CSR format", where);
  Csr m;
  const auto shape = member_values<std::int64_t>(members["shape.npy"], where, "shape");
  HMR_REQUIRE(shape.size() == 2 && shape[0] >= 0 && shape[1] >= 0 && shape[1] <= INT32_MAX,
              "{}: shape must be two non-negative entries (columns below 2^31)", where);
  m.rows = shape[0];
  m.cols = shape[1];
  m.indptr = member_values<std::int64_t>(members["indptr.npy"], where, "indptr");
  m.indices = member_values<std::int32_t>(members["indices.npy"], where, "indices");
  m.data = member_values<float>(members["data.npy"], where, "data");
  HMR_REQUIRE(m.indptr.size() == static_cast<std::uint64_t>(m.rows) + 1 && m.indices.size() == m.data.size(),
              "{}: inconsistent CSR arrays ({} rows, {} indptr entries, {} indices, {} values)", where, m.rows,
              m.indptr.size(), m.indices.size(), m.data.size());
  // The invariants every consumer indexes by: rows are [indptr[r], indptr[r + 1]) of the values.
  HMR_REQUIRE(m.indptr.front() == 0 && m.indptr.back() == m.nnz(), "{}: indptr must run from 0 to nnz ({})", where,
              m.nnz());
  for (std::size_t r = 0; r + 1 < m.indptr.size(); ++r)
    HMR_REQUIRE(m.indptr[r] <= m.indptr[r + 1], "{}: indptr decreases at row {}", where, r);
  for (std::size_t k = 0; k < m.indices.size(); ++k)
    HMR_REQUIRE(m.indices[k] >= 0 && m.indices[k] < m.cols, "{}: column index {} at position {} is outside [0, {})",
                where, m.indices[k], k, m.cols);
  return m;
}

Csr read_npz(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  HMR_REQUIRE(in.good(), "{}: cannot open .npz file", path.string());
  const std::string z((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_npz(z, path.string());
}

}  // namespace hmr::text
