// Commands of the background maintenance tasks and of administrators: replica bookkeeping,
// garbage purging, decommissioning, the merger's swap, safe mode.
#include "master/maintenance_ops.h"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/status.h"
#include "master/keys.h"
#include "master/ops.h"

namespace dfs {
namespace {

// Most ids one PurgeGarbage command may carry, so one command stays one modest batch.
constexpr int kMaxPurgeBatch = 10000;

bool HasReplica(const ChunkInfo& info, const std::string& id) {
  return std::find(info.replicas().begin(), info.replicas().end(), id) != info.replicas().end();
}

}  // namespace

absl::Status ApplyAddReplica(Txn& txn, const AddReplicaCmd& cmd) {
  if (cmd.datanode_id().empty()) return FsError(EINVAL, "AddReplica without a datanode id");
  ChunkRecord record;
  if (txn.GetProto(keys::Chunk(cmd.chunk_id()), &record)) {
    if (HasReplica(record.info(), cmd.datanode_id())) return absl::OkStatus();
    record.mutable_info()->add_replicas(cmd.datanode_id());
    txn.PutProto(keys::Chunk(cmd.chunk_id()), record);
    return absl::OkStatus();
  }
  // The chunk lost its last reference while the copy was made: the copy is garbage too, and the
  // GC must know to delete it.
  GarbageRecord garbage;
  if (txn.GetProto(keys::Garbage(cmd.chunk_id()), &garbage)) {
    if (HasReplica(garbage.info(), cmd.datanode_id())) return absl::OkStatus();
    garbage.mutable_info()->add_replicas(cmd.datanode_id());
    txn.PutProto(keys::Garbage(cmd.chunk_id()), garbage);
    return absl::OkStatus();
  }
  return FsError(ENOENT, absl::StrCat("no chunk ", cmd.chunk_id()));
}

absl::Status ApplyTrimReplica(Txn& txn, const TrimReplicaCmd& cmd) {
  ChunkRecord record;
  if (!txn.GetProto(keys::Chunk(cmd.chunk_id()), &record)) {
    return FsError(ENOENT, absl::StrCat("no chunk ", cmd.chunk_id()));
  }
  auto* replicas = record.mutable_info()->mutable_replicas();
  auto it = std::find(replicas->begin(), replicas->end(), cmd.datanode_id());
  if (it == replicas->end()) return absl::OkStatus();
  for (const std::string& required : cmd.require()) {
    if (required == cmd.datanode_id() || !HasReplica(record.info(), required)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "chunk ", cmd.chunk_id(), ": replica ", required, " the trim relies on is gone"));
    }
  }
  if (replicas->size() <= 1) return FsError(EPERM, "refusing to drop the last replica");
  replicas->erase(it);
  txn.PutProto(keys::Chunk(cmd.chunk_id()), record);
  return absl::OkStatus();
}

absl::Status ApplyPurgeGarbage(Txn& txn, const PurgeGarbageCmd& cmd) {
  if (cmd.chunk_ids_size() > kMaxPurgeBatch) return FsError(EINVAL, "purge batch too large");
  for (uint64_t id : cmd.chunk_ids()) txn.Delete(keys::Garbage(id));
  return absl::OkStatus();
}

absl::Status ApplySetDecommission(Txn& txn, const SetDecommissionCmd& cmd, int64_t now_ns) {
  if (cmd.datanode_id().empty()) return FsError(EINVAL, "no datanode id");
  const std::string key = keys::Decommission(cmd.datanode_id());
  if (!cmd.decommission()) {
    txn.Delete(key);
    return absl::OkStatus();
  }
  DecommissionRecord record;
  if (txn.GetProto(key, &record)) return absl::OkStatus();  // already draining: keep its start
  record.set_since_ns(now_ns);
  txn.PutProto(key, record);
  return absl::OkStatus();
}

absl::Status ApplySetSafeMode(Txn& txn, const SetSafeModeCmd& cmd, int64_t now_ns) {
  if (!cmd.on()) {
    txn.Delete(keys::kSafeMode);
    return absl::OkStatus();
  }
  SafeModeRecord record;
  if (txn.GetProto(keys::kSafeMode, &record)) return absl::OkStatus();
  record.set_since_ns(now_ns);
  txn.PutProto(keys::kSafeMode, record);
  return absl::OkStatus();
}

