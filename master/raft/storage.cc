#include "master/raft/storage.h"

#include "common/status.h"

namespace dfs::raft {

void MemoryStorage::ApplyOp(const Op& op, PersistentState* state) {
  if (op.snapshot.has_value()) {
    const uint64_t index = op.snapshot->metadata().index();
    if (op.compact) {
      std::vector<Entry> kept;
      for (Entry& e : state->entries) {
        if (e.index() > index) kept.push_back(std::move(e));
      }
      state->entries = std::move(kept);
    } else {
      state->entries.clear();
    }
    state->snapshot = *op.snapshot;
  }
  if (!op.entries.empty()) {
    const uint64_t from = op.entries.front().index();
    while (!state->entries.empty() && state->entries.back().index() >= from) {
      state->entries.pop_back();
    }
    const uint64_t expected = state->entries.empty() ? state->snapshot.metadata().index() + 1
                                                     : state->entries.back().index() + 1;
    DFS_CHECK(from == expected);
    for (const Entry& e : op.entries) state->entries.push_back(e);
  }
  if (op.hard_state.has_value()) state->hard_state = *op.hard_state;
}

absl::StatusOr<PersistentState> MemoryStorage::Load() {
  PersistentState state = durable_;
  for (const Op& op : pending_) ApplyOp(op, &state);
  return state;
}

absl::Status MemoryStorage::Save(const std::optional<HardState>& hard_state,
                                 const std::optional<Snapshot>& snapshot,
                                 const std::vector<Entry>& entries, bool sync) {
  if (failed_) return absl::InternalError("memory storage: injected write failure");
  if (!hard_state && !snapshot && entries.empty()) return absl::OkStatus();
  Op op{hard_state, snapshot, false, entries};
  if (!sync) {
    pending_.push_back(std::move(op));
    return absl::OkStatus();
  }
  // An fsync makes everything written before it durable too.
  for (const Op& p : pending_) ApplyOp(p, &durable_);
  pending_.clear();
  ApplyOp(op, &durable_);
  return absl::OkStatus();
}

absl::Status MemoryStorage::Compact(const Snapshot& snapshot) {
  if (failed_) return absl::InternalError("memory storage: injected write failure");
  Op op{std::nullopt, snapshot, true, {}};
  for (const Op& p : pending_) ApplyOp(p, &durable_);
  pending_.clear();
  ApplyOp(op, &durable_);
  return absl::OkStatus();
}

}  // namespace dfs::raft
