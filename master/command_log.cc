#include "master/command_log.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/keycoding.h"
#include "common/logging.h"
#include "common/status.h"
#include "leveldb/write_batch.h"

namespace dfs {
namespace {

constexpr uint64_t kTrimEvery = 10000;

std::string EntryKey(uint64_t index) {
  std::string key = "L";
  PutFixed64BE(&key, index);
  return key;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LocalLog>> LocalLog::Open(const std::string& path,
                                                         StateMachine* sm) {
  leveldb::Options options;
  options.create_if_missing = true;
  leveldb::DB* raw = nullptr;
  leveldb::Status s = leveldb::DB::Open(options, path, &raw);
  if (!s.ok()) return absl::InternalError(absl::StrCat("open log ", path, ": ", s.ToString()));
  std::unique_ptr<leveldb::DB> db(raw);
  uint64_t last = sm->applied_index();
  uint64_t trimmed = sm->applied_index();
  std::unique_ptr<leveldb::Iterator> it(db->NewIterator(leveldb::ReadOptions()));
  it->SeekToLast();
  if (it->Valid() && it->key().starts_with("L")) {
    last = std::max(last, DecodeFixed64BE(it->key().ToString().substr(1)));
  }
  it->SeekToFirst();
  if (it->Valid() && it->key().starts_with("L")) {
    trimmed = DecodeFixed64BE(it->key().ToString().substr(1)) - 1;
  }
  it.reset();
  std::unique_ptr<LocalLog> log(new LocalLog(std::move(db), sm, last, trimmed));
  DFS_RETURN_IF_ERROR(log->Replay());
  log->writer_ = std::thread([l = log.get()] { l->WriterLoop(); });
  return log;
}

LocalLog::LocalLog(std::unique_ptr<leveldb::DB> db, StateMachine* sm, uint64_t last_index,
                   uint64_t trimmed_through)
    : db_(std::move(db)), sm_(sm), last_index_(last_index), trimmed_through_(trimmed_through) {}

LocalLog::~LocalLog() { Shutdown(); }

absl::Status LocalLog::Replay() {
  uint64_t from = sm_->applied_index() + 1;
  for (uint64_t index = from; index <= last_index_; ++index) {
    std::string value;
    leveldb::Status s = db_->Get(leveldb::ReadOptions(), EntryKey(index), &value);
    if (!s.ok()) return absl::DataLossError(absl::StrCat("log entry ", index, " missing"));
    Command command;
    if (!command.ParseFromString(value)) return absl::DataLossError("corrupt log entry");
    sm_->Apply(index, command);
  }
  if (last_index_ >= from) DFS_LOG(INFO) << "replayed log entries " << from << ".." << last_index_;
  return absl::OkStatus();
}

absl::StatusOr<CommandResult> LocalLog::Propose(const Command& command) {
  Pending pending;
  pending.command = command.SerializeAsString();
  auto future = pending.result.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::UnavailableError("master is shutting down");
    queue_.push_back(std::move(pending));
  }
  cv_.notify_one();
  return future.get();
}

void LocalLog::WriterLoop() {
  for (;;) {
    std::deque<Pending> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        for (auto& p : queue_) p.result.set_value(absl::UnavailableError("master is shutting down"));
        queue_.clear();
        return;
      }
      batch.swap(queue_);
    }
    // Group commit: every proposal that queued up meanwhile shares this one fsync.
    leveldb::WriteBatch write;
    for (size_t i = 0; i < batch.size(); ++i) write.Put(EntryKey(last_index_ + 1 + i), batch[i].command);
    leveldb::WriteOptions sync;
    sync.sync = true;
    leveldb::Status s = db_->Write(sync, &write);
    // A failed sync leaves the log's state unknown: stop rather than acknowledge anything.
    DFS_CHECK(s.ok());
    for (auto& p : batch) {
      Command command;
      DFS_CHECK(command.ParseFromString(p.command));
      p.result.set_value(sm_->Apply(++last_index_, command));
    }
    TrimApplied();
  }
}

void LocalLog::TrimApplied() {
  uint64_t applied = sm_->applied_index();
  if (applied < trimmed_through_ + kTrimEvery) return;
  // Entries may go only once the state they produced is durable in the metadata store.
  DFS_CHECK_OK(sm_->store()->Sync());
  leveldb::WriteBatch trim;
  for (uint64_t index = trimmed_through_ + 1; index <= applied; ++index) trim.Delete(EntryKey(index));
  DFS_CHECK(db_->Write(leveldb::WriteOptions(), &trim).ok());
  trimmed_through_ = applied;
}

void LocalLog::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

}  // namespace dfs
