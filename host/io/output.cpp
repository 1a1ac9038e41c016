// io/output.cpp — the output contract of output.h: path checks, the per-output lock, staged
// folders switched in with renameat2(RENAME_EXCHANGE), staged files renamed into place, and the
// cleanup of what failed, interrupted or killed runs left.
#include "io/output.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "core/printable.h"
#include "io/atomic_file.h"

namespace hmr::io {
namespace fs = std::filesystem;

namespace {

constexpr const char* kMarker = ".hmr-run.json";

// Commits and the interrupt handler take this mutex, so an interrupt either lands before the
// switch (the staged run is removed, --out keeps the old one) or after it (the old run, now in
// the staging name, is removed): never in between. `pending` is what an interrupt removes.
std::mutex& commit_mutex() {
  static std::mutex m;
  return m;
}
std::set<fs::path>& pending() {
  static std::set<fs::path> p;
  return p;
}
void add_pending(const fs::path& p) {
  std::lock_guard<std::mutex> g(commit_mutex());
  pending().insert(p);
}
void drop_pending(const fs::path& p) { pending().erase(p); }  // commit_mutex held by the caller
// Lock files held by this process: an interrupt unlinks them too (they are still held until exit).
std::set<fs::path>& held_locks() {
  static std::set<fs::path> l;
  return l;
}

// HMR_TEST_MOVE_DELAY_MS: the tests stretch the final step to kill a run inside it.
void test_delay() {
  static const long ms = [] {
    const char* v = std::getenv("HMR_TEST_MOVE_DELAY_MS");
    return v ? std::strtol(v, nullptr, 10) : 0L;
  }();
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

const char* describe(mode_t m) {
  if (S_ISDIR(m)) return "a folder";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISFIFO(m)) return "a FIFO (named pipe)";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISLNK(m)) return "a symbolic link";
  if (S_ISREG(m)) return "a regular file";
  return "a special file";
}

// "runs/easy/" -> "runs/easy": the folder's own name is what the lock and stage are named after.
fs::path normalised(const fs::path& p) {
  fs::path q = p.lexically_normal();
  if (q.has_relative_path() && q.filename().empty()) q = q.parent_path();
  return q;
}

fs::path folder_of(const fs::path& p) { return p.has_parent_path() ? p.parent_path() : fs::path("."); }

bool writable_folder(const fs::path& d) { return ::access(d.c_str(), W_OK | X_OK) == 0; }

// True when `inner` is `outer` or lies inside it (both existing).
bool inside(const fs::path& inner, const fs::path& outer) {
  std::error_code ec;
  const fs::path a = fs::canonical(inner, ec);
  if (ec) return false;
  const fs::path b = fs::canonical(outer, ec);
  if (ec) return false;
  auto ai = a.begin();
  for (auto bi = b.begin(); bi != b.end(); ++bi, ++ai)
    if (ai == a.end() || *ai != *bi) return false;
  return true;
}

bool is_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= '0' && c <= '9'; });
}

// Is `entry` (a name in the output's folder) a staging folder or temporary of output `name` left
// by an earlier run? Stage: .<name>.hmr-stage-<pid>; aside: .<name>.hmr-old-<pid>; file:
// .hmr-tmp-<pid>.<name>; the atomic writer's own temporaries add a leading '.' and ".tmpXXXXXXXX".
bool leftover_of(std::string entry, const std::string& name) {
  for (const char* kind : {".hmr-stage-", ".hmr-old-"}) {
    const std::string head = "." + name + kind;
    if (entry.rfind(head, 0) == 0 && is_digits(entry.substr(head.size()))) return true;
  }
  if (entry.size() > 12 && entry.compare(entry.size() - 12, 4, ".tmp") == 0 && entry[0] == '.') {
    entry = entry.substr(1, entry.size() - 13);            // the atomic writer's temporary of `entry`
    if (entry == name) return true;                        // .<name>.tmpXXXXXXXX from a direct write
    if (entry == "." + name + ".hmr-commit") return true;  // a commit journal being written
  }
  const std::string head = ".hmr-tmp-";
  if (entry.rfind(head, 0) != 0) return false;
  const auto dot = entry.find('.', head.size());
  return dot != std::string::npos && is_digits(entry.substr(head.size(), dot - head.size())) &&
         entry.substr(dot + 1) == name;
}

