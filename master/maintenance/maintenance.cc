#include "master/maintenance/maintenance.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/thread_name.h"

namespace dfs {
namespace {

constexpr int64_t kTickMs = 200;

bool LooksLikeNodeId(const std::string& name) {
  return name.size() == 32 &&
         std::all_of(name.begin(), name.end(), [](char c) { return absl::ascii_isxdigit(c); });
}

}  // namespace

Maintenance::Maintenance(MaintenanceOptions options, StateMachine* sm, CommandLog* log,
                         DatanodeManager* datanodes, Clock* clock)
    : ctx_(std::move(options), sm, log, datanodes, clock),
      copier_(&ctx_),
      replicator_(&ctx_, &copier_),
      gc_(&ctx_),
      trash_(&ctx_),
      merger_(&ctx_) {}

Maintenance::~Maintenance() { Stop(); }

void Maintenance::Start() {
  if (!ctx_.options().enabled || scan_thread_.joinable()) return;
  copier_.Start();
  scan_thread_ = std::thread([this] {
    NameThisThread("maint-scan");
    ScanLoop();
  });
  janitor_thread_ = std::thread([this] {
    NameThisThread("maint-janitor");
    JanitorLoop();
  });
}

void Maintenance::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  ctx_.RequestStop();
  copier_.Stop();
  if (scan_thread_.joinable()) scan_thread_.join();
  if (janitor_thread_.joinable()) janitor_thread_.join();
}

bool Maintenance::Sleep(int64_t ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_; });
}

void Maintenance::OnNewTerm() {
  DFS_LOG(INFO) << "maintenance: this master leads; acting after "
                << ctx_.options().datanode_dead_ms
                << " ms, once datanodes have reported to it";
  replicator_.Reset();
  copier_.CancelAll();
  // Reports the datanodes sent before this master led may be stale; ask for fresh ones.
  for (const auto& node : ctx_.datanodes()->Nodes()) ctx_.datanodes()->RequestReport(node.info.id());
}

void Maintenance::ScanLoop() {
  const MaintenanceOptions& options = ctx_.options();
  Clock* clock = ctx_.clock();
  int64_t next_scan = 0;
  int64_t next_balance = 0;
  bool leading = false;
  do {
    if (ctx_.UpdateLeadership()) {
      OnNewTerm();
      next_scan = 0;
      next_balance = clock->MonotonicNanos() + options.balancer_interval_ms * 1000000;
    }
    if (!ctx_.IsLeader()) {
      if (leading) {
        DFS_LOG(INFO) << "maintenance: no longer the leader; background work stopped";
        copier_.CancelAll();
        ctx_.datanodes()->SetDraining({});
        leading = false;
      }
      continue;
    }
    leading = true;
    std::vector<std::string> draining = ctx_.DecommissionedIds();
    ctx_.datanodes()->SetDraining(std::set<std::string>(draining.begin(), draining.end()));
    const int64_t now = clock->MonotonicNanos();
    for (const auto& node : ctx_.datanodes()->Nodes()) {
      if (node.live && now - node.report_ns > options.chunk_report_interval_ms * 1000000) {
        ctx_.datanodes()->RequestReport(node.info.id());
      }
    }
    if (options.balancer_interval_ms > 0 && now >= next_balance) {
      if (ctx_.Ready()) replicator_.RequestBalance(0);
      next_balance = now + options.balancer_interval_ms * 1000000;
    }
    if (now >= next_scan) {
      replicator_.Scan();
      next_scan = clock->MonotonicNanos() + options.scan_interval_ms * 1000000;
    }
  } while (Sleep(std::min<int64_t>(kTickMs, options.scan_interval_ms)));
}

void Maintenance::JanitorLoop() {
  const MaintenanceOptions& options = ctx_.options();
  Clock* clock = ctx_.clock();
  int64_t next_gc = 0, next_trash = 0, next_merge = 0;
  uint64_t term = 0;
  do {
    if (!ctx_.IsLeader()) continue;
    if (ctx_.term() != term) {
      term = ctx_.term();
      gc_.Reset();
      merger_.Reset();
      next_gc = next_trash = next_merge = 0;
    }
    // Paused, not skipped: each task runs as soon as safe mode ends.
    if (ctx_.sm()->safe_mode()) continue;
    int64_t now = clock->MonotonicNanos();
    if (now >= next_gc) {
      gc_.RunOnce();
      next_gc = clock->MonotonicNanos() + options.gc_interval_ms * 1000000;
    }
    if (now >= next_trash) {
      trash_.RunOnce();
      next_trash = clock->MonotonicNanos() + options.trash_interval_ms * 1000000;
    }
    bool merge_now = false;
    if (ctx_.Ready()) {
      std::lock_guard<std::mutex> lock(mu_);
      merge_now = merge_requested_;
      merge_requested_ = false;
    }
    if (merge_now || (options.merge_interval_ms > 0 && now >= next_merge)) {
      if (merge_now) {
        DFS_LOG(INFO) << "merger: pass requested by an administrator";
      }
      merger_.RunOnce();
      if (options.merge_interval_ms > 0) {
        next_merge = clock->MonotonicNanos() + options.merge_interval_ms * 1000000;
      }
    }
  } while (Sleep(kTickMs));
}

