#include "master/raft/leveldb_storage.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/keycoding.h"
#include "common/status.h"
#include "leveldb/write_batch.h"

namespace dfs::raft {

namespace {

constexpr char kHardStateKey[] = "hardstate";
constexpr char kSnapshotKey[] = "snapshot";
constexpr char kSnapshotDataKey[] = "snapshot_data";
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
  std::string value;
  leveldb::Status s = db_->Get(leveldb::ReadOptions(), kSnapshotDataKey, &value);
  if (s.ok()) {
    if (value.size() != 16) return absl::DataLossError("raft log: bad snapshot data record");
    snapshot_bytes_ = DecodeFixed64BE(absl::string_view(value).substr(0, 8));
  } else if (!s.IsNotFound()) {
    return FromLevelDb(s, "read snapshot data record");
  } else if (snapshot_index_ > 0) {
    // Written before snapshot data had a file of its own: move it there, once.
    leveldb::WriteBatch batch;
    DFS_RETURN_IF_ERROR(StageSnapshotData(snapshot.metadata(), snapshot.data(), &batch));
    DFS_RETURN_IF_ERROR(Write(&batch, /*sync=*/true));
    snapshot_bytes_ = snapshot.data().size();
  }
  first_index_ = snapshot_index_ + 1;
  last_index_ = snapshot_index_;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  for (it->Seek(EntryKey(first_index_)); it->Valid(); it->Next()) {
    leveldb::Slice key = it->key();
    if (key.size() != 9 || key[0] != kEntryPrefix) break;
    last_index_ = DecodeFixed64BE(absl::string_view(key.data() + 1, 8));
  }
  DFS_RETURN_IF_ERROR(FromLevelDb(it->status(), "scan raft log"));
  files_.DeleteOthers(snapshot_index_, /*temporary=*/true);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SnapshotWriter>> LevelDbStorage::NewSnapshotWriter(uint64_t index) {
  return files_.NewWriter(index);
}

absl::Status LevelDbStorage::StageSnapshot(const SnapshotMetadata& metadata, SnapshotWriter& data,
                                           leveldb::WriteBatch* batch) {
  // Named on disk only now that it is whole and durable; in the database by the caller's batch.
  DFS_RETURN_IF_ERROR(files_.Name(metadata.index(), data));
  Snapshot metadata_only;
  *metadata_only.mutable_metadata() = metadata;
  batch->Put(kSnapshotKey, metadata_only.SerializeAsString());
  std::string data_record;
  PutFixed64BE(&data_record, data.size());
  PutFixed64BE(&data_record, data.crc32c());
  batch->Put(kSnapshotDataKey, data_record);
  return absl::OkStatus();
}

absl::Status LevelDbStorage::StageSnapshotData(const SnapshotMetadata& metadata,
                                               const std::string& data,
                                               leveldb::WriteBatch* batch) {
  DFS_ASSIGN_OR_RETURN(std::unique_ptr<SnapshotWriter> writer,
                       files_.WriteWhole(metadata.index(), data));
  return StageSnapshot(metadata, *writer, batch);
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
  DFS_ASSIGN_OR_RETURN(Snapshot snapshot, LoadSnapshotMetadata());
  state.snapshot = snapshot.metadata();
  s = db_->Get(leveldb::ReadOptions(), kSnapshotDataKey, &value);
  if (s.ok()) {
    if (value.size() != 16) return absl::DataLossError("raft log: bad snapshot data record");
    state.snapshot_bytes = DecodeFixed64BE(absl::string_view(value).substr(0, 8));
    const uint64_t crc = DecodeFixed64BE(absl::string_view(value).substr(8, 8));
    DFS_RETURN_IF_ERROR(
        files_.Verify(state.snapshot.index(), state.snapshot_bytes, static_cast<uint32_t>(crc)));
  } else if (!s.IsNotFound()) {
    return FromLevelDb(s, "read snapshot data record");
  }
  const uint64_t snap_index = state.snapshot.index();
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

absl::StatusOr<std::string> LevelDbStorage::ReadSnapshotData(uint64_t index, uint64_t offset,
                                                             uint64_t length) {
  return files_.Read(snapshot_index_, snapshot_bytes_, index, offset, length);
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
    DFS_RETURN_IF_ERROR(StageSnapshotData(snapshot->metadata(), snapshot->data(), &batch));
    snap_index = snapshot->metadata().index();
    first = snap_index + 1;
    last = snap_index;
  }
  DFS_RETURN_IF_ERROR(CheckEntriesFollow(snap_index, last, entries));
  if (!entries.empty()) {
    for (uint64_t i = entries.front().index(); i <= last; ++i) batch.Delete(EntryKey(i));
    for (const Entry& e : entries) batch.Put(EntryKey(e.index()), e.SerializeAsString());
    last = entries.back().index();
  }
  if (hard_state.has_value()) batch.Put(kHardStateKey, hard_state->SerializeAsString());
  DFS_RETURN_IF_ERROR(Write(&batch, sync));
  first_index_ = first;
  last_index_ = last;
  if (snapshot.has_value()) {
    snapshot_index_ = snap_index;
    snapshot_bytes_ = snapshot->data().size();
    files_.DeleteOthers(snap_index, /*temporary=*/false);
  }
  return absl::OkStatus();
}

absl::Status LevelDbStorage::Compact(const SnapshotMetadata& metadata, SnapshotWriter& data) {
  DFS_RETURN_IF_ERROR(failed_);
  const uint64_t index = metadata.index();
  if (index <= snapshot_index_) return absl::OkStatus();  // `data` removes its file
  leveldb::WriteBatch batch;
  DFS_RETURN_IF_ERROR(StageSnapshot(metadata, data, &batch));
  for (uint64_t i = first_index_; i <= std::min(index, last_index_); ++i) batch.Delete(EntryKey(i));
  DFS_RETURN_IF_ERROR(Write(&batch, /*sync=*/true));
  snapshot_index_ = index;
  snapshot_bytes_ = data.size();
  first_index_ = index + 1;
  last_index_ = std::max(last_index_, index);
  files_.DeleteOthers(index, /*temporary=*/false);
  return absl::OkStatus();
}

}  // namespace dfs::raft
