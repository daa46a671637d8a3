#include "master/raft/leveldb_storage.h"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crc32c.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "common/keycoding.h"
#include "common/status.h"
#include "leveldb/write_batch.h"

namespace dfs::raft {

namespace {

constexpr char kHardStateKey[] = "hardstate";
constexpr char kSnapshotKey[] = "snapshot";
constexpr char kSnapshotDataKey[] = "snapshot_data";
constexpr char kSnapshotFilePrefix[] = "snapshot-";
constexpr char kSnapshotFileSuffix[] = ".data";
constexpr char kEntryPrefix = 'e';

std::string EntryKey(uint64_t index) {
  std::string key(1, kEntryPrefix);
  PutFixed64BE(&key, index);
  return key;
}

absl::Status FromLevelDb(const leveldb::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsNotFound()) return absl::NotFoundError(absl::StrCat(what, ": ", s.ToString()));
  if (s.IsCorruption()) return absl::DataLossError(absl::StrCat(what, ": ", s.ToString()));
  return absl::InternalError(absl::StrCat(what, ": ", s.ToString()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<LevelDbStorage>> LevelDbStorage::Open(const std::string& dir) {
  DFS_RETURN_IF_ERROR(MakeDirs(dir));
  auto resources = std::make_unique<LevelDbResources>(kRaftLogDbBudget);
  leveldb::DB* raw = nullptr;
  DFS_RETURN_IF_ERROR(
      FromLevelDb(leveldb::DB::Open(resources->options(), dir, &raw), "open raft log " + dir));
  std::unique_ptr<LevelDbStorage> storage(
      new LevelDbStorage(dir, std::move(resources), std::unique_ptr<leveldb::DB>(raw)));
  DFS_RETURN_IF_ERROR(storage->LoadBounds());
  return storage;
}

LevelDbStorage::~LevelDbStorage() = default;

std::string LevelDbStorage::SnapshotPath(uint64_t index) const {
  return absl::StrFormat("%s/%s%020d%s", dir_, kSnapshotFilePrefix, index, kSnapshotFileSuffix);
}

absl::StatusOr<Snapshot> LevelDbStorage::LoadSnapshotMetadata() {
  Snapshot snapshot;
  std::string value;
  leveldb::Status s = db_->Get(leveldb::ReadOptions(), kSnapshotKey, &value);
  if (s.IsNotFound()) return snapshot;
  DFS_RETURN_IF_ERROR(FromLevelDb(s, "read snapshot"));
  if (!snapshot.ParseFromString(value)) return absl::DataLossError("raft log: bad snapshot");
  return snapshot;
}

absl::Status LevelDbStorage::LoadBounds() {
  DFS_ASSIGN_OR_RETURN(Snapshot snapshot, LoadSnapshotMetadata());
  snapshot_index_ = snapshot.metadata().index();
  first_index_ = snapshot_index_ + 1;
  last_index_ = snapshot_index_;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  for (it->Seek(EntryKey(first_index_)); it->Valid(); it->Next()) {
    leveldb::Slice key = it->key();
    if (key.size() != 9 || key[0] != kEntryPrefix) break;
    last_index_ = DecodeFixed64BE(absl::string_view(key.data() + 1, 8));
  }
  DFS_RETURN_IF_ERROR(FromLevelDb(it->status(), "scan raft log"));
  DeleteOtherSnapshotFiles(snapshot_index_);
  return absl::OkStatus();
}

void LevelDbStorage::DeleteOtherSnapshotFiles(uint64_t keep_index) {
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return;
  std::vector<std::string> stale;
  const std::string keep = SnapshotPath(keep_index);
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    // Also the ".tmp" a crash may leave behind WriteFileAtomic.
    if (absl::StartsWith(name, kSnapshotFilePrefix) && dir_ + "/" + name != keep) {
      stale.push_back(dir_ + "/" + name);
    }
  }
  ::closedir(d);
  // Best effort: a file left behind costs disk until the next snapshot or restart, nothing else.
  for (const std::string& path : stale) {
    if (::unlink(path.c_str()) != 0) {
      DFS_LOG(WARNING) << ErrnoStatus(errno, "unlink " + path);
    }
  }
}

absl::Status LevelDbStorage::StageSnapshot(const Snapshot& snapshot, leveldb::WriteBatch* batch) {
  const std::string& data = snapshot.data();
  DFS_RETURN_IF_ERROR(WriteFileAtomic(SnapshotPath(snapshot.metadata().index()), data));
  Snapshot metadata_only;
  *metadata_only.mutable_metadata() = snapshot.metadata();
  batch->Put(kSnapshotKey, metadata_only.SerializeAsString());
  std::string data_record;
  PutFixed64BE(&data_record, data.size());
  PutFixed64BE(&data_record, Crc32c(data));
  batch->Put(kSnapshotDataKey, data_record);
  return absl::OkStatus();
}

absl::StatusOr<PersistentState> LevelDbStorage::Load() {
  PersistentState state;
  std::string value;
  leveldb::Status s = db_->Get(leveldb::ReadOptions(), kHardStateKey, &value);
  if (s.ok()) {
    if (!state.hard_state.ParseFromString(value)) return absl::DataLossError("raft log: bad hard state");
  } else if (!s.IsNotFound()) {
    return FromLevelDb(s, "read hard state");
  }
  DFS_ASSIGN_OR_RETURN(state.snapshot, LoadSnapshotMetadata());
  s = db_->Get(leveldb::ReadOptions(), kSnapshotDataKey, &value);
  if (s.ok()) {
    const uint64_t index = state.snapshot.metadata().index();
    if (value.size() != 16) return absl::DataLossError("raft log: bad snapshot data record");
    const uint64_t size = DecodeFixed64BE(absl::string_view(value).substr(0, 8));
    const uint64_t crc = DecodeFixed64BE(absl::string_view(value).substr(8, 8));
    DFS_ASSIGN_OR_RETURN(std::string data, ReadFile(SnapshotPath(index)));
    if (data.size() != size || Crc32c(data) != crc) {
      return absl::DataLossError(absl::StrCat("raft log: snapshot data at ", index,
                                              " does not match its size and checksum"));
    }
    state.snapshot.set_data(std::move(data));
  } else if (!s.IsNotFound()) {
    return FromLevelDb(s, "read snapshot data record");
  }
  const uint64_t snap_index = state.snapshot.metadata().index();
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  uint64_t expected = snap_index + 1;
  for (it->Seek(EntryKey(expected)); it->Valid(); it->Next()) {
    leveldb::Slice key = it->key();
    if (key.size() != 9 || key[0] != kEntryPrefix) break;
    const uint64_t index = DecodeFixed64BE(absl::string_view(key.data() + 1, 8));
    Entry entry;
    if (!entry.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())) ||
        entry.index() != index) {
      return absl::DataLossError(absl::StrCat("raft log: bad entry at ", index));
    }
    if (index != expected) {
      return absl::DataLossError(absl::StrCat("raft log: gap: expected ", expected, " found ", index));
    }
    ++expected;
    state.entries.push_back(std::move(entry));
  }
  DFS_RETURN_IF_ERROR(FromLevelDb(it->status(), "scan raft log"));
  return state;
}

absl::Status LevelDbStorage::Write(leveldb::WriteBatch* batch, bool sync) {
  leveldb::WriteOptions options;
  options.sync = sync;
  absl::Status status = FromLevelDb(db_->Write(options, batch), "write raft log");
  if (!status.ok()) failed_ = status;
  return status;
}

absl::Status LevelDbStorage::Save(const std::optional<HardState>& hard_state,
                                  const std::optional<Snapshot>& snapshot,
                                  const std::vector<Entry>& entries, bool sync) {
  DFS_RETURN_IF_ERROR(failed_);
  if (!hard_state && !snapshot && entries.empty()) return absl::OkStatus();
  leveldb::WriteBatch batch;
  uint64_t snap_index = snapshot_index_, first = first_index_, last = last_index_;
  if (snapshot.has_value()) {
    for (uint64_t i = first; i <= last; ++i) batch.Delete(EntryKey(i));
    DFS_RETURN_IF_ERROR(StageSnapshot(*snapshot, &batch));
    snap_index = snapshot->metadata().index();
    first = snap_index + 1;
    last = snap_index;
  }
  if (!entries.empty()) {
    const uint64_t from = entries.front().index();
    if (from <= snap_index || from > last + 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("raft log: entries from ", from, " do not follow [", first, ",", last, "]"));
    }
    for (uint64_t i = from; i <= last; ++i) batch.Delete(EntryKey(i));
    for (const Entry& e : entries) batch.Put(EntryKey(e.index()), e.SerializeAsString());
    last = entries.back().index();
  }
  if (hard_state.has_value()) batch.Put(kHardStateKey, hard_state->SerializeAsString());
  DFS_RETURN_IF_ERROR(Write(&batch, sync));
  snapshot_index_ = snap_index;
  first_index_ = first;
  last_index_ = last;
  if (snapshot.has_value()) DeleteOtherSnapshotFiles(snap_index);
  return absl::OkStatus();
}

absl::Status LevelDbStorage::Compact(const Snapshot& snapshot) {
  DFS_RETURN_IF_ERROR(failed_);
  const uint64_t index = snapshot.metadata().index();
  if (index <= snapshot_index_) return absl::OkStatus();
  leveldb::WriteBatch batch;
  DFS_RETURN_IF_ERROR(StageSnapshot(snapshot, &batch));
  for (uint64_t i = first_index_; i <= std::min(index, last_index_); ++i) batch.Delete(EntryKey(i));
  DFS_RETURN_IF_ERROR(Write(&batch, /*sync=*/true));
  snapshot_index_ = index;
  first_index_ = index + 1;
  last_index_ = std::max(last_index_, index);
  DeleteOtherSnapshotFiles(index);
  return absl::OkStatus();
}

}  // namespace dfs::raft
