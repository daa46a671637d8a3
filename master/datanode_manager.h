// Soft state about datanodes, built from heartbeats on the serving master: addresses, racks,
// space, load and liveness (dead after `dead_after_ms` without a heartbeat). Not in the log: a
// restarted or new leader rebuilds it from the next heartbeats. Also queues chunk deletions that
// heartbeat responses carry back to datanodes.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/random.h"
#include "proto/master.pb.h"

namespace dfs {

class DatanodeManager {
 public:
  DatanodeManager(Clock* clock, int64_t dead_after_ms, uint64_t seed)
      : clock_(clock), dead_after_ms_(dead_after_ms), random_(seed) {}

  // Records a heartbeat. Returns true if the master wants a full chunk report from this node.
  bool Heartbeat(const HeartbeatRequest& request);

  bool IsLive(const std::string& id);
  std::optional<DatanodeInfo> Find(const std::string& id);

  // Chooses up to `count` live datanodes for a new chunk of about `size_hint` bytes, avoiding
  // `exclude`. Unavailable if no live datanode is left.
  absl::StatusOr<std::vector<DatanodeInfo>> Place(int count, uint64_t size_hint,
                                                  const std::set<std::string>& exclude);

  std::vector<DatanodeStatus> List();

  void QueueDelete(const std::string& id, uint64_t chunk_id);
  std::vector<uint64_t> TakeDeletes(const std::string& id);

 private:
  struct Node {
    HeartbeatRequest last;  // without its chunk list
    int64_t last_heartbeat_ns = 0;
    uint64_t pending_bytes = 0;  // promised to writes since the last heartbeat
    bool has_report = false;
    std::vector<uint64_t> deletes;
  };
  bool LiveLocked(const Node& node) const;

  Clock* clock_;
  const int64_t dead_after_ms_;
  std::mutex mu_;
  Random random_;                     // guarded by mu_
  std::map<std::string, Node> nodes_;  // guarded by mu_
};

}  // namespace dfs
