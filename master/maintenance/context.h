// What every background maintenance task of the leader shares: its options, the master's state
// machine, command log and datanode view, the leadership it acts under, counters, and helpers
// that every task needs (propose a command, delete copies on a datanode).
//
// Leadership: the maintenance tasks act only while the command log says this master leads.
// Maintenance's main loop calls UpdateLeadership() every tick; each gain of leadership starts a
// new `term` (a local counter, not Raft's), so a task started under one term notices that it
// belongs to an old one and drops its work. Ready() adds the failover rule: liveness is soft
// state, so a new leader (or a restarted master) does nothing that depends on it until it has
// led for one dead-timeout and heard from datanodes since it became leader.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "master/command_log.h"
#include "master/datanode_manager.h"
#include "master/state_machine.h"
#include "proto/command.pb.h"

namespace dfs {

struct MaintenanceOptions {
  bool enabled = true;
  int replication = 3;
  int64_t datanode_dead_ms = 10000;
  // How often the replicator scans the chunk map.
  int64_t scan_interval_ms = 5000;
  // How often the master asks each datanode for a full chunk report.
  int64_t chunk_report_interval_ms = 5 * 60 * 1000;
  // Copies (re-replication, draining, balancing) running at once, cluster-wide.
  int max_concurrent_copies = 8;
  // Bytes per second all copies together may move; 0: unlimited.
  uint64_t replication_bytes_per_sec = 128ull << 20;
  // A garbage chunk (no file references it) is deleted this long after it became garbage.
  int64_t garbage_grace_ms = 10 * 60 * 1000;
  // A copy that datanodes report but the master does not know at all is deleted this long after
  // the master first saw it: long enough for any write in progress to commit.
  int64_t orphan_grace_ms = 60 * 60 * 1000;
  int64_t gc_interval_ms = 10 * 1000;
  // Trash checkpoints (/.Trash/<time>) older than this are deleted.
  int64_t trash_retention_ms = 24ll * 60 * 60 * 1000;
  int64_t trash_interval_ms = 60 * 1000;
  // The balancer: utilization spread allowed around the cluster's average (fraction), how often
  // it runs on its own (0: only when asked), and how much one round moves at most.
  double balancer_threshold = 0.10;
  int64_t balancer_interval_ms = 60 * 60 * 1000;
  uint64_t balancer_max_bytes_per_round = 8ull << 30;
  // The merger: files and extents smaller than merge_small_bytes are packed into chunks of up to
  // merge_target_bytes; a file is cold after merge_cold_ms without a change; 0 disables it.
  int64_t merge_interval_ms = 0;
  uint64_t merge_small_bytes = 1ull << 20;
  uint64_t merge_target_bytes = 64ull << 20;
  int64_t merge_cold_ms = 60 * 60 * 1000;
  uint64_t merge_max_files_per_round = 100000;

  absl::Status Validate() const;
};

// Counters shown by ClusterStatus. The scan figures describe the last scan.
struct MaintenanceStats {
  std::atomic<uint64_t> missing_chunks{0};
  std::atomic<uint64_t> under_replicated_chunks{0};
  std::atomic<uint64_t> over_replicated_chunks{0};
  std::atomic<uint64_t> garbage_chunks{0};
  std::atomic<uint64_t> replications_done{0};
  std::atomic<uint64_t> replications_failed{0};
  std::atomic<uint64_t> replicas_trimmed{0};
  std::atomic<uint64_t> garbage_purged{0};
  std::atomic<uint64_t> orphans_deleted{0};
  std::atomic<uint64_t> balancer_moves{0};
  std::atomic<uint64_t> merges_done{0};
  std::atomic<uint64_t> scans{0};
};

class MaintenanceContext {
 public:
  MaintenanceContext(MaintenanceOptions options, StateMachine* sm, CommandLog* log,
                     DatanodeManager* datanodes, Clock* clock)
      : options_(std::move(options)), sm_(sm), log_(log), datanodes_(datanodes), clock_(clock) {}

  const MaintenanceOptions& options() const { return options_; }
  StateMachine* sm() { return sm_; }
  CommandLog* log() { return log_; }
  DatanodeManager* datanodes() { return datanodes_; }
  Clock* clock() { return clock_; }
  MaintenanceStats& stats() { return stats_; }

  // Polls the log; returns true when leadership was just gained (a new term starts).
  bool UpdateLeadership();
  bool IsLeader() { return log_->IsLeader() && leader_.load(); }
  uint64_t term() const { return term_.load(); }
  // True if `term` is still the current one and this master still leads.
  bool StillLeading(uint64_t term) { return term == term_.load() && IsLeader(); }
  int64_t leader_since_ns() const { return leader_since_ns_.load(); }
  // Leader for at least one dead-timeout, and some datanode heartbeated since it became leader.
  bool Ready();
  // A node's chunk report can be trusted if it arrived after this master became leader.
  bool TrustedReport(const DatanodeManager::NodeView& node) const {
    return node.report != nullptr && node.report_ns > leader_since_ns_.load();
  }

  void RequestStop() { stopping_ = true; }
  bool stopping() const { return stopping_.load(); }

  // Proposes `command` (stamped with the leader's clock, without a session: every maintenance
  // command is idempotent). The result carries semantic errors; the status only log errors.
  absl::StatusOr<CommandResult> Propose(Command command);
  // Proposes many commands from several threads at once, so they share log writes (group
  // commit). Returns each one's outcome, in order.
  std::vector<absl::StatusOr<CommandResult>> ProposeAll(const std::vector<Command>& commands);

  // Deletes chunk copies on a datanode with a direct DeleteChunks call (synchronous, unlike the
  // heartbeat path, so nothing is left pending that a later copy could race with).
  absl::Status DeleteOnDatanode(const std::string& address, const std::vector<uint64_t>& ids);

  // Decommissioned (draining) datanode ids, from the state machine.
  std::vector<std::string> DecommissionedIds();

 private:
  const MaintenanceOptions options_;
  StateMachine* const sm_;
  CommandLog* const log_;
  DatanodeManager* const datanodes_;
  Clock* const clock_;
  MaintenanceStats stats_;
  std::atomic<bool> leader_{false};
  std::atomic<uint64_t> term_{0};
  std::atomic<int64_t> leader_since_ns_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace dfs
