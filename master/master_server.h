// A master process: opens the state machine and command log under the data directory and serves
// the master's gRPC services.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/clock.h"
#include "common/http_server.h"
#include "common/malloc_tuning.h"
#include "master/raft_command_log.h"
#include "master/datanode_manager.h"
#include "master/event_log.h"
#include "master/maintenance/maintenance.h"
#include "master/master_http.h"
#include "master/master_service.h"
#include "master/state_machine.h"
#include "master/watch_hub.h"
#include "grpcpp/grpcpp.h"

namespace dfs {

struct MasterOptions {
  std::string data_dir;
  std::string listen_address = "127.0.0.1:0";
  std::string port_file;            // written with the bound address once serving
  std::string http_listen_address;  // status page and /metrics; "" for none
  std::string http_port_file;       // written with the bound HTTP address once serving
  int64_t datanode_dead_ms = 10000; // a datanode silent this long is dead
  int replication = 3;
  uint64_t seed = 0;                // 0: from entropy
  // Raft: every member of a new group (host:port, this one included; empty: a group of one).
  std::vector<std::string> peers;
  bool join = false;                // start empty and wait to be added (dfsadmin raft add)
  int tick_ms = 50;
  int election_ticks = 10;
  uint64_t snapshot_every_entries = 20000;
  bool lease_reads = false;
  int proposal_gather_us = 2000;  // RaftCommandLogOptions::proposal_gather_us
  bool enable_test_hooks = false;
  bool root_squash = false;  // see MasterContext::root_squash
  // How often freed heap is handed back to the kernel (common/malloc_tuning.h); 0: never.
  int64_t malloc_trim_interval_ms = 10000;
  // Background maintenance (replicator, GC, trash, balancer); replication and datanode_dead_ms
  // above are copied into it at start.
  MaintenanceOptions maintenance;

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
  std::unique_ptr<RaftCommandLog> log_;
  std::unique_ptr<DatanodeManager> datanodes_;
  std::unique_ptr<Maintenance> maintenance_;
  std::unique_ptr<WatchHub> watch_;  // outlives server_, whose Watch calls it serves
  std::unique_ptr<MasterServiceImpl> service_;
  std::unique_ptr<EventLog> events_;
  std::unique_ptr<MasterHttp> http_status_;  // uses service_ and events_
  std::unique_ptr<HttpServer> http_;         // uses http_status_
  std::unique_ptr<RaftServiceImpl> raft_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MallocTrimmer> trimmer_;
  std::string address_;
  // Serializes Shutdown: a signal's shutdown thread and main's own call may overlap, and the
  // second must not return (and let main destroy everything) before the first has finished.
  std::mutex shutdown_mu_;
};

}  // namespace dfs
