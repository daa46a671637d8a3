#include "master/meta_store.h"

#include "absl/strings/str_cat.h"
#include "common/keycoding.h"
#include "common/status.h"
#include "leveldb/write_batch.h"

namespace dfs {

absl::StatusOr<std::unique_ptr<MetaStore>> MetaStore::Open(const std::string& path,
                                                           leveldb::Env* env) {
  auto resources = std::make_unique<LevelDbResources>(kMetaDbBudget, env);
  leveldb::DB* db = nullptr;
  leveldb::Status s = leveldb::DB::Open(resources->options(), path, &db);
  if (!s.ok()) return absl::InternalError(absl::StrCat("open metadata store ", path, ": ", s.ToString()));
  return std::unique_ptr<MetaStore>(
      new MetaStore(std::move(resources), std::unique_ptr<leveldb::DB>(db)));
}

absl::StatusOr<std::string> MetaStore::Get(const std::string& key,
                                           const leveldb::ReadOptions& options) {
  std::string value;
  leveldb::Status s = db_->Get(options, key, &value);
  if (s.IsNotFound()) return absl::NotFoundError("no such key");
  if (!s.ok()) return absl::InternalError(s.ToString());
  return value;
}

absl::Status MetaStore::GetProto(const std::string& key, google::protobuf::Message* message) {
  auto value = Get(key);
  if (!value.ok()) return value.status();
  if (!message->ParseFromString(*value)) return absl::DataLossError("corrupt record");
  return absl::OkStatus();
}

uint64_t MetaStore::GetCounter(const std::string& key) {
  auto value = Get(key);
  return value.ok() && value->size() == 8 ? DecodeFixed64BE(*value) : 0;
}

absl::Status MetaStore::Sync() {
  leveldb::WriteOptions options;
  options.sync = true;
  leveldb::WriteBatch empty;
  leveldb::Status s = db_->Write(options, &empty);
  return s.ok() ? absl::OkStatus() : absl::InternalError(s.ToString());
}

Txn Txn::Snapshot(MetaStore* store) {
  Txn txn(store);
  leveldb::DB* db = store->db();
  txn.snapshot_.reset(db->GetSnapshot(), [db](const leveldb::Snapshot* s) { db->ReleaseSnapshot(s); });
  txn.read_options_.snapshot = txn.snapshot_.get();
  return txn;
}

std::optional<std::string> Txn::Get(const std::string& key) {
  auto it = overlay_.find(key);
  if (it != overlay_.end()) return it->second;
  auto value = store_->Get(key, read_options_);
  if (!value.ok()) return std::nullopt;
  return *std::move(value);
}

bool Txn::GetProto(const std::string& key, google::protobuf::Message* message) {
  auto value = Get(key);
  return value && message->ParseFromString(*value);
}

uint64_t Txn::GetCounter(const std::string& key) {
  auto value = Get(key);
  return value && value->size() == 8 ? DecodeFixed64BE(*value) : 0;
}

void Txn::Write(const std::string& key, std::optional<std::string> value) {
  auto [it, inserted] = overlay_.try_emplace(key);
  if (savepoints_ > 0) {
    undo_.push_back(Undo{key, !inserted, inserted ? std::nullopt : std::move(it->second)});
  }
  it->second = std::move(value);
}

void Txn::Put(const std::string& key, std::string value) { Write(key, std::move(value)); }

void Txn::PutProto(const std::string& key, const google::protobuf::Message& message) {
  Write(key, message.SerializeAsString());
}

void Txn::PutCounter(const std::string& key, uint64_t value) {
  std::string encoded;
  PutFixed64BE(&encoded, value);
  Write(key, std::move(encoded));
}

void Txn::Delete(const std::string& key) { Write(key, std::nullopt); }

size_t Txn::Savepoint() {
  ++savepoints_;
  return undo_.size();
}

void Txn::RollbackTo(size_t savepoint) {
  DFS_CHECK(savepoints_ > 0 && savepoint <= undo_.size());
  // Newest first, so that a key written several times ends at its value before the first.
  while (undo_.size() > savepoint) {
    Undo& undo = undo_.back();
    if (undo.pending) {
      overlay_[undo.key] = std::move(undo.value);
    } else {
      overlay_.erase(undo.key);
    }
    undo_.pop_back();
  }
  Release(savepoint);
}

void Txn::Release(size_t savepoint) {
  DFS_CHECK(savepoints_ > 0 && savepoint <= undo_.size());
  // An outer savepoint still needs the inner one's undo records.
  if (--savepoints_ == 0) undo_.clear();
}

std::vector<Txn::Entry> Txn::Scan(const std::string& from, const std::string& to, size_t limit) {
  std::vector<Entry> out;
  std::unique_ptr<leveldb::Iterator> it(store_->db()->NewIterator(read_options_));
  it->Seek(from);
  auto ov = overlay_.lower_bound(from);
  auto ov_end = overlay_.lower_bound(to);
  // Merge the two ordered sources; the overlay wins on equal keys.
  while (limit == 0 || out.size() < limit) {
    bool db_ok = it->Valid() && it->key().ToString() < to;
    bool ov_ok = ov != ov_end;
    if (!db_ok && !ov_ok) break;
    if (ov_ok && (!db_ok || ov->first <= it->key().ToString())) {
      if (db_ok && ov->first == it->key().ToString()) it->Next();
      if (ov->second) out.push_back({ov->first, *ov->second});
      ++ov;
    } else {
      out.push_back({it->key().ToString(), it->value().ToString()});
      it->Next();
    }
  }
  return out;
}

std::optional<Txn::Entry> Txn::Floor(const std::string& prefix, const std::string& key) {
  std::unique_ptr<leveldb::Iterator> it(store_->db()->NewIterator(read_options_));
  // Position the store iterator at the greatest key <= `key`.
  it->Seek(key);
  if (!it->Valid()) {
    it->SeekToLast();
  } else if (it->key().ToString() > key) {
    it->Prev();
  }
  // Overlay candidate: greatest overlay key <= key.
  auto ov = overlay_.upper_bound(key);
  bool ov_ok = ov != overlay_.begin();
  if (ov_ok) --ov;
  for (;;) {
    bool db_ok = it->Valid() && it->key().starts_with(prefix);
    ov_ok = ov_ok && ov->first.compare(0, prefix.size(), prefix) == 0;
    if (!db_ok && !ov_ok) return std::nullopt;
    if (ov_ok && (!db_ok || ov->first >= it->key().ToString())) {
      if (db_ok && ov->first == it->key().ToString()) it->Prev();
      if (ov->second) return Entry{ov->first, *ov->second};
      if (ov == overlay_.begin()) {
        ov_ok = false;
      } else {
        --ov;
      }
    } else {
      return Entry{it->key().ToString(), it->value().ToString()};
    }
  }
}

absl::Status Txn::Commit() {
  DFS_CHECK(savepoints_ == 0);
  leveldb::WriteBatch batch;
  for (const auto& [key, value] : overlay_) {
    if (value) {
      batch.Put(key, *value);
    } else {
      batch.Delete(key);
    }
  }
  leveldb::Status s = store_->db()->Write(leveldb::WriteOptions(), &batch);
  overlay_.clear();
  return s.ok() ? absl::OkStatus() : absl::InternalError(s.ToString());
}

std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    unsigned char last = static_cast<unsigned char>(prefix.back());
    if (last != 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\xff');  // unreachable for dfs keys, which never start with 0xff
}

}  // namespace dfs