void remove_leftovers(const fs::path& folder, const std::string& name) {
  std::error_code ec;
  int removed = 0;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    if (!leftover_of(it->path().filename().string(), name)) continue;
    std::error_code rm;
    fs::remove_all(it->path(), rm);
    if (!rm) ++removed;
  }
  if (removed) spdlog::info("removed {} leftover(s) of interrupted runs into {}", removed, (folder / name).string());
}

}  // namespace

// ---- the lock ------------------------------------------------------------------------------

// flock() on `.<name>.hmr-lock` beside the output, held for the whole run. The file is removed
// when the run ends; a run that opened it just before checks after locking that the name still
// points at the file it locked, else it takes the new one (so two runs never hold different
// files of the same name).
class OutputLock {
 public:
  // `busy_ok`: when another process holds the lock, leave held() false instead of refusing.
  OutputLock(const fs::path& out, const std::string& what, bool busy_ok = false) {
    path_ = folder_of(out) / ("." + out.filename().string() + ".hmr-lock");
    for (int attempt = 0; attempt < 16; ++attempt) {
      const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      HMR_REQUIRE(fd >= 0, "{} {}: cannot create the lock file {}: {}", what, out.string(), path_.string(),
                  std::strerror(errno));
      if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        char pid[32] = {};
        const auto got = ::pread(fd, pid, sizeof(pid) - 1, 0);
        ::close(fd);
        if (err == EWOULDBLOCK && busy_ok) return;
        std::string holder = got > 0 ? std::string(pid, static_cast<std::size_t>(got)) : std::string();
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
        if (err == EWOULDBLOCK)
          input_error("{} {}: another hmr run{} is writing it; wait for it to finish or pick another {}", what,
                      out.string(), holder.empty() ? "" : " (pid " + holder + ")", what);
        runtime_error("{} {}: cannot lock {}: {}", what, out.string(), path_.string(), std::strerror(err));
      }
      struct stat held {
      }, named{};
      if (::fstat(fd, &held) == 0 && ::stat(path_.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
          held.st_dev == named.st_dev) {
        fd_ = fd;
        {
          std::lock_guard<std::mutex> g(commit_mutex());
          held_locks().insert(path_);
        }
        const std::string me = std::to_string(static_cast<long>(::getpid())) + "\n";
        if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, me.data(), me.size(), 0) < 0) {
          // the pid is only for the message of a refused second run
        }
        return;
      }
      ::close(fd);  // the run that held it removed the file meanwhile: lock the new one
    }
    runtime_error("{} {}: cannot lock {}: it keeps being replaced", what, out.string(), path_.string());
  }
  ~OutputLock() {
    if (fd_ < 0) return;
    std::lock_guard<std::mutex> g(commit_mutex());
    held_locks().erase(path_);
    ::unlink(path_.c_str());  // while still held: see the constructor
    ::close(fd_);
  }
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  bool held() const { return fd_ >= 0; }

 private:
  fs::path path_;
  int fd_ = -1;
};

// ---- the commit journal ----------------------------------------------------------------------
//
// A set of file outputs (y.npy, y_centers.npy, y.json) is moved into place one rename per file.
// Before the first rename the run writes a journal listing every step (atomically, one copy
// beside each target: `.<name>.hmr-commit`); after the last rename it removes the copies. A run
// killed in between leaves a journal whose owner is dead, so its locks are free: the next hmr run
// that locks one of the targets, or reads one of them, replays the journal first (holding every
// target's lock), and the set becomes the killed run's, whole. Replaying is idempotent: a rename
// is done only while its temporary exists, and a removal only while the file at the target is
// still the one the journal saw (device and inode), so a stale copy can never undo a later run.

