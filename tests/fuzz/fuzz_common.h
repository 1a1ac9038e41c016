// tests/fuzz/fuzz_common.h — what every parser fuzz target treats as a normal outcome and what as
// a bug. hmr rejects bad input by throwing hmr::Error of kind input with one line saying what,
// where and why (exit code 2); that is the expected answer to most fuzzed bytes. Anything else
// escaping a parser (a runtime hmr::Error, std::out_of_range from a stoll, bad_alloc from a lying
// size, a multi-line message) is a defect and aborts, so libFuzzer saves the input. Crashes and
// sanitizer reports abort on their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <unistd.h>

#include "core/error.h"

namespace hmr::fuzz {

[[noreturn]] inline void defect(const char* what, const char* message) {
  std::fprintf(stderr, "hmr fuzz: DEFECT: %s: %s\n", what, message);
  std::fflush(stderr);
  std::abort();
}

// Runs one parse; an input error with a one-line message is a normal outcome.
template <class F>
void expect_clean(F&& parse) {
  try {
    parse();
  } catch (const hmr::Error& e) {
    if (e.kind() != hmr::ErrorKind::input) defect("an hmr::Error that is not an input error", e.what());
    const std::string_view m = e.what();
    if (m.empty() || m.find('\n') != std::string_view::npos) defect("an input error that is not one line", e.what());
  } catch (const std::exception& e) {
    defect("an exception other than hmr::Error escaped the parser", e.what());
  }
}

// A checked property of a parse result (holds whenever the parser accepted the input).
inline void check(bool ok, const char* what) {
  if (!ok) defect("broken invariant", what);
}

// Parsers that only take a path read the fuzzed bytes from a file of this process's own (one per
// target and process, so parallel fuzzing jobs do not share it), rewritten for every input.
inline std::filesystem::path dir_of_this_process() {
  const char* tmp = std::getenv("TMPDIR");
  return std::filesystem::path(tmp && *tmp ? tmp : "/tmp") / ("hmr-fuzz-" + std::to_string(::getpid()));
}

inline std::filesystem::path scratch_file(const char* name, std::string_view bytes) {
  static const std::filesystem::path dir = [] {
    auto d = dir_of_this_process();
    std::filesystem::create_directories(d);
    // libFuzzer ends a timed run with exit(): leave no scratch folder behind.
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir_of_this_process(), ec);
    });
    return d;
  }();
  const auto path = dir / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace hmr::fuzz
