// ChunkReservations: chunks the master allocated ahead of need (AllocateChunkRequest.extra), so
// that a small write does not wait for an AllocateChunk round trip of its own.
//
// A reservation is a chunk id and its pipeline, as AllocateChunk returned them. It is only
// handed out while it is fresh (placement looks at datanode load and liveness, which change),
// only for small chunks (the master placed it for at most `max_bytes`), and never to a writer
// that is avoiding some datanodes (it retries after a failure and wants a placement that knows
// about it). A reservation nobody uses costs nothing but an id: the master never sees the chunk
// committed, and no datanode stores it.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "proto/common.pb.h"

namespace dfs {

struct ReservedChunk {
  uint64_t chunk_id = 0;
  std::vector<DatanodeInfo> pipeline;
};

class ChunkReservations {
 public:
  // Reservations cover chunks of at most `max_bytes` and expire `ttl_ms` after Add.
  ChunkReservations(uint64_t max_bytes, int64_t ttl_ms, Clock* clock)
      : max_bytes_(max_bytes), ttl_ms_(ttl_ms), clock_(clock) {}

  // Whether a chunk of `size_hint` bytes for a writer avoiding `exclude` may use a reservation.
  bool Covers(uint64_t size_hint, const std::vector<std::string>& exclude) const {
    return exclude.empty() && size_hint <= max_bytes_;
  }

  // The oldest fresh reservation, if Covers() and there is one; expired ones are dropped.
  std::optional<ReservedChunk> Take(uint64_t size_hint, const std::vector<std::string>& exclude);

  // Adds chunks that the master allocated for at most max_bytes each.
  void Add(std::vector<ReservedChunk> chunks);

  // Drops every reservation whose pipeline uses one of `datanode_ids` (they look dead).
  void DropNodes(const std::vector<std::string>& datanode_ids);

  uint64_t max_bytes() const { return max_bytes_; }
  size_t size() const;

 private:
  struct Entry {
    ReservedChunk chunk;
    int64_t expires_ns;
  };

  const uint64_t max_bytes_;
  const int64_t ttl_ms_;
  Clock* const clock_;

  mutable absl::Mutex mu_;
  std::deque<Entry> entries_ ABSL_GUARDED_BY(mu_);  // oldest first
};

}  // namespace dfs