namespace {

struct CommitStep {
  fs::path target, temp;           // absolute; temp empty: remove the target
  std::uint64_t dev = 0, ino = 0;  // the file a removal removes
};
struct Journal {
  long pid = 0;
  std::vector<CommitStep> steps;
};

fs::path absolute_of(const fs::path& p) { return fs::absolute(p).lexically_normal(); }
fs::path journal_beside(const fs::path& target) {
  return folder_of(target) / ("." + target.filename().string() + ".hmr-commit");
}

void write_journal(const Journal& j) {
  nlohmann::ordered_json o;
  o["hmr_commit"] = 1;
  o["pid"] = j.pid;
  o["steps"] = nlohmann::ordered_json::array();
  for (const auto& s : j.steps) {
    nlohmann::ordered_json e;
    e["target"] = s.target.string();
    if (s.temp.empty())
      e["remove"] = {{"dev", s.dev}, {"ino", s.ino}};
    else
      e["temp"] = s.temp.string();
    o["steps"].push_back(std::move(e));
  }
  const std::string text = o.dump(1) + "\n";
  for (const auto& s : j.steps) write_atomically(journal_beside(s.target), [&](std::ostream& os) { os << text; });
}

void remove_journal(const Journal& j) {
  for (const auto& s : j.steps) ::unlink(journal_beside(s.target).c_str());
}

// Parses a journal, checking that it can only do what a commit of hmr does: rename a temporary
// `.hmr-tmp-<pid>.<name>` onto `<name>` in the same folder, or remove a file, and that the file
// read is the copy beside one of its targets.
Journal read_journal(const fs::path& file) {
  const auto bad = [&](const std::string& why) {
    input_error("{}: not a commit journal written by hmr ({}); if no hmr run is writing beside it, remove it",
                printable(file.string()), printable(why));
  };
  Journal j;
  bool beside_a_target = false;
  try {
    std::ifstream in(file, std::ios::binary);
    const nlohmann::json o = nlohmann::json::parse(in);
    if (!o.is_object() || !o.contains("hmr_commit") || o["hmr_commit"] != 1) bad("no \"hmr_commit\": 1");
    if (!o.contains("pid") || !o["pid"].is_number_integer()) bad("no integer pid");
    j.pid = o["pid"].get<long>();
    if (!o.contains("steps") || !o["steps"].is_array() || o["steps"].empty() || o["steps"].size() > 64)
      bad("\"steps\" is not a list of 1 to 64 steps");
    for (const auto& e : o["steps"]) {
      CommitStep s;
      if (!e.is_object() || !e.contains("target") || !e["target"].is_string()) bad("a step without a target");
      s.target = fs::path(e["target"].get<std::string>());
      if (!s.target.is_absolute() || s.target != s.target.lexically_normal() || s.target.filename().empty())
        bad("a target that is not an absolute file path");
      if (e.contains("temp") && e["temp"].is_string()) {
        s.temp = fs::path(e["temp"].get<std::string>());
        const std::string head = ".hmr-tmp-", name = s.temp.filename().string();
        const auto dot = name.find('.', head.size());
        if (s.temp.parent_path() != s.target.parent_path() || name.rfind(head, 0) != 0 || dot == std::string::npos ||
            !is_digits(name.substr(head.size(), dot - head.size())) || name.substr(dot + 1) != s.target.filename())
          bad("a temporary that is not the target's own");
      } else if (e.contains("remove") && e["remove"].is_object() && e["remove"].contains("dev") &&
                 e["remove"].contains("ino") && e["remove"]["dev"].is_number_unsigned() &&
                 e["remove"]["ino"].is_number_unsigned()) {
        s.dev = e["remove"]["dev"].get<std::uint64_t>();
        s.ino = e["remove"]["ino"].get<std::uint64_t>();
      } else {
        bad("a step that neither renames nor removes");
      }
      beside_a_target = beside_a_target || journal_beside(s.target) == absolute_of(file);
      j.steps.push_back(std::move(s));
    }
  } catch (const nlohmann::json::exception& e) {
    bad(e.what());
  }
  if (!beside_a_target) bad("it lists no target beside it");
  return j;
}

// Applies the steps still to do (the caller holds every target's lock).
void replay(const Journal& j) {
  for (const auto& s : j.steps) {
    struct stat st {};
    std::error_code ec;
    if (!s.temp.empty()) {
      if (::lstat(s.temp.c_str(), &st) != 0) continue;  // renamed already
      fs::rename(s.temp, s.target, ec);
      if (ec) runtime_error("cannot move {} into place: {}", s.target.string(), ec.message());
    } else if (::lstat(s.target.c_str(), &st) == 0 && static_cast<std::uint64_t>(st.st_dev) == s.dev &&
               static_cast<std::uint64_t>(st.st_ino) == s.ino) {
      fs::remove(s.target, ec);
    }
  }
  remove_journal(j);
}

std::set<fs::path> target_set(const Journal& j) {
  std::set<fs::path> t;
  for (const auto& s : j.steps) t.insert(s.target);
  return t;
}

// Is `t` one of `locked` (the same file under another spelling too: a lock taken twice by one
// process would refuse itself)?
bool held_by_me(const fs::path& t, const std::set<fs::path>& locked) {
  if (locked.count(t)) return true;
  std::error_code ec;
  return std::any_of(locked.begin(), locked.end(), [&](const fs::path& l) {
    return l.filename() == t.filename() && fs::equivalent(l.parent_path(), t.parent_path(), ec);
  });
}

// If a journal lies beside `file`, completes the commit it describes. `locked` (absolute paths)
// are the files this process holds locked already; the journal's other targets are locked here.
// Returns false when one of them is locked by another process (a run in progress, which
// completes it itself when it locked it just now, or is committing it now).
bool settle(const fs::path& file, const std::set<fs::path>& locked) {
  const fs::path jf = absolute_of(journal_beside(file));
  struct stat st {};
  if (::lstat(jf.c_str(), &st) != 0) return true;
  std::set<fs::path> targets = target_set(read_journal(jf));
  std::vector<std::unique_ptr<OutputLock>> extra;
  for (int attempt = 0; attempt < 4; ++attempt) {
    for (const auto& t : targets) {
      if (held_by_me(t, locked)) continue;
      extra.push_back(std::make_unique<OutputLock>(t, "--out", true));
      if (!extra.back()->held()) return false;
    }
    // Every target locked: the journal's owner is gone. Read it again: it may have been replayed
    // (and a new one written by a run that has ended since) while the locks were taken.
    if (::lstat(jf.c_str(), &st) != 0) return true;
    const Journal j = read_journal(jf);
    if (target_set(j) != targets) {
      targets = target_set(j);
      extra.clear();
      continue;
    }
    replay(j);
    spdlog::info("completed the final step of an interrupted hmr run (pid {}) into {}", j.pid, file.string());
    return true;
  }
  return false;
}

// A reader settles what it is about to read; a journal it cannot settle (busy, unreadable) is
// left to the runs that write there: the file it reads is whole either way (one rename).
void settle_input(const fs::path& in) {
  if (in.empty()) return;
  try {
    settle(in, {});
  } catch (const Error& e) {
    spdlog::warn("{}", e.what());
  }
}

}  // namespace

