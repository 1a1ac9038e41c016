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
    entry = entry.substr(1, entry.size() - 13);  // the atomic writer's temporary of `entry`
    if (entry == name) return true;              // .<name>.tmpXXXXXXXX from a direct write
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
  OutputLock(const fs::path& out, const std::string& what) {
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
    std::lock_guard<std::mutex> g(commit_mutex());
    held_locks().erase(path_);
    ::unlink(path_.c_str());  // while still held: see the constructor
    ::close(fd_);
  }
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  fs::path path_;
  int fd_ = -1;
};

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
  // The main output last: once it is in place, every file it goes with is too.
  for (std::size_t k = targets_.size(); k-- > 0;) {
    std::error_code ec;
    if (fs::exists(temps_[k], ec)) {
      fs::rename(temps_[k], targets_[k].path, ec);
      if (ec) runtime_error("cannot move {} into place: {}", targets_[k].path.string(), ec.message());
    } else if (targets_[k].derived) {
      fs::remove(targets_[k].path, ec);  // an earlier run's; this run does not write it
    }
    drop_pending(temps_[k]);
  }
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
