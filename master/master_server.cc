#include "master/master_server.h"

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
  if (replication < 1 || replication > 16) {
    return absl::InvalidArgumentError("--replication must be between 1 and 16");
  }
  return absl::OkStatus();
}

MasterServer::~MasterServer() { Shutdown(); }

absl::Status MasterServer::Start() {
  DFS_RETURN_IF_ERROR(options_.Validate());
  DFS_RETURN_IF_ERROR(MakeDirs(options_.data_dir));
  DFS_ASSIGN_OR_RETURN(sm_, StateMachine::Open(options_.data_dir + "/meta"));
  DFS_ASSIGN_OR_RETURN(log_, LocalLog::Open(options_.data_dir + "/log", sm_.get()));
  uint64_t seed = options_.seed != 0 ? options_.seed : SeedFromEntropy();
  datanodes_ = std::make_unique<DatanodeManager>(RealClock::Get(), options_.datanode_dead_ms, seed);
  service_ = std::make_unique<MasterServiceImpl>(MasterContext{
      sm_.get(), log_.get(), datanodes_.get(), RealClock::Get(), options_.replication});
  grpc::ServerBuilder builder;
  builder.RegisterService(static_cast<MasterService::Service*>(service_.get()));
  builder.RegisterService(static_cast<DatanodeRegistry::Service*>(service_.get()));
  builder.RegisterService(static_cast<AdminService::Service*>(service_.get()));
  DFS_ASSIGN_OR_RETURN(server_, StartServer(&builder, options_.listen_address, &address_));
  if (!options_.port_file.empty()) DFS_RETURN_IF_ERROR(WriteFileAtomic(options_.port_file, address_));
  DFS_LOG(INFO) << "master serving on " << address_ << ", applied index " << sm_->applied_index();
  return absl::OkStatus();
}

void MasterServer::Wait() {
  if (server_) server_->Wait();
}

void MasterServer::Shutdown() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (log_) log_->Shutdown();
}

}  // namespace dfs
