#include "master/maintenance/replica_plan.h"

#include <algorithm>

namespace dfs {
namespace {

const PlanNode* FindNode(const std::map<std::string, PlanNode>& nodes, const std::string& id) {
  auto it = nodes.find(id);
  return it == nodes.end() ? nullptr : &it->second;
}

// Chooses `count` of `good` to drop so that the copies kept span as many racks as possible:
// each victim comes from the rack that holds the most copies, and within it is the node with
// the least free space (the copy that costs the cluster most where it is).
std::vector<std::string> ChooseTrims(std::vector<std::string> good, int count,
                                     const std::map<std::string, PlanNode>& nodes) {
  std::vector<std::string> victims;
  while (count-- > 0 && !good.empty()) {
    std::map<std::string, int> per_rack;
    for (const std::string& id : good) ++per_rack[FindNode(nodes, id)->rack];
    auto best = good.end();
    for (auto it = good.begin(); it != good.end(); ++it) {
      if (best == good.end()) {
        best = it;
        continue;
      }
      const PlanNode& a = *FindNode(nodes, *it);
      const PlanNode& b = *FindNode(nodes, *best);
      int ra = per_rack[a.rack], rb = per_rack[b.rack];
      if (ra != rb ? ra > rb : a.free_bytes != b.free_bytes ? a.free_bytes < b.free_bytes
                                                              : *it > *best) {
        best = it;
      }
    }
    victims.push_back(*best);
    good.erase(best);
  }
  return victims;
}

}  // namespace

ChunkPlan PlanChunk(const ChunkInfo& chunk, int replication,
                    const std::map<std::string, PlanNode>& nodes,
                    const std::set<std::string>& absent,
                    const std::vector<std::string>& unrecorded_holders) {
  ChunkPlan plan;
  std::vector<std::string> good, draining, dead;
  std::set<std::string> recorded;
  for (const std::string& id : chunk.replicas()) {
    if (!recorded.insert(id).second) continue;  // a duplicate id counts once
    const PlanNode* node = FindNode(nodes, id);
    if (node == nullptr || !node->live || absent.count(id)) {
      dead.push_back(id);
    } else if (node->draining) {
      draining.push_back(id);
    } else {
      good.push_back(id);
    }
  }
  // Adopt unrecorded copies on nodes in service while the chunk is short of good replicas.
  std::vector<std::string> extra_holders;
  for (const std::string& id : unrecorded_holders) {
    const PlanNode* node = FindNode(nodes, id);
    if (recorded.count(id) || node == nullptr || !node->live) continue;
    if (!node->draining && static_cast<int>(good.size()) < replication) {
      plan.adopt.push_back(id);
      good.push_back(id);
    } else {
      extra_holders.push_back(id);
    }
  }
  plan.good = static_cast<int>(good.size());
  plan.live = plan.good + static_cast<int>(draining.size());
  for (const std::string& id : good) plan.used_racks.insert(FindNode(nodes, id)->rack);
  plan.sources = good;
  plan.sources.insert(plan.sources.end(), draining.begin(), draining.end());

  if (plan.live == 0) {
    plan.missing = true;
    return plan;
  }
  if (plan.good < replication) {
    plan.copies = replication - plan.good;
    return plan;
  }
  // Enough good copies: trim extras, forget dead ones, delete unneeded unrecorded copies.
  plan.trim = ChooseTrims(good, plan.good - replication, nodes);
  for (const std::string& id : good) {
    if (std::find(plan.trim.begin(), plan.trim.end(), id) == plan.trim.end()) {
      plan.keep.push_back(id);
    }
  }
  plan.good -= static_cast<int>(plan.trim.size());
  plan.live -= static_cast<int>(plan.trim.size());
  plan.forget = dead;
  plan.delete_unrecorded = extra_holders;
  return plan;
}

ChunkCheck CheckChunk(const ChunkInfo& chunk, int replication,
                      const std::map<std::string, PlanNode>& nodes,
                      const std::set<std::string>& corrupt) {
  ChunkCheck check;
  check.set_chunk_id(chunk.chunk_id());
  check.set_length(chunk.length());
  check.set_crc32c(chunk.crc32c());
  check.set_replication(replication);
  // Trims do not matter here: only the counts before them.
  const ChunkPlan plan = PlanChunk(chunk, /*replication=*/1 << 30, nodes, corrupt, {});
  check.set_good_replicas(plan.good);
  check.set_live_replicas(plan.live);
  bool any_corrupt = false;
  std::set<std::string> seen;
  for (const std::string& id : chunk.replicas()) {
    if (!seen.insert(id).second) continue;
    ReplicaCheck* replica = check.add_replicas();
    replica->mutable_node()->set_id(id);
    const PlanNode* node = FindNode(nodes, id);
    if (corrupt.count(id)) {
      replica->set_health(REPLICA_CORRUPT);
      any_corrupt = true;
    } else if (node == nullptr || !node->live) {
      replica->set_health(REPLICA_DEAD);
    } else if (node->draining) {
      replica->set_health(REPLICA_DECOMMISSIONING);
    } else {
      replica->set_health(REPLICA_LIVE);
    }
  }
  if (plan.live == 0) {
    check.set_health(any_corrupt ? CHUNK_CORRUPT : CHUNK_MISSING);
  } else if (plan.good < replication) {
    check.set_health(CHUNK_UNDER_REPLICATED);
  } else {
    check.set_health(CHUNK_HEALTHY);
  }
  return check;
}

}  // namespace dfs
