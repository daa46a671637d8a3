#include "master/datanode_manager.h"

#include "master/placement.h"

namespace dfs {

bool DatanodeManager::Heartbeat(const HeartbeatRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  Node& node = nodes_[request.node().id()];
  node.last = request;
  node.last.clear_chunk_ids();
  node.last_heartbeat_ns = clock_->MonotonicNanos();
  node.pending_bytes = 0;
  if (request.has_chunk_report()) node.has_report = true;
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
    int count, uint64_t size_hint, const std::set<std::string>& exclude) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PlacementCandidate> candidates;
  for (const auto& [id, node] : nodes_) {
    if (!LiveLocked(node) || exclude.count(id)) continue;
    uint64_t free = node.last.free_bytes();
    free = free > node.pending_bytes ? free - node.pending_bytes : 0;
    if (free < size_hint) continue;
    candidates.push_back({node.last.node(), free, node.last.active_streams()});
  }
  std::vector<DatanodeInfo> chosen = ChoosePlacement(std::move(candidates), count, random_);
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
  return std::exchange(it->second.deletes, {});
}

}  // namespace dfs
