// cli.cpp — helpers the subcommands share (see cli.h): summary JSON keys and the experiment
// commands' footer and configuration.
#include "cli.h"

#include <fmt/format.h>

#include "core/error.h"

namespace hmr::app {

void add_run_keys(nlohmann::ordered_json& j, const Backend& backend, std::uint64_t seed, std::int64_t n_samples) {
  j["device"] = backend.name();
  j["seed"] = seed;
  j["n_samples"] = n_samples;
}

void experiment_footer(CLI::App& sub, pipeline::Task task, const std::string& first_line) {
  sub.footer(fmt::format("{}\nDefaults: data/configs/{}.toml; override any key with --set section.key=value.",
                         first_line, pipeline::to_string(task)));
}

pipeline::Config experiment_config(CLI::App& sub, const Common& common, pipeline::Task task) {
  const CLI::Option* seed_opt = sub.get_parent()->get_option("--seed");
  auto config = pipeline::Config::resolve(task, common.config, common.sets,
                                          seed_opt->count() ? std::optional<std::uint64_t>(common.seed) : std::nullopt);
  HMR_REQUIRE(!common.out.empty(), "{}: --out DIR is required", pipeline::to_string(task));
  return config;
}

}  // namespace hmr::app