absl::Status ApplyMergeSwap(Txn& txn, const MergeSwapCmd& cmd, int64_t now_ns) {
  if (cmd.files().empty()) return FsError(EINVAL, "merge without files");
  // New chunks: fresh ids, described completely.
  const uint64_t next_chunk = txn.GetCounter(keys::kNextChunk);
  std::map<uint64_t, uint64_t> chunk_length;
  for (const ChunkInfo& chunk : cmd.new_chunks()) {
    if (chunk.chunk_id() == 0 || chunk.chunk_id() >= next_chunk ||
        txn.Get(keys::Chunk(chunk.chunk_id())) || txn.Get(keys::Garbage(chunk.chunk_id())) ||
        chunk_length.count(chunk.chunk_id()) || chunk.length() == 0 ||
        chunk.replicas().empty()) {
      return FsError(EINVAL, absl::StrCat("merge chunk ", chunk.chunk_id(), " is not new"));
    }
    chunk_length[chunk.chunk_id()] = chunk.length();
  }
  std::set<uint64_t> used;
  std::set<uint64_t> inodes;
  for (const MergeFileSwap& file : cmd.files()) {
    if (!inodes.insert(file.inode()).second) return FsError(EINVAL, "file merged twice");
    DFS_ASSIGN_OR_RETURN(Attr attr, LoadInode(txn, file.inode()));
    if (attr.type() != FILE_TYPE_REGULAR) return FsError(EINVAL, "not a regular file");
    if (attr.generation() != file.generation()) {
      return absl::FailedPreconditionError(
          absl::StrCat("inode ", file.inode(), " changed during the merge"));
    }
    const uint64_t begin = file.file_offset();
    const uint64_t end = begin + file.length();
    if (file.length() == 0 || begin > attr.size() || file.length() > attr.size() - begin) {
      return FsError(EINVAL, "merge range outside the file");
    }
    // The new extents must cover exactly the bytes the old ones covered: a merge never changes
    // content, so it must not turn data into a hole or a hole into data.
    uint64_t old_covered = 0;
    std::vector<Txn::Entry> entries;
    if (auto floor = txn.Floor(keys::ExtentPrefix(file.inode()), keys::Extent(file.inode(), begin))) {
      entries.push_back(*floor);
    }
    for (auto& entry :
         txn.Scan(keys::Extent(file.inode(), begin), keys::Extent(file.inode(), end))) {
      if (entries.empty() || entry.key != entries.front().key) entries.push_back(std::move(entry));
    }
    for (const auto& entry : entries) {
      Extent e;
      DFS_CHECK(e.ParseFromString(entry.value));
      uint64_t from = std::max(keys::ExtentOffset(entry.key), begin);
      uint64_t to = std::min(keys::ExtentOffset(entry.key) + e.length(), end);
      if (to > from) old_covered += to - from;
    }
    uint64_t new_covered = 0;
    uint64_t previous_end = begin;
    for (const Extent& e : file.extents()) {
      if (e.length() == 0 || e.file_offset() < previous_end || e.file_offset() > end ||
          e.length() > end - e.file_offset()) {
        return FsError(EINVAL, "merge extents must be sorted, disjoint and inside the range");
      }
      previous_end = e.file_offset() + e.length();
      // Only onto this command's new chunks: an old chunk could lose its last reference to an
      // earlier file of the same command, and become garbage, before this file takes one.
      if (!chunk_length.count(e.chunk_id())) {
        return FsError(EINVAL, "merge extents must use the merge's new chunks");
      }
      used.insert(e.chunk_id());
      DFS_RETURN_IF_ERROR(CheckExtentInChunk(txn, e, chunk_length));
      new_covered += e.length();
    }
    if (old_covered != new_covered) {
      return absl::FailedPreconditionError("merge extents do not cover the same bytes");
    }
  }
  if (used.size() != chunk_length.size()) return FsError(EINVAL, "unused merge chunk");
  for (const ChunkInfo& chunk : cmd.new_chunks()) {
    ChunkRecord record;
    *record.mutable_info() = chunk;
    txn.PutProto(keys::Chunk(chunk.chunk_id()), record);
  }
  for (const MergeFileSwap& file : cmd.files()) {
    google::protobuf::RepeatedPtrField<Extent> relative;
    for (Extent e : file.extents()) {
      e.set_file_offset(e.file_offset() - file.file_offset());
      *relative.Add() = e;
    }
    WriteExtents(txn, file.inode(), file.file_offset(), file.length(), relative, now_ns);
    // The content is unchanged (mtime stays), but the layout is new: readers that cache extents
    // by generation must refetch before the old chunks are collected.
    DFS_ASSIGN_OR_RETURN(Attr attr, LoadInode(txn, file.inode()));
    attr.set_generation(attr.generation() + 1);
    StoreInode(txn, attr);
  }
  return absl::OkStatus();
}

}  // namespace dfs