void settle_inputs(const std::vector<fs::path>& inputs) {
  for (const auto& in : inputs) settle_input(in);
}

// ---- checks --------------------------------------------------------------------------------

void check_output_path(const fs::path& given, const std::string& what, OutputKind kind,
                       const std::vector<fs::path>& inputs) {
  HMR_REQUIRE(!given.empty(), "{} is empty: name the output {}", what, kind == OutputKind::file ? "file" : "folder");
  const fs::path path = normalised(given);
  const std::string name = path.filename().string();
  HMR_REQUIRE(!name.empty() && name != "." && name != "..",
              "{} {}: name the {} itself (hmr replaces it whole), not '{}'", what, given.string(),
              kind == OutputKind::file ? "file" : "folder", name.empty() ? given.string() : name);
  struct stat st {};
  const bool exists = ::lstat(path.c_str(), &st) == 0;
  if (exists) {
    HMR_REQUIRE(!S_ISLNK(st.st_mode),
                "{} {}: is a symbolic link; hmr replaces its outputs whole and does not write through links "
                "(give the link's target or another name)",
                what, given.string());
    if (kind == OutputKind::file)
      HMR_REQUIRE(S_ISREG(st.st_mode), "{} {}: is {}, not a regular file (hmr writes a new file in its place)", what,
                  given.string(), describe(st.st_mode));
    else
      HMR_REQUIRE(S_ISDIR(st.st_mode), "{} {}: is {}, not a folder", what, given.string(), describe(st.st_mode));
    // The new run is switched in by rename(2) from a sibling, which cannot cross a mount point.
    struct stat up {};
    if (::stat(folder_of(path).c_str(), &up) == 0)
      HMR_REQUIRE(up.st_dev == st.st_dev,
                  "{} {}: is a mount point; hmr replaces its outputs whole by renaming a sibling into place, "
                  "so name a {} inside it",
                  what, given.string(), kind == OutputKind::file ? "file" : "folder");
  }
  // The folder it goes into. A folder output may create missing parents (mkdir -p); they must
  // then be creatable in the nearest existing ancestor.
  fs::path folder = folder_of(path);
  std::error_code ec;
  if (kind == OutputKind::directory)
    for (fs::path up = folder_of(folder); !fs::exists(folder, ec) && up != folder; up = folder_of(folder)) folder = up;
  HMR_REQUIRE(fs::is_directory(folder, ec), "{} {}: {} {}", what, given.string(), folder.string(),
              fs::exists(folder, ec) ? "is not a folder" : "does not exist (no such folder)");
  HMR_REQUIRE(writable_folder(folder), "{} {}: folder {} is not writable", what, given.string(), folder.string());
  for (const fs::path& in : inputs) {
    if (in.empty() || !exists) continue;
    if (fs::exists(in, ec) && fs::equivalent(in, path, ec))
      input_error("{} {}: is the input {} itself; hmr would replace its own input", what, given.string(), in.string());
    if (kind == OutputKind::directory && inside(in, path))
      input_error("{} {}: holds the input {}; this run replaces the folder whole, so write elsewhere", what,
                  given.string(), in.string());
  }
}

