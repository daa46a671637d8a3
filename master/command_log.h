// CommandLog: where a mutation becomes durable and ordered before it is applied. The master's
// service and background tasks only talk to this interface; RaftCommandLog implements it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
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

}  // namespace dfs
