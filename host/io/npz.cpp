// io/npz.cpp — reading .npz archives (zip of .npy members), see io/npz.h. The zip walk follows
// the local file headers in order (numpy and scipy write no gaps); sizes of zip64 members sit in
// the zip64 extra field (numpy writes force_zip64 members). Deflate (method 8) is inflated with
// zlib's raw inflate; the size the header claims is bounded by deflate's best ratio (1032:1,
// RFC 1951 stored length codes) before anything of that size is allocated.
#include "io/npz.h"

#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <limits>

#include <fmt/ranges.h>

#include "core/error.h"
#include "core/printable.h"

namespace hmr::io {
namespace {

std::uint32_t get16(std::string_view s, std::size_t at) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(s[at])) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 1])) << 8);
}
std::uint32_t get32(std::string_view s, std::size_t at) { return get16(s, at) | (get16(s, at + 2) << 16); }

std::uint32_t crc_of(std::string_view b) {
  uLong c = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed in slices below 4 GiB.
  for (std::size_t at = 0; at < b.size();) {
    const std::size_t n = std::min<std::size_t>(b.size() - at, 1u << 30);
    c = crc32(c, reinterpret_cast<const Bytef*>(b.data() + at), static_cast<uInt>(n));
    at += n;
  }
  return static_cast<std::uint32_t>(c);
}

std::string inflate_member(std::string_view in, std::uint64_t size, const std::string& where, const std::string& name) {
  // Deflate never expands more than 1032:1, so a larger claim is a lie (or a zip bomb).
  HMR_REQUIRE(size / 1032 <= in.size() + 1, "{}: member {} claims {} bytes from {} compressed bytes (impossible)",
              where, name, size, in.size());
  std::string out(static_cast<std::size_t>(size), '\0');
  z_stream zs{};
  HMR_REQUIRE(inflateInit2(&zs, -MAX_WBITS) == Z_OK, "{}: cannot start inflating member {}", where, name);
  // zlib counts in uInt: hand it the buffers in slices below 1 GiB.
  std::size_t in_at = 0, out_at = 0;
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (zs.avail_in == 0 && in_at < in.size()) {
      const std::size_t n = std::min<std::size_t>(in.size() - in_at, 1u << 30);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + in_at));
      zs.avail_in = static_cast<uInt>(n);
      in_at += n;
    }
    if (zs.avail_out == 0 && out_at < out.size()) {
      const std::size_t n = std::min<std::size_t>(out.size() - out_at, 1u << 30);
      zs.next_out = reinterpret_cast<Bytef*>(out.data() + out_at);
      zs.avail_out = static_cast<uInt>(n);
      out_at += n;
    }
    const uInt ai = zs.avail_in, ao = zs.avail_out;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_OK && zs.avail_in == ai && zs.avail_out == ao) break;  // no progress: truncated
  }
  const std::uint64_t produced = zs.total_out;
  inflateEnd(&zs);
  HMR_REQUIRE(rc == Z_STREAM_END && produced == size,
              "{}: member {} does not inflate to the {} bytes its header claims (corrupt or truncated)", where, name,
              size);
  return out;
}

}  // namespace

