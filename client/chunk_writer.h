// ChunkWriter: turns a byte stream into sealed chunks on the datanodes, ready to be committed to
// a file with Create or CommitWrite.
//
// Bytes are cut into chunks of exactly chunk_size_bytes (the last one may be shorter). While a
// chunk fills up, its bytes are streamed to the chunk's pipeline in pieces of at most
// piece_bytes, so a chunk is on the wire while it is still being produced. The current chunk's
// bytes stay buffered (at most one chunk) until the pipeline acknowledges that every replica has
// them durably, because a failed pipeline is abandoned, never repaired: the writer asks for a new
// chunk on other datanodes (excluding the ones that look dead) and sends the buffered bytes again.
// Nothing is visible in the namespace until the caller commits the result; chunks of an abandoned
// pipeline, or of a writer that is never committed, are garbage that the master collects.
//
// The datanode side is behind two small interfaces (ChunkAllocator, ChunkPipeline) so that the
// cutting and retry logic can be tested with fakes; client/grpc_chunk_store.h has the real ones.
//
// Not thread-safe: one writer belongs to one producer. Different writers are independent.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "proto/common.pb.h"

namespace dfs {

// What a pipeline reports when it seals a chunk.
struct SealedChunk {
  uint64_t length = 0;
  uint32_t crc32c = 0;
  std::vector<std::string> stored_on;  // datanode ids
};

// One attempt at writing one chunk through a chain of datanodes.
class ChunkPipeline {
 public:
  virtual ~ChunkPipeline() = default;
  virtual uint64_t chunk_id() const = 0;
  // The datanodes of the chain, first one first.
  virtual const std::vector<DatanodeInfo>& nodes() const = 0;
  // Sends the next piece of the chunk; `last` says that no piece follows (Finish comes next),
  // so the end of the stream can travel with it. An error means the pipeline is broken.
  virtual absl::Status Write(absl::string_view piece, bool last) = 0;
  // Ends the stream and waits until every replica has the chunk durably.
  virtual absl::StatusOr<SealedChunk> Finish() = 0;
};

// Hands out chunk pipelines (the master's AllocateChunk plus opening the stream).
class ChunkAllocator {
 public:
  virtual ~ChunkAllocator() = default;
  // A new chunk whose pipeline avoids the datanodes in `exclude` (ids).
  virtual absl::StatusOr<std::unique_ptr<ChunkPipeline>> Open(
      uint64_t size_hint, const std::vector<std::string>& exclude) = 0;
  // After `pipeline` failed with `error`: the ids of its nodes that should be avoided next time
  // (the real one probes them and names the unreachable ones).
  virtual std::vector<std::string> Suspects(const ChunkPipeline& pipeline,
                                            const absl::Status& error) = 0;
  // Waits before retry number `attempt` (1-based) of a chunk.
  virtual void Pause(int attempt) {}
};

// What a finished writer produced: extents with file offsets relative to the first byte written,
// the chunks they reference, and the byte count.
struct WrittenData {
  std::vector<Extent> extents;
  std::vector<ChunkInfo> chunks;
  uint64_t length = 0;
};

struct ChunkWriterOptions {
  uint64_t chunk_size_bytes = 64ull << 20;
  size_t piece_bytes = 1 << 20;  // kDataPieceBytes for real pipelines
  int max_attempts_per_chunk = 5;
  // When positive, a failed attempt is not retried once the writer has gone this long without
  // progress (bytes accepted by a pipeline, a chunk sealed) within the current Append or
  // Finish, so that a caller facing an unreachable cluster gets an error after about one
  // operation deadline instead of one per attempt (an allocation alone may wait that long).
  int64_t retry_deadline_ms = 0;
};

class ChunkWriter {
 public:
  // `clock` measures retry_deadline_ms.
  ChunkWriter(ChunkAllocator* allocator, const ChunkWriterOptions& options,
              Clock* clock = RealClock::Get());
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  // Adds bytes. Returns an error if a chunk could not be written after every retry; the writer is
  // then unusable.
  absl::Status Append(absl::string_view data);

  // Seals the last (partial) chunk and returns everything written. Call once.
  absl::StatusOr<WrittenData> Finish();

  uint64_t bytes_appended() const { return written_.length + buffer_.size(); }

 private:
  // Sends whole pieces of the buffer (and the tail too if `flush`), opening a pipeline if needed.
  absl::Status Pump(bool flush);
  // Seals the buffered chunk and records it; retries on new pipelines.
  absl::Status SealChunk();
  // Abandons the current pipeline after `error`; fails when the chunk has used its attempts.
  absl::Status Recover(const absl::Status& error);
  absl::Status OpenPipeline(bool final_size_known);

  ChunkAllocator* const allocator_;
  const ChunkWriterOptions options_;
  Clock* const clock_;

  WrittenData written_;
  std::string buffer_;   // the current chunk's bytes
  size_t sent_ = 0;      // bytes of buffer_ sent to pipeline_
  std::unique_ptr<ChunkPipeline> pipeline_;
  std::vector<std::string> exclude_;  // datanodes to avoid, for the rest of this writer
  int attempts_ = 0;     // failed attempts of the current chunk
  int64_t progress_ns_ = 0;  // monotonic time of the last progress, for retry_deadline_ms
  absl::Status broken_;  // sticky error
  bool finished_ = false;
};

}  // namespace dfs
