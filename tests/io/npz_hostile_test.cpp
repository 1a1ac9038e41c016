// tests/io/npz_hostile_test.cpp — .npz archives that lie, for io::npz_members / npz_array: a
// deflated member claiming more than deflate can produce (a zip bomb's header), one that inflates
// to less or more than it claims, a corrupted CRC, an unsupported method, a streamed member.
// Each is a one-line input error raised before a claimed size is allocated. The archives are
// built here byte by byte (PKWARE APPNOTE local headers) around real zlib deflate streams.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <string>

#include "io/npy.h"
#include "io/npz.h"
#include "support/errors.h"

namespace {

void put16(std::string& s, std::uint32_t v) {
  s.push_back(static_cast<char>(v & 0xff));
  s.push_back(static_cast<char>((v >> 8) & 0xff));
}
void put32(std::string& s, std::uint32_t v) {
  put16(s, v & 0xffff);
  put16(s, v >> 16);
}

std::string raw_deflate(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, in.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// One local-header member; `size` and `crc` as claimed (the caller may lie).
std::string member(const std::string& name, const std::string& data, std::uint32_t method, std::uint32_t size,
                   std::uint32_t crc, std::uint32_t flags = 0) {
  std::string z;
  put32(z, 0x04034b50);
  put16(z, 20);
  put16(z, flags);
  put16(z, method);
  put32(z, 0);
  put32(z, crc);
  put32(z, static_cast<std::uint32_t>(data.size()));
  put32(z, size);
  put16(z, static_cast<std::uint32_t>(name.size()));
  put16(z, 0);
  return z + name + data;
}

std::string payload() {
  const float v[6] = {1, 2, 3, 4, 5, 6};
  return hmr::io::npy_bytes("f4", {2, 3}, v, sizeof(v));
}
std::uint32_t crc(const std::string& s) {
  return static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
}

std::string error_of(const std::string& z) {
  return hmr::test::input_error_of([&] { (void)hmr::io::npz_array(z, "x.npz", "X"); });
}

TEST(NpzHostile, HonestDeflatedMemberReads) {
  const std::string p = payload();
  const auto a = hmr::io::npz_array(member("X.npy", raw_deflate(p), 8, static_cast<std::uint32_t>(p.size()), crc(p)),
                                    "x.npz", "X");
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(hmr::io::as_matrix(a, "x").data()[5], 6.f);
}

TEST(NpzHostile, ZipBombClaimIsRefusedBeforeAllocating) {
  const std::string p = payload();
  // 4 GiB claimed from a stream of ~60 bytes: deflate cannot expand more than 1032:1.
  const std::string msg = error_of(member("X.npy", raw_deflate(p), 8, 0xFFFFFFF0u, crc(p)));
  EXPECT_NE(msg.find("impossible"), std::string::npos) << msg;
}

TEST(NpzHostile, InflatedSizeOtherThanClaimedIsRefused) {
  const std::string p = payload(), d = raw_deflate(p);
  for (const std::uint32_t claim :
       {static_cast<std::uint32_t>(p.size() - 1), static_cast<std::uint32_t>(p.size() + 7)}) {
    const std::string msg = error_of(member("X.npy", d, 8, claim, crc(p)));
    EXPECT_NE(msg.find("does not inflate"), std::string::npos) << msg;
  }
  // A stream cut short.
  const std::string msg =
      error_of(member("X.npy", d.substr(0, d.size() / 2), 8, static_cast<std::uint32_t>(p.size()), crc(p)));
  EXPECT_NE(msg.find("does not inflate"), std::string::npos) << msg;
}

TEST(NpzHostile, CrcMethodAndStreamedMembersAreNamed) {
  const std::string p = payload();
  EXPECT_NE(error_of(member("X.npy", raw_deflate(p), 8, static_cast<std::uint32_t>(p.size()), crc(p) ^ 1))
                .find("CRC mismatch in member X.npy"),
            std::string::npos);
  EXPECT_NE(error_of(member("X.npy", p, 12, static_cast<std::uint32_t>(p.size()), crc(p))).find("method 12"),
            std::string::npos);
  EXPECT_NE(error_of(member("X.npy", p, 0, static_cast<std::uint32_t>(p.size()), crc(p), 8)).find("stream"),
            std::string::npos);
  // A member name with a line break stays one line (escaped).
  EXPECT_NE(error_of(member("a\nb.npy", p, 0, static_cast<std::uint32_t>(p.size()), crc(p))).find("a\\nb"),
            std::string::npos);
}

}  // namespace
