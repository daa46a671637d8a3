#include "master/maintenance/balance_plan.h"

#include <algorithm>
#include <set>

namespace dfs {
namespace {

struct Usage {
  const BalanceNode* node;
  double used;  // bytes, as moves are planned
  double Utilization() const {
    return node->capacity_bytes == 0 ? 0 : used / static_cast<double>(node->capacity_bytes);
  }
};

double ClusterUtilization(const std::vector<BalanceNode>& nodes) {
  double used = 0, capacity = 0;
  for (const BalanceNode& n : nodes) {
    used += static_cast<double>(n.used_bytes);
    capacity += static_cast<double>(n.capacity_bytes);
  }
  return capacity == 0 ? 0 : used / capacity;
}

}  // namespace

std::vector<std::string> BalanceSources(const std::vector<BalanceNode>& nodes, double threshold) {
  const double average = ClusterUtilization(nodes);
  bool any_under = false;
  for (const BalanceNode& n : nodes) {
    if (n.capacity_bytes > 0 &&
        static_cast<double>(n.used_bytes) / static_cast<double>(n.capacity_bytes) <
            average - threshold) {
      any_under = true;
    }
  }
  std::vector<std::string> out;
  for (const BalanceNode& n : nodes) {
    if (n.capacity_bytes == 0) continue;
    const double u = static_cast<double>(n.used_bytes) / static_cast<double>(n.capacity_bytes);
    // Over-full nodes always give; nodes merely above average give to under-full ones.
    if (u > average + threshold || (any_under && u > average)) out.push_back(n.id);
  }
  return out;
}

std::vector<BalanceMove> PlanBalance(
    const std::vector<BalanceNode>& nodes,
    const std::map<std::string, std::vector<BalanceChunk>>& chunks_on, double threshold,
    uint64_t max_bytes) {
  std::vector<BalanceMove> moves;
  const double average = ClusterUtilization(nodes);
  std::map<std::string, Usage> usage;
  std::map<std::string, std::string> rack_of;
  for (const BalanceNode& n : nodes) {
    if (n.capacity_bytes == 0) continue;
    usage[n.id] = Usage{&n, static_cast<double>(n.used_bytes)};
    rack_of[n.id] = n.rack;
  }
  std::vector<std::string> sources = BalanceSources(nodes, threshold);
  std::sort(sources.begin(), sources.end(), [&](const std::string& a, const std::string& b) {
    return usage.at(a).Utilization() > usage.at(b).Utilization();
  });
  uint64_t planned = 0;
  std::set<uint64_t> moved;  // a chunk moves at most once per plan
  auto any_under = [&] {
    for (const auto& [id, u] : usage) {
      if (u.Utilization() < average - threshold) return true;
    }
    return false;
  };
  for (const std::string& source : sources) {
    auto chunks = chunks_on.find(source);
    if (chunks == chunks_on.end()) continue;
    Usage& from = usage.at(source);
    for (const BalanceChunk& chunk : chunks->second) {
      const bool over = from.Utilization() > average + threshold;
      // A node merely above average only feeds nodes below average - threshold.
      if (!over && !(from.Utilization() > average && any_under())) break;
      if (max_bytes != 0 && planned >= max_bytes) return moves;
      if (chunk.length == 0 || moved.count(chunk.chunk_id)) continue;
      std::set<std::string> racks_before;
      std::set<std::string> holders(chunk.replicas.begin(), chunk.replicas.end());
      for (const std::string& r : chunk.replicas) {
        auto it = rack_of.find(r);
        racks_before.insert(it == rack_of.end() ? "?" + r : it->second);
      }
      // The emptiest acceptable target.
      const std::string* best = nullptr;
      for (auto& [id, u] : usage) {
        if (holders.count(id) || u.Utilization() >= average) continue;
        if (!over && u.Utilization() >= average - threshold) continue;
        const double after = (u.used + static_cast<double>(chunk.length)) /
                             static_cast<double>(u.node->capacity_bytes);
        if (after > average + threshold) continue;
        std::set<std::string> racks_after;
        for (const std::string& r : chunk.replicas) {
          if (r == source) continue;
          auto it = rack_of.find(r);
          racks_after.insert(it == rack_of.end() ? "?" + r : it->second);
        }
        racks_after.insert(u.node->rack);
        if (racks_after.size() < racks_before.size()) continue;
        if (best == nullptr || u.Utilization() < usage.at(*best).Utilization() ||
            (u.Utilization() == usage.at(*best).Utilization() && id < *best)) {
          best = &id;
        }
      }
      if (best == nullptr) continue;
      moves.push_back({chunk.chunk_id, chunk.length, source, *best});
      moved.insert(chunk.chunk_id);
      planned += chunk.length;
      from.used -= static_cast<double>(chunk.length);
      usage.at(*best).used += static_cast<double>(chunk.length);
    }
  }
  return moves;
}

}  // namespace dfs
