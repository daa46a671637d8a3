// SegmentStorage: the durable Raft log of a master, as records appended to preallocated segment
// files in the log's directory (beside, not inside, the namespace database).
//
// Why not LevelDB (LevelDbStorage, its predecessor): LevelDB writes every entry twice (its log,
// then a table at compaction, and deletes it again later), and an fdatasync after appending to a
// file also writes the file's inode, because the size changed. Here an entry is written once, into
// space that was filled with zeros and synced beforehand, so a sync normally flushes data only.
//
// Files:
//   segment-<seq>       seq = 20 decimal digits, 1, 2, ...; the log is the segments in seq order
//   segment-<seq>.tmp   a segment being preallocated (deleted at open)
//   snapshot-<index>.data[.tmp-<n>]  snapshot data (snapshot_files.h)
// A segment is created by writing `segment_bytes` zeros a page at a time (so that the page cache
// holds it in page-sized folios: see CreateSegment), fsync, rename to its name, directory fsync --
// by a helper thread, one segment ahead of need, so the Raft loop does not wait for it (it does
// only when it fills a segment before the next one is ready). Each open starts a new segment and
// deletes unused ones and those the snapshot covers: a segment that was read may be cached in large
// folios. The segments restarts leave behind are bounded by CompactionWorthwhile. A record that does not fit
// in what is left of the active segment goes to the next one; a record larger than a whole
// segment makes its segment grow past `segment_bytes`.
//
// Record: length (4 bytes) | CRC32C of length and payload (4) | payload, integers big-endian.
// Payload, one record per Save (so a Save is atomic: its record checks whole or not at all):
//   flags (1 byte: has hard state, has snapshot, snapshot replaces the log)
//   [hard state: length (4) | HardState]
//   [snapshot: length (4) | SnapshotMetadata | data size (8) | data CRC32C (4)]
//   entry count (4) | per entry: length (4) | Entry
// The first record of every segment is a checkpoint: the hard state and snapshot as they were
// when the segment was started (with a snapshot that "does not replace" the log), so a segment
// and those after it hold everything, and older segments can be deleted whole.
//
// Loading replays the records in order: a snapshot that replaces the log drops every entry, one
// that does not (a local compaction, or a checkpoint) drops the entries it covers if it is newer
// than the current one; entries from index i drop every entry >= i first (a conflicting suffix is
// replaced by writing the new entries after it; the old ones stay in the file until their segment
// is deleted); hard state replaces. Entries <= the snapshot's index are ignored.
// The log ends at the first record that does not check (length or CRC) in the last segment that
// holds records: a torn write at a crash. The bytes after it are zeroed at open, so that every
// segment holds records and then zeros only. A record that does not check in an earlier segment is
// DataLoss (it was synced: a segment is fdatasynced before the next one is written).
//
// Save = one write() of one buffer at the end of the active segment (+ one fdatasync with `sync`:
// the group-commit point). Compact renames the snapshot's finished file to its name (directory
// fsync), appends a synced record naming it (size, CRC32C), then deletes the oldest segments
// whose entries the snapshot covers (directory fsync). After a failed write every later call fails
// with the same error (fail-stop: the driver must restart the process, which reloads what actually
// reached the disk).
//
// Migration: a directory that holds an old LevelDB log (LevelDbStorage) and no segment is moved
// to this format at open, once: its state is written as the first segment's checkpoint record,
// then the LevelDB files are deleted.
//
// Thread safety: not thread-safe; one driver thread uses it (the preallocating helper thread is
// internal). A SnapshotWriter it returns may be filled on another thread, until it is handed to
// Compact.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "master/raft/snapshot_files.h"
#include "master/raft/storage.h"

namespace dfs::raft {

struct SegmentStorageOptions {
  // Size a segment is preallocated to. Larger: fewer switches and files; smaller: less to write
  // ahead and to read at startup, finer-grained deletion after a snapshot.
  uint64_t segment_bytes = 16ull << 20;
};

class SegmentStorage : public Storage {
 public:
  // Opens (creating if missing) the log in directory `dir`; moves an old LevelDB log found there
  // to this format first.
  static absl::StatusOr<std::unique_ptr<SegmentStorage>> Open(
      const std::string& dir, const SegmentStorageOptions& options = SegmentStorageOptions());
  ~SegmentStorage() override;

