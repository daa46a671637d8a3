#include "master/maintenance/replicator.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "master/keys.h"
#include "master/maintenance/balance_plan.h"
#include "master/maintenance/replica_plan.h"

namespace dfs {
namespace {

// A recorded copy counts as gone once a report that arrived this long after the scan first
// missed it still lacks it. The report must have been made after the copy was recorded, and a
// report is built at most one heartbeat deadline (5 s) before it arrives.
constexpr int64_t kAbsentConfirmNs = 5'500'000'000;
// A node told to delete a copy (heartbeat path) gets no new copy of that chunk for this long.
constexpr int64_t kDeletePendingWindowMs = 10000;
// Chunks per over-full node that a balancer round considers.
constexpr size_t kBalanceChunksPerNode = 20000;
// Missing chunks logged one by one per term before only the count is logged.
constexpr size_t kMissingLogLimit = 20;

bool InReport(const DatanodeManager::NodeView& node, uint64_t chunk_id) {
  return std::binary_search(node.report->begin(), node.report->end(), chunk_id);
}

}  // namespace

Replicator::Replicator(MaintenanceContext* ctx, Copier* copier) : ctx_(ctx), copier_(copier) {}

void Replicator::Reset() {
  suspects_.clear();
  logged_missing_.clear();
}

void Replicator::RequestBalance(double threshold) {
  std::lock_guard<std::mutex> lock(mu_);
  balance_requested_ = true;
  balance_threshold_ = threshold > 0 ? threshold : ctx_->options().balancer_threshold;
}

bool Replicator::balancing() {
  std::lock_guard<std::mutex> lock(mu_);
  return balance_requested_;
}

void Replicator::Scan() {
  if (!ctx_->Ready()) return;
  const uint64_t term = ctx_->term();
  const int rf = ctx_->options().replication;
  const int64_t now = ctx_->clock()->MonotonicNanos();

  // ---- the leader's view of the datanodes ----
  std::vector<DatanodeManager::NodeView> views = ctx_->datanodes()->Nodes();
  std::vector<std::string> draining_list = ctx_->DecommissionedIds();
  std::set<std::string> draining(draining_list.begin(), draining_list.end());
  std::map<std::string, PlanNode> nodes;
  std::map<std::string, const DatanodeManager::NodeView*> by_id;
  std::vector<const DatanodeManager::NodeView*> reporters;
  for (const auto& view : views) {
    const std::string& id = view.info.id();
    nodes[id] = PlanNode{view.info.rack(), view.live, draining.count(id) > 0, view.free_bytes};
    by_id[id] = &view;
    if (view.live && ctx_->TrustedReport(view)) reporters.push_back(&view);
  }

  // ---- balancer: decided before the scan so that it collects only what it may move ----
  bool balance = false;
  double threshold = 0;
  std::vector<BalanceNode> balance_nodes;
  std::set<std::string> balance_sources;
  std::map<std::string, std::vector<BalanceChunk>> chunks_on;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Safe mode holds a requested run back until it ends (see maintenance.h).
    if (balance_requested_ && copier_->moves_in_flight() == 0 && !ctx_->sm()->safe_mode()) {
      if (balance_wait_until_ns_ == 0) {
        // The last round's moves are done; let heartbeats bring fresh usage figures first.
        balance_wait_until_ns_ = now + 2 * ctx_->options().scan_interval_ms * 1000000;
      }
      balance = now >= balance_wait_until_ns_;
      threshold = balance_threshold_;
    }
  }
  if (balance) {
    for (const auto& view : views) {
      if (!view.live || draining.count(view.info.id()) || view.capacity_bytes == 0) continue;
      balance_nodes.push_back(
          {view.info.id(), view.info.rack(), view.used_bytes, view.capacity_bytes});
    }
    for (const std::string& id : BalanceSources(balance_nodes, threshold)) {
      balance_sources.insert(id);
    }
  }

  // ---- the scan ----
  struct CopyNeed {
    ChunkInfo info;
    ChunkPlan plan;
    std::vector<std::string> holders;  // unrecorded holders, excluded as targets
  };
  std::vector<CopyNeed> needs;
  std::vector<Command> adopt_commands;
  std::vector<Command> trim_commands;
  std::vector<std::string> trim_addresses;  // per trim command: where to delete ("" = forget)
  std::map<std::string, std::vector<uint64_t>> unrecorded_deletes;  // address -> chunk ids
  std::map<std::string, uint64_t> blocking;  // draining node -> its chunks not yet safe
  std::map<std::pair<uint64_t, std::string>, Suspect> suspects;
  uint64_t missing = 0, under = 0, over = 0, newly_missing = 0;

  std::unique_ptr<leveldb::Iterator> it(
      ctx_->sm()->store()->db()->NewIterator(leveldb::ReadOptions()));
  const std::string prefix = keys::ChunkPrefix();
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (ctx_->stopping() || !ctx_->StillLeading(term)) return;
    ChunkRecord record;
    if (!record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) continue;
    const ChunkInfo& info = record.info();
    const uint64_t id = info.chunk_id();

