#include "master/datanode_manager.h"

#include <algorithm>

#include "master/placement.h"

namespace dfs {

bool DatanodeManager::Heartbeat(const HeartbeatRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  Node& node = nodes_[request.node().id()];
  node.last = request;
  node.last.clear_chunk_ids();
  node.last_heartbeat_ns = clock_->MonotonicNanos();
  node.pending_bytes = 0;
  if (request.has_chunk_report()) {
    node.has_report = true;
    auto report = std::make_shared<std::vector<uint64_t>>(request.chunk_ids().begin(),
                                                          request.chunk_ids().end());
    std::sort(report->begin(), report->end());
    node.report = std::move(report);
    node.report_ns = node.last_heartbeat_ns;
  }
  return !node.has_report;
}

bool DatanodeManager::LiveLocked(const Node& node) const {
  return clock_->MonotonicNanos() - node.last_heartbeat_ns < dead_after_ms_ * 1000000;
}

bool DatanodeManager::IsLive(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(id);
  return it != nodes_.end() && LiveLocked(it->second);
}

std::optional<DatanodeInfo> DatanodeManager::Find(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return std::nullopt;
  return it->second.last.node();
}

absl::StatusOr<std::vector<DatanodeInfo>> DatanodeManager::Place(
    int count, uint64_t size_hint, const std::set<std::string>& exclude,
    const std::set<std::string>& used_racks) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PlacementCandidate> candidates;
  for (const auto& [id, node] : nodes_) {
    if (!LiveLocked(node) || exclude.count(id) || draining_.count(id)) continue;
    uint64_t free = node.last.free_bytes();
    free = free > node.pending_bytes ? free - node.pending_bytes : 0;
    if (free < size_hint) continue;
    candidates.push_back({node.last.node(), free, node.last.active_streams()});
  }
  std::vector<DatanodeInfo> chosen =
      ChoosePlacement(std::move(candidates), count, random_, used_racks);
  if (chosen.empty()) {
    return absl::UnavailableError("no live datanode with enough free space");
  }
  for (const DatanodeInfo& info : chosen) nodes_[info.id()].pending_bytes += size_hint;
  return chosen;
}

std::vector<DatanodeStatus> DatanodeManager::List() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<DatanodeStatus> out;
  int64_t now = clock_->MonotonicNanos();
  for (const auto& [id, node] : nodes_) {
    DatanodeStatus status;
    *status.mutable_node() = node.last.node();
    status.set_live(LiveLocked(node));
    status.set_last_heartbeat_age_ms((now - node.last_heartbeat_ns) / 1000000);
    status.set_capacity_bytes(node.last.capacity_bytes());
    status.set_used_bytes(node.last.used_bytes());
    status.set_free_bytes(node.last.free_bytes());
    status.set_chunk_count(node.last.chunk_count());
    *status.mutable_scrub() = node.last.scrub();
    if (auto it = admin_states_.find(id); it != admin_states_.end()) {
      status.set_admin_state(it->second);
    }
    out.push_back(std::move(status));
  }
  return out;
}

void DatanodeManager::QueueDelete(const std::string& id, uint64_t chunk_id) {
  std::lock_guard<std::mutex> lock(mu_);
  nodes_[id].deletes.push_back(chunk_id);
}

std::vector<uint64_t> DatanodeManager::TakeDeletes(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return {};
  const int64_t now = clock_->MonotonicNanos();
  auto& recent = it->second.recent_deletes;
  // Forget handed-over deletes after a minute: by then the node has long acted on them.
  for (auto r = recent.begin(); r != recent.end();) {
    r = now - r->second > 60'000'000'000 ? recent.erase(r) : std::next(r);
  }
  for (uint64_t chunk : it->second.deletes) recent[chunk] = now;
  return std::exchange(it->second.deletes, {});
}

bool DatanodeManager::DeletePending(const std::string& id, uint64_t chunk_id,
                                    int64_t window_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return false;
  const Node& node = it->second;
  if (std::find(node.deletes.begin(), node.deletes.end(), chunk_id) != node.deletes.end()) {
    return true;
  }
  auto r = node.recent_deletes.find(chunk_id);
  return r != node.recent_deletes.end() &&
         clock_->MonotonicNanos() - r->second < window_ms * 1000000;
}

std::vector<DatanodeManager::NodeView> DatanodeManager::Nodes() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<NodeView> out;
  out.reserve(nodes_.size());
  for (const auto& [id, node] : nodes_) {
    if (node.last.node().id().empty()) continue;  // only a queued delete, never heard from
    NodeView view;
    view.info = node.last.node();
    view.live = LiveLocked(node);
    view.last_heartbeat_ns = node.last_heartbeat_ns;
    view.capacity_bytes = node.last.capacity_bytes();
    view.used_bytes = node.last.used_bytes();
    uint64_t free = node.last.free_bytes();
    view.free_bytes = free > node.pending_bytes ? free - node.pending_bytes : 0;
    view.report = node.report;
    view.report_ns = node.report_ns;
    out.push_back(std::move(view));
  }
  return out;
}

void DatanodeManager::RequestReport(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(id);
  if (it != nodes_.end()) it->second.has_report = false;
}

void DatanodeManager::SetDraining(std::set<std::string> ids) {
  std::lock_guard<std::mutex> lock(mu_);
  draining_ = std::move(ids);
}

void DatanodeManager::SetAdminStates(std::map<std::string, DatanodeAdminState> states) {
  std::lock_guard<std::mutex> lock(mu_);
  admin_states_ = std::move(states);
}

void DatanodeManager::SetAdminState(const std::string& id, DatanodeAdminState state) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state == DATANODE_IN_SERVICE) {
    admin_states_.erase(id);
  } else {
    admin_states_[id] = state;
  }
}

}  // namespace dfs
