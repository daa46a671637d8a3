#include "client/chunk_reservations.h"

#include <algorithm>
#include <utility>

namespace dfs {

std::optional<ReservedChunk> ChunkReservations::Take(uint64_t size_hint,
                                                     const std::vector<std::string>& exclude) {
  if (!Covers(size_hint, exclude)) return std::nullopt;
  const int64_t now = clock_->MonotonicNanos();
  absl::MutexLock lock(&mu_);
  while (!entries_.empty()) {
    Entry entry = std::move(entries_.front());
    entries_.pop_front();
    if (entry.expires_ns > now) return std::move(entry.chunk);
  }
  return std::nullopt;
}

void ChunkReservations::Add(std::vector<ReservedChunk> chunks) {
  const int64_t expires = clock_->MonotonicNanos() + ttl_ms_ * 1000000;
  absl::MutexLock lock(&mu_);
  for (ReservedChunk& chunk : chunks) entries_.push_back({std::move(chunk), expires});
}

void ChunkReservations::DropNodes(const std::vector<std::string>& datanode_ids) {
  if (datanode_ids.empty()) return;
  absl::MutexLock lock(&mu_);
  auto uses_one = [&](const Entry& entry) {
    return std::any_of(entry.chunk.pipeline.begin(), entry.chunk.pipeline.end(),
                       [&](const DatanodeInfo& node) {
                         return std::find(datanode_ids.begin(), datanode_ids.end(), node.id()) !=
                                datanode_ids.end();
                       });
  };
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(), uses_one), entries_.end());
}

size_t ChunkReservations::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace dfs
