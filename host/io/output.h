// io/output.h — the output contract every hmr command follows (issue 17):
//
//  * Checked before any work: an output path that exists must be a regular file (file outputs)
//    or a folder (--out DIR); a symbolic link, FIFO, device or socket is refused, as are a path
//    whose folder is missing or not writable and an output that is the same file as an input.
//  * Atomic: a folder output is written into a fresh sibling `.<name>.hmr-stage-<pid>/` and
//    switched in with one renameat2(RENAME_EXCHANGE) (or one rename when --out is new), so a
//    reader sees the old run or the new one, never a mix, and no file of the old run survives
//    beside the new one. File outputs (X.npy, X_centers.npy, X.json) are written to hidden
//    temporaries `.hmr-tmp-<pid>.<name>` and renamed into place only when all are written;
//    derived siblings this run does not write are removed so none is stale.
//  * Locked: `.<name>.hmr-lock` beside --out is flock()ed for the whole run; a second run into
//    the same --out is refused (exit 2). The kernel drops the lock when the process dies.
//  * Journaled: a set of file outputs is moved into place one rename per file, after a journal
//    listing the renames was written beside each target (`.<name>.hmr-commit`). A run killed
//    between two renames leaves the journal; the next hmr run that writes one of the files, or
//    reads one, replays it first (holding the locks), so the set becomes the killed run's whole.
//  * Cleaned: a run that fails or is interrupted removes its staging folder and temporaries;
//    the next run into the same --out removes those of runs that were killed (it holds the lock,
//    so whatever staging it finds belongs to a dead run).
//
// A folder that already exists is replaced only when hmr wrote it: it holds `.hmr-run.json`
// (written by every run: command and file list) and nothing else, or it is a folder of an older
// hmr (its signature file present, every entry an hmr output name). Anything else is refused, so
// a user's own files are never deleted.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace hmr::io {

enum class OutputKind { file, directory };

// Input error (exit 2) when `path` cannot be an output of this kind (rules above). `what` names
// the option in the message ("--out", "--centers"). `inputs` are the command's input paths.
void check_output_path(const std::filesystem::path& path, const std::string& what, OutputKind kind,
                       const std::vector<std::filesystem::path>& inputs);

class OutputLock;

// Output files committed together, each target locked; the first is the main one (--out), renamed
// into place last. Writers write to path(target); commit() renames the written ones into place.
class OutputFiles {
 public:
  struct Target {
    std::filesystem::path path;
    std::string what;      // the option that named it: "--out", "--centers", "--out (derived)"
    bool derived = false;  // named after --out: removed at commit when this run does not write it
  };
  OutputFiles(std::vector<Target> targets, const std::vector<std::filesystem::path>& inputs);
  ~OutputFiles();
  OutputFiles(const OutputFiles&) = delete;
  OutputFiles& operator=(const OutputFiles&) = delete;
  // Where to write `target` (one of the targets): a hidden temporary in its folder.
  std::filesystem::path path(const std::filesystem::path& target) const;
  void commit();

 private:
  std::vector<Target> targets_;
  std::vector<std::filesystem::path> temps_;
  std::vector<std::unique_ptr<OutputLock>> locks_;
  bool committed_ = false;
};

// What a folder of an older hmr (before .hmr-run.json) looks like, so it may be replaced.
struct DirectoryKind {
  std::string command;                // "tfidf", "mfcc", "easy", ...
  std::string signature;              // a file every such run wrote ("tfidf_model.json")
  std::vector<std::string> patterns;  // fnmatch patterns of every name such a run wrote
};
DirectoryKind experiment_directory(const std::string& command);  // easy, medium, hard

// --out DIR written as one unit (see the top of this file).
class OutputDirectory {
 public:
  OutputDirectory(const std::filesystem::path& dir, DirectoryKind kind,
                  const std::vector<std::filesystem::path>& inputs);
  ~OutputDirectory();
  OutputDirectory(const OutputDirectory&) = delete;
  OutputDirectory& operator=(const OutputDirectory&) = delete;
  const std::filesystem::path& dir() const { return dir_; }
  const std::filesystem::path& stage() const { return stage_; }  // write everything here
  void commit();

 private:
  std::filesystem::path dir_, stage_;
  DirectoryKind kind_;
  std::vector<std::filesystem::path> created_parents_;  // removed again (if empty) on failure
  std::unique_ptr<OutputLock> lock_;
  bool committed_ = false;
};

// Completes the final step of a killed run whose output set holds one of `inputs` (its journal
// beside the input), so a command reads whole sets. OutputFiles and OutputDirectory call it for
// their inputs; commands without outputs call it before reading. A journal that cannot be
// replayed (its files locked by a run in progress, or not hmr's) is left, with a warning.
void settle_inputs(const std::vector<std::filesystem::path>& inputs);

// For the interrupt handler (apps/hmr/main.cpp): removes the staging folders and temporaries of
// every output not committed yet and blocks any commit from starting, so the process can exit
// leaving --out as it was (or, when the switch had happened, as the new run). Never returns the
// commit lock: call it once, then exit.
void abandon_outputs();

}  // namespace hmr::io
