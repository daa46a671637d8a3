// A cluster of hosts on one machine, for fault tests: every master, datanode and dfs-fuse client
// runs in a network namespace of its own with its own address on a private bridge, so the
// network between any two of them can be cut, made lossy or slow (tests/fault/nemesis.h) with
// iptables rules inside the namespaces.
//
// Isolation and clean-up. The test process first moves itself into a network namespace of its
// own (EnterPrivateNetwork): the bridge, the host ends of the veth pairs and this process's
// address (.254 on the bridge) exist only there, so no packet can reach the machine's real
// network, and parallel runs never see each other's bridges or addresses. The hosts are named
// namespaces ("dfsf<pid>-<label>", under /run/netns); HostNetwork deletes them when it goes
// away, and with them their veths and iptables rules. A run that died without cleaning up
// leaves only empty namespaces, which RemoveStaleNamespaces() deletes (their PID is gone).
// Processes are started through nsenter (which keeps the PID and this process's mount
// namespace, so FUSE mounts stay visible) and stopped by PID.
//
// Thread-compatible: one test thread drives a HostNetwork or a NetnsCluster; processes and
// clients use the network from any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/fault/lossyfs_mount.h"
#include "tests/testutil/cluster.h"
#include "tests/testutil/mount.h"
#include "tests/testutil/process.h"
#include "tests/testutil/temp_dir.h"

namespace dfs::fault {

// Moves the calling process into a new network namespace with loopback up. Must run while the
// process has exactly one thread (namespaces are per thread; later threads inherit): call it
// first thing in a test's SetUpTestSuite, before any client or gRPC thread exists. Idempotent.
absl::Status EnterPrivateNetwork();

// Checks that this machine can run the fault tests: root, /dev/fuse, ip, nsenter, iptables,
// iptables-restore. A clear error naming what is missing, never a silent skip.
absl::Status CheckFaultPrerequisites();

// Deletes namespaces (and lossyfs or tmpfs mounts) left by earlier runs whose process is gone.
void RemoveStaleNamespaces();

struct Host {
  std::string label;    // "m0", "d2", "c1"
  std::string netns;    // named namespace, e.g. "dfsf1234-m0"
  std::string address;  // on the bridge, e.g. "10.77.0.3"
};

class HostNetwork {
 public:
  // A bridge in this process's (private) namespace with the address <prefix>.254. One
  // HostNetwork at a time per process (the bridge has a fixed name).
  static absl::StatusOr<std::unique_ptr<HostNetwork>> Create(const std::string& prefix = "10.77.0");
  ~HostNetwork();
  HostNetwork(const HostNetwork&) = delete;
  HostNetwork& operator=(const HostNetwork&) = delete;

  // A new namespace attached to the bridge as eth0 with the next address. Returns its index.
  absl::StatusOr<int> AddHost(const std::string& label);
  int size() const { return static_cast<int>(hosts_.size()); }
  const Host& host(int i) const { return hosts_[i]; }
  // This process's address on the bridge (clients of the cluster that run in-process use it).
  std::string local_address() const { return prefix_ + ".254"; }
  // Prepended to a command line to run it in host `i`'s namespace.
  std::vector<std::string> ExecPrefix(int i) const;

  // Runs `argv` in host `i`'s namespace to completion.
  absl::Status Run(int i, const std::vector<std::string>& argv, int timeout_ms = 20000);
  // Appends iptables rules ("-A INPUT ...", one per entry) to host `i`'s filter table, at once.
  absl::Status AddRules(int i, const std::vector<std::string>& rules);
  // Host `to` drops every packet that comes from `from_address`.
  absl::Status DropFrom(int to, const std::string& from_address);
  // Host `i` drops arriving packets with this probability.
  absl::Status SetLoss(int i, double probability);
  // Host `i`'s outgoing packets wait delay_ms + [0, jitter_ms] each (reordering those sent
  // closer together than the jitter), through dfs-netdelay on NFQUEUE.
  absl::Status StartDelay(int i, int delay_ms, int jitter_ms, uint64_t seed);
  // Removes every rule and stops every delay: the network is whole again.
  absl::Status Heal();

