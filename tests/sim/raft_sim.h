// A deterministic, seeded whole-cluster simulation of the Raft core (in the spirit of
// tigerbeetle's VOPR and etcd-io/raft's rafttest).
//
// N RaftNodes run in one thread over a simulated network that loses, duplicates, delays and
// reorders messages and can be partitioned (symmetric splits, one-way links, an isolated leader).
// Nodes crash and restart from MemoryStorage, losing every unsynced write and their state machine
// (rebuilt from the snapshot plus the log). Random proposals, reads, compactions, leadership
// transfers and membership changes happen meanwhile. Invariants are checked after every step:
//   - election safety: at most one leader per term;
//   - log matching: an (index, term) pair identifies one entry and the entry before it;
//   - leader completeness: a leader holds every entry committed before its term began;
//   - state-machine safety: every node applies a prefix of one sequence (hash-chained);
//   - read linearizability: a ReadIndex answer covers every write applied before the request.
// Then the network heals, crashed members restart, and the cluster must elect a leader, commit a
// new proposal on every member and answer a read within a bounded number of ticks (liveness).
//
// A run is a function of its seed. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dfs::raft::sim {

struct SimOptions {
  uint64_t seed = 1;
  int num_nodes = 3;          // initial members
  int chaos_ticks = 1200;     // rounds of faults before healing
  int liveness_ticks = 400;   // bound for recovery after healing
  double drop_rate = 0.05;
  double dup_rate = 0.03;
  int max_delay_ticks = 3;    // extra delivery delay, uniform in [0, max]
  double crash_before_persist = 0.01;  // a leader crashes between its early sends and its fsync
  bool lease_reads = false;
  bool pre_vote = true;
  bool check_quorum = true;
  bool membership_changes = true;
  bool trace = false;         // record an event trace (slower; used to replay a failure)
  size_t trace_tail = 80;     // trace lines kept for the failure report
};

// The options a seed maps to (cluster size, lease reads, fault rates vary with the seed).
SimOptions OptionsForSeed(uint64_t seed);

struct SimResult {
  bool ok = true;
  std::string error;                // first violated invariant
  std::vector<std::string> trace;   // last events (when tracing)
  // Statistics.
  uint64_t committed = 0;           // entries in the common applied sequence
  uint64_t elections = 0;           // distinct leader terms
  uint64_t crashes = 0;
  uint64_t snapshots_installed = 0;
  uint64_t conf_changes = 0;        // committed membership changes
  uint64_t members_added = 0;
  uint64_t members_removed = 0;
  uint64_t transfers = 0;           // leadership transfers started
  uint64_t reads = 0;
  uint64_t messages = 0;
  int recovery_ticks = 0;           // ticks the liveness phase needed
};

SimResult RunSimulation(const SimOptions& options);

}  // namespace dfs::raft::sim