absl::StatusOr<DecommissionResponse> Maintenance::SetDecommission(const std::string& datanode,
                                                                  bool decommission) {
  if (!ctx_.log()->IsLeader()) return absl::UnavailableError("not the leader");
  std::string id;
  for (const auto& node : ctx_.datanodes()->Nodes()) {
    if (node.info.id() == datanode || node.info.address() == datanode) id = node.info.id();
  }
  if (id.empty()) {
    for (const std::string& draining : ctx_.DecommissionedIds()) {
      if (draining == datanode) id = draining;
    }
  }
  if (id.empty() && LooksLikeNodeId(datanode)) id = absl::AsciiStrToLower(datanode);
  if (id.empty()) {
    return absl::NotFoundError(absl::StrCat("no datanode with id or address ", datanode));
  }
  Command command;
  command.mutable_set_decommission()->set_datanode_id(id);
  command.mutable_set_decommission()->set_decommission(decommission);
  absl::StatusOr<CommandResult> result = ctx_.Propose(command);
  if (!result.ok()) return result.status();
  if (absl::Status status = ResultStatus(*result); !status.ok()) return status;
  std::vector<std::string> draining = ctx_.DecommissionedIds();
  ctx_.datanodes()->SetDraining(std::set<std::string>(draining.begin(), draining.end()));
  // Shown at once; the next scan says whether the node is drained.
  ctx_.datanodes()->SetAdminState(
      id, decommission ? DATANODE_DECOMMISSIONING : DATANODE_IN_SERVICE);
  DFS_LOG(INFO) << "datanode " << id << (decommission ? ": decommissioning" : ": recommissioned");
  DecommissionResponse response;
  response.set_datanode_id(id);
  response.set_state(decommission ? DATANODE_DECOMMISSIONING : DATANODE_IN_SERVICE);
  return response;
}

absl::StatusOr<BalanceResponse> Maintenance::Balance(double threshold) {
  if (!ctx_.log()->IsLeader()) return absl::UnavailableError("not the leader");
  if (threshold < 0 || threshold >= 1) {
    return absl::InvalidArgumentError("threshold must be a fraction in [0, 1)");
  }
  if (ctx_.sm()->safe_mode()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kSafeModeMessage, ": the balancer waits until safe mode is left"));
  }
  replicator_.RequestBalance(threshold);
  BalanceResponse response;
  response.set_started(true);
  response.set_message(
      ctx_.Ready() ? "balancer started"
                   : "balancer starts once this master has led for one datanode dead-timeout");
  return response;
}

absl::StatusOr<MergeResponse> Maintenance::Merge() {
  if (!ctx_.log()->IsLeader()) return absl::UnavailableError("not the leader");
  if (!ctx_.options().enabled) {
    return absl::FailedPreconditionError("background maintenance is off (--maintenance=false)");
  }
  if (ctx_.sm()->safe_mode()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kSafeModeMessage, ": the merger waits until safe mode is left"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    merge_requested_ = true;
  }
  MergeResponse response;
  response.set_started(true);
  response.set_message(
      ctx_.Ready() ? "merger pass started"
                   : "merger pass starts once this master has led for one datanode dead-timeout");
  return response;
}

void Maintenance::FillStatus(ClusterStatusResponse* status) {
  MaintenanceStats& stats = ctx_.stats();
  status->set_missing_chunks(stats.missing_chunks);
  status->set_under_replicated_chunks(stats.under_replicated_chunks);
  status->set_over_replicated_chunks(stats.over_replicated_chunks);
  status->set_garbage_chunks(stats.garbage_chunks);
  status->set_replications_done(stats.replications_done);
  status->set_replications_in_flight(copier_.running() + copier_.queued());
  status->set_replicas_trimmed(stats.replicas_trimmed);
  status->set_garbage_chunks_purged(stats.garbage_purged);
  status->set_orphan_replicas_deleted(stats.orphans_deleted);
  status->set_balancer_moves(stats.balancer_moves);
  status->set_merges_done(stats.merges_done);
  status->set_maintenance_active(ctx_.Ready() && stats.scans > 0);
}

}  // namespace dfs
