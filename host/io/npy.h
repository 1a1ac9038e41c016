// io/npy.h — NumPy .npy files (format 1.0/2.0/3.0), the array format of every hmr output so Python
// reads them with numpy.load (float32 features, int32 labels, little-endian, C order). Reading
// takes every numeric array numpy writes (NEP 1 / numpy.lib.format): float16/32/64, int8-64,
// uint8-64 and bool, either byte order, C or Fortran order; the payload is brought to
// little-endian C order once, in memory, and NpyArray::converted says what was done. Commands
// read arrays through io/array.h (which adds .npz members and numeric CSV).
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
  // What reading changed in memory ("big-endian -> little-endian", "Fortran order -> C order").
  std::vector<std::string> converted;
  std::int64_t count() const;
};

// Input errors (exit 2) name the file and the reason: a malformed header, a negative dimension, a
// shape whose element or byte count overflows 64 bits, or a payload that is not exactly what the
// shape needs (checked against the file size before the payload is allocated).
NpyArray read_npy(const std::filesystem::path& path);
// The same from a .npy image in memory (an .npz member); `where` names it in messages.
NpyArray parse_npy(std::string_view bytes, const std::string& where);

// A float32 matrix from any numeric .npy: a 1-D array becomes one column, 3-D and higher keep the
// first axis as samples and flatten the rest in C order (X.reshape(len(X), -1)). Rejects
// non-finite values with the position of the first one unless allow_nonfinite.
Matrix read_matrix(const std::filesystem::path& path, bool allow_nonfinite = false);
// Integer labels from a 1-D (or N x 1) integer or bool array, or a float one holding whole numbers.
std::vector<std::int32_t> read_labels(const std::filesystem::path& path);

// The conversions behind read_matrix / read_labels, for arrays already read. `notes`, when given,
// receives one short phrase per conversion made ("float16 -> float32", the reshape, what
// NpyArray::converted holds), for the one-line note io::read_array logs.
Matrix as_matrix(const NpyArray& a, const std::string& where, bool allow_nonfinite = false,
                 std::vector<std::string>* notes = nullptr);
std::vector<std::int32_t> as_labels(const NpyArray& a, const std::string& where,
                                    std::vector<std::string>* notes = nullptr);
// numpy's name of a descr without byte order ("f2" -> "float16"); other descrs as given.
std::string dtype_name(const std::string& dtype);
// IEEE 754 binary16 bits to float (exact).
float half_to_float(std::uint16_t bits);

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
