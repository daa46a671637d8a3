// FuseMount: a dfs-fuse process serving a cluster at a temporary mount point, for tests that
// use the mount through real system calls. dfs-fuse runs in the foreground (-f) as a child
// process with its log in a file; Mount() returns once the kernel lists the mount in
// /proc/self/mountinfo. The mount is always taken down by Unmount() or the destructor:
// `fusermount3 -u`, lazily (-z) if something still uses it, then the process is waited for and,
// failing that, killed by its PID — never by name.
//
// Thread-compatible: one test thread drives a FuseMount; any thread may use the mounted files.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tests/testutil/process.h"
#include "tests/testutil/temp_dir.h"

namespace dfs::testing {

class FuseMount {
 public:
  FuseMount() = default;
  ~FuseMount();
  FuseMount(const FuseMount&) = delete;
  FuseMount& operator=(const FuseMount&) = delete;

  // Mounts the cluster whose masters are `masters` at a fresh directory, with `extra_flags`
  // added to dfs-fuse's command line (e.g. "--timeout_ms=3000").
  absl::Status Mount(const std::string& masters, const std::vector<std::string>& extra_flags = {});
  // Unmounts and waits for dfs-fuse to exit. An error if it had to be forced (lazy unmount, or
  // killing the process) or dfs-fuse exited with a non-zero status; the mount is gone either way.
  absl::Status Unmount();

  // The mount point, and a path inside it.
  const std::string& path() const { return mountpoint_; }
  std::string Path(const std::string& relative) const { return mountpoint_ + "/" + relative; }
  bool mounted() const;
  pid_t pid() const { return process_.pid(); }
  // The tail of dfs-fuse's log, for failure messages.
  std::string Log() const;

 private:
  TempDir dir_;
  std::string mountpoint_;
  std::string log_path_;
  Process process_;
};

// True if `path` is a mount point of a FUSE file system of this process's mount namespace.
bool IsFuseMounted(const std::string& path);

// The full path of program `name`, from $PATH or the usual system directories ("" if none).
std::string FindProgram(const std::string& name);

}  // namespace dfs::testing
