// RaftLog: a node's view of the replicated log, held in memory between the last snapshot
// (compaction point) and the last entry, with the indexes that split it:
//
//   snapshot.index  <=  applied  <=  committed  <=  last_index
//                       stable: entries up to here are persisted (handed out in a Ready and
//                       acknowledged by Advance); entries after it go into the next Ready.
//
// It also derives the membership from the log: the configuration of the latest ENTRY_CONF_CHANGE
// entry, or the snapshot's if there is none after it. Truncating a suffix reverts the
// configuration with it. Memory is bounded by how often the driver compacts (RaftNode::CompactTo).
// Of the snapshot it keeps the metadata and the data's size only: the data is in the driver's
// storage (storage.h), which is the one place a snapshot's bytes live.
//
// Part of RaftNode; not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "proto/raft.pb.h"

namespace dfs::raft {

class RaftLog {
 public:
  RaftLog();

  // Startup: the persisted snapshot (its metadata and data size) and the entries after it.
  void Reset(const SnapshotMetadata& snapshot, uint64_t snapshot_bytes, std::vector<Entry> entries,
             uint64_t committed, uint64_t applied);

  uint64_t snapshot_index() const { return snapshot_.index(); }
  uint64_t snapshot_term() const { return snapshot_.term(); }
  uint64_t first_index() const { return snapshot_index() + 1; }
  uint64_t last_index() const { return snapshot_index() + entries_.size(); }
  uint64_t last_term() const;
  // Term of entry `index`; nullopt when compacted away (below the snapshot) or beyond the end.
  std::optional<uint64_t> Term(uint64_t index) const;
  bool MatchTerm(uint64_t index, uint64_t term) const;
  // Whether a log ending at (last_index, last_term) is at least as up to date as this one.
  bool IsUpToDate(uint64_t last_index, uint64_t last_term) const;
  // first_index() <= index <= last_index().
  const Entry& At(uint64_t index) const;
  // Entries [lo, hi], stopping once max_bytes is reached (always at least one entry if lo <= hi).
  std::vector<Entry> Slice(uint64_t lo, uint64_t hi, uint64_t max_bytes) const;
  // The largest index <= `index` whose term is <= `term`, with its term; (index, 0) when that
  // part of the log is compacted. Used for the conflict hints of rejected appends.
  std::pair<uint64_t, uint64_t> FindConflictByTerm(uint64_t index, uint64_t term) const;

  // Leader: appends one entry at last_index() + 1.
  void Append(Entry entry);
  // Follower: appends `entries`, which follow `prev_index` (whose term already matched), skipping
  // the ones already present and truncating the suffix from the first conflicting one. Returns the
  // index of the last entry of the message. A conflict at or below `committed` aborts (a bug).
  uint64_t MaybeAppend(uint64_t prev_index,
                       const google::protobuf::RepeatedPtrField<Entry>& entries);

  uint64_t committed() const { return committed_; }
  void CommitTo(uint64_t index);  // never moves backwards
  uint64_t applied() const { return applied_; }
  void AppliedTo(uint64_t index);
  uint64_t stable() const { return stable_; }
  void StableTo(uint64_t index) { stable_ = index; }

  // Entries not yet handed out for persistence: (stable, last].
  std::vector<Entry> UnstableEntries() const;
  bool HasUnstableEntries() const { return last_index() > stable_; }
  // Entries to hand to the state machine: (max(applied, pending snapshot), committed].
  std::vector<Entry> NextCommittedEntries(uint64_t max_bytes) const;
  bool HasNextCommittedEntries() const;

  const SnapshotMetadata& snapshot() const { return snapshot_; }
  uint64_t snapshot_bytes() const { return snapshot_bytes_; }
  // A snapshot received from the leader that is not yet persisted and applied.
  bool has_pending_snapshot() const { return pending_snapshot_; }
  void SnapshotApplied();
  // Replaces the whole log by a snapshot received from the leader.
  void Restore(const SnapshotMetadata& snapshot, uint64_t snapshot_bytes);
  // Drops entries up to `index` (<= applied): the snapshot at that index, whose data (of
  // `data_bytes` bytes) the driver stores, now starts the log.
  absl::Status CompactTo(uint64_t index, uint64_t data_bytes);

  const Configuration& configuration() const;
  // Index of the latest configuration entry (the snapshot's index if none is after it).
  uint64_t last_conf_index() const;
  Configuration ConfigurationAt(uint64_t index) const;

 private:
  void NoteAppended(const Entry& entry);
  void TruncateFrom(uint64_t index);  // drops entries >= index

  SnapshotMetadata snapshot_;
  uint64_t snapshot_bytes_ = 0;
  bool pending_snapshot_ = false;
  std::deque<Entry> entries_;  // entries_[0] has index snapshot_index() + 1
  uint64_t committed_ = 0;
  uint64_t applied_ = 0;
  uint64_t stable_ = 0;
  // Configuration entries after the snapshot, by index.
  std::vector<std::pair<uint64_t, Configuration>> conf_history_;
};

// Parses an ENTRY_CONF_CHANGE entry's configuration (aborts on garbage: the log is trusted).
Configuration ConfigurationOf(const Entry& entry);
bool HasMember(const Configuration& conf, uint64_t id);

}  // namespace dfs::raft