// ---- files -----------------------------------------------------------------------------------

OutputFiles::OutputFiles(std::vector<Target> targets, const std::vector<fs::path>& inputs) {
  HMR_REQUIRE(!targets.empty(), "no output named");
  for (auto& t : targets) {
    check_output_path(t.path, t.what, OutputKind::file, inputs);
    t.path = normalised(t.path);
  }
  for (std::size_t i = 0; i < targets.size(); ++i)
    for (std::size_t j = 0; j < i; ++j) {
      std::error_code ec;
      const bool same = targets[i].path == targets[j].path ||
                        (fs::exists(targets[i].path, ec) && fs::equivalent(targets[i].path, targets[j].path, ec));
      HMR_REQUIRE(!same, "{} {}: is also {}; each output needs its own file", targets[i].what, targets[i].path.string(),
                  targets[j].what);
    }
  // Every target is locked: two runs with different --out but the same --json are refused too.
  for (const auto& t : targets) locks_.push_back(std::make_unique<OutputLock>(t.path, t.what));
  // Complete what a run killed in its final step left (journals beside the targets), then make
  // sure the inputs are whole sets too, before anything is read or removed.
  std::set<fs::path> mine;
  for (const auto& t : targets) mine.insert(absolute_of(t.path));
  for (const auto& t : targets)
    HMR_REQUIRE(settle(t.path, mine),
                "{} {}: an hmr run killed in its final step left its output set unfinished here, and another hmr "
                "run holds one of the set's other files; retry when that run has ended",
                t.what, t.path.string());
  for (const auto& in : inputs)
    if (!in.empty() && !mine.count(absolute_of(in))) settle_input(in);
  const std::string pid = std::to_string(static_cast<long>(::getpid()));
  for (const auto& t : targets) {
    remove_leftovers(folder_of(t.path), t.path.filename().string());
    temps_.push_back(folder_of(t.path) / (".hmr-tmp-" + pid + "." + t.path.filename().string()));
    add_pending(temps_.back());
  }
  targets_ = std::move(targets);
}

OutputFiles::~OutputFiles() {
  if (committed_) return;
  std::lock_guard<std::mutex> g(commit_mutex());
  for (const auto& t : temps_) {
    std::error_code ec;
    fs::remove(t, ec);
    drop_pending(t);
  }
}

fs::path OutputFiles::path(const fs::path& target) const {
  const fs::path n = normalised(target);
  for (std::size_t i = 0; i < targets_.size(); ++i)
    if (targets_[i].path == n) return temps_[i];
  runtime_error("{} is not an output of this run", target.string());
}

