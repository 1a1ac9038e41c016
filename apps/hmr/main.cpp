// hmr — hybrid music representations: one program, one subcommand per stage or experiment.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <thread>

#include "checks.h"
#include "cli.h"
#include "core/error.h"
#include "core/log.h"
#include "core/names.h"
#include "cuda/select.h"
#include "io/output.h"

namespace hmr::app {

std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}
bool register_command(const Command& c) {
  registry().push_back(c);
  return true;
}
const std::vector<Command>& commands() { return registry(); }

std::filesystem::path sibling_path(const std::string& out, const std::string& suffix) {
  const std::filesystem::path p(out);
  return p.parent_path() / (p.stem().string() + suffix);
}

std::unique_ptr<Backend> Common::backend() const {
  std::string why;
  auto b = make_backend(device, &why);
  spdlog::info("device: {}", why);
  if (profile_range && !profile_scope) profile_scope = std::make_unique<ProfileRange>(*b);
  return b;
}

// libgomp spin-waits at its barriers before it sleeps (OMP_WAIT_POLICY unset). t-SNE passes a
// barrier every iteration, and when another process shares the cores the spinning thread takes
// the CPU from the one still working: 10k points took 13.6-14.2 s instead of 7.0-7.2 s with
// passive waiting (2 cores, load 2), and the same ~4.2 s on idle cores. libgomp reads the
// variable only when it is loaded, so `hmr tsne` runs itself again once with it set, unless the
// user chose a policy.
void prefer_passive_openmp_waits(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (::setenv("OMP_WAIT_POLICY", "passive", 0) != 0) return;
  ::execv("/proc/self/exe", argv);
  ::unsetenv("OMP_WAIT_POLICY");  // exec failed (no /proc?): carry on with the default policy
}

// SIGINT, SIGTERM and SIGHUP are blocked in every thread and taken by one watcher thread, so the
// cleanup runs as ordinary code (removing folders is not async-signal-safe) while the workers
// stop where they are: one line, the unfinished outputs removed, exit 128 + signal (130 for
// Ctrl-C, 143 for kill). Must run before any other thread starts (OpenMP's pool inherits the mask).
void watch_interrupts() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return;
  std::thread([set] {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) return;
    hmr::io::abandon_outputs();
    std::fprintf(stderr, "hmr: interrupted by %s; unfinished outputs removed\n",
                 sig == SIGINT    ? "SIGINT"
                 : sig == SIGTERM ? "SIGTERM"
                                  : "SIGHUP");
    std::fflush(stderr);
    ::_exit(128 + sig);
  }).detach();
}

// The names an option of `app` is typed with (--name, -x), for "did you mean".
void add_option_names(const CLI::App& app, std::vector<std::string>& out) {
  for (const CLI::Option* o : app.get_options()) {
    for (const std::string& l : o->get_lnames()) out.push_back("--" + l);
    for (const std::string& n : o->get_snames()) out.push_back("-" + n);
  }
}

std::string command_list(const CLI::App& app) {
  std::string list;
  for (const CLI::App* c : app.get_subcommands([](const CLI::App*) { return true; }))
    list += (list.empty() ? "" : ", ") + c->get_name();
  return list;
}

// The subcommand the command line names: the one CLI11 parsed, else the first argument that is a
// command's name (CLI11 may stop before it records one).
const CLI::App* named_command(const CLI::App& app, int argc, char** argv) {
  for (const CLI::App* c : app.get_subcommands()) return c;
  for (int i = 1; i < argc; ++i)
    for (const CLI::App* c : app.get_subcommands([](const CLI::App*) { return true; }))
      if (c->get_name() == argv[i]) return c;
  return nullptr;
}

// The first argument that is neither an option nor the value of one of hmr's common options: the
// word meant as the command ("hmr --seed 3 hrad" -> "hrad"), or "" when there is none.
std::string first_word(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.empty() || arg.front() != '-') return arg;
    if (arg.find('=') != std::string::npos) continue;
    const CLI::Option* o = app.get_option_no_throw(arg);
    if (o && o->get_items_expected_min() > 0) ++i;  // --seed 3: skip the value (flags take none)
  }
  return {};
}

