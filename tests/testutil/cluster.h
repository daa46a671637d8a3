// A local dfs cluster of real processes for integration tests: one master and N datanodes on
// 127.0.0.1 with free ports (each server binds port 0 and reports its address in a port file),
// data in a temporary directory. Every process is stopped by PID when the cluster goes away.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "proto/master.grpc.pb.h"
#include "tests/testutil/process.h"
#include "tests/testutil/temp_dir.h"

namespace dfs::testing {

struct ClusterOptions {
  int datanodes = 4;
  std::vector<std::string> racks = {"rack-a", "rack-b"};  // datanode i gets racks[i % size]
  int64_t datanode_dead_ms = 4000;
  int heartbeat_interval_ms = 300;
  std::vector<std::string> extra_master_flags;
};

class TestCluster {
 public:
  explicit TestCluster(ClusterOptions options = {});
  ~TestCluster();

  // Starts the master and every datanode and waits until all datanodes are live at the master.
  absl::Status Start();

  const std::string& master_address() const { return master_address_; }
  const std::string& dir() const { return dir_.path(); }
  std::string datanode_dir(int i) const;
  std::string datanode_id(int i) const;  // read from the datanode's id file
  int FindDatanodeById(const std::string& id) const;  // index or -1

  absl::Status StartMaster();
  void StopMaster(int signal = 9);
  absl::Status StartDatanode(int i);
  void StopDatanode(int i, int signal = 9);
  // Waits until the master sees exactly `live` live datanodes.
  absl::Status WaitForLiveDatanodes(int live, int timeout_ms = 20000);

  AdminService::Stub* admin() { return admin_.get(); }
  MasterService::Stub* master() { return master_stub_.get(); }

  // Runs the `dfs` CLI against this cluster.
  CommandResult Dfs(const std::vector<std::string>& args, int timeout_ms = 120000,
                    const std::string& stdin_path = "");

  // The tail of a process's log, for failure messages.
  std::string MasterLog() const;

 private:
  absl::Status WaitForPortFile(const std::string& path, Process& process, std::string* address);

  ClusterOptions options_;
  TempDir dir_;
  Process master_;
  std::string master_address_;
  std::vector<std::unique_ptr<Process>> datanodes_;
  std::unique_ptr<AdminService::Stub> admin_;
  std::unique_ptr<MasterService::Stub> master_stub_;
};

}  // namespace dfs::testing
