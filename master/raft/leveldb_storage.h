// LevelDbStorage: the durable Raft log of a master, in its own LevelDB (separate from the
// namespace database).
//
// Layout (keys):
//   "hardstate"           -> HardState
//   "snapshot"            -> Snapshot, metadata only
//   "snapshot_data"       -> size and CRC32C of the snapshot's data (8 bytes big-endian each)
//   "e" + index (8 bytes big-endian, so key order is index order) -> Entry
// The snapshot's data (the whole namespace, so it grows with the number of files) is a file of
// its own beside the database, "snapshot-<index>.data", and never held in memory whole: a local
// snapshot is streamed into a temporary file ("snapshot-<index>.data.tmp-<n>", NewSnapshotWriter:
// bounded buffer, size and CRC32C computed as it goes, fsynced), which Compact renames to its
// name and then names in the database in one synced batch; chunks for followers are read from it
// (ReadSnapshotData). Older files are deleted once the new one is named; files that the database
// does not name (a crash before naming, or while writing) are deleted at open. Kept out of
// LevelDB, a new snapshot costs one sequential write: as a LevelDB value it was copied into the
// write batch, the memtable, a table block under construction and every compaction that moved
// it (issue 9). A store from before this layout, with the data inside "snapshot", is moved to it
// at open.
//
// Each Save() is one leveldb::WriteBatch written with sync=true when the Ready asks for it: the
// hard state and every entry of the Ready reach the disk with one fsync (group commit). After a
// failed write every later call fails with the same error (fail-stop: the driver must restart the
// process, which reloads what actually reached the disk).
// Thread safety: not thread-safe; one driver thread uses it. A SnapshotWriter it returns may be
// filled on another thread, until it is handed to Compact.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/leveldb_options.h"
#include "leveldb/db.h"
#include "master/raft/storage.h"

namespace dfs::raft {

class LevelDbStorage : public Storage {
 public:
  // Opens (creating if missing) the log database in directory `dir`.
  static absl::StatusOr<std::unique_ptr<LevelDbStorage>> Open(const std::string& dir);
  ~LevelDbStorage() override;

  absl::StatusOr<PersistentState> Load() override;
  absl::Status Save(const std::optional<HardState>& hard_state,
                    const std::optional<Snapshot>& snapshot, const std::vector<Entry>& entries,
                    bool sync) override;
  absl::StatusOr<std::unique_ptr<SnapshotWriter>> NewSnapshotWriter(uint64_t index) override;
  absl::Status Compact(const SnapshotMetadata& metadata, SnapshotWriter& data) override;
  absl::StatusOr<std::string> ReadSnapshotData(uint64_t index, uint64_t offset,
                                               uint64_t length) override;

 private:
  LevelDbStorage(std::string dir, std::unique_ptr<LevelDbResources> resources,
                 std::unique_ptr<leveldb::DB> db)
      : dir_(std::move(dir)), resources_(std::move(resources)), db_(std::move(db)) {}
  // Reads the stored index range into first_index_/last_index_/snapshot_index_, moves snapshot
  // data kept inside the database to its file, and deletes snapshot files that the database does
  // not name (left by a crash).
  absl::Status LoadBounds();
  absl::StatusOr<Snapshot> LoadSnapshotMetadata();
  // Gives the finished file of `data` its name for `metadata` and adds to `batch` the keys that
  // name it in the database.
  absl::Status StageSnapshot(const SnapshotMetadata& metadata, SnapshotWriter& data,
                             leveldb::WriteBatch* batch);
  // Writes `data` whole to a new snapshot file for `metadata` and stages it.
  absl::Status StageSnapshotData(const SnapshotMetadata& metadata, const std::string& data,
                                 leveldb::WriteBatch* batch);
  // Deletes the data files of snapshots other than the one at `keep_index`; with `temporary`
  // also unfinished ones (only at open: later, one may be being written).
  void DeleteOtherSnapshotFiles(uint64_t keep_index, bool temporary);
  std::string SnapshotPath(uint64_t index) const;
  absl::Status Write(leveldb::WriteBatch* batch, bool sync);

  const std::string dir_;
  std::unique_ptr<LevelDbResources> resources_;  // kRaftLogDbBudget; outlives db_
  std::unique_ptr<leveldb::DB> db_;
  uint64_t snapshot_index_ = 0;
  uint64_t snapshot_bytes_ = 0;
  uint64_t first_index_ = 1;  // stored entries are [first_index_, last_index_]; empty if last < first
  uint64_t last_index_ = 0;
  uint64_t next_temp_ = 0;  // distinguishes the temporary files of snapshots being written
  absl::Status failed_;
};

}  // namespace dfs::raft
