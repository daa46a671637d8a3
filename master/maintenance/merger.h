// Merger: coalesces small chunks, so that many small files (or a file grown by many small
// appends) do not cost one chunk file each on every replica.
//
// Each round (every merge_interval_ms, on the leader, after a read barrier) it scans the extent
// table once and picks cold files (unchanged for merge_cold_ms) whose data sits only in
// "mergeable" chunks: chunks smaller than merge_small_bytes, or shared chunks less than half of
// whose bytes are still referenced (compaction). Files are packed in inode order into groups of
// at most merge_target_bytes; for each group the merger reads the bytes from the datanodes
// (verified), writes them as one new chunk through a normal write pipeline to RF datanodes, and
// proposes one MergeSwapCmd: a compare-and-set on every file's generation that re-points the
// files' extents into the new chunk (adjacent pieces of a file become one extent). If any file
// changed meanwhile the swap fails as a whole and changes nothing; the unused new chunk is then
// an orphan for the GC, and the changed file, no longer cold, waits for a later round. The old
// chunks lose their references and become garbage.
//
// RunOnce() runs on Maintenance's janitor thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "master/id_allocator.h"
#include "master/maintenance/context.h"
#include "proto/common.pb.h"

namespace dfs {

class Merger {
 public:
  explicit Merger(MaintenanceContext* ctx);

  void RunOnce();
  // A new term: ids reserved under the old one are abandoned (never reused).
  void Reset();

 private:
  struct File {
    uint64_t inode = 0;
    uint64_t generation = 0;
    uint64_t size = 0;
    std::vector<Extent> extents;  // absolute file offsets
    uint64_t bytes = 0;           // bytes in extents
  };
  // Candidate files, in inode order.
  std::vector<File> FindCandidates();
  // Merges one group of files into one new chunk; returns how many files were merged.
  absl::StatusOr<int> MergeGroup(const std::vector<File>& files, uint64_t term);
  absl::StatusOr<std::string> ReadExtent(const Extent& extent);
  absl::StatusOr<ChunkInfo> WriteChunk(uint64_t chunk_id, const std::string& data);

  MaintenanceContext* const ctx_;
  std::unique_ptr<IdAllocator> chunk_ids_;
};

}  // namespace dfs
