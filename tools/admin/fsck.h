// dfsadmin fsck [--verify] [PATH]: walks the namespace under PATH and reports files whose chunks
// are missing, corrupt or under-replicated, then a summary.
//
// The walk lists directories through the client library (ReadDir pages) and asks the leader
// about each page's files in one AdminService.CheckFiles call, whose verdicts follow the
// replicator's definitions (master/maintenance/replica_plan.h). With --verify every live replica
// of every chunk is read whole and checked (each piece's CRC32C, then the chunk's length and
// CRC32C against the master's record); a damaged replica is reported with ReportBadReplica, so
// the master drops it and the replicator copies a good one, and the file is checked again.
//
// Exit codes (the HDFS rule: only unreadable data fails the check):
//   0  every chunk has a good replica (under-replicated ones are reported, not failures);
//   1  some chunk is MISSING (no live replica) or CORRUPT (only damaged replicas left);
//   2  usage: a bad flag, or PATH does not exist;
//   3  the check could not finish (cluster unreachable, no leader).
#pragma once

#include <string>

#include "client/options.h"
#include "tools/admin/masters.h"

namespace dfs::admin {

inline constexpr int kFsckAtRisk = 1;
inline constexpr int kFsckUsage = 2;
inline constexpr int kFsckIncomplete = 3;

struct FsckOptions {
  std::string path = "/";
  bool verify = false;
};

int FsckCommand(const Target& target, const ClientOptions& client_options,
                const FsckOptions& options);

}  // namespace dfs::admin
