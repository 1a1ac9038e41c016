// tests/fuzz/replay_main.cpp — a main() for the fuzz targets in the normal (g++) build: runs
// LLVMFuzzerTestOneInput once on every file of the folders given, so the saved crash inputs
// (regressions/<parser>/) and the seed corpus replay as an ordinary ctest without clang. A
// defect aborts the process, which fails the test; the file being replayed is printed first.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  std::size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(argv[i]))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      std::fprintf(stderr, "replay %s\n", f.c_str());
      // A copy of exactly the file's size, as libFuzzer passes it, so a read past the end is
      // one past a heap block (what AddressSanitizer builds report).
      std::vector<std::uint8_t> buf(bytes.begin(), bytes.end());
      LLVMFuzzerTestOneInput(buf.data(), buf.size());
      ++replayed;
    }
  }
  std::printf("replayed %zu inputs without a defect\n", replayed);
  return replayed > 0 ? 0 : 1;
}
