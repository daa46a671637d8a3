// A master process: opens the state machine and command log under the data directory and serves
// the master's gRPC services.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/clock.h"
#include "master/command_log.h"
#include "master/datanode_manager.h"
#include "master/master_service.h"
#include "master/state_machine.h"
#include "grpcpp/grpcpp.h"

namespace dfs {

struct MasterOptions {
  std::string data_dir;
  std::string listen_address = "127.0.0.1:0";
  std::string port_file;            // written with the bound address once serving
  int64_t datanode_dead_ms = 10000; // a datanode silent this long is dead
  int replication = 3;
  uint64_t seed = 0;                // 0: from entropy

  absl::Status Validate() const;
};

class MasterServer {
 public:
  explicit MasterServer(MasterOptions options) : options_(std::move(options)) {}
  ~MasterServer();

  absl::Status Start();
  void Wait();      // blocks until Shutdown
  void Shutdown();  // thread-safe, idempotent
  const std::string& address() const { return address_; }

 private:
  MasterOptions options_;
  std::unique_ptr<StateMachine> sm_;
  std::unique_ptr<LocalLog> log_;
  std::unique_ptr<DatanodeManager> datanodes_;
  std::unique_ptr<MasterServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace dfs