    std::set<std::string> absent;
    for (const std::string& r : info.replicas()) {
      auto node = by_id.find(r);
      if (node == by_id.end() || !node->second->live || !ctx_->TrustedReport(*node->second) ||
          InReport(*node->second, id)) {
        continue;
      }
      auto key = std::make_pair(id, r);
      auto previous = suspects_.find(key);
      Suspect suspect = previous != suspects_.end() ? previous->second : Suspect{now};
      suspects[key] = suspect;
      if (node->second->report_ns > suspect.first_ns + kAbsentConfirmNs) absent.insert(r);
    }
    std::vector<std::string> holders;
    for (const auto* node : reporters) {
      const std::string& nid = node->info.id();
      if (std::find(info.replicas().begin(), info.replicas().end(), nid) != info.replicas().end()) {
        continue;
      }
      if (InReport(*node, id)) holders.push_back(nid);
    }
    ChunkPlan plan = PlanChunk(info, rf, nodes, absent, holders);

    if (plan.missing) {
      ++missing;
      if (logged_missing_.insert(id).second && ++newly_missing <= kMissingLogLimit) {
        DFS_LOG(ERROR) << absl::StrFormat(
            "chunk %016x (%d bytes) has no live replica; recorded on [%s]; it stays in its "
            "file(s) and is repaired if a replica comes back",
            id, info.length(), absl::StrJoin(info.replicas(), ","));
      }
    } else {
      logged_missing_.erase(id);
    }
    if (plan.good < rf) ++under;
    if (!plan.trim.empty()) ++over;
    for (const std::string& r : info.replicas()) {
      if (draining.count(r) && plan.good < rf) ++blocking[r];
    }
    if (copier_->Busy(id)) continue;  // a copy is in flight: judge the chunk once it is done

