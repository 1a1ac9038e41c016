// nn/safetensors_io.cpp — the .safetensors container (format: https://huggingface.co/docs/safetensors,
// reference reader: the `safetensors` Rust crate): a checked header parser over bytes in memory,
// float tensors converted to float32 (F16 and BF16 widened exactly, F64 rounded to nearest), and
// the atomic writer. Every number in the header is hostile until checked (fuzz_safetensors).
#include "nn/safetensors_io.h"

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>

#include "core/error.h"
#include "core/printable.h"
#include "io/atomic_file.h"

namespace hmr::nn::st {

namespace {

// Bytes per element of the safetensors dtypes; 0 for a name the format does not have.
std::uint64_t dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "BOOL" || d == "U8" || d == "I8" || d == "F8_E5M2" || d == "F8_E4M3") return 1;
  return 0;
}

// An integer of the JSON header inside [lo, hi]. nlohmann's get<int>() converts 1e123 or -1
// with a plain cast (undefined for a float out of range, found by fuzz_safetensors), so the type
// and range are checked first; nullopt when the value is not such an integer.
std::optional<std::int64_t> json_int(const nlohmann::json& v, std::int64_t lo, std::int64_t hi) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(hi)) return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (!v.is_number_integer()) return std::nullopt;
  const auto x = v.get<std::int64_t>();
  if (x < lo || x > hi) return std::nullopt;
  return x;
}

std::optional<std::vector<std::int64_t>> json_ints(const nlohmann::json& v, std::int64_t lo, std::int64_t hi) {
  if (!v.is_array()) return std::nullopt;
  std::vector<std::int64_t> out;
  for (const auto& e : v) {
    const auto x = json_int(e, lo, hi);
    if (!x) return std::nullopt;
    out.push_back(*x);
  }
  return out;
}

