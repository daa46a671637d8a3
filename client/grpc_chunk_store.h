// The real datanode side of ChunkWriter: chunks allocated by the master (AllocateChunk) and
// written with DatanodeService.WriteChunk through a chain of datanodes, or, for a chunk of at
// most ClientOptions::fan_out_max_bytes whose size is known, with one PutChunk to every datanode
// at once.
//
// GrpcChunkAllocator is thread-safe (it only holds the thread-safe MasterClient); each pipeline
// it opens belongs to the one ChunkWriter that asked for it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "client/chunk_reservations.h"
#include "client/chunk_writer.h"
#include "client/master_client.h"
#include "client/options.h"
#include "common/metrics.h"

namespace dfs {

class GrpcChunkAllocator : public ChunkAllocator {
 public:
  // `master` and `clock` must outlive the allocator.
  GrpcChunkAllocator(MasterClient* master, const ClientOptions& options,
                     Clock* clock = RealClock::Get());

  // A small chunk (see ClientOptions::chunk_reserve_count) takes a reservation when there is
  // one; otherwise AllocateChunk is asked, for the reservations too.
  absl::StatusOr<std::unique_ptr<ChunkPipeline>> Open(
      uint64_t size_hint, const std::vector<std::string>& exclude) override;
  // Probes each node of the failed chain (DatanodeService.Identity, short deadline) and names the
  // ones that do not answer as themselves. Which hop broke is not in the error, so asking is more
  // reliable than guessing; a node that answers is worth another try. Reservations through the
  // named nodes are dropped.
  std::vector<std::string> Suspects(const ChunkPipeline& pipeline,
                                    const absl::Status& error) override;
  void Pause(int attempt) override;

 private:
  // Whether a chunk of `size_hint` bytes is sent to its datanodes at once rather than chained.
  bool FanOut(uint64_t size_hint) const;

  MasterClient* const master_;
  const ClientOptions options_;
  ChunkReservations reservations_;
};

// dfs_client_write_stage_seconds{stage}: where writing time goes. "allocate": AllocateChunk
// calls; "pipeline": from opening a chunk's pipeline until every replica has the chunk;
// "commit": CommitWrite calls.
metrics::Histogram* WriteStageLatency(absl::string_view stage);

// The deadline for streaming `bytes` of chunk data to or from a datanode: the per-RPC timeout
// plus time for the bytes at a pessimistic 1 MiB/s, so a large transfer is not cut off while a
// dead peer is still noticed.
int64_t DataTimeoutMs(const ClientOptions& options, uint64_t bytes);

}  // namespace dfs
