// Hands out inode or chunk ids on the leader from blocks reserved through the log (ReserveIds),
// so ids are fixed before a command is proposed and each id costs no log round trip. Ids of a
// block left unused (a restart, a lost leadership) are skipped, never reused.
// Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>

#include "absl/status/statusor.h"
#include "master/command_log.h"

namespace dfs {

class IdAllocator {
 public:
  IdAllocator(CommandLog* log, ReserveIdsCmd::Kind kind, uint64_t block_size)
      : log_(log), kind_(kind), block_size_(block_size) {}

  absl::StatusOr<uint64_t> Next();
  // Forgets the current block (call when leadership changes).
  void Reset();

 private:
  CommandLog* log_;
  const ReserveIdsCmd::Kind kind_;
  const uint64_t block_size_;
  std::mutex mu_;
  uint64_t next_ = 0;  // guarded by mu_
  uint64_t end_ = 0;   // guarded by mu_
};

}  // namespace dfs
