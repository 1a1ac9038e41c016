// cli.h — subcommand registry and the options every subcommand shares.
// A subcommand file defines a setup function that adds its options to a CLI11 sub-app and sets
// its callback, and registers it with HMR_COMMAND; main() parses and runs it.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/backend.h"
#include "cuda/select.h"
#include "pipeline/config.h"

namespace hmr::app {

struct Common {
  std::string device = "auto";
  std::uint64_t seed = 42;
  std::string config;
  std::string out;
  std::vector<std::string> sets;  // --set key=value overrides
  int verbose = 0;
  bool quiet = false;
  bool profile_range = false;  // --profile-range: cudaProfilerStart/Stop around the run

  // Creates the backend named by --device and logs which one was picked and why. With
  // --profile-range it also starts the profiler range, which ends when this Common does (after the
  // command), so backend start-up (context, handles) stays outside the measured part.
  std::unique_ptr<Backend> backend() const;
  mutable std::unique_ptr<ProfileRange> profile_scope;
};

using SetupFn = void (*)(CLI::App& sub, Common& common);

struct Command {
  const char* name;
  const char* help;
  SetupFn setup;
};

bool register_command(const Command& c);
// The file next to `out` named after its stem: sibling_path("runs/z.npy", "_centers.npy") is
// runs/z_centers.npy (where a command puts its secondary outputs unless told otherwise).
std::filesystem::path sibling_path(const std::string& out, const std::string& suffix);
const std::vector<Command>& commands();

// An option taking one of `values`, its default shown in --help.
template <class T>
CLI::Option* add_choice(CLI::App& sub, const std::string& name, T& value, const std::string& help,
                        std::initializer_list<std::string> values) {
  return sub.add_option(name, value, help)
      ->check(CLI::IsMember(std::vector<std::string>(values)))
      ->capture_default_str();
}

// The keys every single-stage summary JSON shares, in this order: device, seed, n_samples.
void add_run_keys(nlohmann::ordered_json& j, const Backend& backend, std::uint64_t seed, std::int64_t n_samples);

// hmr easy | medium | hard: the footer (`first_line`, then where the defaults are), and at run
// time the resolved Config (--config, --set, and --seed when it was given) with --out required.
void experiment_footer(CLI::App& sub, pipeline::Task task, const std::string& first_line);
pipeline::Config experiment_config(CLI::App& sub, const Common& common, pipeline::Task task);

}  // namespace hmr::app

#define HMR_CONCAT_INNER(a, b) a##b
#define HMR_CONCAT(a, b) HMR_CONCAT_INNER(a, b)
#define HMR_COMMAND(name, help, setup) \
  static const bool HMR_CONCAT(hmr_command_registered_, __LINE__) = ::hmr::app::register_command({name, help, setup})
