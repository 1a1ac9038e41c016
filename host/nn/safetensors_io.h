// nn/safetensors_io.h — internal: the .safetensors container (https://huggingface.co/docs/safetensors)
//   [u64 little-endian N][N bytes of JSON header, space padded to 8][tensor bytes]
// read from bytes in memory with every field of the hostile header checked (docs/reliability.md),
// float tensors of any of F32, F64, F16, BF16 converted to float32 once, and written back with
// F32 tensors. Shared by the model file (safetensors.cpp) and the optimizer file (train_state.cpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace hmr::nn::st {

struct TensorEntry {
  std::string dtype;                // "F32", "F16", ... as in the header
  std::vector<std::int64_t> shape;  // each dimension >= 0
  std::uint64_t count = 0;          // elements (product of shape)
  std::uint64_t begin = 0;          // byte offset within the data section
};

struct File {
  std::string where;                           // names the file in messages
  std::map<std::string, TensorEntry> tensors;  // every entry but __metadata__
  std::map<std::string, std::string> meta;     // __metadata__ (string values only)
  bool has_metadata = false;
  std::string_view data;  // the data section
};

// Parses and checks the header: its length, JSON, every tensor's dtype (a safetensors dtype),
// shape, data_offsets (inside the data section, the length the shape and dtype need) and, so that
// no reader allocates more than the file holds, the tensors' bytes together at most the data
// section. Input errors name the file and the tensor.
File parse(std::string_view bytes, const std::string& where);
// Reads a whole file into memory (models are megabytes).
std::string read_bytes(const std::filesystem::path& path);

// The tensor `name` converted to float32 into out [count] (F32, F64, F16, BF16; other dtypes and
// non-finite values are input errors naming the tensor).
void read_floats(const File& f, const std::string& name, float* out);
std::vector<float> read_floats(const File& f, const std::string& name);
// How many tensors were stored in a dtype other than F32 (for the conversion note).
std::size_t converted_count(const File& f);

// One tensor to write: F32 with the given shape, data[count].
struct OutTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  const float* data = nullptr;
};
// Writes atomically: the tensors back to back in the order given, header padded to 8 bytes.
void write(const std::filesystem::path& path, const std::vector<OutTensor>& tensors,
           const std::vector<std::pair<std::string, std::string>>& meta);

}  // namespace hmr::nn::st
