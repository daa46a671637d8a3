// Maintenance: the leader's background tasks, started with the master and wired to its admin
// RPCs. It owns
//   - the scan thread: follows leadership (a new term on every gain: soft state is reset and every
//     datanode is asked for a fresh chunk report), keeps the DatanodeManager's draining set in
//     step with the decommission records, asks datanodes for chunk reports every
//     chunk_report_interval_ms, runs the Replicator (re-replication, trimming, decommission
//     states, balancer rounds) every scan_interval_ms and starts a balancer run every
//     balancer_interval_ms;
//   - the copy workers (Copier);
//   - the janitor thread: the GarbageCollector every gc_interval_ms, the TrashExpirer every
//     trash_interval_ms and the Merger every merge_interval_ms (and when asked).
// Everything acts only while the command log says this master leads, and every change to
// persistent state is a command proposed through the log (master/maintenance_ops.h). When
// leadership is lost, queued copies are dropped and running ones cancelled at once.
//
// Safe mode (StateMachine::safe_mode()) pauses what changes files or deletes data on purpose:
// the GC, trash expiry, the merger and the balancer. The replicator keeps repairing (copying
// short chunks, dropping copies beyond RF): that changes no file, and a node lost during a long
// maintenance window should not leave chunks one failure away from loss.
//
// Thread-safe: the admin methods may be called from gRPC threads at any time.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "master/maintenance/context.h"
#include "master/maintenance/copier.h"
#include "master/maintenance/gc.h"
#include "master/maintenance/merger.h"
#include "master/maintenance/replicator.h"
#include "master/maintenance/trash_expirer.h"
#include "proto/master.pb.h"

namespace dfs {

class Maintenance {
 public:
  Maintenance(MaintenanceOptions options, StateMachine* sm, CommandLog* log,
              DatanodeManager* datanodes, Clock* clock);
  ~Maintenance();

  // Starts the threads (does nothing when options.enabled is false).
  void Start();
  // Stops and joins every thread; running copies are cancelled. Idempotent.
  void Stop();

  // ---- admin ----
  // Starts (or ends) draining a datanode named by id or by its address. NotFound for a name
  // no datanode has; Unavailable when not the leader.
  absl::StatusOr<DecommissionResponse> SetDecommission(const std::string& datanode,
                                                       bool decommission);
  // Starts a balancer run now; threshold 0: the configured one. FailedPrecondition in safe mode.
  absl::StatusOr<BalanceResponse> Balance(double threshold);
  // Starts a merger pass now, whatever merge_interval_ms says. FailedPrecondition in safe mode.
  absl::StatusOr<MergeResponse> Merge();
  // Adds the maintenance counters to a ClusterStatus answer.
  void FillStatus(ClusterStatusResponse* status);

 private:
  void ScanLoop();
  void JanitorLoop();
  // Waits up to `ms` or until Stop; returns false when stopping.
  bool Sleep(int64_t ms);
  void OnNewTerm();

  MaintenanceContext ctx_;
  Copier copier_;
  Replicator replicator_;
  GarbageCollector gc_;
  TrashExpirer trash_;
  Merger merger_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  bool merge_requested_ = false;  // guarded by mu_
  std::thread scan_thread_;
  std::thread janitor_thread_;
};

}  // namespace dfs
