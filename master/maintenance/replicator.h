// Replicator: the leader's periodic scan of the chunk map that keeps every chunk at RF good
// replicas (master/maintenance/replica_plan.h says what "good" means), and the balancer and the
// decommission bookkeeping that ride on the same scan.
//
// Each scan, for every chunk:
//   - compares the record with the datanodes' trusted chunk reports: an unrecorded copy is
//     adopted (AddReplicaCmd) while the chunk is short, deleted once it is not needed; a recorded
//     copy that two reports in a row (5 s apart at least) say is not there counts as dead;
//   - plans copies for chunks short of good replicas, fewest live replicas first, with targets
//     from DatanodeManager::Place (existing holders excluded, racks of the good copies avoided,
//     nodes about to delete a copy of the chunk excluded) and hands them to the Copier;
//   - trims copies beyond RF and forgets copies on dead nodes (TrimReplicaCmd, requiring the
//     copies kept), deleting trimmed copies on their nodes;
//   - counts missing chunks (no live copy: they stay in their files and are logged) and works out
//     which draining nodes are fully drained (decommissioned).
// Chunks with a copy in flight are left alone until it finishes.
//
// Then, when a balancer run is due and no chunk needs repair, plans a round of moves
// (balance_plan.h) from the chunks on the over-full nodes.
//
// Scan() runs on Maintenance's scan thread only; the admin calls are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "common/random.h"
#include "master/maintenance/context.h"
#include "master/maintenance/copier.h"
#include "proto/master.pb.h"

namespace dfs {

class Replicator {
 public:
  Replicator(MaintenanceContext* ctx, Copier* copier);

  // One scan (a no-op unless the context is Ready()).
  void Scan();
  // Called when a new term starts: forgets soft state from earlier terms.
  void Reset();

  // Asks for balancer rounds until the cluster is balanced (threshold 0: the configured one).
  void RequestBalance(double threshold);
  bool balancing();

 private:
  struct Suspect {
    int64_t first_ns;  // when the scan first saw the report without the copy
  };

  MaintenanceContext* const ctx_;
  Copier* const copier_;
  Random random_{0x5eed};
  // (chunk, node) -> a recorded copy the node's report does not list. Scan thread only.
  std::map<std::pair<uint64_t, std::string>, Suspect> suspects_;
  std::set<uint64_t> logged_missing_;  // scan thread only: missing chunks already logged

  std::mutex mu_;
  bool balance_requested_ = false;  // guarded by mu_
  double balance_threshold_ = 0;    // guarded by mu_
  int64_t balance_wait_until_ns_ = 0;  // guarded by mu_: let usage figures catch up
};

}  // namespace dfs
