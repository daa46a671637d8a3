// ReplicateChunk: the datanode side of re-replication. The master asks this node to copy a chunk
// it lacks from other datanodes (proto/datanode.proto, ReplicateChunkRequest); this node pulls it
// with ReadChunk and seals it in its own store:
//   - every piece's CRC32C is checked as it arrives, and the whole chunk's length and CRC32C are
//     checked against the master's record before the copy is sealed, so a copy is either exact
//     or not made;
//   - a source that answers DATA_LOSS or sends data that does not match is named in
//     bad_sources, and the next source is tried;
//   - a copy already stored here is read back in full (every block verified) and kept if it
//     matches; a damaged one is deleted and copied again;
//   - the copy is paced at max_bytes_per_sec when the master sets one.
// The call inherits the caller's deadline and cancellation.
//
// Thread-safe (one call per copy; calls for different chunks run in parallel).
#pragma once

#include <functional>

#include "absl/status/statusor.h"
#include "datanode/chunk_store.h"
#include "grpcpp/grpcpp.h"
#include "proto/datanode.pb.h"

namespace dfs {

// Fills `response`; its bad_sources are set even when the copy fails (the service sends them as
// trailing metadata then, kBadSourcesKey, since a failed call carries no response).
absl::Status ReplicateChunk(ChunkStore* store, const ReplicateChunkRequest& request,
                            grpc::ServerContext* context, ReplicateChunkResponse* response);

// Trailing metadata of a failed ReplicateChunk: comma-separated addresses of damaged sources.
inline constexpr char kBadSourcesKey[] = "dfs-bad-sources";

// Reads every block of a stored chunk (verifying each CRC) and returns its length and whole-chunk
// CRC32C as computed from the data. DataLoss if any block is damaged. Used by ReplicateChunk and
// by the scrubber.
struct VerifiedChunk {
  uint64_t length = 0;
  uint32_t crc32c = 0;
};
// `pace(bytes)` is called before each read of `bytes` (rate limiting); it returns false to stop
// (Cancelled).
absl::StatusOr<VerifiedChunk> VerifyStoredChunk(ChunkStore* store, uint64_t chunk_id,
                                                const std::function<bool(uint64_t)>& pace = nullptr);

}  // namespace dfs
