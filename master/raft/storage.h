// Storage: what a Raft node persists, and gets back after a restart.
//
// The driver writes each Ready through Save() before it sends the Ready's messages (see the
// contract in raft_node.h), and stores the node's snapshot after RaftNode::CompactTo through
// Compact(). At startup Load() returns the state to construct the RaftNode from.
//
// Implementations: MemoryStorage (below; tests and simulation, models a crash that loses
// unsynced writes) and LevelDbStorage (leveldb_storage.h; the master).
// Thread safety: implementations are not thread-safe; the driver calls them from its Raft loop.
#pragma once

#include <deque>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "master/raft/raft_node.h"
#include "proto/raft.pb.h"

namespace dfs::raft {

class Storage {
 public:
  virtual ~Storage() = default;

  // Everything persisted so far (empty state for a new node).
  virtual absl::StatusOr<PersistentState> Load() = 0;

  // Applies one Ready atomically, in this order: `snapshot` (if set) replaces the stored snapshot
  // and drops every stored entry; `entries` replace any stored entries from entries[0].index on;
  // `hard_state` (if set) replaces the stored one. With `sync` the write is durable on return:
  // this is the group-commit point, one fsync for all the proposals that went into the Ready.
  // After a failed write the storage refuses further writes (its state on disk is unknown).
  virtual absl::Status Save(const std::optional<HardState>& hard_state,
                            const std::optional<Snapshot>& snapshot,
                            const std::vector<Entry>& entries, bool sync) = 0;

  // Stores a snapshot the node took locally (RaftNode::CompactTo, then node.snapshot()) and drops
  // the entries it covers; entries after it stay.
  virtual absl::Status Compact(const Snapshot& snapshot) = 0;

  absl::Status SaveReady(const Ready& ready) {
    return Save(ready.hard_state, ready.snapshot, ready.entries, ready.must_sync);
  }
};

// In-memory storage. Unsynced writes are kept apart until the next synced write; Crash() drops
// them, as power loss drops what was written but not fsynced.
class MemoryStorage : public Storage {
 public:
  absl::StatusOr<PersistentState> Load() override;
  absl::Status Save(const std::optional<HardState>& hard_state,
                    const std::optional<Snapshot>& snapshot, const std::vector<Entry>& entries,
                    bool sync) override;
  absl::Status Compact(const Snapshot& snapshot) override;

  // Forgets every write since the last synced one.
  void Crash() { pending_.clear(); }
  // Test hook: the next Save/Compact fails (and all after it, like a real failed fsync).
  void FailWrites() { failed_ = true; }

  // Durable view (what survives a crash).
  const PersistentState& durable() const { return durable_; }

 private:
  struct Op {
    std::optional<HardState> hard_state;
    std::optional<Snapshot> snapshot;  // with compact: keep later entries
    bool compact = false;
    std::vector<Entry> entries;
  };
  static void ApplyOp(const Op& op, PersistentState* state);

  PersistentState durable_;
  std::vector<Op> pending_;
  bool failed_ = false;
};

}  // namespace dfs::raft
