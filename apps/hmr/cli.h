// cli.h — subcommand registry and the options every subcommand shares.
// A subcommand file defines a setup function that adds its options to a CLI11 sub-app and sets
// its callback, and registers it with HMR_COMMAND; main() parses and runs it.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"

namespace hmr::app {

struct Common {
  std::string device = "auto";
  std::uint64_t seed = 42;
  std::string config;
  std::string out;
  std::vector<std::string> sets;  // --set key=value overrides
  int verbose = 0;
  bool quiet = false;

  // Creates the backend named by --device and logs which one was picked and why.
  std::unique_ptr<Backend> backend() const;
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

}  // namespace hmr::app

#define HMR_CONCAT_INNER(a, b) a##b
#define HMR_CONCAT(a, b) HMR_CONCAT_INNER(a, b)
#define HMR_COMMAND(name, help, setup) \
  static const bool HMR_CONCAT(hmr_command_registered_, __LINE__) = ::hmr::app::register_command({name, help, setup})