void OutputFiles::commit() {
  test_delay();
  std::lock_guard<std::mutex> g(commit_mutex());
  // The main output last: once it is in place, every file it goes with is too. More than one
  // step is journaled first (see "the commit journal").
  Journal j;
  j.pid = static_cast<long>(::getpid());
  for (std::size_t k = targets_.size(); k-- > 0;) {
    struct stat st {};
    if (::lstat(temps_[k].c_str(), &st) == 0)
      j.steps.push_back({absolute_of(targets_[k].path), absolute_of(temps_[k]), 0, 0});
    else if (targets_[k].derived && ::lstat(targets_[k].path.c_str(), &st) == 0)  // an earlier run's
      j.steps.push_back({absolute_of(targets_[k].path),
                         {},
                         static_cast<std::uint64_t>(st.st_dev),
                         static_cast<std::uint64_t>(st.st_ino)});
  }
  const bool journaled = j.steps.size() > 1;
  if (journaled) {
    try {
      write_journal(j);
    } catch (...) {
      remove_journal(j);  // nothing moved yet: the old set stays whole
      throw;
    }
  }
  for (std::size_t i = 0; i < j.steps.size(); ++i) {
    if (journaled) test_delay();  // the tests kill a run between two renames
    const auto& s = j.steps[i];
    std::error_code ec;
    if (!s.temp.empty()) {
      fs::rename(s.temp, s.target, ec);
    } else {
      fs::remove(s.target, ec);
    }
    if (ec && i == 0 && journaled) remove_journal(j);  // nothing moved: the old set stays whole
    if (ec && i > 0) {
      // Part of the set is in place: keep the journal and the temporaries for the next run.
      for (const auto& t : temps_) drop_pending(t);
      committed_ = true;
    }
    if (ec)
      runtime_error("cannot move {} into place: {}{}", s.target.string(), ec.message(),
                    i > 0 ? "; the next hmr run into it completes the move" : "");
  }
  if (journaled) remove_journal(j);
  for (const auto& t : temps_) drop_pending(t);
  committed_ = true;
}

// ---- folders ---------------------------------------------------------------------------------

DirectoryKind experiment_directory(const std::string& command) {
  return {command,
          "metrics.json",
          {"*.npy", "*.npz", "*.json", "*.md", "*.toml", "*.png", "*.svg", "*.txt", "*.safetensors", ".hmr-partial-*",
           ".*.tmp????????"}};
}

namespace {

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    names.push_back(it->path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Refuses to replace a folder hmr did not write (see output.h).
void check_replaceable(const fs::path& dir, const DirectoryKind& kind) {
  const std::vector<std::string> names = entries(dir);
  if (names.empty()) return;
  const fs::path marker = dir / kMarker;
  std::error_code ec;
  if (fs::is_regular_file(marker, ec)) {
    std::string cmd;
    std::set<std::string> written;
    try {
      nlohmann::json j;
      std::ifstream in(marker);
      in >> j;
      cmd = j.at("command").get<std::string>();
      for (const auto& f : j.at("files")) written.insert(f.get<std::string>());
    } catch (const std::exception&) {
      input_error(
          "--out {}: {} is not what hmr writes (JSON with command and files); remove the folder or pick "
          "another --out",
          dir.string(), marker.string());
    }
    HMR_REQUIRE(cmd == kind.command,
                "--out {}: holds the output of `hmr {}`; `hmr {}` would replace it, so remove it or pick another "
                "--out",
                dir.string(), cmd, kind.command);
    for (const auto& n : names)
      HMR_REQUIRE(n == kMarker || written.count(n),
                  "--out {}: holds {}, which the earlier hmr run did not write; a new run replaces the folder "
                  "whole, so move it away or pick another --out",
                  dir.string(), n);
    return;
  }
  const auto known = [&](const std::string& n) {
    return std::any_of(kind.patterns.begin(), kind.patterns.end(),
                       [&](const std::string& p) { return ::fnmatch(p.c_str(), n.c_str(), FNM_PERIOD) == 0; });
  };
  const bool signed_by_hmr = std::find(names.begin(), names.end(), kind.signature) != names.end();
  for (const auto& n : names)
    HMR_REQUIRE(signed_by_hmr && known(n),
                "--out {}: is not empty and was not written by `hmr {}` (it holds {}); a run replaces the folder "
                "whole, so empty it or pick another --out",
                dir.string(), kind.command, n);
}

}  // namespace

OutputDirectory::OutputDirectory(const fs::path& dir, DirectoryKind kind, const std::vector<fs::path>& inputs)
    : dir_(normalised(dir)), kind_(std::move(kind)) {
  check_output_path(dir, "--out", OutputKind::directory, inputs);
  // mkdir -p of the parents; a failed run removes the ones it made.
  const fs::path parent = folder_of(dir_);
  std::vector<fs::path> missing;
  std::error_code ec;
  for (fs::path p = parent; !p.empty() && !fs::exists(p, ec) && p != p.parent_path(); p = p.parent_path())
    missing.push_back(p);
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    HMR_REQUIRE(fs::create_directory(*it, ec) || fs::is_directory(*it), "--out {}: cannot create folder {}: {}",
                dir_.string(), it->string(), ec.message());
    created_parents_.push_back(*it);
  }
  try {
    lock_ = std::make_unique<OutputLock>(dir_, "--out");
    remove_leftovers(parent, dir_.filename().string());
    settle_inputs(inputs);
    if (fs::exists(dir_, ec)) check_replaceable(dir_, kind_);
    stage_ = parent / fmt::format(".{}.hmr-stage-{}", dir_.filename().string(), static_cast<long>(::getpid()));
    add_pending(stage_);
    fs::create_directory(stage_, ec);
    HMR_REQUIRE(!ec, "--out {}: cannot create {}: {}", dir_.string(), stage_.string(), ec.message());
  } catch (...) {
    lock_.reset();
    for (auto it = created_parents_.rbegin(); it != created_parents_.rend(); ++it) fs::remove(*it, ec);
    throw;
  }
}

