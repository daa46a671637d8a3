#include "master/maintenance/gc.h"

#include <algorithm>
#include <memory>
#include <set>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "master/keys.h"

namespace dfs {
namespace {

// Chunk ids per PurgeGarbage command.
constexpr size_t kPurgeBatch = 1000;

// Every key of one table ("C" or "G"), as chunk ids in ascending order.
std::vector<uint64_t> TableIds(StateMachine* sm, const std::string& prefix) {
  std::vector<uint64_t> ids;
  std::unique_ptr<leveldb::Iterator> it(sm->store()->db()->NewIterator(leveldb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    ids.push_back(keys::TaggedId(absl::string_view(it->key().data(), it->key().size())));
  }
  return ids;
}

}  // namespace

void GarbageCollector::RunOnce() {
  if (!ctx_->IsLeader()) return;
  const uint64_t term = ctx_->term();
  CollectGarbage(term);
  // Orphans are judged from chunk reports, which a new leader must first receive.
  if (ctx_->Ready()) CollectOrphans(term);
}

void GarbageCollector::CollectGarbage(uint64_t term) {
  const int64_t now_ns = ctx_->clock()->NowNanos();
  const int64_t grace_ns = ctx_->options().garbage_grace_ms * 1000000;
  std::map<std::string, std::string> address_of;
  std::set<std::string> live;
  for (const auto& node : ctx_->datanodes()->Nodes()) {
    address_of[node.info.id()] = node.info.address();
    if (node.live) live.insert(node.info.id());
  }
  // Due garbage, grouped by the node that must delete it.
  std::map<std::string, std::vector<uint64_t>> deletes;  // node id -> chunks
  std::map<uint64_t, std::vector<std::string>> holders;  // chunk -> live nodes to delete on
  std::vector<uint64_t> due;
  {
    std::unique_ptr<leveldb::Iterator> it(
        ctx_->sm()->store()->db()->NewIterator(leveldb::ReadOptions()));
    const std::string prefix = keys::GarbagePrefix();
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      GarbageRecord record;
      if (!record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        continue;
      }
      if (now_ns - record.since_ns() < grace_ns) continue;
      const uint64_t id = record.info().chunk_id();
      due.push_back(id);
      for (const std::string& node : record.info().replicas()) {
        if (!live.count(node)) continue;  // gone or dead: an orphan if it ever returns
        deletes[node].push_back(id);
        holders[id].push_back(node);
      }
    }
  }
  if (due.empty()) return;
  std::set<std::string> failed_nodes;
  for (const auto& [node, ids] : deletes) {
    if (!ctx_->StillLeading(term)) return;
    absl::Status status = ctx_->DeleteOnDatanode(address_of[node], ids);
    if (!status.ok()) {
      DFS_LOG(WARNING) << "gc: " << status;
      failed_nodes.insert(node);
    }
  }
  std::vector<uint64_t> purge;
  for (uint64_t id : due) {
    bool all_deleted = true;
    for (const std::string& node : holders[id]) all_deleted &= !failed_nodes.count(node);
    if (all_deleted) purge.push_back(id);
  }
  std::vector<Command> commands;
  for (size_t begin = 0; begin < purge.size(); begin += kPurgeBatch) {
    Command command;
    for (size_t i = begin; i < std::min(purge.size(), begin + kPurgeBatch); ++i) {
      command.mutable_purge_garbage()->add_chunk_ids(purge[i]);
    }
    commands.push_back(std::move(command));
  }
  if (!ctx_->StillLeading(term)) return;
  uint64_t purged = 0;
  auto results = ctx_->ProposeAll(commands);
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok() && ResultStatus(*results[i]).ok()) {
      purged += commands[i].purge_garbage().chunk_ids_size();
    }
  }
  ctx_->stats().garbage_purged += purged;
  DFS_LOG(INFO) << "gc: deleted and purged " << purged << " garbage chunks";
}

void GarbageCollector::CollectOrphans(uint64_t term) {
  const int64_t now = ctx_->clock()->MonotonicNanos();
  const int64_t grace_ns = ctx_->options().orphan_grace_ms * 1000000;
  std::vector<uint64_t> chunks = TableIds(ctx_->sm(), keys::ChunkPrefix());
  std::vector<uint64_t> garbage = TableIds(ctx_->sm(), keys::GarbagePrefix());
  auto known = [&](uint64_t id) {
    return std::binary_search(chunks.begin(), chunks.end(), id) ||
           std::binary_search(garbage.begin(), garbage.end(), id);
  };
  std::map<std::pair<std::string, uint64_t>, int64_t> seen;
  std::map<std::string, std::vector<uint64_t>> due;  // address -> chunks
  std::map<std::string, std::string> id_of;           // address -> node id
  for (const auto& node : ctx_->datanodes()->Nodes()) {
    if (!node.live || !ctx_->TrustedReport(node)) continue;
    for (uint64_t id : *node.report) {
      if (known(id)) continue;
      auto key = std::make_pair(node.info.id(), id);
      auto previous = orphan_first_seen_.find(key);
      const int64_t first = previous != orphan_first_seen_.end() ? previous->second : now;
      seen[key] = first;
      if (now - first >= grace_ns) {
        due[node.info.address()].push_back(id);
        id_of[node.info.address()] = node.info.id();
      }
    }
  }
  orphan_first_seen_ = std::move(seen);
  if (due.empty()) return;
  // Whatever was committed up to now must be visible before a copy is judged unknown.
  if (absl::Status barrier = ctx_->log()->ReadBarrier(); !barrier.ok()) return;
  for (auto& [address, ids] : due) {
    if (!ctx_->StillLeading(term)) return;
    ids.erase(std::remove_if(ids.begin(), ids.end(),
                             [&](uint64_t id) { return ctx_->sm()->ChunkKnown(id); }),
              ids.end());
    if (ids.empty()) continue;
    absl::Status status = ctx_->DeleteOnDatanode(address, ids);
    if (!status.ok()) {
      DFS_LOG(WARNING) << "gc: " << status;
      continue;
    }
    DFS_LOG(INFO) << "gc: deleted " << ids.size() << " orphan chunk copies on " << address;
    ctx_->stats().orphans_deleted += ids.size();
    for (uint64_t id : ids) orphan_first_seen_.erase({id_of[address], id});
  }
}

}  // namespace dfs
