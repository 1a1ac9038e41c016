// io/npy.h — NumPy .npy files (format 1.0/2.0, little-endian, C order), the array format of every
// hmr input and output so Python reads them with numpy.load. Floats are float32; labels int32 or
// int64. float64 inputs are accepted and converted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/matrix.h"

namespace hmr::io {

struct NpyArray {
  std::string dtype;  // numpy descr without byte order: "f4", "f8", "i4", "i8", ...
  std::vector<std::int64_t> shape;
  std::vector<unsigned char> bytes;  // raw little-endian payload, C order
  std::int64_t count() const;
};

// Input errors (exit 2) name the file and the reason: a malformed header, a negative dimension, a
// shape whose element or byte count overflows 64 bits, or a payload that is not exactly what the
// shape needs (checked against the file size before the payload is allocated).
NpyArray read_npy(const std::filesystem::path& path);
// The same from a .npy image in memory (an .npz member); `where` names it in messages.
NpyArray parse_npy(std::string_view bytes, const std::string& where);

// A 2-D float array (a 1-D array becomes one column). Rejects non-finite values with the
// position of the first one unless allow_nonfinite.
Matrix read_matrix(const std::filesystem::path& path, bool allow_nonfinite = false);
// Integer labels from an int32/int64 (or integral float) 1-D array.
std::vector<std::int32_t> read_labels(const std::filesystem::path& path);

// The conversions behind read_matrix / read_labels, for arrays already read.
Matrix as_matrix(const NpyArray& a, const std::string& where, bool allow_nonfinite = false);
std::vector<std::int32_t> as_labels(const NpyArray& a, const std::string& where);

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