// CLI11's parse errors in hmr's words: an unknown option, command or a missing command gets a
// guess at what was meant, everything else CLI11's own message. One line, for "hmr: error:".
std::string describe_parse_error(const CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  const CLI::App* cmd = named_command(app, argc, argv);
  // Without a command CLI11 says "A subcommand is required" (RequiredError) or lists the stray
  // words (ExtrasError); other errors ("--device" without a value) keep their own message.
  const bool about_command = dynamic_cast<const CLI::RequiredError*>(&e) || dynamic_cast<const CLI::ExtrasError*>(&e);
  if (!cmd && about_command) {
    const std::string word = first_word(app, argc, argv);
    if (word.empty())
      return fmt::format("a command is required: hmr [options] COMMAND ...; commands: {}", command_list(app));
    std::vector<std::string> names;
    for (const CLI::App* c : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(c->get_name());
    const std::string guess = closest_name(word, names);
    if (!guess.empty()) return fmt::format("unknown command '{}' (did you mean '{}'?)", word, guess);
    return fmt::format("unknown command '{}'; commands: {}", word, command_list(app));
  }
  if (!cmd) {
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    return what;
  }
  // An unknown option is what went wrong even when CLI11 first noticed a missing one ("--kk 2"
  // leaves --k unset): name it with a guess.
  {
    std::vector<std::string> extras = app.remaining();
    for (const std::string& x : cmd->remaining()) extras.push_back(x);
    for (const std::string& x : extras) {
      if (x.size() < 2 || x.front() != '-') continue;
      const std::string flag = x.substr(0, x.find('='));
      std::vector<std::string> names;
      add_option_names(*cmd, names);
      add_option_names(app, names);
      const std::string guess = closest_name(flag, names);
      if (!guess.empty()) return fmt::format("{}: unknown option {} (did you mean {}?)", cmd->get_name(), flag, guess);
      return fmt::format("{}: unknown option {} (hmr {} --help lists them)", cmd->get_name(), flag, cmd->get_name());
    }
    if (!extras.empty()) return fmt::format("{}: unexpected argument '{}'", cmd->get_name(), extras.front());
  }
  std::string what = e.what();
  std::replace(what.begin(), what.end(), '\n', ' ');
  return what;
}

}  // namespace hmr::app

int main(int argc, char** argv) {
  using namespace hmr::app;
  watch_interrupts();
  CLI::App app{"hmr — hybrid music representations: MFCC, TF-IDF, VAEs, K-Means, t-SNE on GPU or CPU"};
  app.set_version_flag("--version", std::string("hmr ") + HMR_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  Common common;
  app.add_option("--device", common.device, "auto | cpu | cuda | cuda-emu")->default_val("auto");
  app.add_option("--seed,--random-state", common.seed, "random seed (same seed, same backend -> same output)")
      ->check(seed_value());
  app.add_option("--config", common.config, "TOML configuration file");
  app.add_option("--out", common.out, "output file or directory");
  app.add_option("--set", common.sets, "override a configuration key: --set key=value");
  app.add_flag("-v,--verbose", common.verbose, "more output (-vv for trace)");
  app.add_flag("-q,--quiet", common.quiet, "warnings and errors only (and no progress)");
  app.add_flag("--profile-range", common.profile_range,
               "mark the run for Nsight with cudaProfilerStart/Stop (nsys --capture-range=cudaProfilerApi)");

  auto cmds = commands();
  std::sort(cmds.begin(), cmds.end(), [](const Command& a, const Command& b) { return std::string(a.name) < b.name; });
  for (const Command& c : cmds) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    c.setup(*sub, common);
  }
  // Logging must be set up before subcommand callbacks run (they run inside app.parse).
  app.parse_complete_callback([&] {
    if (app.got_subcommand("tsne")) prefer_passive_openmp_waits(argv);
    hmr::setup_logging(common.quiet ? -1 : common.verbose);
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" that exit 0: let CLI11 print them.
    if (e.get_exit_code() == 0) return app.exit(e);
    // A bad option is one line like every other input error (CLI11 would add a second one,
    // "Run with --help for more information."), so scripts can grep "hmr: error:".
    std::fprintf(stderr, "hmr: error: %s\n", describe_parse_error(app, e, argc, argv).c_str());
    return 2;
  } catch (const hmr::Error& e) {
    std::fprintf(stderr, "hmr: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hmr: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
