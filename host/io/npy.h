// io/npy.h — NumPy .npy files (format 1.0/2.0, little-endian, C order), the array format of every
// hmr input and output so Python reads them with numpy.load. Floats are float32; labels int32 or
// int64. float64 inputs are accepted and converted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/matrix.h"

namespace hmr::io {

struct NpyArray {
  std::string dtype;  // numpy descr without byte order: "f4", "f8", "i4", "i8", ...
  std::vector<std::int64_t> shape;
  std::vector<unsigned char> bytes;  // raw little-endian payload, C order
  std::int64_t count() const;
};

NpyArray read_npy(const std::filesystem::path& path);

// A 2-D float array (a 1-D array becomes one column). Rejects non-finite values with the
// position of the first one unless allow_nonfinite.
Matrix read_matrix(const std::filesystem::path& path, bool allow_nonfinite = false);
// Integer labels from an int32/int64 (or integral float) 1-D array.
std::vector<std::int32_t> read_labels(const std::filesystem::path& path);

void write_npy(const std::filesystem::path& path, const Matrix& m);
void write_npy(const std::filesystem::path& path, const std::vector<float>& v);
void write_npy(const std::filesystem::path& path, const std::vector<std::int32_t>& v);
void write_npy(const std::filesystem::path& path, const std::vector<std::int64_t>& v);
// Generic writer: dtype "f4"/"i4"/"i8"/"f8", shape, raw bytes.
void write_npy_raw(const std::filesystem::path& path, const std::string& dtype, const std::vector<std::int64_t>& shape,
                   const void* data, std::size_t bytes);
// The .npy byte image (header + payload), e.g. to embed in an .npz archive.
std::string npy_bytes(const std::string& dtype, const std::vector<std::int64_t>& shape, const void* data,
                      std::size_t bytes);

}  // namespace hmr::io
