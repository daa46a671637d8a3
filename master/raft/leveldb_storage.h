// LevelDbStorage: the durable Raft log of a master up to the segment-file log
// (segment_storage.h), in its own LevelDB (separate from the namespace database). Kept to read a
// master's old log once, when SegmentStorage moves it into its own format.
//
// Layout (keys):
//   "hardstate"           -> HardState
//   "snapshot"            -> Snapshot, metadata only
//   "snapshot_data"       -> size and CRC32C of the snapshot's data (8 bytes big-endian each)
//   "e" + index (8 bytes big-endian, so key order is index order) -> Entry
// The snapshot's data is a file of its own beside the database, "snapshot-<index>.data"
// (snapshot_files.h): Compact renames the finished file to its name and then names it (size,
// CRC32C) in the database in one synced batch. A store from before this layout, with the data
// inside "snapshot", is moved to it at open.
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
#include "master/raft/snapshot_files.h"
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
      : files_(dir), resources_(std::move(resources)), db_(std::move(db)) {}
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
  absl::Status Write(leveldb::WriteBatch* batch, bool sync);

  SnapshotFiles files_;
  std::unique_ptr<LevelDbResources> resources_;  // kRaftLogDbBudget; outlives db_
  std::unique_ptr<leveldb::DB> db_;
  uint64_t snapshot_index_ = 0;
  uint64_t snapshot_bytes_ = 0;
  uint64_t first_index_ = 1;  // stored entries are [first_index_, last_index_]; empty if last < first
  uint64_t last_index_ = 0;
  absl::Status failed_;
};

}  // namespace dfs::raft
