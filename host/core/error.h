// core/error.h — hmr's error type and the input-validation macros.
// Input errors (bad files, bad flags, impossible parameters) and an unavailable device exit with
// code 2 and one line saying what, where and why; runtime failures exit with code 1.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace hmr {

enum class ErrorKind {
  input,        // the user's data or options are wrong: exit 2
  unavailable,  // a requested device or backend is not usable here: exit 2
  runtime,      // a failure inside hmr or a library (CUDA, cuBLAS, I/O): exit 1
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  ErrorKind kind() const { return kind_; }
  int exit_code() const { return kind_ == ErrorKind::runtime ? 1 : 2; }

 private:
  ErrorKind kind_;
};

template <class... A>
[[noreturn]] void input_error(fmt::format_string<A...> f, A&&... a) {
  throw Error(ErrorKind::input, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
[[noreturn]] void runtime_error(fmt::format_string<A...> f, A&&... a) {
  throw Error(ErrorKind::runtime, fmt::format(f, std::forward<A>(a)...));
}

}  // namespace hmr

// HMR_REQUIRE(cond, "fmt", args...): reject bad input with a clear message (exit code 2).
#define HMR_REQUIRE(cond, ...)                    \
  do {                                            \
    if (!(cond)) ::hmr::input_error(__VA_ARGS__); \
  } while (0)

// HMR_ASSERT(cond, "fmt", args...): an internal invariant; failing it is a bug in hmr.
#define HMR_ASSERT(cond, ...)                                                                                       \
  do {                                                                                                              \
    if (!(cond))                                                                                                    \
      throw ::hmr::Error(::hmr::ErrorKind::runtime,                                                                 \
                         fmt::format("internal error at {}:{}: {}", __FILE__, __LINE__, fmt::format(__VA_ARGS__))); \
  } while (0)