// IEEE 754 binary16 -> binary32, exact (subnormals normalised, inf and NaN kept).
float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (man << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else {  // subnormal: shift the leading 1 into the implicit bit
    int e = -1;
    do {
      ++e;
      man <<= 1;
    } while (!(man & 0x400u));
    bits = sign | (static_cast<std::uint32_t>(112 - e) << 23) | ((man & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

File parse(std::string_view bytes, const std::string& ps) {
  File f;
  f.where = ps;
  const std::uint64_t file_size = bytes.size();
  HMR_REQUIRE(file_size >= 8, "{}: truncated safetensors file ({} bytes, no header length)", ps, file_size);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  HMR_REQUIRE(n <= file_size - 8, "{}: truncated safetensors file (header of {} bytes, file has {} after the length)",
              ps, n, file_size - 8);
  HMR_REQUIRE(n <= (100u << 20), "{}: safetensors header of {} bytes is implausibly large", ps, n);
  const std::string_view header = bytes.substr(8, static_cast<std::size_t>(n));
  f.data = bytes.substr(8 + static_cast<std::size_t>(n));
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    input_error("{}: the safetensors header is not valid JSON: {}", ps, e.what());
  }
  HMR_REQUIRE(h.is_object(), "{}: the safetensors header is not a JSON object", ps);
  const std::uint64_t data_size = f.data.size();
  std::uint64_t total = 0;
  for (const auto& [name, t] : h.items()) {
    if (name == "__metadata__") {
      HMR_REQUIRE(t.is_object(), "{}: __metadata__ is not a JSON object", ps);
      f.has_metadata = true;
      for (const auto& [k, v] : t.items())
        if (v.is_string()) f.meta[k] = v.get<std::string>();
      continue;
    }
    // Names and dtypes are quoted in messages: control characters are refused here once.
    HMR_REQUIRE(printable(name) == name, "{}: tensor name '{}' holds control characters", ps, printable(name));
    HMR_REQUIRE(t.is_object() && t.contains("dtype") && t.contains("shape") && t.contains("data_offsets"),
                "{}: tensor '{}' has a malformed entry", ps, name);
    TensorEntry e;
    e.dtype = t["dtype"].is_string() ? t["dtype"].get<std::string>() : "?";
    const std::uint64_t es = dtype_size(e.dtype);
    HMR_REQUIRE(es > 0, "{}: tensor '{}' has dtype {}, not a safetensors dtype", ps, name, printable(e.dtype));
    const auto dims = json_ints(t["shape"], 0, INT64_MAX);
    const auto offsets = json_ints(t["data_offsets"], 0, INT64_MAX);
    HMR_REQUIRE(dims && offsets, "{}: tensor '{}' has a malformed shape or data_offsets", ps, name);
    e.shape = *dims;
    // The element count, refused as soon as it passes what the data section could hold.
    e.count = 1;
    for (const auto d : e.shape) {
      const auto ud = static_cast<std::uint64_t>(d);
      HMR_REQUIRE(ud == 0 || e.count <= data_size / es / ud,
                  "{}: truncated file or lying header: tensor '{}' of shape [{}] needs more than the {}-byte data "
                  "section",
                  ps, name, fmt::join(e.shape, ", "), data_size);
      e.count *= ud;
    }
    const std::vector<std::uint64_t> offs(offsets->begin(), offsets->end());
    HMR_REQUIRE(offs.size() == 2 && offs[0] <= offs[1] && offs[1] - offs[0] == es * e.count,
                "{}: tensor '{}' has data_offsets that do not match its shape", ps, name);
    HMR_REQUIRE(offs[1] <= data_size, "{}: truncated file: tensor '{}' ends at byte {} of a {}-byte data section", ps,
                name, offs[1], data_size);
    e.begin = offs[0];
    total += offs[1] - offs[0];  // each term <= data_size, at most 2^27 entries: no wrap
    f.tensors.emplace(name, std::move(e));
  }
  // Tensors are disjoint in the format; together they cannot need more than the data section.
  HMR_REQUIRE(total <= data_size, "{}: the tensors claim {} bytes, the data section has {} (overlapping entries)", ps,
              total, data_size);
  return f;
}

std::string read_bytes(const std::filesystem::path& path) {
  const std::string ps = path.string();
  std::ifstream in(path, std::ios::binary);
  HMR_REQUIRE(in.good(), "{}: cannot open the model file", ps);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  HMR_REQUIRE(!in.bad(), "{}: could not read the model file", ps);
  return bytes;
}

void read_floats(const File& f, const std::string& name, float* out) {
  const auto it = f.tensors.find(name);
  HMR_REQUIRE(it != f.tensors.end(), "{}: tensor '{}' is missing", f.where, name);
  const TensorEntry& e = it->second;
  const char* src = f.data.data() + e.begin;
  const std::size_t n = static_cast<std::size_t>(e.count);
  // Little-endian, as the format prescribes and every platform hmr targets is.
  if (e.dtype == "F32") {
    std::memcpy(out, src, 4 * n);
  } else if (e.dtype == "F64") {
    for (std::size_t i = 0; i < n; ++i) {
      double d;
      std::memcpy(&d, src + 8 * i, 8);
      out[i] = static_cast<float>(d);
    }
  } else if (e.dtype == "F16") {
    for (std::size_t i = 0; i < n; ++i) {
      std::uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      out[i] = half_to_float(h);
    }
  } else if (e.dtype == "BF16") {  // the upper half of a float32
    for (std::size_t i = 0; i < n; ++i) {
      std::uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
      std::memcpy(out + i, &bits, 4);
    }
  } else {
    input_error("{}: tensor '{}' has dtype {}, expected F32 (or F64, F16, BF16)", f.where, name, e.dtype);
  }
  for (std::size_t i = 0; i < n; ++i)
    HMR_REQUIRE(std::isfinite(out[i]), "{}: tensor '{}' holds {} at element {}{}", f.where, name, out[i], i,
                e.dtype == "F64" ? " (as float32)" : "");
}

std::vector<float> read_floats(const File& f, const std::string& name) {
  const auto it = f.tensors.find(name);
  HMR_REQUIRE(it != f.tensors.end(), "{}: tensor '{}' is missing", f.where, name);
  std::vector<float> out(static_cast<std::size_t>(it->second.count));
  read_floats(f, name, out.data());
  return out;
}

std::size_t converted_count(const File& f) {
  std::size_t n = 0;
  for (const auto& [name, e] : f.tensors) n += e.dtype != "F32";
  return n;
}

void write(const std::filesystem::path& path, const std::vector<OutTensor>& tensors,
           const std::vector<std::pair<std::string, std::string>>& meta) {
  nlohmann::ordered_json h;
  std::uint64_t off = 0;
  std::vector<std::uint64_t> sizes;
  for (const auto& t : tensors) {
    std::uint64_t n = 1;
    for (auto s : t.shape) n *= static_cast<std::uint64_t>(s);
    sizes.push_back(n);
    h[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {off, off + 4 * n}}};
    off += 4 * n;
  }
  nlohmann::ordered_json m = nlohmann::ordered_json::object();
  for (const auto& [k, v] : meta) m[k] = v;
  h["__metadata__"] = m;
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');  // the reference writer aligns the data to 8 bytes
  io::write_atomically(path, [&](std::ostream& out) {
    unsigned char len[8];
    const std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (std::size_t i = 0; i < tensors.size(); ++i)  // little-endian float32
      out.write(reinterpret_cast<const char*>(tensors[i].data), static_cast<std::streamsize>(4 * sizes[i]));
  });
}

}  // namespace hmr::nn::st
