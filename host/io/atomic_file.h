// io/atomic_file.h — nothing is half-written: outputs go to a temporary file in the target's
// directory and are renamed over the final name only when complete.
#pragma once

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

namespace hmr::io {

// Calls write(stream) on a temporary sibling of `path`, then renames it to `path`. On any
// exception the temporary is removed and the exception propagates; `path` is untouched.
void write_atomically(const std::filesystem::path& path, const std::function<void(std::ostream&)>& write);

// Same, for writers that need a file name (libraries such as cairo or libsndfile).
void write_atomically_to(const std::filesystem::path& path,
                         const std::function<void(const std::filesystem::path& tmp)>& write);

// Creates `dir` (and parents) and checks it is writable; input error (exit 2) otherwise.
void ensure_output_dir(const std::filesystem::path& dir);

}  // namespace hmr::io
