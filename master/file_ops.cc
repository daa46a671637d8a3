// File content: extents, chunk references, truncation and attribute changes.
#include <algorithm>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/status.h"
#include "common/validation.h"
#include "master/keys.h"
#include "master/ops.h"
#include "common/permissions.h"

namespace dfs {
namespace {

uint64_t End(const Extent& e) { return e.file_offset() + e.length(); }

Extent ParseExtent(const Txn::Entry& entry) {
  Extent e;
  DFS_CHECK(e.ParseFromString(entry.value));
  e.set_file_offset(keys::ExtentOffset(entry.key));
  return e;
}

void PutExtent(Txn& txn, uint64_t inode, const Extent& e) {
  Extent stored = e;
  stored.clear_file_offset();  // the key holds it
  txn.PutProto(keys::Extent(inode, e.file_offset()), stored);
}

// Adds `delta` references to a chunk. A chunk left without references becomes garbage.
void AddChunkRef(Txn& txn, uint64_t chunk_id, int delta, int64_t now_ns) {
  ChunkRecord record;
  DFS_CHECK(txn.GetProto(keys::Chunk(chunk_id), &record));
  DFS_CHECK(delta >= 0 || record.refs() >= static_cast<uint64_t>(-delta));
  record.set_refs(record.refs() + delta);
  if (record.refs() > 0) {
    txn.PutProto(keys::Chunk(chunk_id), record);
    return;
  }
  txn.Delete(keys::Chunk(chunk_id));
  GarbageRecord garbage;
  *garbage.mutable_info() = record.info();
  garbage.set_since_ns(now_ns);
  txn.PutProto(keys::Garbage(chunk_id), garbage);
}

}  // namespace

absl::StatusOr<Attr> LoadInode(Txn& txn, uint64_t inode) {
  Attr attr;
  if (!txn.GetProto(keys::Inode(inode), &attr)) {
    return FsError(ENOENT, absl::StrCat("no inode ", inode));
  }
  return attr;
}

absl::StatusOr<Attr> LoadDir(Txn& txn, uint64_t inode) {
  DFS_ASSIGN_OR_RETURN(Attr attr, LoadInode(txn, inode));
  if (attr.type() != FILE_TYPE_DIRECTORY) {
    return FsError(ENOTDIR, absl::StrCat("inode ", inode, " is not a directory"));
  }
  return attr;
}

void StoreInode(Txn& txn, const Attr& attr) { txn.PutProto(keys::Inode(attr.inode()), attr); }

absl::Status CheckFileRange(uint64_t offset, uint64_t length) {
  // Checked in this form so that offset + length cannot wrap around (an old check against
  // INT64_MAX - offset did, for offsets past 2^63).
  if (offset > kMaxFileBytes || length > kMaxFileBytes - offset) {
    return FsError(EFBIG, absl::StrCat("[", offset, ", +", length,
                                       ") is past the largest file size ", kMaxFileBytes));
  }
  return absl::OkStatus();
}

absl::Status CheckExtentInChunk(Txn& txn, const Extent& e,
                                const std::map<uint64_t, uint64_t>& new_chunk_lengths) {
  uint64_t size;
  if (auto known = new_chunk_lengths.find(e.chunk_id()); known != new_chunk_lengths.end()) {
    size = known->second;
  } else {
    ChunkRecord record;
    if (!txn.GetProto(keys::Chunk(e.chunk_id()), &record)) {
      return FsError(EINVAL, absl::StrCat("extent refers to unknown chunk ", e.chunk_id()));
    }
    size = record.info().length();
  }
  if (e.chunk_offset() > size || e.length() > size - e.chunk_offset()) {
    return FsError(EINVAL, absl::StrCat("extent exceeds chunk ", e.chunk_id()));
  }
  return absl::OkStatus();
}

absl::Status AddNewChunks(Txn& txn, const google::protobuf::RepeatedPtrField<ChunkInfo>& new_chunks,
                          const google::protobuf::RepeatedPtrField<Extent>& extents,
                          uint64_t length) {
  const uint64_t next_chunk = txn.GetCounter(keys::kNextChunk);
  std::map<uint64_t, uint64_t> chunk_length;  // every chunk the extents may use
  for (const ChunkInfo& chunk : new_chunks) {
    if (chunk.chunk_id() == 0 || chunk.chunk_id() >= next_chunk) {
      return FsError(EINVAL, absl::StrCat("chunk ", chunk.chunk_id(), " was never allocated"));
    }
    if (txn.Get(keys::Chunk(chunk.chunk_id())) || txn.Get(keys::Garbage(chunk.chunk_id())) ||
        chunk_length.count(chunk.chunk_id())) {
      return FsError(EINVAL, absl::StrCat("chunk ", chunk.chunk_id(), " is already committed"));
    }
    if (chunk.length() == 0 || chunk.replicas().empty()) {
      return FsError(EINVAL, absl::StrCat("chunk ", chunk.chunk_id(), " is empty or has no replicas"));
    }
    chunk_length[chunk.chunk_id()] = chunk.length();
  }
  uint64_t previous_end = 0;
  for (const Extent& e : extents) {
    if (e.length() == 0 || e.file_offset() < previous_end || e.file_offset() > length ||
        e.length() > length - e.file_offset()) {
      return FsError(EINVAL, "extents must be non-empty, sorted, disjoint and inside the write");
    }
    previous_end = End(e);
    DFS_RETURN_IF_ERROR(CheckExtentInChunk(txn, e, chunk_length));
  }
  for (const ChunkInfo& chunk : new_chunks) {
    bool used = std::any_of(extents.begin(), extents.end(),
                            [&](const Extent& e) { return e.chunk_id() == chunk.chunk_id(); });
    if (!used) return FsError(EINVAL, absl::StrCat("new chunk ", chunk.chunk_id(), " is unused"));
    ChunkRecord record;
    *record.mutable_info() = chunk;
    txn.PutProto(keys::Chunk(chunk.chunk_id()), record);
  }
  return absl::OkStatus();
}

void PunchExtents(Txn& txn, uint64_t inode, uint64_t start, uint64_t end, int64_t now_ns) {
  if (start >= end) return;
  // An extent that starts before `start` may reach into the range.
  if (auto floor = txn.Floor(keys::ExtentPrefix(inode), keys::Extent(inode, start))) {
    Extent e = ParseExtent(*floor);
    if (e.file_offset() < start && End(e) > start) {
      if (End(e) > end) {  // the range is strictly inside: split in two
        Extent right = e;
        right.set_file_offset(end);
        right.set_chunk_offset(e.chunk_offset() + (end - e.file_offset()));
        right.set_length(End(e) - end);
        PutExtent(txn, inode, right);
        AddChunkRef(txn, e.chunk_id(), +1, now_ns);
      }
      e.set_length(start - e.file_offset());
      PutExtent(txn, inode, e);
    }
  }
  for (const Txn::Entry& entry : txn.Scan(keys::Extent(inode, start), keys::Extent(inode, end))) {
    Extent e = ParseExtent(entry);
    txn.Delete(entry.key);
    if (End(e) <= end) {
      AddChunkRef(txn, e.chunk_id(), -1, now_ns);
    } else {  // keep the tail beyond the range; the reference moves with it
      Extent tail = e;
      tail.set_file_offset(end);
      tail.set_chunk_offset(e.chunk_offset() + (end - e.file_offset()));
      tail.set_length(End(e) - end);
      PutExtent(txn, inode, tail);
    }
  }
}

void WriteExtents(Txn& txn, uint64_t inode, uint64_t base, uint64_t length,
                  const google::protobuf::RepeatedPtrField<Extent>& extents, int64_t now_ns) {
  // Take the new references first, so a chunk that is both dropped and re-used by this write
  // never passes through zero references.
  for (const Extent& e : extents) AddChunkRef(txn, e.chunk_id(), +1, now_ns);
  PunchExtents(txn, inode, base, base + length, now_ns);
  for (Extent e : extents) {
    e.set_file_offset(base + e.file_offset());
    PutExtent(txn, inode, e);
  }
}

void DropLink(Txn& txn, Attr attr, int64_t now_ns, bool keep_orphan) {
  if (attr.nlink() > 1 && attr.type() != FILE_TYPE_DIRECTORY) {
    attr.set_nlink(attr.nlink() - 1);
    attr.set_ctime_ns(now_ns);
    StoreInode(txn, attr);
    return;
  }
  if (keep_orphan && attr.type() == FILE_TYPE_REGULAR) {
    attr.set_nlink(0);
    attr.set_ctime_ns(now_ns);
    StoreInode(txn, attr);
    txn.PutCounter(keys::Orphan(attr.inode()), static_cast<uint64_t>(now_ns));
    return;
  }
  txn.Delete(keys::Orphan(attr.inode()));
  if (attr.type() == FILE_TYPE_REGULAR) {
    PunchExtents(txn, attr.inode(), 0, std::numeric_limits<uint64_t>::max(), now_ns);
  }
  if (attr.type() == FILE_TYPE_DIRECTORY) txn.Delete(keys::EntryCount(attr.inode()));
  txn.Delete(keys::Inode(attr.inode()));
  txn.PutCounter(keys::kInodeCount, txn.GetCounter(keys::kInodeCount) - 1);
}

absl::StatusOr<Attr> ApplyCommitWrite(Txn& txn, const CommitWriteCmd& cmd, int64_t now_ns,
                                      const Caller* caller, uint64_t* write_offset) {
  DFS_ASSIGN_OR_RETURN(Attr attr, LoadInode(txn, cmd.inode()));
  DFS_RETURN_IF_ERROR(CheckAccess(attr, caller, kMayWrite));
  if (attr.type() != FILE_TYPE_REGULAR) {
    return FsError(attr.type() == FILE_TYPE_DIRECTORY ? EISDIR : EINVAL, "not a regular file");
  }
  uint64_t offset = cmd.append() ? attr.size() : cmd.offset();
  DFS_RETURN_IF_ERROR(CheckFileRange(offset, cmd.length()));
  DFS_RETURN_IF_ERROR(AddNewChunks(txn, cmd.new_chunks(), cmd.extents(), cmd.length()));
  WriteExtents(txn, attr.inode(), offset, cmd.length(), cmd.extents(), now_ns);
  attr.set_size(std::max(attr.size(), offset + cmd.length()));
  attr.set_mtime_ns(now_ns);
  attr.set_ctime_ns(now_ns);
  attr.set_generation(attr.generation() + 1);
  StoreInode(txn, attr);
  *write_offset = offset;
  return attr;
}

absl::StatusOr<Attr> ApplySetAttr(Txn& txn, const SetAttrCmd& checked_cmd, int64_t now_ns,
                                  const Caller* caller) {
  DFS_ASSIGN_OR_RETURN(Attr attr, LoadInode(txn, checked_cmd.inode()));
  SetAttrCmd cmd = checked_cmd;  // the checks may drop setuid/setgid bits
  DFS_RETURN_IF_ERROR(CheckSetAttr(attr, caller, &cmd));
  if (cmd.set_size()) {
    if (attr.type() == FILE_TYPE_DIRECTORY) return FsError(EISDIR, "cannot truncate a directory");
    if (attr.type() != FILE_TYPE_REGULAR) return FsError(EINVAL, "cannot truncate a symlink");
    DFS_RETURN_IF_ERROR(CheckFileRange(0, cmd.size()));
    if (cmd.size() < attr.size()) {
      PunchExtents(txn, attr.inode(), cmd.size(), std::numeric_limits<uint64_t>::max(), now_ns);
    }
    if (cmd.size() != attr.size()) {
      attr.set_size(cmd.size());
      attr.set_generation(attr.generation() + 1);
    }
    attr.set_mtime_ns(now_ns);
  }
  if (cmd.set_mode()) attr.set_mode(cmd.mode() & 07777);
  if (cmd.set_uid()) attr.set_uid(cmd.uid());
  if (cmd.set_gid()) attr.set_gid(cmd.gid());
  if (cmd.set_atime()) attr.set_atime_ns(cmd.atime_ns());
  if (cmd.set_mtime()) attr.set_mtime_ns(cmd.mtime_ns());
  attr.set_ctime_ns(now_ns);
  StoreInode(txn, attr);
  return attr;
}

absl::Status ApplyDropReplica(Txn& txn, const DropReplicaCmd& cmd) {
  ChunkRecord record;
  if (!txn.GetProto(keys::Chunk(cmd.chunk_id()), &record)) {
    return FsError(ENOENT, absl::StrCat("no chunk ", cmd.chunk_id()));
  }
  auto* replicas = record.mutable_info()->mutable_replicas();
  auto it = std::find(replicas->begin(), replicas->end(), cmd.datanode_id());
  if (it == replicas->end()) return absl::OkStatus();
  // Never drop the last replica: a damaged copy is still better than none.
  if (replicas->size() <= 1) return FsError(EPERM, "refusing to drop the last replica");
  replicas->erase(it);
  txn.PutProto(keys::Chunk(cmd.chunk_id()), record);
  return absl::OkStatus();
}

absl::Status ApplyReleaseOrphan(Txn& txn, const ReleaseOrphanCmd& cmd, int64_t now_ns) {
  if (!txn.Get(keys::Orphan(cmd.inode()))) return absl::OkStatus();  // already released
  DFS_ASSIGN_OR_RETURN(Attr attr, LoadInode(txn, cmd.inode()));
  txn.Delete(keys::Orphan(cmd.inode()));
  if (attr.nlink() == 0) DropLink(txn, attr, now_ns);
  return absl::OkStatus();
}

}  // namespace dfs
