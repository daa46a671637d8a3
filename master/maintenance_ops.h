// The state-machine side of background maintenance and administration: one function per command
// the leader's maintenance tasks or an administrator propose (proto/command.proto, field numbers
// 30 and up). Like ops.h, each
// validates against the current state through the Txn and either mutates it or returns a
// semantic error having changed nothing the caller keeps.
//
// Called only from the apply thread (StateMachine::Dispatch).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "master/meta_store.h"
#include "proto/command.pb.h"
#include "proto/common.pb.h"

namespace dfs {

// Adds a replica to a chunk's record (or to its garbage record). NotFound if neither exists.
absl::Status ApplyAddReplica(Txn& txn, const AddReplicaCmd& cmd);
// Removes a replica if the required ones are still recorded (FailedPrecondition otherwise) and
// it is not the last one (PermissionDenied).
absl::Status ApplyTrimReplica(Txn& txn, const TrimReplicaCmd& cmd);
// Forgets garbage records; ids that are not garbage are skipped (a chunk record is never purged).
absl::Status ApplyPurgeGarbage(Txn& txn, const PurgeGarbageCmd& cmd);
absl::Status ApplySetDecommission(Txn& txn, const SetDecommissionCmd& cmd, int64_t now_ns);
// The merger's compare-and-set; see MergeSwapCmd.
absl::Status ApplyMergeSwap(Txn& txn, const MergeSwapCmd& cmd, int64_t now_ns);
// Enters or leaves safe mode; entering again keeps the original start time.
absl::Status ApplySetSafeMode(Txn& txn, const SetSafeModeCmd& cmd, int64_t now_ns);

}  // namespace dfs
