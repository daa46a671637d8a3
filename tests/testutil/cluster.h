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

struct ClusterOptions {
  int masters = 1;
  int datanodes = 4;
  std::vector<std::string> racks = {"rack-a", "rack-b"};  // datanode i gets racks[i % size]
  int64_t datanode_dead_ms = 4000;
  int heartbeat_interval_ms = 300;
  std::vector<std::string> extra_master_flags;
  std::vector<std::string> extra_datanode_flags;
};

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
  std::string datanode_id(int i) const;  // read from the datanode's id file
  int FindDatanodeById(const std::string& id) const;  // index or -1

  // All masters.
  absl::Status StartMaster();
  void StopMaster(int signal = 9);
  // One master (index into master_addresses()).
  absl::Status StartMasterAt(int i, const std::vector<std::string>& extra_flags = {});
  void StopMasterAt(int i, int signal = 9);
  bool MasterRunning(int i) const { return masters_[i]->running(); }
  // Index of the master that says it is the leader, or -1; WaitForLeader polls for one.
  int FindLeader();
  absl::StatusOr<int> WaitForLeader(int timeout_ms = 10000);
  // Adds a master that joins the running group (dfsadmin raft add is then up to the test).
  absl::StatusOr<int> AddJoiningMaster();
  absl::Status StartDatanode(int i);
  void StopDatanode(int i, int signal = 9);
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

  ClusterOptions options_;
  TempDir dir_;
  std::vector<std::unique_ptr<Process>> masters_;
  std::vector<std::string> master_addresses_;
  std::string master_list_;
  std::vector<std::unique_ptr<Process>> datanodes_;
  std::vector<std::unique_ptr<AdminService::Stub>> admins_;
  std::unique_ptr<MasterService::Stub> master_stub_;
};

}  // namespace dfs::testing
