// Storage: what a Raft node persists, and gets back after a restart.
//
// The driver writes each Ready through Save() before it sends the Ready's messages (see the
// contract in raft_node.h). A snapshot's data lives only here, never in the RaftNode: the driver
// writes the state machine into a SnapshotWriter (NewSnapshotWriter; on any thread, streaming),
// then calls RaftNode::CompactTo and Compact(), which adopts the written data; it fills the data
// of the core's outgoing snapshot chunks from here (FillSnapshotChunk, below). At startup Load()
// returns the state to construct the RaftNode from; ReadSnapshotData() the snapshot's bytes.
//
// Implementations: MemoryStorage (below; tests and simulation, models a crash that loses
// unsynced writes), SegmentStorage (segment_storage.h; the master) and LevelDbStorage
// (leveldb_storage.h; the master's log before, read once to migrate it).
// Thread safety: implementations are not thread-safe; the driver calls them from its Raft loop.
// A SnapshotWriter is independent of its storage until Compact(): one other thread may fill it.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "master/raft/raft_node.h"
#include "proto/raft.pb.h"

namespace dfs::raft {

// The data of a local snapshot, written before the storage adopts it (Storage::Compact). Size
// and CRC32C are computed as it is written, so nothing needs to read it back whole. Destroyed
// before it is adopted, it discards what was written.
class SnapshotWriter {
 public:
  virtual ~SnapshotWriter() = default;

  absl::Status Append(absl::string_view data);
  // Makes the data durable (for a file: flush, fsync). Nothing may be appended after.
  virtual absl::Status Finish() = 0;

  uint64_t size() const { return size_; }
  uint32_t crc32c() const { return crc_; }
  bool finished() const { return finished_; }

 protected:
  virtual absl::Status Write(absl::string_view data) = 0;
  bool finished_ = false;

 private:
  uint64_t size_ = 0;
  uint32_t crc_ = 0;
};

class Storage {
 public:
  virtual ~Storage() = default;

  // Everything persisted so far (empty state for a new node). The snapshot's data is not loaded:
  // read it with ReadSnapshotData.
  virtual absl::StatusOr<PersistentState> Load() = 0;

  // Applies one Ready atomically, in this order: `snapshot` (if set; received from the leader,
  // with its data) replaces the stored snapshot and drops every stored entry; `entries` replace
  // any stored entries from entries[0].index on; `hard_state` (if set) replaces the stored one.
  // With `sync` the write is durable on return: this is the group-commit point, one fsync for all
  // the proposals that went into the Ready.
  // After a failed write the storage refuses further writes (its state on disk is unknown).
  virtual absl::Status Save(const std::optional<HardState>& hard_state,
                            const std::optional<Snapshot>& snapshot,
                            const std::vector<Entry>& entries, bool sync) = 0;

  // A writer for the data of a snapshot the driver takes locally at `index`.
  virtual absl::StatusOr<std::unique_ptr<SnapshotWriter>> NewSnapshotWriter(uint64_t index) = 0;
  // Stores a snapshot the node took locally (RaftNode::CompactTo, then node.snapshot()) with the
  // data `data` holds (finished; from this storage's NewSnapshotWriter), and drops the entries it
  // covers; entries after it stay. A snapshot not newer than the stored one is discarded (OK).
  virtual absl::Status Compact(const SnapshotMetadata& metadata, SnapshotWriter& data) = 0;

  // Up to `length` bytes at `offset` of the stored snapshot's data. FailedPrecondition if the
  // stored snapshot is not the one at `index` (replaced since).
  virtual absl::StatusOr<std::string> ReadSnapshotData(uint64_t index, uint64_t offset,
                                                       uint64_t length) = 0;

  // Whether a snapshot at `index` would let the storage free space it holds only for entries up
  // to `index`, enough to be worth taking one before the usual count of entries (the driver asks
  // between Readies). A storage that never holds much beyond its entries says no.
  virtual bool CompactionWorthwhile(uint64_t /*index*/) const { return false; }

  absl::Status SaveReady(const Ready& ready) {
    return Save(ready.hard_state, ready.snapshot, ready.entries, ready.must_sync);
  }
};

// The driver's step between the core and the network for a snapshot chunk: the core emits a
// MSG_SNAP with offset and length but without the bytes; this reads them from `storage` into the
// message. Other messages are left alone. FailedPrecondition when the chunk's snapshot is no
// longer the stored one (drop the message: the leader streams the new one after a resend).
absl::Status FillSnapshotChunk(Storage& storage, Message& message);

// What Save accepts as `entries` for a log holding a snapshot at `snapshot_index` and entries up
// to `last_index` (after a Ready's snapshot, if any): none, or a run starting inside
// [snapshot_index + 1, last_index + 1]. InvalidArgument otherwise.
absl::Status CheckEntriesFollow(uint64_t snapshot_index, uint64_t last_index,
                                const std::vector<Entry>& entries);

// In-memory storage. Unsynced writes are kept apart until the next synced write; Crash() drops
// them, as power loss drops what was written but not fsynced.
class MemoryStorage : public Storage {
 public:
  absl::StatusOr<PersistentState> Load() override;
  absl::Status Save(const std::optional<HardState>& hard_state,
                    const std::optional<Snapshot>& snapshot, const std::vector<Entry>& entries,
                    bool sync) override;
  absl::StatusOr<std::unique_ptr<SnapshotWriter>> NewSnapshotWriter(uint64_t index) override;
  absl::Status Compact(const SnapshotMetadata& metadata, SnapshotWriter& data) override;
  absl::StatusOr<std::string> ReadSnapshotData(uint64_t index, uint64_t offset,
                                               uint64_t length) override;

  // Forgets every write since the last synced one.
  void Crash() { pending_.clear(); }
  // Test hook: the next Save/Compact fails (and all after it, like a real failed fsync).
  void FailWrites() { failed_ = true; }

 private:
  struct State {
    PersistentState persistent;
    std::string snapshot_data;
  };
  struct Op {
    std::optional<HardState> hard_state;
    std::optional<Snapshot> snapshot;  // with data
    bool compact = false;              // keep later entries
    std::vector<Entry> entries;
  };
  static void ApplyOp(const Op& op, State* state);

  State durable_;
  std::vector<Op> pending_;
  bool failed_ = false;
};

}  // namespace dfs::raft
