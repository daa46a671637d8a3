// dfsadmin status: the whole cluster on one screen (or as JSON, proto/admin.proto's
// StatusReport): every master's Raft view, the datanodes, chunk health, safe mode, and a verdict.
#pragma once

#include "proto/admin.pb.h"
#include "tools/admin/masters.h"

namespace dfs::admin {

// Gathers the report: RaftStatus from every master, then ClusterStatus and ListDatanodes from
// the leader. Never fails: what could not be learnt shows in the masters' errors and the verdict.
StatusReport BuildStatusReport(const Target& target);

// Sets health and verdict from the rest of the report. Worst first:
//   NO_LEADER  no master leads (or the leader did not answer);
//   AT_RISK    some data cannot be read now: missing or corrupt chunks;
//   DEGRADED   everything readable, but chunks short of replicas, datanodes dead or masters down;
//   HEALTHY    none of these.
// The verdict names every problem ("DEGRADED: 12 under-replicated chunks, 1 dead datanode") and
// says when safe mode is on or the leader has not finished its first replication scan.
void SetVerdict(StatusReport* report);

// Prints the report (text, or JSON with `json`). Exit code 0, or 1 when there is no leader.
int StatusCommand(const Target& target, bool json);

}  // namespace dfs::admin
