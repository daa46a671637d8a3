// LossyMount: a dfs-lossyfs process (tests/fault/lossyfs.cc) serving a backing directory at a
// mount point, for tests that crash servers with power-loss semantics. The mount is always taken
// down by Unmount() or the destructor (fusermount3 -u, lazily if busy, then the process is waited
// for and killed by PID if need be).
//
// Thread-compatible: one test thread drives a LossyMount.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/testutil/process.h"

namespace dfs::fault {

// What a crash keeps of names (see lossyfs.cc): kStrict, only what fsync(dir) made durable
// (POSIX); kJournal, also every name change made before any fsync (ext4 data=ordered).
enum class LossyNames { kStrict, kJournal };

// Not copyable: it owns the daemon's Process.
class LossyMount {
 public:
  LossyMount() = default;
  ~LossyMount();

  // Serves `backing` (created if missing; its content counts as durable) at `mountpoint`
  // (created if missing) and returns once the kernel lists the mount.
  absl::Status Mount(const std::string& backing, const std::string& mountpoint, LossyNames names);
  // Drops everything that is not durable, as a power cut would. Whoever used the files must be
  // dead already (their open handles fail from now on). Returns the counters afterwards.
  absl::StatusOr<std::string> Crash();
  // "crashes=... file_syncs=... dir_syncs=... dropped_bytes=... dropped_names=..."
  absl::StatusOr<std::string> Stats() const;
  absl::Status Unmount();

  const std::string& path() const { return mountpoint_; }
  bool mounted() const;
  std::string Log() const;

 private:
  std::string mountpoint_;
  std::string log_path_;
  testing::Process process_;
};

// The value of `key` in a Stats() line ("dropped_bytes" -> 123), or -1.
int64_t LossyStat(const std::string& stats, const std::string& key);

}  // namespace dfs::fault
