// Soft state about datanodes, built from heartbeats on the serving master: addresses, racks,
// space, load and liveness (dead after `dead_after_ms` without a heartbeat), and each node's last
// full chunk report. Not in the log: a restarted or new leader rebuilds it from the next
// heartbeats. Also queues chunk deletions that heartbeat responses carry back to datanodes, and
// holds what background maintenance tells it: which nodes are draining (they get no new chunks)
// and each node's admin state for status pages.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
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
  // `exclude` and draining nodes, and preferring racks not in `used_racks` (the racks of copies
  // that already exist). Unavailable if no live datanode is left.
  absl::StatusOr<std::vector<DatanodeInfo>> Place(int count, uint64_t size_hint,
                                                  const std::set<std::string>& exclude,
                                                  const std::set<std::string>& used_racks = {});

  std::vector<DatanodeStatus> List();

  void QueueDelete(const std::string& id, uint64_t chunk_id);
  std::vector<uint64_t> TakeDeletes(const std::string& id);
  // True while a delete of `chunk_id` is queued for node `id` or was handed to it less than
  // `window_ms` ago: the node may still hold the copy it is about to remove, so it must not be
  // chosen to receive a new copy of that chunk yet.
  bool DeletePending(const std::string& id, uint64_t chunk_id, int64_t window_ms);

  // ---- for background maintenance ----

  // A consistent view of one node.
  struct NodeView {
    DatanodeInfo info;
    bool live = false;
    int64_t last_heartbeat_ns = 0;  // monotonic
    uint64_t capacity_bytes = 0;
    uint64_t used_bytes = 0;
    uint64_t free_bytes = 0;  // less bytes promised to writes since its last heartbeat
    // The last full chunk report (sorted) and when it arrived (monotonic; 0: none yet).
    std::shared_ptr<const std::vector<uint64_t>> report;
    int64_t report_ns = 0;
  };
  std::vector<NodeView> Nodes();
  // Asks node `id` for a full chunk report in its next heartbeat response.
  void RequestReport(const std::string& id);
  // Nodes that get no new chunks (decommissioning or decommissioned).
  void SetDraining(std::set<std::string> ids);
  // Admin states shown by List(); nodes not named are in service.
  void SetAdminStates(std::map<std::string, DatanodeAdminState> states);
  void SetAdminState(const std::string& id, DatanodeAdminState state);

 private:
  struct Node {
    HeartbeatRequest last;  // without its chunk list
    int64_t last_heartbeat_ns = 0;
    uint64_t pending_bytes = 0;  // promised to writes since the last heartbeat
    bool has_report = false;
    std::vector<uint64_t> deletes;
    std::map<uint64_t, int64_t> recent_deletes;  // chunk -> when handed over (monotonic ns)
    std::shared_ptr<const std::vector<uint64_t>> report;
    int64_t report_ns = 0;
  };
  bool LiveLocked(const Node& node) const;

  Clock* clock_;
  const int64_t dead_after_ms_;
  std::mutex mu_;
  Random random_;                     // guarded by mu_
  std::map<std::string, Node> nodes_;  // guarded by mu_
  std::set<std::string> draining_;     // guarded by mu_
  std::map<std::string, DatanodeAdminState> admin_states_;  // guarded by mu_
};

}  // namespace dfs
