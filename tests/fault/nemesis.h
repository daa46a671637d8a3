// Nemesis: the faults of a fault run, injected into a NetnsCluster (tests/fault/netns.h) while
// workloads run, each logged with its time, and all undone by Heal().
//
//   kCrash          SIGKILL a master or datanode; on lossy storage everything it had not
//                   synced is lost (power cut); restarted by Heal()
//   kPause          SIGSTOP the leader (or a datanode) for longer than an election timeout;
//                   SIGCONT by Heal()
//   kPartition      majority/minority: the masters and datanodes split in two, the majority of
//                   masters on one side; the clients (FUSE hosts, and this process's in-process
//                   clients) each on a random side
//   kIsolateLeader  the leader cut off from every other master and datanode (clients still
//                   reach it: it must stop answering as leader)
//   kAsymmetric     one direction only: the leader hears nothing from the other masters (its
//                   messages still arrive), or a FUSE client's replies from the masters are lost
//                   (its requests still arrive: retries must be applied once)
//   kBridge         masters A | C with B seeing both; datanodes split between A's and C's side
//   kLoss           every host drops 5-20% of the packets it receives
//   kDelay          every server's packets wait 10-60 ms plus jitter (reordered), via NFQUEUE
//   kDiskFull       the small-disk datanode's tmpfs filled to the last byte
//
// No clock nemesis: the design reads wall time only for timestamps users see (mtime, made
// monotonic across leaders at apply), the GC grace of unreferenced chunks and trash expiry;
// Raft timing and leases use the monotonic clock, which no one can step, and lease reads are off
// by default (--lease_reads). A skewed wall clock on one master can therefore only age garbage
// or trash early, which no workload here can observe. (The wall clock is also one per machine:
// moving it would move every process, the test's included.)
//
// Thread-compatible: one thread drives the nemesis.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/random.h"
#include "tests/fault/netns.h"

namespace dfs::fault {

enum class Fault {
  kCrash,
  kPause,
  kPartition,
  kIsolateLeader,
  kAsymmetric,
  kBridge,
  kLoss,
  kDelay,
  kDiskFull,
};
const char* FaultName(Fault fault);
std::vector<Fault> AllFaults();

// Fisher-Yates with the run's generator, so that a seed gives the same order everywhere.
template <typename T>
void Shuffle(std::vector<T>& items, Random& random) {
  for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[random.Uniform(i)]);
}

struct FaultEvent {
  int64_t at_ns = 0;   // History::NowNs()
  std::string kind;    // FaultName, or "heal"
  std::string detail;  // what exactly: "crash m1 (lossy: dropped_bytes=...)"
};

class Nemesis {
 public:
  Nemesis(NetnsCluster* cluster, uint64_t seed);

  // Injects one fault (on top of any already in force). An error if it could not be injected;
  // a fault that does not apply (kDiskFull without a small-disk datanode) is an error too.
  absl::Status Inject(Fault fault);
  // Undoes everything: network whole, paused processes continued, crashed ones restarted, the
  // full disk emptied. Logged as one "heal" event.
  absl::Status Heal();

  const std::vector<FaultEvent>& events() const { return events_; }
  // Injections by kind.
  std::map<std::string, int> counts() const;
  // One line per event, times in seconds from `base_ns`.
  std::string Log(int64_t base_ns) const;

 private:
  absl::Status Crash();
  absl::Status Pause();
  absl::Status Partition();
  absl::Status IsolateLeader();
  absl::Status Asymmetric();
  absl::Status Bridge();
  absl::Status Loss();
  absl::Status Delay();
  absl::Status DiskFull();

  // The leader's index, found by asking the masters (a random running master if none answers).
  int LeaderOrAny();
  // Cuts traffic both ways between every host of `a` and every host of `b`.
  absl::Status Cut(const std::vector<int>& a, const std::vector<int>& b);
  void Record(const std::string& kind, const std::string& detail);
  std::vector<int> ServerHosts() const;

  NetnsCluster* const cluster_;
  Random random_;
  std::vector<FaultEvent> events_;
  std::vector<NodeRef> crashed_;
  std::vector<NodeRef> paused_;
  bool network_faulted_ = false;
  int partitions_ = 0;
  std::string filler_;  // the file filling the small disk, if any
};

}  // namespace dfs::fault
