// GarbageCollector: removes chunk copies nothing needs any more.
//
//   - Garbage chunks (G records: a chunk whose last reference went away) are deleted from their
//     live replicas once garbage_grace_ms has passed since they became garbage (readers that
//     fetched the old extents just before keep working meanwhile), then forgotten with one
//     PurgeGarbageCmd per batch. A copy on a dead node is left behind; if the node comes back, its
//     copy is an orphan (below).
//   - Orphans: copies that datanodes report but the master knows neither as a chunk nor as
//     garbage (an abandoned write pipeline, an interrupted put, a copy on a node that was dead
//     while its chunk was collected). Soft state records when this leader first saw each one; it
//     is deleted orphan_grace_ms later if it is still unknown after a read barrier, so a chunk
//     whose write is being committed right now survives.
//
// RunOnce() runs on Maintenance's janitor thread only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "master/maintenance/context.h"

namespace dfs {

class GarbageCollector {
 public:
  explicit GarbageCollector(MaintenanceContext* ctx) : ctx_(ctx) {}

  void RunOnce();
  // Called when a new term starts: orphan ages restart with the new leader's observations.
  void Reset() { orphan_first_seen_.clear(); }

 private:
  void CollectGarbage(uint64_t term);
  void CollectOrphans(uint64_t term);

  MaintenanceContext* const ctx_;
  // (node id, chunk) -> when this leader first saw the unknown copy (monotonic ns).
  std::map<std::pair<std::string, uint64_t>, int64_t> orphan_first_seen_;
};

}  // namespace dfs