 private:
  HostNetwork(std::string prefix, std::string name_prefix)
      : prefix_(std::move(prefix)), name_prefix_(std::move(name_prefix)) {}

  const std::string prefix_;
  const std::string name_prefix_;  // "dfsf<pid>-"
  TempDir logs_;                   // rule files, delayer logs
  std::string log_dir_;
  std::vector<Host> hosts_;
  std::vector<std::unique_ptr<testing::Process>> delayers_;
  bool bridge_ = false;
};

// Which process of a cluster.
struct NodeRef {
  bool master = true;
  int index = 0;
  std::string Name() const { return (master ? "m" : "d") + std::to_string(index); }
};

struct NetnsClusterOptions {
  int masters = 3;
  int datanodes = 4;
  // dfs-fuse mounts, each in a client namespace of its own.
  int fuse_clients = 2;
  std::vector<std::string> fuse_flags = {"--timeout_ms=5000"};
  // Masters' and datanodes' data directories on dfs-lossyfs (what a crash loses is lost).
  bool lossy_storage = true;
  LossyNames lossy_names = LossyNames::kStrict;
  // A datanode whose data directory is a tmpfs of this size instead (for the full-disk
  // nemesis); -1: none.
  int small_disk_datanode = -1;
  uint64_t small_disk_bytes = 96ull << 20;
  // Heartbeats, dead timeout, extra flags (sites are filled in here).
  testing::ClusterOptions cluster;
};

// A dfs cluster over a HostNetwork: host i is master i, then the datanodes, then the FUSE
// clients. Owns everything it starts; the destructor unmounts the clients, kills the servers
// by PID, unmounts the storage and deletes the network, in that order. Not copyable (its
// members own processes and directories).
class NetnsCluster {
 public:
  explicit NetnsCluster(NetnsClusterOptions options);
  ~NetnsCluster();

  // Builds the network and storage, starts every server, waits for a leader and every datanode,
  // mounts the clients.
  absl::Status Start();

  const NetnsClusterOptions& options() const { return options_; }
  testing::TestCluster& cluster() { return *cluster_; }
  HostNetwork& network() { return *network_; }
  const std::string& dir() const { return dir_.path(); }
  int masters() const { return options_.masters; }
  int datanodes() const { return options_.datanodes; }
  int host_of(NodeRef node) const { return node.master ? node.index : masters() + node.index; }
  int client_host(int c) const { return masters() + datanodes() + c; }
  testing::FuseMount& mount(int c) { return *mounts_[c]; }
  int fuse_clients() const { return static_cast<int>(mounts_.size()); }
  // The lossy layer under a node's data directory, or null.
  LossyMount* storage(NodeRef node);
  // The tmpfs data directory of the small-disk datanode ("" if none).
  const std::string& small_disk() const { return small_disk_; }

  bool Running(NodeRef node) const;
  // SIGKILL; then, on lossy storage, everything the node had not synced is lost. Returns the
  // storage's counters after the crash ("" when not on lossy storage).
  absl::StatusOr<std::string> Crash(NodeRef node);
  absl::Status Restart(NodeRef node);
  void Signal(NodeRef node, int signal);
  // The tail of a node's log, for failure messages.
  std::string Log(NodeRef node, size_t bytes = 3000) const;

 private:
  NetnsClusterOptions options_;
  TempDir dir_;
  // Declared in the order of construction; destroyed in reverse (see the class comment).
  std::unique_ptr<HostNetwork> network_;
  std::string small_disk_;
  bool small_disk_mounted_ = false;
  std::vector<std::unique_ptr<LossyMount>> master_storage_;
  std::vector<std::unique_ptr<LossyMount>> datanode_storage_;
  std::unique_ptr<testing::TestCluster> cluster_;
  std::vector<std::unique_ptr<testing::FuseMount>> mounts_;
};

}  // namespace dfs::fault
