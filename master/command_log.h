// CommandLog: where a mutation becomes durable and ordered before it is applied. The master's
// service only talks to this interface; the single-node LocalLog below and the Raft log are its
// two implementations.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "leveldb/db.h"
#include "master/state_machine.h"
#include "proto/command.pb.h"

namespace dfs {

class CommandLog {
 public:
  virtual ~CommandLog() = default;

  // Makes `command` durable in the log, applies it to the state machine and returns the result.
  // Unavailable when this node cannot take proposals (not the leader, shutting down); the
  // command may or may not have been applied then, which sessions make safe to retry.
  // Thread-safe; concurrent proposals are batched into one log write (group commit).
  virtual absl::StatusOr<CommandResult> Propose(const Command& command) = 0;

  // Returns once every command acknowledged before the call is applied here and this node is
  // still the leader, so that a read that follows is linearizable.
  virtual absl::Status ReadBarrier() = 0;

  virtual bool IsLeader() = 0;
  // The leader's client address when known, for NOT_LEADER answers; empty otherwise.
  virtual std::string LeaderHint() = 0;
};

// A single-node log in its own LevelDB: every batch of proposals is one synced write, then each
// command is applied in order. On open, commands logged but not yet applied are replayed.
// Applied prefixes are trimmed from the log once the state machine's store is synced.
class LocalLog : public CommandLog {
 public:
  static absl::StatusOr<std::unique_ptr<LocalLog>> Open(const std::string& path, StateMachine* sm);
  ~LocalLog() override;

  absl::StatusOr<CommandResult> Propose(const Command& command) override;
  absl::Status ReadBarrier() override { return absl::OkStatus(); }
  bool IsLeader() override { return true; }
  std::string LeaderHint() override { return ""; }

  // Fails queued and future proposals with Unavailable and stops the writer thread.
  void Shutdown();

 private:
  LocalLog(std::unique_ptr<leveldb::DB> db, StateMachine* sm, uint64_t last_index,
           uint64_t trimmed_through);
  absl::Status Replay();
  void WriterLoop();
  void TrimApplied();

  struct Pending {
    std::string command;  // serialized
    std::promise<absl::StatusOr<CommandResult>> result;
  };

  std::unique_ptr<leveldb::DB> db_;
  StateMachine* sm_;
  uint64_t last_index_;       // writer thread only
  uint64_t trimmed_through_;  // writer thread only
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;  // guarded by mu_
  bool stopping_ = false;      // guarded by mu_
  std::thread writer_;
};

}  // namespace dfs
