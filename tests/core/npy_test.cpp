#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/npy.h"

namespace fs = std::filesystem;

namespace {
fs::path tmp_dir() {
  auto d = fs::temp_directory_path() / ("hmr_npy_test_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

TEST(Npy, MatrixAndLabelsRoundTrip) {
  const auto d = tmp_dir();
  hmr::Matrix m(3, 4);
  for (int i = 0; i < 12; ++i) m.data()[i] = 0.5f * i - 1.0f;
  hmr::io::write_npy(d / "m.npy", m);
  const hmr::Matrix back = hmr::io::read_matrix(d / "m.npy");
  EXPECT_EQ(back.rows(), 3);
  EXPECT_EQ(back.cols(), 4);
  EXPECT_EQ(back.vec(), m.vec());
  std::vector<std::int32_t> labels{3, -1, 7};
  hmr::io::write_npy(d / "l.npy", labels);
  EXPECT_EQ(hmr::io::read_labels(d / "l.npy"), labels);
  std::vector<std::int64_t> l64{5, 6};
  hmr::io::write_npy(d / "l64.npy", l64);
  EXPECT_EQ(hmr::io::read_labels(d / "l64.npy"), (std::vector<std::int32_t>{5, 6}));
  // Header is padded to a 64-byte boundary as numpy writes it.
  EXPECT_EQ((fs::file_size(d / "m.npy") - 48u) % 64u, 0u);
  fs::remove_all(d);
}

TEST(Npy, BadFilesAreInputErrors) {
  const auto d = tmp_dir();
  { std::ofstream(d / "junk.npy") << "not numpy"; }
  EXPECT_THROW(hmr::io::read_matrix(d / "junk.npy"), hmr::Error);
  EXPECT_THROW(hmr::io::read_matrix(d / "missing.npy"), hmr::Error);
  hmr::Matrix m(2, 2);
  m(1, 1) = NAN;
  hmr::io::write_npy(d / "nan.npy", m);
  try {
    hmr::io::read_matrix(d / "nan.npy");
    FAIL() << "NaN accepted";
  } catch (const hmr::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("row 1, column 1"), std::string::npos) << e.what();
  }
  // Truncated payload.
  hmr::io::write_npy(d / "t.npy", hmr::Matrix(10, 10));
  fs::resize_file(d / "t.npy", fs::file_size(d / "t.npy") - 8);
  EXPECT_THROW(hmr::io::read_matrix(d / "t.npy"), hmr::Error);
  fs::remove_all(d);
}
}  // namespace
