// support/errors.h — the one check every input-error test makes: the call raises hmr's input
// error (exit code 2) as one line, and the test gets the message to look for what and where.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "core/error.h"

namespace hmr::test {

// The message of the input error `f` raises; a test failure (and "") when it raises none, when the
// error is not an input error (exit code 2) or when its message is more than one line.
template <class F>
std::string input_error_of(F&& f) {
  try {
    f();
  } catch (const hmr::Error& e) {
    const std::string w = e.what();
    EXPECT_EQ(e.exit_code(), 2) << w;
    EXPECT_EQ(w.find('\n'), std::string::npos) << "not one line: " << w;
    return w;
  }
  ADD_FAILURE() << "no input error";
  return {};
}

}  // namespace hmr::test
