#include "master/maintenance/context.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/rpc.h"
#include "proto/datanode.grpc.pb.h"

namespace dfs {
namespace {

// Proposals that ProposeAll keeps in flight at once.
constexpr size_t kProposeParallelism = 16;
// Ids per DeleteChunks call.
constexpr size_t kDeleteBatch = 1000;
constexpr int64_t kDeleteTimeoutMs = 10000;

}  // namespace

absl::Status MaintenanceOptions::Validate() const {
  if (replication < 1) return absl::InvalidArgumentError("replication must be >= 1");
  if (datanode_dead_ms <= 0) return absl::InvalidArgumentError("datanode_dead_ms must be > 0");
  if (scan_interval_ms <= 0 || gc_interval_ms <= 0 || trash_interval_ms <= 0 ||
      chunk_report_interval_ms <= 0) {
    return absl::InvalidArgumentError("maintenance intervals must be > 0");
  }
  if (max_concurrent_copies < 1) {
    return absl::InvalidArgumentError("--replication_max_concurrent must be >= 1");
  }
  if (garbage_grace_ms < 0 || orphan_grace_ms < 0 || trash_retention_ms < 0) {
    return absl::InvalidArgumentError("grace periods and retention must be >= 0");
  }
  if (balancer_threshold <= 0 || balancer_threshold >= 1) {
    return absl::InvalidArgumentError("--balancer_threshold must be in (0, 1)");
  }
  if (balancer_interval_ms < 0 || merge_interval_ms < 0) {
    return absl::InvalidArgumentError("intervals must be >= 0");
  }
  if (merge_target_bytes == 0 || merge_small_bytes == 0 || merge_small_bytes > merge_target_bytes) {
    return absl::InvalidArgumentError("merge sizes must satisfy 0 < small <= target");
  }
  return absl::OkStatus();
}

bool MaintenanceContext::UpdateLeadership() {
  const bool leader = log_->IsLeader();
  const bool was = leader_.load();
  if (leader && !was) {
    leader_since_ns_ = clock_->MonotonicNanos();
    ++term_;
    leader_ = true;
    return true;
  }
  if (!leader && was) {
    leader_ = false;
    ++term_;  // work started under the old term notices and stops
  }
  return false;
}

bool MaintenanceContext::Ready() {
  if (!IsLeader()) return false;
  const int64_t since = leader_since_ns_.load();
  if (clock_->MonotonicNanos() - since < options_.datanode_dead_ms * 1000000) return false;
  for (const auto& node : datanodes_->Nodes()) {
    if (node.last_heartbeat_ns > since) return true;
  }
  return false;
}

absl::StatusOr<CommandResult> MaintenanceContext::Propose(Command command) {
  command.set_timestamp_ns(clock_->NowNanos());
  return log_->Propose(command);
}

std::vector<absl::StatusOr<CommandResult>> MaintenanceContext::ProposeAll(
    const std::vector<Command>& commands) {
  std::vector<absl::StatusOr<CommandResult>> results(commands.size(),
                                                     absl::UnavailableError("not proposed"));
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < commands.size(); i = next++) {
      if (stopping_) return;
      results[i] = Propose(commands[i]);
    }
  };
  const size_t threads = std::min(kProposeParallelism, commands.size());
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return results;
}

absl::Status MaintenanceContext::DeleteOnDatanode(const std::string& address,
                                                  const std::vector<uint64_t>& ids) {
  auto stub = DatanodeService::NewStub(GetChannel(address));
  for (size_t begin = 0; begin < ids.size(); begin += kDeleteBatch) {
    DeleteChunksRequest request;
    for (size_t i = begin; i < std::min(ids.size(), begin + kDeleteBatch); ++i) {
      request.add_chunk_ids(ids[i]);
    }
    grpc::ClientContext context;
    SetTimeout(&context, kDeleteTimeoutMs);
    DeleteChunksResponse response;
    absl::Status status = FromGrpcStatus(stub->DeleteChunks(&context, request, &response));
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("DeleteChunks on ", address, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> MaintenanceContext::DecommissionedIds() {
  return sm_->DecommissionedDatanodes();
}

}  // namespace dfs
