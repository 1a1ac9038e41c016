// pipeline/config.h — the experiments' configuration: a TOML document (toml++) resolved in layers
//   1. the task's defaults (data/configs/<task>.toml, compiled into hmr so a bare binary works),
//   2. --config FILE.toml (only keys that exist in the defaults; a typo is an input error),
//   3. --set section.key=value overrides, in command-line order (value parsed as TOML, coerced
//      to the default's type: "5000", "1e-3", "true", "relu", "512,256" for arrays),
//   4. --seed N when given on the command line (experiment.seed).
// The resolved document is written to <out>/config.toml so `hmr <task> --config config.toml`
// repeats the run. Keys are dotted paths ("vae.latent", "kmeans.n_init"). The names in
// data/configs are canonical; the reference tools' and the flags' spellings (tsne.early_exaggeration,
// mfcc.sr, vae.batch_size, ...; config.cpp kKeyAliases, docs/experiments.md) are accepted in layers
// 2 and 3 and stored under the canonical name. A mistyped key gets a guess ("did you mean").
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

namespace hmr::pipeline {

// A double as a TOML float in its shortest round-trip form ("0.8", "1e-10", "1.0", "inf"): the
// text parses back to the same double.
std::string toml_float(double v);
// A TOML document of `t` whose floats are written by toml_float (toml++ writes 17 significant
// digits: 0.80000000000000004); parsing it gives back `t` value for value.
std::string toml_text(const toml::table& t);

enum class Task { easy, medium, hard };
const char* to_string(Task t);  // "easy" | "medium" | "hard"

class Config {
 public:
  // The compiled-in defaults of a task (the bytes of data/configs/<task>.toml).
  static Config defaults(Task task);
  static std::string_view default_text(Task task);
  // All four layers at once: defaults, the file (when not empty), the overrides, the seed (when set).
  static Config resolve(Task task, const std::filesystem::path& file, const std::vector<std::string>& sets,
                        std::optional<std::uint64_t> seed);

  Task task() const { return task_; }

  // Every key's range and the settings that depend on each other (n_mfcc <= n_mels, no empty mel
  // filter, a VAE section's VaeConfig::validate), before any work: input error naming the key
  // ("tsne.perplexity = 0: must be > 0"). resolve() and each run_* call it (pipeline/validate.cpp).
  void validate() const;

  // Layer 2: keys of `path` replace the defaults'. Input error on a missing/unparsable file, an
  // unknown key or a value of the wrong type (file, key and expected type named).
  void merge_file(const std::filesystem::path& path);
  // The same for the text of a TOML document in memory; `source` names it in messages.
  void merge_text(std::string_view text, const std::string& source);
  // Layer 3: "section.key=value". Input error on a malformed assignment, unknown key, bad value.
  void set(std::string_view assignment);
  void set_all(const std::vector<std::string>& assignments);
  void set_seed(std::uint64_t seed);  // experiment.seed

  // Typed access by dotted key; input error when missing or of another type.
  bool has(std::string_view key) const;
  std::int64_t get_int(std::string_view key) const;
  double get_double(std::string_view key) const;  // ints are widened
  bool get_bool(std::string_view key) const;
  std::string get_string(std::string_view key) const;
  std::vector<std::int64_t> get_int_array(std::string_view key) const;
  std::vector<double> get_double_array(std::string_view key) const;
  const toml::table& table(std::string_view section) const;  // e.g. "vae"
  std::uint64_t seed() const { return static_cast<std::uint64_t>(get_int("experiment.seed")); }

  const toml::table& root() const { return root_; }
  std::string to_toml() const;                          // the resolved document
  void write(const std::filesystem::path& path) const;  // atomically

 private:
  Config(Task task, toml::table root) : task_(task), root_(std::move(root)) {}
  void assign(std::string_view key, const toml::node& value, std::string_view origin);
  Task task_;
  toml::table root_;
};

}  // namespace hmr::pipeline
