// LevelDbStorage: the durable Raft log of a master, in its own LevelDB (separate from the
// namespace database).
//
// Layout (keys):
//   "hardstate"           -> HardState
//   "snapshot"            -> Snapshot (metadata and data)
//   "e" + index (8 bytes big-endian, so key order is index order) -> Entry
//
// Each Save() is one leveldb::WriteBatch written with sync=true when the Ready asks for it: the
// hard state and every entry of the Ready reach the disk with one fsync (group commit). After a
// failed write every later call fails with the same error (fail-stop: the driver must restart the
// process, which reloads what actually reached the disk).
// Thread safety: not thread-safe; one driver thread uses it.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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
  absl::Status Compact(const Snapshot& snapshot) override;

 private:
  explicit LevelDbStorage(std::unique_ptr<leveldb::DB> db) : db_(std::move(db)) {}
  // Reads the stored index range into first_index_/last_index_/snapshot_index_.
  absl::Status LoadBounds();
  absl::Status Write(leveldb::WriteBatch* batch, bool sync);

  std::unique_ptr<leveldb::DB> db_;
  uint64_t snapshot_index_ = 0;
  uint64_t first_index_ = 1;  // stored entries are [first_index_, last_index_]; empty if last < first
  uint64_t last_index_ = 0;
  absl::Status failed_;
};

}  // namespace dfs::raft
