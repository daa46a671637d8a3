// dfsadmin raft status|add|remove|transfer|snapshot, and dfsadmin snapshot: the masters' Raft
// group.
#pragma once

#include <string>
#include <vector>

#include "tools/admin/masters.h"

namespace dfs::admin {

// InvalidArgument (saying why) unless `args` is one of: status | add|remove|transfer HOST:PORT |
// snapshot.
absl::Status CheckRaftArgs(const std::vector<std::string>& args);

// Runs `dfsadmin raft ARGS...` (checked by CheckRaftArgs); returns the exit code.
int RaftCommand(const Target& target, const std::vector<std::string>& args);

// Has the leader take a Raft snapshot now (compacting its log); prints the new snapshot index.
int SnapshotCommand(const Target& target);

}  // namespace dfs::admin