OutputDirectory::~OutputDirectory() {
  std::error_code ec;
  if (!committed_) {
    std::lock_guard<std::mutex> g(commit_mutex());
    fs::remove_all(stage_, ec);
    drop_pending(stage_);
  }
  lock_.reset();
  if (!committed_)
    for (auto it = created_parents_.rbegin(); it != created_parents_.rend(); ++it) fs::remove(*it, ec);  // if empty
}

void OutputDirectory::commit() {
  // The marker makes the folder recognisable as hmr's and lists what the run wrote.
  nlohmann::ordered_json m;
  m["command"] = kind_.command;
  m["pid"] = static_cast<long>(::getpid());
  m["files"] = entries(stage_);
  write_atomically(stage_ / kMarker, [&](std::ostream& os) { os << m.dump(2) << '\n'; });
  test_delay();
  {
    std::lock_guard<std::mutex> g(commit_mutex());
    std::error_code ec;
    if (!fs::exists(dir_, ec)) {
      if (::renameat2(AT_FDCWD, stage_.c_str(), AT_FDCWD, dir_.c_str(), RENAME_NOREPLACE) != 0)
        runtime_error("--out {}: cannot move the finished run into place: {}", dir_.string(), std::strerror(errno));
    } else if (::renameat2(AT_FDCWD, stage_.c_str(), AT_FDCWD, dir_.c_str(), RENAME_EXCHANGE) != 0) {
      // A file system without RENAME_EXCHANGE (NFS, old kernels): move the old run aside first.
      // Between the two renames --out does not exist; it never holds a mix.
      const int err = errno;
      if (err != EINVAL && err != ENOSYS && err != ENOTSUP)
        runtime_error("--out {}: cannot switch to the finished run: {}", dir_.string(), std::strerror(err));
      const fs::path aside =
          folder_of(dir_) / fmt::format(".{}.hmr-old-{}", dir_.filename().string(), static_cast<long>(::getpid()));
      fs::rename(dir_, aside, ec);
      if (!ec) fs::rename(stage_, dir_, ec);
      if (ec) runtime_error("--out {}: cannot switch to the finished run: {}", dir_.string(), ec.message());
      drop_pending(stage_);
      stage_ = aside;
      pending().insert(stage_);
    }
    committed_ = true;  // stage_ now names the old run (or nothing)
  }
  test_delay();
  std::error_code ec;
  fs::remove_all(stage_, ec);
  std::lock_guard<std::mutex> g(commit_mutex());
  drop_pending(stage_);
}

void abandon_outputs() {
  commit_mutex().lock();  // kept: no commit may start while the process exits
  for (const fs::path& p : pending())
    for (int attempt = 0; attempt < 3; ++attempt) {  // a worker thread may still be writing into it
      std::error_code ec;
      fs::remove_all(p, ec);
      if (!ec) break;
    }
  for (const fs::path& l : held_locks()) ::unlink(l.c_str());  // still held until the process exits
}

}  // namespace hmr::io
