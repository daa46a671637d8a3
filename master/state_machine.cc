#include "master/state_machine.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "common/status.h"
#include "master/keys.h"
#include "master/maintenance_ops.h"
#include "master/ops.h"
#include "common/permissions.h"
#include "leveldb/write_batch.h"
#include "common/keycoding.h"

namespace dfs {
namespace {

constexpr char kLastTimestamp[] = "Mlast_timestamp_ns";

absl::StatusOr<Attr> LookupIn(Txn& txn, uint64_t parent, const std::string& name,
                              const Caller* caller) {
  DFS_RETURN_IF_ERROR(ValidateName(name));
  DFS_ASSIGN_OR_RETURN(Attr dir, LoadDir(txn, parent));
  DFS_RETURN_IF_ERROR(CheckAccess(dir, caller, kMayExec));
  auto value = txn.Get(keys::Dirent(parent, name));
  if (!value || value->size() != 8) return FsError(ENOENT, absl::StrCat("'", name, "' not found"));
  return LoadInode(txn, DecodeFixed64BE(*value));
}

// Fills `result` with the failure `status` (the inverse of ResultStatus).
void SetFailure(const absl::Status& status, CommandResult* result) {
  result->Clear();
  result->set_code(static_cast<int>(status.code()));
  result->set_message(std::string(status.message()));
  result->set_posix_errno(ErrnoOf(status));
}

// The commands a BatchCmd may hold (see proto/command.proto).
bool Batchable(const Command& command) {
  switch (command.op_case()) {
    case Command::kUnlink:
    case Command::kRmdir:
    case Command::kRename:
    case Command::kMkdir:
    case Command::kCreate:
      return true;
    default:
      return false;
  }
}

}  // namespace

bool BlockedInSafeMode(const Command& command) {
  switch (command.op_case()) {
    case Command::kMkdir:
    case Command::kCreate:
    case Command::kSymlink:
    case Command::kLink:
    case Command::kUnlink:
    case Command::kRmdir:
    case Command::kRename:
    case Command::kSetAttr:
    case Command::kCommitWrite:
    case Command::kMergeSwap:
    case Command::kBatch:  // namespace changes only
      return true;
    case Command::kReserveIds:
    case Command::kDropReplica:
    case Command::kReleaseOrphan:
    case Command::kAddReplica:
    case Command::kTrimReplica:
    case Command::kPurgeGarbage:
    case Command::kSetDecommission:
    case Command::kSetSafeMode:
    case Command::OP_NOT_SET:
      return false;
  }
  return false;
}

absl::Status SafeModeError() { return FsError(EROFS, kSafeModeMessage); }

absl::Status ResultStatus(const CommandResult& result) {
  return StatusFromParts(result.code(), result.message(), result.posix_errno());
}

StateMachine::StateMachine(std::unique_ptr<MetaStore> store) : store_(std::move(store)) {}

absl::StatusOr<std::unique_ptr<StateMachine>> StateMachine::Open(const std::string& path,
                                                                 leveldb::Env* env) {
  DFS_ASSIGN_OR_RETURN(std::unique_ptr<MetaStore> store, MetaStore::Open(path, env));
  std::unique_ptr<StateMachine> sm(new StateMachine(std::move(store)));
  Txn txn(sm->store());
  if (!txn.Get(keys::Inode(keys::kRootInode))) {
    // A new store: the root directory exists before the first command, identically everywhere.
    Attr root;
    root.set_inode(keys::kRootInode);
    root.set_type(FILE_TYPE_DIRECTORY);
    root.set_mode(0755);
    root.set_nlink(2);
    root.set_parent(keys::kRootInode);
    StoreInode(txn, root);
    txn.PutCounter(keys::kNextInode, keys::kRootInode + 1);
    txn.PutCounter(keys::kNextChunk, 1);
    txn.PutCounter(keys::kInodeCount, 1);
    txn.PutCounter(keys::kAppliedIndex, 0);
    DFS_RETURN_IF_ERROR(txn.Commit());
    DFS_RETURN_IF_ERROR(sm->store()->Sync());
  }
  sm->applied_index_ = sm->store()->GetCounter(keys::kAppliedIndex);
  sm->safe_mode_ = sm->store()->Get(keys::kSafeMode).ok();
  return sm;
}

CommandResult StateMachine::Apply(uint64_t index, const Command& command) {
  DFS_CHECK(index == applied_index_.load() + 1);
  Txn txn(store_.get());
  CommandResult result;
  const bool has_session = command.client_id() != 0;
  const std::string session_key = keys::Session(command.client_id(), command.seq());
  if (has_session && txn.GetProto(session_key, &result)) {
    // A retry of a command already applied: answer as the first time, change nothing else.
  } else {
    // Timestamps never go backwards, whatever the proposing leader's clock says; they stop at
    // the largest int64 rather than overflow (a command stamped INT64_MAX once did).
    const int64_t last_ns = static_cast<int64_t>(txn.GetCounter(kLastTimestamp));
    int64_t now_ns = std::max<int64_t>(
        command.timestamp_ns(),
        last_ns == std::numeric_limits<int64_t>::max() ? last_ns : last_ns + 1);
    absl::Status status = safe_mode_.load() && BlockedInSafeMode(command)
                              ? SafeModeError()
                              : Dispatch(txn, command, now_ns, &result);
    if (!status.ok()) {
      txn = Txn(store_.get());  // a failed command changes nothing but the bookkeeping below
      SetFailure(status, &result);
    }
    txn.PutCounter(kLastTimestamp, static_cast<uint64_t>(now_ns));
    result.set_applied_index(index);
    if (has_session) {
      txn.PutProto(session_key, result);
      if (command.seq() > kSessionWindow) {
        txn.Delete(keys::Session(command.client_id(), command.seq() - kSessionWindow));
      }
    }
  }
  txn.PutCounter(keys::kAppliedIndex, index);
  std::optional<Change> change;
  if (listener_ != nullptr && listener_->Listening()) change = NamespaceChange(index, txn);
  DFS_CHECK_OK(txn.Commit());
  if (command.has_set_safe_mode()) safe_mode_ = store_->Get(keys::kSafeMode).ok();
  if (change) listener_->OnChange(*std::move(change));
  applied_index_ = index;
  return result;
}

Change NamespaceChange(uint64_t index, const Txn& txn) {
  Change change;
  change.set_index(index);
  for (const auto& [key, value] : txn.writes()) {
    if (key.size() < 9) continue;
    if (key[0] == 'I' && key.size() == 9) {
      InodeChange* inode = change.add_inodes();
      inode->set_inode(keys::TaggedId(key));
      if (!value || !inode->mutable_attr()->ParseFromString(*value)) inode->set_deleted(true);
    } else if (key[0] == 'D') {
      DirentChange* dirent = change.add_dirents();
      dirent->set_parent(keys::TaggedId(key));
      dirent->set_name(std::string(keys::DirentName(key)));
      if (value && value->size() == 8) dirent->set_inode(DecodeFixed64BE(*value));
    }
  }
  return change;
}

CommandResult StateMachine::ApplyEncoded(uint64_t index, absl::string_view data) {
  Command command;
  if (command.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return Apply(index, command);
  }
  ApplyNoop(index);
  CommandResult result;
  SetFailure(FsError(EINVAL, "log entry does not decode as a command"), &result);
  return result;
}

void StateMachine::ApplyNoop(uint64_t index) {
  DFS_CHECK(index == applied_index_.load() + 1);
  Txn txn(store_.get());
  txn.PutCounter(keys::kAppliedIndex, index);
  DFS_CHECK_OK(txn.Commit());
  if (listener_ != nullptr && listener_->Listening()) {
    Change nothing;  // the index moves on; nothing in the namespace changed
    nothing.set_index(index);
    listener_->OnChange(std::move(nothing));
  }
  applied_index_ = index;
}

// Snapshot format: a sequence of (u32 key length, key, u32 value length, value), little-endian
// lengths, in key order; the applied index is one of the keys.
//
// The whole namespace is never one string: records go out in pieces of kSnapshotPieceBytes (a
// piece may exceed it by one record), so memory stays bounded whatever the number of files
// (issue 9). All of it is read from one leveldb::Snapshot.
std::function<absl::Status(const StateMachine::SnapshotSink&)> StateMachine::CaptureSnapshot() {
  leveldb::DB* db = store_->db();
  // Released with the last copy of the function, whether or not it ran.
  std::shared_ptr<const leveldb::Snapshot> view(
      db->GetSnapshot(), [db](const leveldb::Snapshot* v) { db->ReleaseSnapshot(v); });
  return [db, view](const SnapshotSink& sink) -> absl::Status {
    leveldb::ReadOptions options;
    options.fill_cache = false;
    options.snapshot = view.get();
    std::string piece;
    piece.reserve(kSnapshotPieceBytes + 4096);
    auto put = [&piece](const leveldb::Slice& s) {
      uint32_t n = static_cast<uint32_t>(s.size());
      piece.append(reinterpret_cast<const char*>(&n), 4);
      piece.append(s.data(), s.size());
    };
    std::unique_ptr<leveldb::Iterator> it(db->NewIterator(options));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      put(it->key());
      put(it->value());
      if (piece.size() >= kSnapshotPieceBytes) {
        DFS_RETURN_IF_ERROR(sink(piece));
        piece.clear();
      }
    }
    if (!it->status().ok()) return absl::InternalError("snapshot: " + it->status().ToString());
    if (!piece.empty()) DFS_RETURN_IF_ERROR(sink(piece));
    return absl::OkStatus();
  };
}

