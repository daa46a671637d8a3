// MasterServiceImpl's operator tools: the merger on demand, safe mode, and fsck's file checks.
#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "master/maintenance/replica_plan.h"
#include "master/master_service.h"
#include "master/request_validation.h"

namespace dfs {
namespace {

// Chunk descriptions one answer carries at most (about 200 bytes each, well under the message
// limit); files past that are left for the caller's next call.
constexpr size_t kMaxCheckChunks = 20000;

}  // namespace

std::map<uint64_t, std::set<std::string>> MasterServiceImpl::KeptBadReplicas() {
  std::map<uint64_t, std::set<std::string>> kept;
  {
    std::lock_guard<std::mutex> lock(mu_);
    kept = bad_kept_;
  }
  // Only copies still recorded count: one dropped since (by the replicator's copier, say) or a
  // chunk collected since is forgotten.
  std::vector<std::pair<uint64_t, std::string>> stale;
  for (auto it = kept.begin(); it != kept.end();) {
    auto chunk = ctx_.sm->GetChunk(it->first);
    for (auto id = it->second.begin(); id != it->second.end();) {
      if (chunk.ok() && std::count(chunk->replicas().begin(), chunk->replicas().end(), *id)) {
        ++id;
      } else {
        stale.emplace_back(it->first, *id);
        id = it->second.erase(id);
      }
    }
    it = it->second.empty() ? kept.erase(it) : std::next(it);
  }
  if (!stale.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [chunk_id, id] : stale) {
      auto entry = bad_kept_.find(chunk_id);
      if (entry == bad_kept_.end()) continue;
      entry->second.erase(id);
      if (entry->second.empty()) bad_kept_.erase(entry);
    }
  }
  return kept;
}

grpc::Status MasterServiceImpl::Merge(grpc::ServerContext* context, const Empty*,
                                      MergeResponse* response) {
  if (ctx_.maintenance == nullptr)
    return Reply(context, absl::UnimplementedError("no maintenance"));
  auto result = ctx_.maintenance->Merge();
  if (result.ok()) *response = *result;
  return Reply(context, result.status());
}

grpc::Status MasterServiceImpl::SafeMode(grpc::ServerContext* context,
                                         const SafeModeRequest* request,
                                         SafeModeResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  if (request->action() == SafeModeRequest::ENTER || request->action() == SafeModeRequest::LEAVE) {
    const bool on = request->action() == SafeModeRequest::ENTER;
    Command command;
    command.mutable_set_safe_mode()->set_on(on);
    // No session: entering or leaving twice is harmless.
    if (absl::Status s = Run(Session(), std::move(command)).status(); !s.ok()) {
      return Reply(context, s);
    }
    DFS_LOG(WARNING) << (on ? "safe mode entered: the namespace is read-only"
                            : "safe mode left: the namespace is writable");
  } else if (absl::Status s = ctx_.log->ReadBarrier(); !s.ok()) {
    return Reply(context, s);  // only the leader knows the state is current
  }
  response->set_on(ctx_.sm->safe_mode());
  response->set_since_ns(ctx_.sm->safe_mode_since_ns());
  return grpc::Status::OK;
}

grpc::Status MasterServiceImpl::CheckFiles(grpc::ServerContext* context,
                                           const CheckFilesRequest* request,
                                           CheckFilesResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  // Liveness is the leader's soft state; a follower knows no datanodes.
  if (!ctx_.log->IsLeader()) return Reply(context, absl::UnavailableError("not the leader"));
  if (absl::Status s = ctx_.log->ReadBarrier(); !s.ok()) return Reply(context, s);

  std::map<std::string, PlanNode> nodes;
  std::map<std::string, DatanodeInfo> infos;
  std::vector<std::string> draining_list = ctx_.sm->DecommissionedDatanodes();
  std::set<std::string> draining(draining_list.begin(), draining_list.end());
  for (const DatanodeStatus& node : ctx_.datanodes->List()) {
    const std::string& id = node.node().id();
    nodes[id] =
        PlanNode{node.node().rack(), node.live(), draining.count(id) > 0, node.free_bytes()};
    infos[id] = node.node();
  }
  const std::map<uint64_t, std::set<std::string>> bad = KeptBadReplicas();
  const std::set<std::string> no_bad;

  size_t described = 0;
  for (uint64_t inode : request->inodes()) {
    if (response->files_size() > 0 && described >= kMaxCheckChunks) break;
    FileCheck* file = response->add_files();
    file->set_inode(inode);
    auto extents = ctx_.sm->GetExtents(inode, 0, 0);
    if (!extents.ok()) {
      file->set_error(std::string(extents.status().message()));
      continue;
    }
    file->set_size(extents->attr.size());
    std::map<uint64_t, const ChunkInfo*> records;
    for (const ChunkInfo& chunk : extents->chunks) records[chunk.chunk_id()] = &chunk;
    std::set<uint64_t> referenced;
    for (const Extent& e : extents->extents) referenced.insert(e.chunk_id());
    file->set_chunk_count(referenced.size());
    for (uint64_t id : referenced) {
      ChunkCheck check;
      auto record = records.find(id);
      if (record == records.end()) {
        // An extent without a chunk record: cannot happen in a consistent store.
        check.set_chunk_id(id);
        check.set_replication(ctx_.replication);
        check.set_health(CHUNK_MISSING);
      } else {
        auto damaged = bad.find(id);
        check = CheckChunk(*record->second, ctx_.replication, nodes,
                           damaged == bad.end() ? no_bad : damaged->second);
      }
      if (!request->all_chunks() && check.health() == CHUNK_HEALTHY) {
        file->add_healthy_chunks(id);  // ids only, so that fsck counts shared chunks once
        continue;
      }
      for (ReplicaCheck& replica : *check.mutable_replicas()) {
        auto info = infos.find(replica.node().id());
        if (info != infos.end()) *replica.mutable_node() = info->second;
      }
      *file->add_chunks() = std::move(check);
      ++described;
    }
  }
  return grpc::Status::OK;
}

}  // namespace dfs
