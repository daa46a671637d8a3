#include "master/event_log.h"

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace dfs {

void EventLog::Record(std::string kind, std::string text, bool warning) {
  DFS_LOG(INFO) << "event: " << text;
  absl::MutexLock lock(&mu_);
  events_.push_back(Event{clock_->NowNanos(), std::move(kind), warning, std::move(text)});
  while (events_.size() > capacity_) events_.pop_front();
}

std::vector<Event> EventLog::Recent(size_t max) const {
  absl::MutexLock lock(&mu_);
  std::vector<Event> out;
  for (auto it = events_.rbegin(); it != events_.rend() && out.size() < max; ++it) {
    out.push_back(*it);
  }
  return out;
}

namespace {

std::string NodeName(const DatanodeStatus& node) {
  return absl::StrCat("datanode ", node.node().id(), " (", node.node().address(), ")");
}

}  // namespace

void ClusterEventWatcher::Observe(const RaftStatusResponse& raft,
                                  const ListDatanodesResponse& datanodes) {
  // While an election runs there is no leader; the next one known is the news.
  if (raft.leader_id() != 0 && (raft.leader_id() != leader_id_ || raft.term() != term_)) {
    log_->Record("raft", absl::StrCat("leader elected: ", raft.leader_address(), " (term ",
                                      raft.term(),
                                      raft.leader_id() == raft.id() ? ", this master" : "", ")"));
    leader_id_ = raft.leader_id();
    term_ = raft.term();
  }
  if (!first_ && raft.snapshot_index() > snapshot_index_) {
    log_->Record("snapshot", absl::StrCat("snapshot taken at index ", raft.snapshot_index(),
                                          " on ", raft.address()));
  }
  snapshot_index_ = raft.snapshot_index();

  for (const DatanodeStatus& node : datanodes.datanodes()) {
    auto [it, added] = nodes_.try_emplace(node.node().id());
    NodeState& seen = it->second;
    if (added) {
      log_->Record("datanode", absl::StrCat(NodeName(node), " registered, rack ",
                                            node.node().rack()));
      seen.live = true;
    }
    if (seen.live && !node.live()) {
      log_->Record("datanode",
                   absl::StrCat(NodeName(node), " declared dead: no heartbeat for ",
                                node.last_heartbeat_age_ms() / 1000, " s"),
                   /*warning=*/true);
    } else if (!seen.live && node.live()) {
      log_->Record("datanode", absl::StrCat(NodeName(node), " came back"));
    }
    if (node.admin_state() != seen.admin) {
      switch (node.admin_state()) {
        case DATANODE_DECOMMISSIONING:
          log_->Record("decommission", absl::StrCat(NodeName(node), ": decommission started"));
          break;
        case DATANODE_DECOMMISSIONED:
          log_->Record("decommission", absl::StrCat(NodeName(node), ": decommission finished"));
          break;
        default:
          log_->Record("decommission", absl::StrCat(NodeName(node), ": back in service"));
          break;
      }
    }
    seen.live = node.live();
    seen.admin = node.admin_state();
  }
  first_ = false;
}

}  // namespace dfs