    for (const std::string& node : plan.adopt) {
      Command command;
      command.mutable_add_replica()->set_chunk_id(id);
      command.mutable_add_replica()->set_datanode_id(node);
      adopt_commands.push_back(std::move(command));
    }
    auto add_trim = [&](const std::string& node, const std::string& delete_address) {
      Command command;
      TrimReplicaCmd* trim = command.mutable_trim_replica();
      trim->set_chunk_id(id);
      trim->set_datanode_id(node);
      for (const std::string& keep : plan.keep) trim->add_require(keep);
      trim_commands.push_back(std::move(command));
      trim_addresses.push_back(delete_address);
    };
    for (const std::string& node : plan.trim) add_trim(node, by_id.at(node)->info.address());
    for (const std::string& node : plan.forget) add_trim(node, "");
    for (const std::string& node : plan.delete_unrecorded) {
      unrecorded_deletes[by_id.at(node)->info.address()].push_back(id);
    }
    if (plan.copies > 0) {
      needs.push_back({info, std::move(plan), std::move(holders)});
      continue;
    }
    // A healthy chunk on an over-full node may move.
    if (balance && plan.trim.empty() && plan.forget.empty() && plan.adopt.empty()) {
      for (const std::string& r : info.replicas()) {
        if (!balance_sources.count(r) || chunks_on[r].size() >= kBalanceChunksPerNode) continue;
        chunks_on[r].push_back(BalanceChunk{
            id, info.length(), std::vector<std::string>(info.replicas().begin(),
                                                        info.replicas().end())});
      }
    }
  }
  it.reset();
  suspects_ = std::move(suspects);
  if (newly_missing > kMissingLogLimit) {
    DFS_LOG(ERROR) << newly_missing - kMissingLogLimit << " more chunks have no live replica";
  }
  uint64_t garbage = 0;
  {
    std::unique_ptr<leveldb::Iterator> g(
        ctx_->sm()->store()->db()->NewIterator(leveldb::ReadOptions()));
    for (g->Seek(keys::GarbagePrefix()); g->Valid() && g->key().starts_with("G"); g->Next()) {
      ++garbage;
    }
  }
  MaintenanceStats& stats = ctx_->stats();
  stats.missing_chunks = missing;
  stats.under_replicated_chunks = under;
  stats.over_replicated_chunks = over;
  stats.garbage_chunks = garbage;
  stats.scans++;

  // ---- decommission states ----
  std::map<std::string, DatanodeAdminState> states;
  for (const std::string& id : draining) {
    states[id] = blocking[id] == 0 ? DATANODE_DECOMMISSIONED : DATANODE_DECOMMISSIONING;
  }
  ctx_->datanodes()->SetAdminStates(std::move(states));

  if (!ctx_->StillLeading(term)) return;

  // ---- copies, fewest live replicas first ----
  std::stable_sort(needs.begin(), needs.end(), [](const CopyNeed& a, const CopyNeed& b) {
    return a.plan.live < b.plan.live;
  });
  std::vector<CopyTask> tasks;
  for (const CopyNeed& need : needs) {
    const uint64_t id = need.info.chunk_id();
    std::set<std::string> exclude(need.info.replicas().begin(), need.info.replicas().end());
    exclude.insert(need.holders.begin(), need.holders.end());
    for (const auto& [node_id, node] : nodes) {
      if (!exclude.count(node_id) && node.live &&
          ctx_->datanodes()->DeletePending(node_id, id, kDeletePendingWindowMs)) {
        exclude.insert(node_id);
      }
    }
    auto targets = ctx_->datanodes()->Place(need.plan.copies, need.info.length(), exclude,
                                            need.plan.used_racks);
    if (!targets.ok()) continue;  // nowhere to put it now; the next scan tries again
    CopyTask task;
    task.chunk_id = id;
    task.length = need.info.length();
    task.crc32c = need.info.crc32c();
    task.term = term;
    for (const std::string& source : need.plan.sources) {
      if (auto node = by_id.find(source); node != by_id.end()) {
        task.sources.push_back(node->second->info);
      }
    }
    for (const DatanodeInfo& target : *targets) {
      task.target = target;
      tasks.push_back(task);
    }
  }
  if (!tasks.empty()) {
    DFS_LOG(INFO) << "replicator: " << under << " chunks under-replicated (" << missing
                  << " missing), " << tasks.size() << " copies queued";
  }
  copier_->ReplaceQueue(std::move(tasks));

  // ---- record and delete ----
  if (!adopt_commands.empty()) {
    DFS_LOG(INFO) << "replicator: recording " << adopt_commands.size()
                  << " reported copies the chunk map lacked";
    ctx_->ProposeAll(adopt_commands);
  }
  if (!trim_commands.empty() && ctx_->StillLeading(term)) {
    auto results = ctx_->ProposeAll(trim_commands);
    std::map<std::string, std::vector<uint64_t>> trimmed;  // address -> chunk ids
    uint64_t forgotten = 0;
    for (size_t i = 0; i < results.size(); ++i) {
      if (!results[i].ok() || !ResultStatus(*results[i]).ok()) continue;
      if (trim_addresses[i].empty()) {
        ++forgotten;
      } else {
        trimmed[trim_addresses[i]].push_back(trim_commands[i].trim_replica().chunk_id());
        stats.replicas_trimmed++;
      }
    }
    if (forgotten > 0) {
      DFS_LOG(INFO) << "replicator: forgot " << forgotten << " replicas on dead datanodes";
    }
    for (auto& [address, ids] : trimmed) {
      if (!ctx_->StillLeading(term)) return;
      DFS_LOG(INFO) << "replicator: trimming " << ids.size() << " extra replicas on " << address;
      absl::Status status = ctx_->DeleteOnDatanode(address, ids);
      if (!status.ok()) {
        DFS_LOG(WARNING) << "replicator: " << status;
      }
    }
  }
  for (auto& [address, ids] : unrecorded_deletes) {
    if (!ctx_->StillLeading(term)) return;
    DFS_LOG(INFO) << "replicator: deleting " << ids.size() << " unneeded unrecorded copies on "
                  << address;
    absl::Status status = ctx_->DeleteOnDatanode(address, ids);
    if (status.ok()) {
      stats.orphans_deleted += ids.size();
    } else {
      DFS_LOG(WARNING) << "replicator: " << status;
    }
  }

  // ---- balancer round ----
  if (!balance) return;
  if (under > 0) return;  // repairs first
  std::vector<BalanceMove> moves = PlanBalance(balance_nodes, chunks_on, threshold,
                                               ctx_->options().balancer_max_bytes_per_round);
  std::lock_guard<std::mutex> lock(mu_);
  balance_wait_until_ns_ = 0;
  if (moves.empty()) {
    if (balance_requested_) {
      DFS_LOG(INFO) << "balancer: every datanode is within " << threshold * 100
                    << "% of the cluster's utilization";
    }
    balance_requested_ = false;
    return;
  }
  std::vector<CopyTask> move_tasks;
  uint64_t bytes = 0;
  for (const BalanceMove& move : moves) {
    CopyTask task;
    task.chunk_id = move.chunk_id;
    task.length = move.length;
    task.term = term;
    task.move_from = move.from;
    ChunkInfo info;
    if (auto chunk = ctx_->sm()->GetChunk(move.chunk_id); chunk.ok()) {
      info = *chunk;
    } else {
      continue;
    }
    task.crc32c = info.crc32c();
    // Prefer reading from the node the copy leaves: it is the busy one only in bytes stored.
    task.sources.push_back(by_id.at(move.from)->info);
    for (const std::string& r : info.replicas()) {
      auto node = by_id.find(r);
      if (r != move.from && node != by_id.end() && node->second->live) {
        task.sources.push_back(node->second->info);
      }
    }
    task.target = by_id.at(move.to)->info;
    bytes += move.length;
    move_tasks.push_back(std::move(task));
  }
  DFS_LOG(INFO) << "balancer: moving " << move_tasks.size() << " replicas (" << bytes
                << " bytes) from over-full datanodes";
  copier_->Enqueue(std::move(move_tasks));
}

}  // namespace dfs
