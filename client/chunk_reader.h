// Reading a byte range of one chunk from its replicas: streams DatanodeService.ReadChunk from one
// replica (in requests of a few MiB, each with a deadline that fits its size), verifies every
// piece's CRC32C, hands verified bytes to a sink as they arrive, and on failure continues from
// where it stopped on the next replica.
//
// A replica that returns DATA_LOSS, a checksum mismatch, NOT_FOUND (the master thinks it has the
// chunk, it does not) or fewer/more bytes than asked for is *bad*: it is reported (to the master,
// through the reporter callback) and not tried again. A replica that is unreachable or slow is
// merely *failed*: not reported. If an attempt delivered some bytes before failing, failed
// replicas get another chance, because the failure was then likely the sink's slowness (a paused
// `dfs cat | less` outlives any deadline) or a transient fault, not the replica. The read fails
// only when every replica has failed or is bad without progress.
//
// Thread-safe: a pure function of its arguments (the callbacks are called on the calling thread).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "client/io.h"
#include "client/options.h"
#include "proto/common.pb.h"

namespace dfs {

// Called for each bad replica found: chunk id, datanode id, reason.
using BadReplicaReporter =
    std::function<void(uint64_t chunk_id, const std::string& datanode_id, const std::string& reason)>;

// Reads bytes [chunk_offset, chunk_offset + length) of the chunk at `location` into `sink`.
// Errors: the sink's own error as is; DATA_LOSS when every replica was bad; otherwise UNAVAILABLE
// naming the chunk and the last replica error.
absl::Status ReadChunkRange(const ClientOptions& options, const ChunkLocation& location,
                            uint64_t chunk_offset, uint64_t length, const ByteSink& sink,
                            const BadReplicaReporter& report_bad);

}  // namespace dfs