  absl::StatusOr<PersistentState> Load() override;
  absl::Status Save(const std::optional<HardState>& hard_state,
                    const std::optional<Snapshot>& snapshot, const std::vector<Entry>& entries,
                    bool sync) override;
  absl::StatusOr<std::unique_ptr<SnapshotWriter>> NewSnapshotWriter(uint64_t index) override;
  absl::Status Compact(const SnapshotMetadata& metadata, SnapshotWriter& data) override;
  absl::StatusOr<std::string> ReadSnapshotData(uint64_t index, uint64_t offset,
                                               uint64_t length) override;
  // Yes once a snapshot at `index` would delete kSegmentsWorthCompaction whole segments: each
  // start of the process begins a new segment (see above), so restarts with few entries between
  // them would otherwise add a segment each until the next snapshot the entry count brings.
  bool CompactionWorthwhile(uint64_t index) const override;
  static constexpr size_t kSegmentsWorthCompaction = 2;

  // Test hook: the next write of the log fails as a failed write() would.
  void FailNextWrite() { fail_next_write_ = true; }

  // The snapshot as the log records it: metadata, and the data file's size and CRC32C.
  struct SnapshotRecord {
    SnapshotMetadata metadata;
    uint64_t bytes = 0;
    uint32_t crc = 0;
  };
  // A segment in use, oldest first.
  struct Segment {
    uint64_t seq = 0;
    // The highest index among its entries that may still be live (0 when all are dead: a
    // snapshot from the leader replaced them). The segment may go once the snapshot covers it.
    uint64_t live_max = 0;
  };

 private:
  SegmentStorage(std::string dir, const SegmentStorageOptions& options);

  std::string SegmentPath(uint64_t seq) const;
  // Finds the segments, repairs a torn tail, migrates an old LevelDB log, and sets up the
  // active segment and the helper.
  absl::Status Init();
  absl::Status MigrateFromLevelDb();
  // Makes segment `seq` (zeros, synced, named) and returns it open for writing at offset 0.
  absl::StatusOr<int> CreateSegment(uint64_t seq) const;
  // Starts segment `seq` on `fd` with a checkpoint record, then `tail` (in the same write).
  absl::Status StartSegment(uint64_t seq, int fd, const std::string& tail, bool sync);
  // Appends one record (a Save's) to the active segment, moving to the next one if it is full.
  absl::Status Append(const std::string& record, bool sync);
  absl::Status WriteActive(const std::string& bytes, bool sync);
  // How many of the oldest segments hold no live entry after `index` (never the active one).
  size_t SegmentsCoveredBy(uint64_t index) const;
  // Deletes the oldest segments whose live entries the snapshot covers.
  absl::Status DropCoveredSegments();
  void StopHelper();
  void HelperLoop();

  const std::string dir_;
  const SegmentStorageOptions options_;
  SnapshotFiles files_;

  // What the log holds, as a replay of its records would give it.
  HardState hard_state_;
  SnapshotRecord snapshot_;
  uint64_t last_index_ = 0;  // stored entries run from the snapshot's index + 1 to this

  std::vector<Segment> segments_;  // back() is the active one
  int fd_ = -1;                    // the active segment, positioned at offset_
  uint64_t offset_ = 0;            // end of the records in the active segment
  uint64_t checkpoint_end_ = 0;    // end of its checkpoint record: before it, nothing to move
  bool unsynced_ = false;          // the active segment has writes not yet fdatasynced
  absl::Status failed_;
  bool fail_next_write_ = false;

  // The helper thread prepares segment `wanted_` while the loop writes to the one before.
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t wanted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t ready_seq_ ABSL_GUARDED_BY(mu_) = 0;  // a prepared segment: its seq and open fd
  int ready_fd_ ABSL_GUARDED_BY(mu_) = -1;
  absl::Status helper_error_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread helper_;
};

}  // namespace dfs::raft