std::string StateMachine::Snapshot() {
  std::string out;
  DFS_CHECK_OK(CaptureSnapshot()([&out](absl::string_view piece) {
    out.append(piece.data(), piece.size());
    return absl::OkStatus();
  }));
  return out;
}

absl::Status StateMachine::Restore(uint64_t index, const std::string& data) {
  leveldb::WriteBatch batch;
  {
    std::unique_ptr<leveldb::Iterator> it(store_->db()->NewIterator(leveldb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) batch.Delete(it->key());
  }
  size_t pos = 0;
  auto take = [&](std::string* field) {
    uint32_t n;
    if (data.size() - pos < 4) return false;
    std::memcpy(&n, data.data() + pos, 4);
    pos += 4;
    if (data.size() - pos < n) return false;
    field->assign(data, pos, n);
    pos += n;
    return true;
  };
  while (pos < data.size()) {
    std::string key, value;
    if (!take(&key) || !take(&value)) return absl::DataLossError("truncated snapshot");
    batch.Put(key, value);
  }
  std::string encoded;
  PutFixed64BE(&encoded, index);
  batch.Put(keys::kAppliedIndex, encoded);
  leveldb::WriteOptions sync;
  sync.sync = true;
  leveldb::Status s = store_->db()->Write(sync, &batch);
  if (!s.ok()) return absl::InternalError("restore snapshot: " + s.ToString());
  safe_mode_ = store_->Get(keys::kSafeMode).ok();
  applied_index_ = index;
  return absl::OkStatus();
}

absl::Status StateMachine::Dispatch(Txn& txn, const Command& command, int64_t now_ns,
                                    CommandResult* result) {
  auto set_attr = [&](absl::StatusOr<Attr> attr) -> absl::Status {
    if (!attr.ok()) return attr.status();
    *result->mutable_attr() = *std::move(attr);
    return absl::OkStatus();
  };
  const Caller* caller = command.has_caller() ? &command.caller() : nullptr;
  switch (command.op_case()) {
    case Command::kMkdir: return set_attr(ApplyMkdir(txn, command.mkdir(), now_ns, caller));
    case Command::kCreate: return set_attr(ApplyCreate(txn, command.create(), now_ns, caller));
    case Command::kSymlink:
      return set_attr(ApplySymlink(txn, command.symlink(), now_ns, caller));
    case Command::kLink: return set_attr(ApplyLink(txn, command.link(), now_ns, caller));
    case Command::kUnlink: return ApplyUnlink(txn, command.unlink(), now_ns, caller);
    case Command::kRmdir: return ApplyRmdir(txn, command.rmdir(), now_ns, caller);
    case Command::kRename: return ApplyRename(txn, command.rename(), now_ns, caller);
    case Command::kSetAttr:
      return set_attr(ApplySetAttr(txn, command.set_attr(), now_ns, caller));
    case Command::kCommitWrite: {
      uint64_t offset = 0;
      DFS_RETURN_IF_ERROR(
          set_attr(ApplyCommitWrite(txn, command.commit_write(), now_ns, caller, &offset)));
      result->set_write_offset(offset);
      return absl::OkStatus();
    }
    case Command::kReserveIds: {
      const auto& cmd = command.reserve_ids();
      const char* key = cmd.kind() == ReserveIdsCmd::KIND_INODE   ? keys::kNextInode
                        : cmd.kind() == ReserveIdsCmd::KIND_CHUNK ? keys::kNextChunk
                                                                  : nullptr;
      if (key == nullptr || cmd.count() == 0 || cmd.count() > (1u << 20)) {
        return FsError(EINVAL, "bad id reservation");
      }
      uint64_t first = txn.GetCounter(key);
      txn.PutCounter(key, first + cmd.count());
      result->set_first_id(first);
      return absl::OkStatus();
    }
    case Command::kDropReplica: return ApplyDropReplica(txn, command.drop_replica());
    case Command::kReleaseOrphan:
      return ApplyReleaseOrphan(txn, command.release_orphan(), now_ns);
    // Background maintenance (master/maintenance_ops.cc).
    case Command::kAddReplica: return ApplyAddReplica(txn, command.add_replica());
    case Command::kTrimReplica: return ApplyTrimReplica(txn, command.trim_replica());
    case Command::kPurgeGarbage: return ApplyPurgeGarbage(txn, command.purge_garbage());
    case Command::kSetDecommission:
      return ApplySetDecommission(txn, command.set_decommission(), now_ns);
    case Command::kMergeSwap: return ApplyMergeSwap(txn, command.merge_swap(), now_ns);
    case Command::kSetSafeMode: return ApplySetSafeMode(txn, command.set_safe_mode(), now_ns);
    case Command::kBatch: return ApplyBatch(txn, command.batch(), now_ns, result);
    case Command::OP_NOT_SET: break;
  }
  return FsError(EINVAL, "empty or unknown command");
}

// Each command in order, in the one Txn, as if applied alone: a failed one is rolled back to
// where it started and its failure recorded in its item; the batch itself succeeds.
absl::Status StateMachine::ApplyBatch(Txn& txn, const BatchCmd& batch, int64_t now_ns,
                                      CommandResult* result) {
  for (const Command& command : batch.commands()) {
    CommandResult* item = result->add_items();
    // Checked before anything runs: no batch is dispatched from here, so none nests.
    if (!Batchable(command)) {
      SetFailure(FsError(EINVAL, "only create, mkdir, unlink, rmdir and rename may be batched"), item);
      continue;
    }
    const size_t savepoint = txn.Savepoint();
    absl::Status status = Dispatch(txn, command, now_ns, item);
    if (status.ok()) {
      txn.Release(savepoint);
    } else {
      txn.RollbackTo(savepoint);
      SetFailure(status, item);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Attr> StateMachine::GetAttr(uint64_t inode) {
  Txn txn(store_.get());
  return LoadInode(txn, inode);
}

// Queries that read several keys read them from one snapshot (Txn::Snapshot): the apply thread
// commits meanwhile, and a name replaced by a rename would otherwise be read as the old entry
// and then, its inode freed, as missing, a state that never existed.
absl::StatusOr<Attr> StateMachine::Lookup(uint64_t parent, const std::string& name,
                                          const Caller* caller) {
  Txn txn = Txn::Snapshot(store_.get());
  return LookupIn(txn, parent, name, caller);
}

absl::StatusOr<Attr> StateMachine::LookupPath(const std::string& path, const Caller* caller) {
  if (path.empty() || path[0] != '/') return FsError(EINVAL, "path must be absolute");
  Txn txn = Txn::Snapshot(store_.get());
  DFS_ASSIGN_OR_RETURN(Attr attr, LoadInode(txn, keys::kRootInode));
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (attr.type() != FILE_TYPE_DIRECTORY) {
      return FsError(ENOTDIR, absl::StrCat("not a directory on the way to ", path));
    }
    DFS_ASSIGN_OR_RETURN(attr, LookupIn(txn, attr.inode(), std::string(part), caller));
  }
  return attr;
}

absl::StatusOr<std::vector<StateMachine::DirEntry>> StateMachine::ReadDir(
    uint64_t inode, const std::string& start_after, size_t limit, bool* has_more,
    const Caller* caller) {
  Txn txn = Txn::Snapshot(store_.get());
  DFS_ASSIGN_OR_RETURN(Attr dir, LoadDir(txn, inode));
  DFS_RETURN_IF_ERROR(CheckAccess(dir, caller, kMayRead));
  std::string prefix = keys::DirPrefix(inode);
  // The smallest key after `start_after`: the name followed by NUL.
  std::string from = start_after.empty() ? prefix : keys::Dirent(inode, start_after) + '\0';
  auto entries = txn.Scan(from, PrefixEnd(prefix), limit + 1);
  *has_more = entries.size() > limit;
  if (*has_more) entries.pop_back();
  std::vector<DirEntry> out;
  out.reserve(entries.size());
  for (const auto& entry : entries) {
    auto attr = LoadInode(txn, DecodeFixed64BE(entry.value));
    if (!attr.ok()) continue;  // cannot happen in a consistent snapshot; skip rather than fail
    out.push_back({std::string(keys::DirentName(entry.key)), *std::move(attr)});
  }
  return out;
}

absl::StatusOr<StateMachine::ExtentsResult> StateMachine::GetExtents(uint64_t inode,
                                                                     uint64_t offset,
                                                                     uint64_t length,
                                                                     const Caller* caller) {
  Txn txn = Txn::Snapshot(store_.get());
  ExtentsResult out;
  DFS_ASSIGN_OR_RETURN(out.attr, LoadInode(txn, inode));
  DFS_RETURN_IF_ERROR(CheckAccess(out.attr, caller, kMayRead));
  if (out.attr.type() != FILE_TYPE_REGULAR) return FsError(EISDIR, "not a regular file");
  uint64_t end = out.attr.size();
  if (length != 0 && length < end - std::min(end, offset)) end = offset + length;
  if (offset >= end) return out;
  std::vector<Txn::Entry> entries;
  if (auto floor = txn.Floor(keys::ExtentPrefix(inode), keys::Extent(inode, offset))) {
    entries.push_back(*floor);
  }
  for (auto& entry : txn.Scan(keys::Extent(inode, offset), keys::Extent(inode, end))) {
    if (entries.empty() || entry.key != entries.front().key) entries.push_back(std::move(entry));
  }
  std::set<uint64_t> chunk_ids;
  for (const auto& entry : entries) {
    Extent e;
    DFS_CHECK(e.ParseFromString(entry.value));
    e.set_file_offset(keys::ExtentOffset(entry.key));
    uint64_t e_end = e.file_offset() + e.length();
    if (e_end <= offset || e.file_offset() >= end) continue;
    uint64_t from = std::max(offset, e.file_offset());
    uint64_t to = std::min(end, e_end);
    e.set_chunk_offset(e.chunk_offset() + (from - e.file_offset()));
    e.set_file_offset(from);
    e.set_length(to - from);
    chunk_ids.insert(e.chunk_id());
    out.extents.push_back(e);
  }
  for (uint64_t id : chunk_ids) {
    ChunkRecord record;
    if (txn.GetProto(keys::Chunk(id), &record)) out.chunks.push_back(record.info());
  }
  return out;
}

absl::StatusOr<ChunkInfo> StateMachine::GetChunk(uint64_t chunk_id) {
  ChunkRecord record;
  DFS_RETURN_IF_ERROR(store_->GetProto(keys::Chunk(chunk_id), &record));
  return record.info();
}

bool StateMachine::ChunkKnown(uint64_t chunk_id) {
  return store_->Get(keys::Chunk(chunk_id)).ok() || store_->Get(keys::Garbage(chunk_id)).ok();
}

uint64_t StateMachine::inode_count() { return store_->GetCounter(keys::kInodeCount); }

uint64_t StateMachine::chunk_count() {
  std::unique_ptr<leveldb::Iterator> it(store_->db()->NewIterator(leveldb::ReadOptions()));
  uint64_t n = 0;
  for (it->Seek(keys::ChunkPrefix()); it->Valid() && it->key().starts_with("C"); it->Next()) ++n;
  return n;
}

std::vector<std::string> StateMachine::DecommissionedDatanodes() {
  std::vector<std::string> ids;
  std::unique_ptr<leveldb::Iterator> it(store_->db()->NewIterator(leveldb::ReadOptions()));
  const std::string prefix = keys::DecommissionPrefix();
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    ids.push_back(it->key().ToString().substr(prefix.size()));
  }
  return ids;
}

int64_t StateMachine::safe_mode_since_ns() {
  SafeModeRecord record;
  if (!store_->GetProto(keys::kSafeMode, &record).ok()) return 0;
  return record.since_ns();
}

}  // namespace dfs
