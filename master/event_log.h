// EventLog: the last few hundred things that happened to the cluster as this master saw them
// (leader elected, datanode registered / declared dead / back, decommission started / finished,
// snapshot taken), kept in memory for the status page. Not replicated and not persisted: a
// restarted master starts with an empty log, like the HDFS NameNode's page.
//
// ClusterEventWatcher finds those events by comparing successive views of the state the
// AdminService reports (RaftStatus, ListDatanodes). Polling is deliberate: a datanode's death
// is not an event anywhere in the code (liveness is computed from the heartbeat age when asked),
// and Raft's leader changes and snapshots happen inside the Raft loop, which reports them only
// through its status.
//
// Thread-safe (EventLog); ClusterEventWatcher is thread-compatible (one polling thread).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "proto/master.pb.h"

namespace dfs {

struct Event {
  int64_t time_ns = 0;  // wall clock
  std::string kind;     // "raft", "datanode", "decommission", "snapshot"
  bool warning = false; // shown highlighted (a datanode declared dead)
  std::string text;
};

class EventLog {
 public:
  explicit EventLog(size_t capacity = 256, Clock* clock = RealClock::Get())
      : capacity_(capacity), clock_(clock) {}

  // Records an event (and logs it).
  void Record(std::string kind, std::string text, bool warning = false);
  // Up to `max` events, newest first.
  std::vector<Event> Recent(size_t max) const;

 private:
  const size_t capacity_;
  Clock* const clock_;
  mutable absl::Mutex mu_;
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);  // oldest first
};

class ClusterEventWatcher {
 public:
  explicit ClusterEventWatcher(EventLog* log) : log_(log) {}

  // Records what changed since the previous call. The first call records the leader and the
  // datanodes already known, but not the snapshot index a master restarts with.
  void Observe(const RaftStatusResponse& raft, const ListDatanodesResponse& datanodes);

 private:
  struct NodeState {
    bool live = false;
    DatanodeAdminState admin = DATANODE_IN_SERVICE;
  };

  EventLog* const log_;
  bool first_ = true;
  uint64_t term_ = 0;
  uint64_t leader_id_ = 0;
  uint64_t snapshot_index_ = 0;
  std::map<std::string, NodeState> nodes_;
};

}  // namespace dfs
