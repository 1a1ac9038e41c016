#include "io/atomic_file.h"

#include <unistd.h>

#include <random>

#include "core/error.h"

namespace hmr::io {
namespace fs = std::filesystem;

namespace {
fs::path temp_sibling(const fs::path& path) {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^ static_cast<unsigned>(getpid()));
  return path.parent_path() / fmt::format(".{}.tmp{:08x}", path.filename().string(), rng() & 0xffffffffu);
}
}  // namespace

void write_atomically_to(const fs::path& path, const std::function<void(const fs::path&)>& write) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  HMR_REQUIRE(fs::is_directory(dir), "cannot write {}: directory {} does not exist", path.string(), dir.string());
  const fs::path tmp = temp_sibling(path);
  try {
    write(tmp);
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) runtime_error("cannot write {}: rename failed: {}", path.string(), ec.message());
  } catch (...) {
    std::error_code ignore;
    fs::remove(tmp, ignore);
    throw;
  }
}

void write_atomically(const fs::path& path, const std::function<void(std::ostream&)>& write) {
  write_atomically_to(path, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    HMR_REQUIRE(out.good(), "cannot write {}: cannot create a file in {}", path.string(), tmp.parent_path().string());
    write(out);
    out.flush();
    if (!out.good()) runtime_error("cannot write {}: write failed (disk full?)", path.string());
  });
}

void ensure_output_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  HMR_REQUIRE(!ec && fs::is_directory(dir), "cannot use output directory {}: {}", dir.string(),
              ec ? ec.message() : "not a directory");
  HMR_REQUIRE(access(dir.c_str(), W_OK) == 0, "cannot use output directory {}: not writable", dir.string());
}

}  // namespace hmr::io
