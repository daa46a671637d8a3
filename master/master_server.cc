#include "master/master_server.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "common/rpc.h"
#include "common/status.h"

namespace dfs {

absl::Status MasterOptions::Validate() const {
  if (data_dir.empty()) return absl::InvalidArgumentError("--data_dir is required");
  if (listen_address.find(':') == std::string::npos) {
    return absl::InvalidArgumentError("--listen must be host:port");
  }
  if (datanode_dead_ms <= 0) return absl::InvalidArgumentError("--datanode_dead_ms must be > 0");
  if (tick_ms <= 0 || election_ticks < 3) {
    return absl::InvalidArgumentError("--tick_ms must be > 0 and --election_ticks >= 3");
  }
  if (proposal_gather_us < 0 || proposal_gather_us > 1000000) {
    return absl::InvalidArgumentError("--proposal_gather_us must be between 0 and 1000000");
  }
  if (join && !peers.empty()) return absl::InvalidArgumentError("--join takes no --peers");
  DFS_RETURN_IF_ERROR(maintenance.Validate());
  if (replication < 1 || replication > 16) {
    return absl::InvalidArgumentError("--replication must be between 1 and 16");
  }
  return absl::OkStatus();
}

MasterServer::~MasterServer() { Shutdown(); }

absl::Status MasterServer::Start() {
  DFS_RETURN_IF_ERROR(options_.Validate());
  DFS_RETURN_IF_ERROR(MakeDirs(options_.data_dir));
  // Raft member ids derive from addresses, so the address must be known before anything starts.
  DFS_ASSIGN_OR_RETURN(address_, ResolveListenAddress(options_.listen_address));
  DFS_ASSIGN_OR_RETURN(sm_, StateMachine::Open(options_.data_dir + "/meta"));
  watch_ = std::make_unique<WatchHub>(WatchHubOptions{}, [this]() -> absl::StatusOr<uint64_t> {
    DFS_RETURN_IF_ERROR(log_->ReadBarrier());
    return sm_->applied_index();
  });
  sm_->SetChangeListener(watch_.get());
  uint64_t seed = options_.seed != 0 ? options_.seed : SeedFromEntropy();
  RaftCommandLogOptions raft;
  raft.dir = options_.data_dir + "/raft";
  raft.address = address_;
  raft.initial_peers = options_.peers.empty() ? std::vector<std::string>{address_} : options_.peers;
  raft.join = options_.join;
  raft.tick_ms = options_.tick_ms;
  raft.election_ticks = options_.election_ticks;
  raft.seed = seed;
  raft.snapshot_every_entries = options_.snapshot_every_entries;
  raft.lease_reads = options_.lease_reads;
  raft.proposal_gather_us = options_.proposal_gather_us;
  raft.on_removed = [this](const std::string&) {
    // Not on the transport's thread: Shutdown joins it.
    std::thread([this] { Shutdown(); }).detach();
  };
  DFS_ASSIGN_OR_RETURN(log_, RaftCommandLog::Open(raft, sm_.get()));
  // LevelDB syncs inside meta/ and raft/ but never the directory that names them: without this a
  // power cut after the first start could take both away (tests/fault: power loss, strict names).
  DFS_RETURN_IF_ERROR(FsyncDir(options_.data_dir));
  datanodes_ = std::make_unique<DatanodeManager>(RealClock::Get(), options_.datanode_dead_ms, seed);
  MasterContext context{sm_.get(), log_.get(), log_.get(), options_.enable_test_hooks,
                        datanodes_.get(), RealClock::Get(), options_.replication};
  MaintenanceOptions maintenance = options_.maintenance;
  maintenance.replication = options_.replication;
  maintenance.datanode_dead_ms = options_.datanode_dead_ms;
  maintenance_ = std::make_unique<Maintenance>(maintenance, sm_.get(), log_.get(),
                                               datanodes_.get(), RealClock::Get());
  context.maintenance = maintenance_.get();
  context.root_squash = options_.root_squash;
  context.watch = watch_.get();
  // HTTP first, so that RaftStatus can tell its address; `/` answers 503 until SetService.
  events_ = std::make_unique<EventLog>();
  http_status_ = std::make_unique<MasterHttp>(events_.get());
  MasterHttp* status = http_status_.get();
  DFS_ASSIGN_OR_RETURN(http_, StartHttpServer(options_.http_listen_address, options_.http_port_file,
                                              {{"/", [status](const HttpRequest& request) {
                                                  return status->Serve(request);
                                                }}}));
  if (http_) {
    context.http_address =
        AdvertisedHttpAddress(options_.http_listen_address, http_->address(), address_);
  }
  service_ = std::make_unique<MasterServiceImpl>(context);
  http_status_->SetService(service_.get());
  raft_service_ = std::make_unique<RaftServiceImpl>(log_.get());
  grpc::ServerBuilder builder;
  builder.RegisterService(static_cast<MasterService::Service*>(service_.get()));
  builder.RegisterService(static_cast<DatanodeRegistry::Service*>(service_.get()));
  builder.RegisterService(static_cast<AdminService::Service*>(service_.get()));
  builder.RegisterService(raft_service_.get());
  std::string bound;
  DFS_ASSIGN_OR_RETURN(server_, StartServer(&builder, address_, &bound));
  if (!options_.port_file.empty()) DFS_RETURN_IF_ERROR(WriteFileAtomic(options_.port_file, address_));
  maintenance_->Start();
  watch_->Start();
  trimmer_ = std::make_unique<MallocTrimmer>(options_.malloc_trim_interval_ms);
  trimmer_->Start();
  DFS_LOG(INFO) << "master serving on " << address_ << ", applied index " << sm_->applied_index();
  return absl::OkStatus();
}

void MasterServer::Wait() {
  if (server_) server_->Wait();
}

void MasterServer::Shutdown() {
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  if (trimmer_) trimmer_->Stop();
  if (http_) http_->Stop();
  if (http_status_) http_status_->Stop();
  if (maintenance_) maintenance_->Stop();
  if (watch_) watch_->Stop();  // ends the Watch streams, which would hold up the server's shutdown
  if (raft_service_) raft_service_->Stop();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (log_) log_->Shutdown();
}

}  // namespace dfs
