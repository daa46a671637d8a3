// The master's metadata store: a LevelDB holding the namespace and chunk map (layout in keys.h),
// and Txn, the read-your-writes view through which one command is applied.
//
// Thread safety: MetaStore is safe for concurrent readers and one applier. A Txn belongs to the
// single apply thread; its writes become visible to readers atomically at Commit().
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/leveldb_options.h"
#include "google/protobuf/message.h"
#include "leveldb/db.h"

namespace dfs {

class MetaStore {
 public:
  // `env` (not owned, outlives the store) replaces the OS for tests and fuzzers: e.g. an
  // in-memory leveldb::NewMemEnv. Null: the default Env.
  static absl::StatusOr<std::unique_ptr<MetaStore>> Open(const std::string& path,
                                                         leveldb::Env* env = nullptr);

  leveldb::DB* db() { return db_.get(); }

  // Point read of committed state. NotFound if absent.
  absl::StatusOr<std::string> Get(const std::string& key,
                                  const leveldb::ReadOptions& options = leveldb::ReadOptions());
  // Reads a protobuf value; NotFound if absent, DataLoss if it does not parse.
  absl::Status GetProto(const std::string& key, google::protobuf::Message* message);
  uint64_t GetCounter(const std::string& key);

  // Makes every write so far durable (LevelDB's own log is written without sync by Commit).
  absl::Status Sync();

 private:
  MetaStore(std::unique_ptr<LevelDbResources> resources, std::unique_ptr<leveldb::DB> db)
      : resources_(std::move(resources)), db_(std::move(db)) {}
  std::unique_ptr<LevelDbResources> resources_;  // kMetaDbBudget; outlives db_
  std::unique_ptr<leveldb::DB> db_;
};

// The mutations of one command: reads see the store as modified so far; nothing reaches the
// store until Commit(), which writes everything in one atomic WriteBatch.
//
// Savepoints let one Txn apply several commands that each succeed or fail on their own
// (BatchCmd): RollbackTo undoes the writes made since a savepoint. While a savepoint is held,
// each write records what it replaced in the pending writes (an undo log), so a savepoint costs
// nothing up front and a rollback costs what was written since it, whatever the size of the Txn.
class Txn {
 public:
  explicit Txn(MetaStore* store) : store_(store) {}
  // A read-only view of the store as it is now: every read sees the same state, whatever the
  // apply thread commits meanwhile (a read of several keys must not mix two versions).
  static Txn Snapshot(MetaStore* store);

  std::optional<std::string> Get(const std::string& key);
  bool GetProto(const std::string& key, google::protobuf::Message* message);
  uint64_t GetCounter(const std::string& key);

  void Put(const std::string& key, std::string value);
  void PutProto(const std::string& key, const google::protobuf::Message& message);
  void PutCounter(const std::string& key, uint64_t value);
  void Delete(const std::string& key);

  struct Entry {
    std::string key;
    std::string value;
  };
  // Entries with keys in [from, to), in key order, at most `limit` (0: no limit).
  std::vector<Entry> Scan(const std::string& from, const std::string& to, size_t limit = 0);
  // The entry with the greatest key <= `key` among keys starting with `prefix`, if any.
  std::optional<Entry> Floor(const std::string& prefix, const std::string& key);

  // Holds a savepoint at the pending writes as they are now. Savepoints nest: an inner one is
  // rolled back or released before an outer one.
  size_t Savepoint();
  // Undoes every write made since `savepoint` (reads see what they saw when it was taken) and
  // releases it.
  void RollbackTo(size_t savepoint);
  // Keeps the writes made since `savepoint` and releases it.
  void Release(size_t savepoint);

  // Writes all mutations atomically (without fsync: the command log is the durable record).
  // No savepoint may be held.
  absl::Status Commit();

  // The pending writes, in key order; nullopt marks a delete.
  const std::map<std::string, std::optional<std::string>>& writes() const { return overlay_; }

 private:
  // Sets the pending write of `key` (nullopt: a delete), noting what it replaces while a
  // savepoint is held.
  void Write(const std::string& key, std::optional<std::string> value);

  MetaStore* store_;
  std::shared_ptr<const leveldb::Snapshot> snapshot_;  // set for a Snapshot view
  leveldb::ReadOptions read_options_;                  // reads through snapshot_ when set
  // Pending writes; nullopt marks a delete.
  std::map<std::string, std::optional<std::string>> overlay_;
  // What a write replaced in overlay_, for RollbackTo: `pending` false if the key had no pending
  // write (the rollback erases it), else its pending `value`.
  struct Undo {
    std::string key;
    bool pending;
    std::optional<std::string> value;
  };
  std::vector<Undo> undo_;  // in write order; a savepoint is a position in it
  size_t savepoints_ = 0;   // held; undo_ is recorded only while some are
};

// The smallest key greater than every key that starts with `prefix`.
std::string PrefixEnd(std::string prefix);

}  // namespace dfs
