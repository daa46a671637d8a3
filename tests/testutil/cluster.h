// A local dfs cluster of real processes for integration tests: M masters (one Raft group) and N
// datanodes on 127.0.0.1 with free ports (masters get theirs picked up front, since Raft members
// must know each other; datanodes bind port 0 and report it in a port file), data in a temporary
// directory. Every process is stopped by PID when the cluster goes away.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/master.grpc.pb.h"
#include "tests/testutil/process.h"
#include "tests/testutil/temp_dir.h"

namespace dfs::testing {

// Where one process of a cluster runs, for clusters spread over hosts (tests/fault/netns.h puts
// each in its own network namespace). Empty fields keep the defaults.
struct NodeSite {
  std::string listen;                    // host:port to serve on (a master's must name its port)
  std::vector<std::string> exec_prefix;  // the command line is run through this, e.g.
                                         // {"/usr/bin/nsenter", "--net=/run/netns/h1", "--"}
  std::string data_dir;                  // instead of dir()/masterI or dir()/dnI
};

struct ClusterOptions {
  int masters = 1;
  int datanodes = 4;
  std::vector<std::string> racks = {"rack-a", "rack-b"};  // datanode i gets racks[i % size]
  int64_t datanode_dead_ms = 4000;
  int heartbeat_interval_ms = 300;
  std::vector<std::string> extra_master_flags;
  std::vector<std::string> extra_datanode_flags;
  // Entry i places master i / datanode i; by default every process runs here on 127.0.0.1 with
  // a free port.
  std::vector<NodeSite> master_sites;
  std::vector<NodeSite> datanode_sites;
  // A cluster secret (dfsadmin init's files in dir()) for every process, so that every test runs
  // authenticated as a real cluster should; false: servers without one, accepting any call.
  bool secure = true;
  // TLS on every channel, with a CA and a certificate for 127.0.0.1 from tools/tls-certs.
  bool tls = false;
};

// `options` plus master flags that make background maintenance act within a second or two:
// scans, chunk reports, GC and trash expiry; copies unthrottled; no balancer runs unless asked.
ClusterOptions WithFastMaintenance(ClusterOptions options);

// Security: the constructor writes the credentials (and certificates), makes this test process
// call with the cluster secret (ConfigureRpcSecurity: in-process clients and stubs act as a node),
// and points $DFS_CONFIG at dir()/client.conf (masters, admin.key, the CA) so that dfsadmin and
// dfs-fuse children authenticate without extra flags; Dfs() passes the client key. The
// environment is process-wide: one cluster at a time per test process.
class TestCluster {
 public:
  explicit TestCluster(ClusterOptions options = {});
  ~TestCluster();

  // Starts the master and every datanode and waits until all datanodes are live at the master.
  absl::Status Start();

  // Every master, comma-separated: what clients are given.
  const std::string& master_address() const { return master_list_; }
  const std::vector<std::string>& master_addresses() const { return master_addresses_; }
  const std::string& dir() const { return dir_.path(); }
  std::string datanode_dir(int i) const;
  std::string master_dir(int i) const;
  std::string datanode_id(int i) const;  // read from the datanode's id file
  // host:port of a process's HTTP server (status page, /metrics), from its --http_port_file
  // (written before its gRPC port file, so known once the process is serving).
  std::string master_http_address(int i) const;
  std::string datanode_http_address(int i) const;
  int FindDatanodeById(const std::string& id) const;  // index or -1
  // Credential and TLS files ("" when the cluster has none).
  std::string secret_file() const;  // cluster.secret: role node
  std::string admin_key_file() const;
  std::string client_key_file() const;
  std::string tls_ca_file() const;
  // --secret_file (the client key) and --tls_ca for a client binary (dfs, dfs-fuse).
  std::vector<std::string> ClientSecurityFlags() const;

  // All masters.
  absl::Status StartMaster();
  void StopMaster(int signal = 9);
  // One master (index into master_addresses()).
  absl::Status StartMasterAt(int i, const std::vector<std::string>& extra_flags = {});
  // Returns the exit code for SIGKILL/SIGTERM (see Process::Signal).
  int StopMasterAt(int i, int signal = 9);
  bool MasterRunning(int i) const { return masters_[i]->running(); }
  pid_t master_pid(int i) const { return masters_[i]->pid(); }
  // Waits up to `timeout_ms` for master i to exit on its own; returns its exit code.
  absl::StatusOr<int> WaitForMasterExit(int i, int timeout_ms) { return masters_[i]->Wait(timeout_ms); }
  // Index of the master that says it is the leader, or -1; WaitForLeader polls for one.
  int FindLeader();
  absl::StatusOr<int> WaitForLeader(int timeout_ms = 10000);
  // Adds a master that joins the running group (dfsadmin raft add is then up to the test).
  absl::StatusOr<int> AddJoiningMaster();
  absl::Status StartDatanode(int i);
  void StopDatanode(int i, int signal = 9);
  bool DatanodeRunning(int i) const { return datanodes_[i]->running(); }
  // Waits until the master sees exactly `live` live datanodes.
  absl::Status WaitForLiveDatanodes(int live, int timeout_ms = 20000);

  // Stubs to the leader (found anew on each call; the first master if there is none).
  AdminService::Stub* admin();
  MasterService::Stub* master();
  AdminService::Stub* admin_at(int i);

  // Runs the `dfs` CLI against this cluster.
  CommandResult Dfs(const std::vector<std::string>& args, int timeout_ms = 120000,
                    const std::string& stdin_path = "");

  // The tail of a process's log, for failure messages.
  std::string MasterLog() const;  // of the first master

 private:
  absl::Status WaitForPortFile(const std::string& path, Process& process, std::string* address);
  NodeSite MasterSite(int i) const;
  std::string HttpPortFile(const std::string& name, int i) const;
  NodeSite DatanodeSite(int i) const;
  absl::Status SetUpSecurity();
  std::vector<std::string> ServerSecurityFlags() const;

  ClusterOptions options_;
  TempDir dir_;
  absl::Status security_status_;  // of SetUpSecurity, reported by Start()
  std::vector<std::unique_ptr<Process>> masters_;
  std::vector<std::string> master_addresses_;
  std::string master_list_;
  std::vector<std::unique_ptr<Process>> datanodes_;
  std::vector<std::unique_ptr<AdminService::Stub>> admins_;
  std::unique_ptr<MasterService::Stub> master_stub_;
};

}  // namespace dfs::testing
