// core/error.h — hmr's error type and the input-validation macros.
// Input errors (bad files, bad flags, impossible parameters) and an unavailable device exit with
// code 2 and one line saying what, where and why; runtime failures exit with code 1.
#pragma once

#if defined(__CUDACC__)
#include <sstream>
#include <string_view>
#else
#include <fmt/format.h>
#endif

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

namespace detail {
#if defined(__CUDACC__)
// nvcc cannot compile fmt's headers in C++20 mode, so kernels/*.cu get a small run-time
// formatter with the same "{}" placeholders (format specs are accepted and ignored).
template <class... A>
using format_string = std::string_view;
inline void format_rest(std::ostringstream& os, std::string_view f) { os << f; }
template <class T, class... R>
void format_rest(std::ostringstream& os, std::string_view f, const T& v, const R&... rest) {
  const auto open = f.find('{');
  const auto close = open == std::string_view::npos ? open : f.find('}', open);
  if (close == std::string_view::npos) {
    os << f;
    return;
  }
  os << f.substr(0, open) << v;
  format_rest(os, f.substr(close + 1), rest...);
}
template <class... A>
std::string format(std::string_view f, const A&... a) {
  std::ostringstream os;
  format_rest(os, f, a...);
  return os.str();
}
#else
template <class... A>
using format_string = fmt::format_string<A...>;
template <class... A>
std::string format(fmt::format_string<A...> f, A&&... a) {
  return fmt::format(f, std::forward<A>(a)...);
}
#endif
}  // namespace detail

template <class... A>
[[noreturn]] void input_error(detail::format_string<A...> f, A&&... a) {
  throw Error(ErrorKind::input, detail::format(f, std::forward<A>(a)...));
}
template <class... A>
[[noreturn]] void runtime_error(detail::format_string<A...> f, A&&... a) {
  throw Error(ErrorKind::runtime, detail::format(f, std::forward<A>(a)...));
}

}  // namespace hmr

// HMR_REQUIRE(cond, "fmt", args...): reject bad input with a clear message (exit code 2).
#define HMR_REQUIRE(cond, ...)                    \
  do {                                            \
    if (!(cond)) ::hmr::input_error(__VA_ARGS__); \
  } while (0)

// HMR_ASSERT(cond, "fmt", args...): an internal invariant; failing it is a bug in hmr.
#define HMR_ASSERT(cond, ...)                                                                     \
  do {                                                                                            \
    if (!(cond))                                                                                  \
      throw ::hmr::Error(::hmr::ErrorKind::runtime,                                               \
                         ::hmr::detail::format("internal error at {}:{}: {}", __FILE__, __LINE__, \
                                               ::hmr::detail::format(__VA_ARGS__)));              \
  } while (0)
