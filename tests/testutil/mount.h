// FuseMount: a dfs-fuse process serving a cluster at a temporary mount point, for tests that
// use the mount through real system calls. dfs-fuse runs in the foreground (-f) as a child
// process with its log in a file; Mount() returns once the kernel lists the mount in
// /proc/self/mountinfo. The mount is always taken down by Unmount() or the destructor:
// `fusermount3 -u`, lazily (-z) if something still uses it, then the process is waited for and,
// failing that, killed by its PID — never by name.
//
// Thread-compatible: one test thread drives a FuseMount; any thread may use the mounted files.
#pragma once

#include <functional>
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
  // added to dfs-fuse's command line (e.g. "--timeout_ms=3000"). dfs-fuse is started through
  // `exec_prefix` if given (e.g. nsenter into a client's network namespace; the mount namespace
  // must stay this process's, so not `ip netns exec`).
  absl::Status Mount(const std::string& masters, const std::vector<std::string>& extra_flags = {},
                     const std::vector<std::string>& exec_prefix = {});
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
  // host:port of dfs-fuse's HTTP server (/metrics); "" until it serves.
  std::string http_address() const;

 private:
  std::string HttpPortFile() const;

  TempDir dir_;
  std::string mountpoint_;
  std::string log_path_;
  Process process_;
};

// True if `path` is a mount point of a FUSE file system of this process's mount namespace.
bool IsFuseMounted(const std::string& path);

// The full path of program `name`, from $PATH or the usual system directories ("" if none).
std::string FindProgram(const std::string& name);

// For any FUSE daemon a test starts (`name` and `log` for messages): waits up to 20 s until
// `mountpoint` is mounted, failing early if the daemon exits.
absl::Status WaitForFuseMount(const std::string& mountpoint, Process& daemon,
                              const std::string& name, const std::function<std::string()>& log);
// Unmounts (lazily if busy) and waits for the daemon to exit, killing it by PID after 20 s. An
// error if it had to be forced or the daemon exited with a non-zero status; gone either way.
absl::Status UnmountFuse(const std::string& mountpoint, Process& daemon, const std::string& name,
                         const std::function<std::string()>& log);

}  // namespace dfs::testing
