// support/files.h — the file chores of the suites: a fresh scratch folder per test and a file's
// bytes, written once here so each suite does not carry its own copy.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace hmr::test {

// The whole file as bytes ("" when it cannot be opened: the caller's comparison then fails).
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// An empty folder temp/hmr_<name>_<pid> (emptied when it exists), so reruns and parallel suites
// never see each other's files.
inline std::filesystem::path fresh_temp_dir(const std::string& name) {
  const auto d = std::filesystem::temp_directory_path() / ("hmr_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// A scratch folder temp/hmr_<name>_<pid>_<n>, unique per object, removed with it.
struct ScratchDir {
  std::filesystem::path p;
  explicit ScratchDir(const std::string& name) {
    static int n = 0;
    p = std::filesystem::temp_directory_path() /
        ("hmr_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    std::filesystem::create_directories(p);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(p, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

}  // namespace hmr::test