std::vector<NpzMember> npz_members(std::string_view z, const std::string& where) {
  std::vector<NpzMember> out;
  std::size_t at = 0;
  HMR_REQUIRE(z.size() >= 4 && get32(z, 0) == 0x04034b50, "{}: not an .npz file (no zip header)", where);
  while (at + 30 <= z.size() && get32(z, at) == 0x04034b50) {
    const auto flags = get16(z, at + 6), method = get16(z, at + 8);
    std::uint64_t csize = get32(z, at + 18), size = get32(z, at + 22);
    const std::size_t name_len = get16(z, at + 26), extra_len = get16(z, at + 28);
    const std::size_t data_at = at + 30 + name_len + extra_len;
    HMR_REQUIRE(data_at <= z.size(), "{}: truncated zip header at byte {}", where, at);
    // Member names are quoted in messages: escaped, so a name cannot break the line.
    const std::string name = printable(z.substr(at + 30, name_len));
    HMR_REQUIRE(method == 0 || method == 8,
                "{}: member {} uses zip compression method {} (numpy writes stored or deflated members)", where, name,
                method);
    HMR_REQUIRE((flags & 1) == 0, "{}: member {} is encrypted", where, name);
    HMR_REQUIRE((flags & 8) == 0,
                "{}: member {} was written to a stream (sizes after the data); save the .npz to a file with numpy",
                where, name);
    if (size == 0xFFFFFFFFu || csize == 0xFFFFFFFFu) {
      // zip64: the extra field (id 1) holds the uncompressed then the compressed size, each only
      // when its 32-bit field is 0xFFFFFFFF.
      bool found = false;
      for (std::size_t e = at + 30 + name_len; e + 4 <= data_at;) {
        const std::size_t id = get16(z, e), len = get16(z, e + 2);
        if (id == 1 && e + 4 + len <= data_at) {
          std::size_t f = e + 4;
          const auto take = [&](std::uint64_t& v) {
            if (v != 0xFFFFFFFFu) return;
            HMR_REQUIRE(f + 8 <= e + 4 + len, "{}: zip64 member {} with a short size field", where, name);
            v = get32(z, f) | (static_cast<std::uint64_t>(get32(z, f + 4)) << 32);
            f += 8;
          };
          take(size);
          take(csize);
          found = true;
          break;
        }
        e += 4 + len;
      }
      HMR_REQUIRE(found, "{}: zip64 member {} without its size field", where, name);
    }
    HMR_REQUIRE(csize <= z.size() - data_at, "{}: truncated zip member {} ({} bytes declared, {} present)", where, name,
                csize, z.size() - data_at);
    NpzMember m;
    m.name = name;
    const std::string_view raw = z.substr(data_at, static_cast<std::size_t>(csize));
    if (method == 0) {
      HMR_REQUIRE(size == csize, "{}: stored member {} has two sizes ({} and {})", where, name, size, csize);
      m.stored = raw;
    } else {
      m.inflated = inflate_member(raw, size, where, name);
      m.deflated = true;
    }
    HMR_REQUIRE(crc_of(m.bytes()) == get32(z, at + 14), "{}: CRC mismatch in member {}", where, name);
    HMR_REQUIRE(std::none_of(out.begin(), out.end(), [&](const NpzMember& o) { return o.name == name; }),
                "{}: member {} appears twice", where, name);
    out.push_back(std::move(m));
    at = data_at + static_cast<std::size_t>(csize);
  }
  return out;
}

std::string read_file_bytes(const std::filesystem::path& path) {
  std::error_code ec;
  HMR_REQUIRE(std::filesystem::is_regular_file(path, ec), "cannot read {}: {}", path.string(),
              std::filesystem::exists(path, ec) ? "not a regular file" : "no such file");
  std::ifstream in(path, std::ios::binary);
  HMR_REQUIRE(in.good(), "cannot read {}: permission denied", path.string());
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string npz_array_name(const std::string& member) {
  constexpr std::string_view ext = ".npy";
  return member.size() > ext.size() && member.compare(member.size() - ext.size(), ext.size(), ext) == 0
             ? member.substr(0, member.size() - ext.size())
             : member;
}

NpyArray npz_array(std::string_view z, const std::string& where, const std::string& name) {
  const auto members = npz_members(z, where);
  std::vector<std::string> names;
  for (const auto& m : members) names.push_back(npz_array_name(m.name));
  HMR_REQUIRE(!members.empty(), "{}: the .npz archive holds no arrays", where);
  if (name.empty()) {
    // scipy.sparse.save_npz's layout: one matrix in five arrays, not five arrays to choose from.
    const auto has = [&](const char* n) { return std::find(names.begin(), names.end(), n) != names.end(); };
    HMR_REQUIRE(!(has("indptr") && has("indices") && has("data") && has("format")),
                "{}: a scipy.sparse matrix (save_npz) is read by hmr train/embed only; for a dense array write "
                "np.save(path, m.toarray()) or hmr tfidf --format npy",
                where);
    HMR_REQUIRE(members.size() == 1, "{}: the archive holds {} arrays ({}); name one, as {}:{}", where, members.size(),
                fmt::join(names, ", "), where, names.front());
    return parse_npy(members.front().bytes(), where + ":" + names.front());
  }
  for (std::size_t k = 0; k < members.size(); ++k)
    if (names[k] == name || members[k].name == name) return parse_npy(members[k].bytes(), where + ":" + names[k]);
  input_error("{}: no array named '{}' in the archive (it holds: {})", where, printable(name), fmt::join(names, ", "));
}

}  // namespace hmr::io
