// Checks of every DatanodeService request, made at the top of each handler before the request
// touches the chunk store or makes this node dial anyone: chunk ids (non-zero), byte ranges (no
// wrap-around, chunks no larger than kMaxChunkBytes), repeated-field counts and peer addresses
// (host:port only, so a request can never make a datanode dial a local socket). A failure is
// InvalidArgument naming the field.
//
// Chunk ids reach the file system only as numbers formatted into ChunkStore::ChunkPath; no other
// request field ever becomes part of a path.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "proto/datanode.pb.h"

namespace dfs {

// Chunk ids one DeleteChunks call may name (the master sends batches of 1000).
inline constexpr int kMaxDeleteChunks = 10000;

// The largest chunk one PutChunk may carry: fan-outs are for small chunks (the client's
// fan_out_max_bytes, 1 MiB by default), and gRPC receives at most 4 MiB per message.
inline constexpr uint64_t kMaxPutChunkBytes = 2 << 20;

// The first message of a WriteChunk stream: it must carry the header.
absl::Status ValidateWriteHeader(const WriteChunkRequest& first);
// Every message of a WriteChunk stream, `written` bytes into the chunk: no second header, and the
// chunk stays within kMaxChunkBytes (a stream may not fill the disk with one chunk).
absl::Status ValidateWritePiece(const WriteChunkRequest& piece, bool first, uint64_t written);
// A PutChunk: a non-empty chunk within kMaxPutChunkBytes.
absl::Status ValidateRequest(const PutChunkRequest& request);
absl::Status ValidateRequest(const ReadChunkRequest& request);
absl::Status ValidateRequest(const DeleteChunksRequest& request);
absl::Status ValidateRequest(const ReplicateChunkRequest& request);

}  // namespace dfs
