#include "tests/fault/nemesis.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "tests/fault/history.h"

namespace dfs::fault {

const char* FaultName(Fault fault) {
  switch (fault) {
    case Fault::kCrash: return "crash";
    case Fault::kPause: return "pause";
    case Fault::kPartition: return "partition";
    case Fault::kIsolateLeader: return "isolate-leader";
    case Fault::kAsymmetric: return "asymmetric";
    case Fault::kBridge: return "bridge";
    case Fault::kLoss: return "loss";
    case Fault::kDelay: return "delay";
    case Fault::kDiskFull: return "disk-full";
  }
  return "?";
}

std::vector<Fault> AllFaults() {
  return {Fault::kCrash,         Fault::kPause,      Fault::kPartition,
          Fault::kIsolateLeader, Fault::kAsymmetric, Fault::kBridge,
          Fault::kLoss,          Fault::kDelay,      Fault::kDiskFull};
}

Nemesis::Nemesis(NetnsCluster* cluster, uint64_t seed) : cluster_(cluster), random_(seed) {}

void Nemesis::Record(const std::string& kind, const std::string& detail) {
  events_.push_back({History::NowNs(), kind, detail});
}

std::map<std::string, int> Nemesis::counts() const {
  std::map<std::string, int> counts;
  for (const FaultEvent& event : events_) {
    if (event.kind != "heal") ++counts[event.kind];
  }
  return counts;
}

std::string Nemesis::Log(int64_t base_ns) const {
  std::string text;
  for (const FaultEvent& event : events_) {
    absl::StrAppendFormat(&text, "  %+8.2fs  %-15s %s\n", (event.at_ns - base_ns) / 1e9, event.kind,
                          event.detail);
  }
  return text;
}

std::vector<int> Nemesis::ServerHosts() const {
  std::vector<int> hosts;
  for (int i = 0; i < cluster_->masters(); ++i) hosts.push_back(cluster_->host_of({true, i}));
  for (int i = 0; i < cluster_->datanodes(); ++i) hosts.push_back(cluster_->host_of({false, i}));
  return hosts;
}

int Nemesis::LeaderOrAny() {
  int leader = cluster_->cluster().FindLeader();
  if (leader >= 0) return leader;
  std::vector<int> running;
  for (int i = 0; i < cluster_->masters(); ++i) {
    if (cluster_->Running({true, i})) running.push_back(i);
  }
  return running.empty() ? 0 : running[random_.Uniform(running.size())];
}

absl::Status Nemesis::Cut(const std::vector<int>& a, const std::vector<int>& b) {
  HostNetwork& net = cluster_->network();
  std::map<int, std::vector<std::string>> rules;
  for (int x : a) {
    for (int y : b) {
      rules[x].push_back(absl::StrCat("-A INPUT -s ", net.host(y).address, " -j DROP"));
      rules[y].push_back(absl::StrCat("-A INPUT -s ", net.host(x).address, " -j DROP"));
    }
  }
  network_faulted_ = true;
  for (const auto& [host, list] : rules) DFS_RETURN_IF_ERROR(net.AddRules(host, list));
  return absl::OkStatus();
}

namespace {

std::string Labels(const HostNetwork& net, const std::vector<int>& hosts) {
  std::vector<std::string> labels;
  for (int h : hosts) labels.push_back(net.host(h).label);
  return absl::StrJoin(labels, ",");
}

}  // namespace

absl::Status Nemesis::Inject(Fault fault) {
  switch (fault) {
    case Fault::kCrash: return Crash();
    case Fault::kPause: return Pause();
    case Fault::kPartition: return Partition();
    case Fault::kIsolateLeader: return IsolateLeader();
    case Fault::kAsymmetric: return Asymmetric();
    case Fault::kBridge: return Bridge();
    case Fault::kLoss: return Loss();
    case Fault::kDelay: return Delay();
    case Fault::kDiskFull: return DiskFull();
  }
  return absl::InvalidArgumentError("unknown fault");
}

absl::Status Nemesis::Crash() {
  // Never more than a minority of masters, and at most one datanode, down at once: the faults
  // test safety, and a cluster that cannot make progress tests nothing.
  int masters_down = 0, datanodes_down = 0;
  for (const NodeRef& node : crashed_) (node.master ? masters_down : datanodes_down)++;
  std::vector<NodeRef> candidates;
  auto is_down = [&](const NodeRef& node) {
    for (const NodeRef& n : crashed_) {
      if (n.master == node.master && n.index == node.index) return true;
    }
    for (const NodeRef& n : paused_) {
      if (n.master == node.master && n.index == node.index) return true;
    }
    return false;
  };
  if ((masters_down + 1) * 2 < cluster_->masters()) {
    for (int i = 0; i < cluster_->masters(); ++i) {
      if (!is_down({true, i})) candidates.push_back({true, i});
    }
  }
  if (datanodes_down == 0) {
    for (int i = 0; i < cluster_->datanodes(); ++i) {
      if (!is_down({false, i})) candidates.push_back({false, i});
    }
  }
  if (candidates.empty()) return absl::FailedPreconditionError("crash: every candidate is down");
  // The leader half of the time when a master is allowed: it holds the most in-flight state.
  NodeRef node = candidates[random_.Uniform(candidates.size())];
  if (candidates.front().master && random_.Chance(0.5)) {
    int leader = cluster_->cluster().FindLeader();
    if (leader >= 0 && !is_down({true, leader})) node = {true, leader};
  }
  DFS_ASSIGN_OR_RETURN(std::string stats, cluster_->Crash(node));
  crashed_.push_back(node);
  Record("crash", absl::StrCat(node.Name(), stats.empty() ? "" : " (power loss: " + stats + ")"));
  return absl::OkStatus();
}

absl::Status Nemesis::Pause() {
  NodeRef node{true, LeaderOrAny()};
  if (random_.Chance(0.25))
    node = {false, static_cast<int>(random_.Uniform(cluster_->datanodes()))};
  for (const NodeRef& n : crashed_) {
    if (n.master == node.master && n.index == node.index) {
      return absl::FailedPreconditionError("pause: " + node.Name() + " is down");
    }
  }
  cluster_->Signal(node, SIGSTOP);
  paused_.push_back(node);
  Record("pause", node.Name());
  return absl::OkStatus();
}

absl::Status Nemesis::Partition() {
  std::vector<int> masters;
  for (int i = 0; i < cluster_->masters(); ++i) masters.push_back(i);
  Shuffle(masters, random_);
  std::vector<int> majority, minority;
  const int majority_size = cluster_->masters() / 2 + 1;
  for (int k = 0; k < cluster_->masters(); ++k) {
    (k < majority_size ? majority : minority).push_back(cluster_->host_of({true, masters[k]}));
  }
  for (int i = 0; i < cluster_->datanodes(); ++i) {
    (random_.Chance(0.5) ? majority : minority).push_back(cluster_->host_of({false, i}));
  }
  // Clients end up on either side too: those with the minority see operations time out (of
  // unknown outcome) until the heal. The FUSE clients are hosts; the in-process clients share
  // this process's address, which the other side's servers stop hearing.
  std::vector<int> fuse_majority, fuse_minority;
  for (int c = 0; c < cluster_->fuse_clients(); ++c) {
    (random_.Chance(0.5) ? fuse_majority : fuse_minority).push_back(cluster_->client_host(c));
  }
  // The first partition of a run always strands them with the minority, so that even a short
  // run records operations of unknown outcome.
  const bool local_with_minority = partitions_++ == 0 || random_.Chance(0.5);
  HostNetwork& net = cluster_->network();
  std::vector<int> a = majority, b = minority;
  a.insert(a.end(), fuse_majority.begin(), fuse_majority.end());
  b.insert(b.end(), fuse_minority.begin(), fuse_minority.end());
  DFS_RETURN_IF_ERROR(Cut(a, b));
  for (int host : local_with_minority ? majority : minority) {
    DFS_RETURN_IF_ERROR(net.DropFrom(host, net.local_address()));
  }
  Record("partition", absl::StrCat(Labels(net, a), local_with_minority ? "" : ",local", " | ",
                                   Labels(net, b), local_with_minority ? ",local" : ""));
  return absl::OkStatus();
}

absl::Status Nemesis::IsolateLeader() {
  const int leader = cluster_->host_of({true, LeaderOrAny()});
  std::vector<int> others;
  for (int host : ServerHosts()) {
    if (host != leader) others.push_back(host);
  }
  DFS_RETURN_IF_ERROR(Cut({leader}, others));
  Record("isolate-leader", absl::StrCat(cluster_->network().host(leader).label, " | rest"));
  return absl::OkStatus();
}

absl::Status Nemesis::Asymmetric() {
  HostNetwork& net = cluster_->network();
  network_faulted_ = true;
  if (cluster_->fuse_clients() > 0 && random_.Chance(0.5)) {
    // Requests arrive and are applied; the answers never come back.
    const int c = static_cast<int>(random_.Uniform(cluster_->fuse_clients()));
    const int client = cluster_->client_host(c);
    std::vector<std::string> rules;
    for (int i = 0; i < cluster_->masters(); ++i) {
      rules.push_back(
          absl::StrCat("-A INPUT -s ", net.host(cluster_->host_of({true, i})).address, " -j DROP"));
    }
    DFS_RETURN_IF_ERROR(net.AddRules(client, rules));
    Record("asymmetric", absl::StrCat("masters -> ", net.host(client).label, " lost"));
    return absl::OkStatus();
  }
  const int leader_index = LeaderOrAny();
  const int leader = cluster_->host_of({true, leader_index});
  std::vector<std::string> rules;
  for (int i = 0; i < cluster_->masters(); ++i) {
    if (i == leader_index) continue;
    rules.push_back(
        absl::StrCat("-A INPUT -s ", net.host(cluster_->host_of({true, i})).address, " -j DROP"));
  }
  DFS_RETURN_IF_ERROR(net.AddRules(leader, rules));
  Record("asymmetric", absl::StrCat("masters -> ", net.host(leader).label, " (leader) lost"));
  return absl::OkStatus();
}

absl::Status Nemesis::Bridge() {
  if (cluster_->masters() < 3) return absl::FailedPreconditionError("bridge needs 3 masters");
  std::vector<int> order;
  for (int i = 0; i < cluster_->masters(); ++i) order.push_back(i);
  Shuffle(order, random_);
  // A and C each keep the bridge B; any further masters go with A.
  std::vector<int> side_a = {cluster_->host_of({true, order[0]})};
  std::vector<int> side_c = {cluster_->host_of({true, order[2]})};
  for (size_t k = 3; k < order.size(); ++k) side_a.push_back(cluster_->host_of({true, order[k]}));
  for (int i = 0; i < cluster_->datanodes(); ++i) {
    (i % 2 == 0 ? side_a : side_c).push_back(cluster_->host_of({false, i}));
  }
  DFS_RETURN_IF_ERROR(Cut(side_a, side_c));
  const HostNetwork& net = cluster_->network();
  Record("bridge", absl::StrCat(Labels(net, side_a), " | ",
                                net.host(cluster_->host_of({true, order[1]})).label, " | ",
                                Labels(net, side_c)));
  return absl::OkStatus();
}

absl::Status Nemesis::Loss() {
  HostNetwork& net = cluster_->network();
  const double p = 0.05 + random_.Uniform(16) / 100.0;
  network_faulted_ = true;
  for (int host = 0; host < net.size(); ++host) DFS_RETURN_IF_ERROR(net.SetLoss(host, p));
  Record("loss", absl::StrFormat("%.0f%% of packets dropped on every host", p * 100));
  return absl::OkStatus();
}

absl::Status Nemesis::Delay() {
  HostNetwork& net = cluster_->network();
  const int delay_ms = static_cast<int>(random_.Range(10, 60));
  const int jitter_ms = static_cast<int>(random_.Range(5, 40));
  network_faulted_ = true;
  for (int host : ServerHosts()) {
    DFS_RETURN_IF_ERROR(net.StartDelay(host, delay_ms, jitter_ms, random_.Next()));
  }
  Record("delay",
         absl::StrFormat("%d ms + [0, %d] ms jitter on every server", delay_ms, jitter_ms));
  return absl::OkStatus();
}

absl::Status Nemesis::DiskFull() {
  const std::string& disk = cluster_->small_disk();
  if (disk.empty()) return absl::FailedPreconditionError("disk-full: no small-disk datanode");
  if (!filler_.empty()) return absl::OkStatus();
  filler_ = disk + "/FILLER";
  int fd = ::open(filler_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return absl::InternalError(absl::StrCat("create ", filler_, ": ", std::strerror(errno)));
  std::string block(1 << 20, 'F');
  uint64_t written = 0;
  for (;;) {
    ssize_t n = ::write(fd, block.data(), block.size());
    if (n > 0) {
      written += n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // ENOSPC: full
  }
  for (size_t piece = block.size() / 2; piece > 0; piece /= 2) {  // the last bytes too
    while (::write(fd, block.data(), piece) > 0) written += piece;
  }
  ::close(fd);
  Record("disk-full", absl::StrCat("d", cluster_->options().small_disk_datanode, ": ", written,
                                   " bytes of filler, 0 left"));
  return absl::OkStatus();
}

absl::Status Nemesis::Heal() {
  absl::Status result;
  std::vector<std::string> done;
  const int64_t start_ns = History::NowNs();
  if (network_faulted_) {
    result.Update(cluster_->network().Heal());
    network_faulted_ = false;
    done.push_back(absl::StrFormat("network (%.1f s)", (History::NowNs() - start_ns) / 1e9));
  }
  for (const NodeRef& node : paused_) {
    cluster_->Signal(node, SIGCONT);
    done.push_back("continue " + node.Name());
  }
  paused_.clear();
  for (const NodeRef& node : crashed_) {
    result.Update(cluster_->Restart(node));
    done.push_back("restart " + node.Name());
  }
  crashed_.clear();
  if (!filler_.empty()) {
    ::unlink(filler_.c_str());
    filler_.clear();
    done.push_back("disk emptied");
  }
  Record("heal", done.empty() ? "nothing to undo" : absl::StrJoin(done, ", "));
  return result;
}

}  // namespace dfs::fault
