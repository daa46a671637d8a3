#include "master/master_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/status.h"
#include "common/rpc_security.h"
#include "common/permissions.h"
#include "master/request_validation.h"

namespace dfs {
namespace {

constexpr uint64_t kIdBlock = 1024;
constexpr uint32_t kDefaultReadDirPage = 1000;
constexpr uint32_t kMaxReadDirPage = 10000;

// The commands of Mkdir, Create, Unlink, Rmdir and Rename, alone or in a Batch (without their
// caller).
// What the commands of new inodes share.
template <typename Request, typename Cmd>
void SetNewInode(const Request& request, uint64_t inode, Cmd* cmd) {
  cmd->set_parent(request.parent());
  cmd->set_name(request.name());
  cmd->set_inode(inode);
  cmd->set_mode(request.mode());
  cmd->set_uid(request.uid());
  cmd->set_gid(request.gid());
}

Command MkdirCommand(const MkdirRequest& request, uint64_t inode) {
  Command command;
  SetNewInode(request, inode, command.mutable_mkdir());
  return command;
}

Command CreateCommand(const CreateRequest& request, uint64_t inode) {
  Command command;
  CreateCmd* cmd = command.mutable_create();
  SetNewInode(request, inode, cmd);
  cmd->set_exclusive(request.exclusive());
  cmd->set_replace(request.replace());
  *cmd->mutable_extents() = request.extents();
  *cmd->mutable_new_chunks() = request.new_chunks();
  cmd->set_size(request.size());
  return command;
}

Command UnlinkCommand(const RemoveRequest& request) {
  Command command;
  UnlinkCmd* cmd = command.mutable_unlink();
  cmd->set_parent(request.parent());
  cmd->set_name(request.name());
  cmd->set_keep_orphan(request.keep_orphan());
  return command;
}

Command RmdirCommand(const RemoveRequest& request) {
  Command command;
  RmdirCmd* cmd = command.mutable_rmdir();
  cmd->set_parent(request.parent());
  cmd->set_name(request.name());
  return command;
}

Command RenameCommand(const RenameRequest& request) {
  Command command;
  RenameCmd* cmd = command.mutable_rename();
  cmd->set_parent(request.parent());
  cmd->set_name(request.name());
  cmd->set_new_parent(request.new_parent());
  cmd->set_new_name(request.new_name());
  cmd->set_noreplace(request.noreplace());
  cmd->set_keep_orphan(request.keep_orphan());
  return command;
}

}  // namespace

MasterServiceImpl::MasterServiceImpl(MasterContext context)
    : ctx_(context),
      inode_ids_(context.log, ReserveIdsCmd::KIND_INODE, kIdBlock),
      chunk_ids_(context.log, ReserveIdsCmd::KIND_CHUNK, kIdBlock) {}

absl::Status MasterServiceImpl::CheckWritable() {
  if (!ctx_.sm->safe_mode() || !ctx_.log->IsLeader()) return absl::OkStatus();
  DFS_RETURN_IF_ERROR(ctx_.log->ReadBarrier());
  return ctx_.sm->safe_mode() ? SafeModeError() : absl::OkStatus();
}

std::optional<Caller> MasterServiceImpl::EffectiveCaller(grpc::ServerContext* context,
                                                         const Caller* stated) {
  if (stated == nullptr) return std::nullopt;
  if (SquashesRoot(context)) return SquashRoot(*stated);
  return *stated;
}

bool MasterServiceImpl::SquashesRoot(grpc::ServerContext* context) {
  // Only holders of the client key are squashed: admin tools and nodes are the operators'.
  // An unsecured master cannot tell roles apart and treats every caller as a client.
  return ctx_.root_squash && CallerRole(*context).value_or(Role::kClient) == Role::kClient;
}

absl::StatusOr<CommandResult> MasterServiceImpl::Run(const Session& session, Command command,
                                                     const std::optional<Caller>& caller) {
  // Apply refuses these anyway; refusing here first spares the log an entry.
  if (BlockedInSafeMode(command)) DFS_RETURN_IF_ERROR(CheckWritable());
  if (caller) *command.mutable_caller() = *caller;
  command.set_client_id(session.client_id());
  command.set_seq(session.seq());
  command.set_timestamp_ns(ctx_.clock->NowNanos());
  DFS_ASSIGN_OR_RETURN(CommandResult result, ctx_.log->Propose(command));
  DFS_RETURN_IF_ERROR(ResultStatus(result));
  return result;
}

grpc::Status MasterServiceImpl::RunForAttr(grpc::ServerContext* context, const Session& session,
                                           Command command, const std::optional<Caller>& caller,
                                           AttrResponse* response, uint64_t parent,
                                           uint64_t new_parent) {
  auto result = Run(session, std::move(command), caller);
  if (!result.ok()) return Reply(context, result.status());
  if (result->has_attr()) *response->mutable_attr() = result->attr();
  response->set_applied_index(result->applied_index());
  // Read after the command was applied here, so at least as new as the change; no barrier is
  // needed for that. Best effort: without them the client asks itself.
  auto fill = [&](uint64_t dir, Attr* out) {
    absl::StatusOr<Attr> attr = ctx_.sm->GetAttr(dir);
    if (attr.ok()) *out = *std::move(attr);
  };
  if (parent != 0) fill(parent, response->mutable_parent_attr());
  if (new_parent != 0 && new_parent != parent) {
    fill(new_parent, response->mutable_new_parent_attr());
  }
  return grpc::Status::OK;
}

grpc::Status MasterServiceImpl::Reply(grpc::ServerContext* context, const absl::Status& status) {
  if (absl::IsUnavailable(status) && !ctx_.log->IsLeader()) {
    context->AddTrailingMetadata(kLeaderHintKey, ctx_.log->LeaderHint());
  } else if (!status.ok() && !IsRetryable(status)) {
    // At least the index of the state the answer came from (it can only have grown since).
    context->AddTrailingMetadata(kAppliedIndexKey, absl::StrCat(ctx_.sm->applied_index()));
  }
  return ToGrpcStatus(status);
}

grpc::Status MasterServiceImpl::ReplyAttr(grpc::ServerContext* context,
                                          const absl::StatusOr<Attr>& attr,
                                          AttrResponse* response) {
  if (attr.ok()) *response->mutable_attr() = *attr;
  response->set_applied_index(ctx_.sm->applied_index());
  return Reply(context, attr.status());
}

// ---- reads ----

grpc::Status MasterServiceImpl::Lookup(grpc::ServerContext* context, const LookupRequest* request,
                                       AttrResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  if (absl::Status s = ctx_.log->ReadBarrier(); !s.ok()) return Reply(context, s);
  const std::optional<Caller> caller = CallerOf(context, *request);
  return ReplyAttr(context, ctx_.sm->Lookup(request->parent(), request->name(), OrNull(caller)),
                   response);
}

grpc::Status MasterServiceImpl::LookupPath(grpc::ServerContext* context,
                                           const LookupPathRequest* request,
                                           AttrResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  if (absl::Status s = ctx_.log->ReadBarrier(); !s.ok()) return Reply(context, s);
  const std::optional<Caller> caller = CallerOf(context, *request);
  return ReplyAttr(context, ctx_.sm->LookupPath(request->path(), OrNull(caller)), response);
}

grpc::Status MasterServiceImpl::GetAttr(grpc::ServerContext* context,
                                        const GetAttrRequest* request, AttrResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  if (absl::Status s = ctx_.log->ReadBarrier(); !s.ok()) return Reply(context, s);
  return ReplyAttr(context, ctx_.sm->GetAttr(request->inode()), response);
}

grpc::Status MasterServiceImpl::ReadDir(grpc::ServerContext* context,
                                        const ReadDirRequest* request,
                                        ReadDirResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  if (absl::Status s = ctx_.log->ReadBarrier(); !s.ok()) return Reply(context, s);
  uint32_t limit = request->limit() == 0 ? kDefaultReadDirPage
                                         : std::min(request->limit(), kMaxReadDirPage);
  bool has_more = false;
  const std::optional<Caller> caller = CallerOf(context, *request);
  auto entries = ctx_.sm->ReadDir(request->inode(), request->start_after(), limit, &has_more,
                                  OrNull(caller));
  if (!entries.ok()) return Reply(context, entries.status());
  for (auto& entry : *entries) {
    auto* out = response->add_entries();
    out->set_name(entry.name);
    *out->mutable_attr() = std::move(entry.attr);
  }
  response->set_has_more(has_more);
  response->set_applied_index(ctx_.sm->applied_index());
  return grpc::Status::OK;
}

grpc::Status MasterServiceImpl::GetExtents(grpc::ServerContext* context,
                                           const GetExtentsRequest* request,
                                           GetExtentsResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  if (absl::Status s = ctx_.log->ReadBarrier(); !s.ok()) return Reply(context, s);
  const std::optional<Caller> caller = CallerOf(context, *request);
  auto result = ctx_.sm->GetExtents(request->inode(), request->offset(), request->length(),
                                    OrNull(caller));
  if (!result.ok()) return Reply(context, result.status());
  *response->mutable_attr() = result->attr;
  response->set_applied_index(ctx_.sm->applied_index());
  for (const Extent& e : result->extents) *response->add_extents() = e;
  for (const ChunkInfo& chunk : result->chunks) {
    ChunkLocation* location = response->add_chunks();
    location->set_chunk_id(chunk.chunk_id());
    location->set_length(chunk.length());
    // Live replicas first; a node the master has not heard from since it started is unknown.
    std::vector<DatanodeInfo> live, dead;
    for (const std::string& id : chunk.replicas()) {
      auto info = ctx_.datanodes->Find(id);
      if (!info) continue;
      (ctx_.datanodes->IsLive(id) ? live : dead).push_back(*info);
    }
    for (auto& info : live) *location->add_replicas() = info;
    for (auto& info : dead) *location->add_replicas() = info;
  }
  return grpc::Status::OK;
}

grpc::Status MasterServiceImpl::Watch(grpc::ServerContext* context, const WatchRequest*,
                                      grpc::ServerWriter<WatchEvent>* writer) {
  if (ctx_.watch == nullptr) return Reply(context, absl::UnimplementedError("no change feed"));
  if (!ctx_.log->IsLeader()) return Reply(context, absl::UnavailableError("not the leader"));
  absl::Status status = ctx_.watch->Serve(
      [writer](const WatchEvent& event) { return writer->Write(event); },
      [context] { return context->IsCancelled(); });
  return Reply(context, status);
}

grpc::Status MasterServiceImpl::StatFs(grpc::ServerContext* context, const Empty*,
                                       StatFsResponse* response) {
  for (const DatanodeStatus& node : ctx_.datanodes->List()) {
    if (!node.live()) continue;
    response->set_capacity_bytes(response->capacity_bytes() + node.capacity_bytes());
    response->set_free_bytes(response->free_bytes() + node.free_bytes());
    response->set_used_bytes(response->used_bytes() + node.used_bytes());
    response->set_live_datanodes(response->live_datanodes() + 1);
  }
  response->set_inodes(ctx_.sm->inode_count());
  response->set_root_squashed(SquashesRoot(context));
  return grpc::Status::OK;
}

// ---- mutations ----

grpc::Status MasterServiceImpl::Mkdir(grpc::ServerContext* context, const MkdirRequest* request,
                                      AttrResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  absl::StatusOr<uint64_t> inode = NewInodeId(request->inode());
  if (!inode.ok()) return Reply(context, inode.status());
  return RunForAttr(context, request->session(), MkdirCommand(*request, *inode),
                    CallerOf(context, *request), response, request->parent());
}

absl::StatusOr<uint64_t> MasterServiceImpl::NewInodeId(uint64_t requested) {
  // A client's own id (from ReserveInodes) is checked when the command is applied.
  if (requested != 0) return requested;
  return inode_ids_.Next();
}

grpc::Status MasterServiceImpl::ReserveInodes(grpc::ServerContext* context,
                                              const ReserveInodesRequest* request,
                                              ReserveInodesResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  Command command;
  command.mutable_reserve_ids()->set_kind(ReserveIdsCmd::KIND_INODE);
  command.mutable_reserve_ids()->set_count(request->count());
  absl::StatusOr<CommandResult> result = Run(Session(), std::move(command));
  if (!result.ok()) return Reply(context, result.status());
  response->set_first(result->first_id());
  response->set_count(request->count());
  return grpc::Status::OK;
}

grpc::Status MasterServiceImpl::Create(grpc::ServerContext* context, const CreateRequest* request,
                                       AttrResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  absl::StatusOr<uint64_t> inode = NewInodeId(request->inode());
  if (!inode.ok()) return Reply(context, inode.status());
  return RunForAttr(context, request->session(), CreateCommand(*request, *inode),
                    CallerOf(context, *request), response, request->parent());
}

grpc::Status MasterServiceImpl::Symlink(grpc::ServerContext* context,
                                        const SymlinkRequest* request, AttrResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  absl::StatusOr<uint64_t> inode = inode_ids_.Next();
  if (!inode.ok()) return Reply(context, inode.status());
  Command command;
  SymlinkCmd* cmd = command.mutable_symlink();
  cmd->set_parent(request->parent());
  cmd->set_name(request->name());
  cmd->set_inode(*inode);
  cmd->set_target(request->target());
  cmd->set_uid(request->uid());
  cmd->set_gid(request->gid());
  return RunForAttr(context, request->session(), std::move(command),
                    CallerOf(context, *request), response, request->parent());
}

grpc::Status MasterServiceImpl::Link(grpc::ServerContext* context, const LinkRequest* request,
                                     AttrResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  Command command;
  LinkCmd* cmd = command.mutable_link();
  cmd->set_inode(request->inode());
  cmd->set_new_parent(request->new_parent());
  cmd->set_new_name(request->new_name());
  return RunForAttr(context, request->session(), std::move(command),
                    CallerOf(context, *request), response, request->new_parent());
}

grpc::Status MasterServiceImpl::Unlink(grpc::ServerContext* context, const RemoveRequest* request,
                                       AttrResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  return RunForAttr(context, request->session(), UnlinkCommand(*request),
                    CallerOf(context, *request), response, request->parent());
}

grpc::Status MasterServiceImpl::Rmdir(grpc::ServerContext* context, const RemoveRequest* request,
                                      AttrResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  return RunForAttr(context, request->session(), RmdirCommand(*request),
                    CallerOf(context, *request), response, request->parent());
}

grpc::Status MasterServiceImpl::Rename(grpc::ServerContext* context, const RenameRequest* request,
                                       AttrResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  return RunForAttr(context, request->session(), RenameCommand(*request),
                    CallerOf(context, *request), response, request->parent(),
                    request->new_parent());
}

grpc::Status MasterServiceImpl::Batch(grpc::ServerContext* context, const BatchRequest* request,
                                      BatchResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  // Each op's command as its single call would propose it, with that call's caller.
  auto as_called = [&](Command item, const auto& sub_request) {
    if (std::optional<Caller> caller = CallerOf(context, sub_request)) {
      *item.mutable_caller() = *std::move(caller);
    }
    return item;
  };
  Command command;
  BatchCmd* batch = command.mutable_batch();
  batch->mutable_commands()->Reserve(request->ops_size());
  for (const BatchOp& op : request->ops()) {
    Command* item = batch->add_commands();
    switch (op.op_case()) {
      case BatchOp::kUnlink: *item = as_called(UnlinkCommand(op.unlink()), op.unlink()); break;
      case BatchOp::kRmdir: *item = as_called(RmdirCommand(op.rmdir()), op.rmdir()); break;
      case BatchOp::kRename: *item = as_called(RenameCommand(op.rename()), op.rename()); break;
      case BatchOp::kMkdir:
        *item = as_called(MkdirCommand(op.mkdir(), op.mkdir().inode()), op.mkdir());
        break;
      case BatchOp::kCreate:
        *item = as_called(CreateCommand(op.create(), op.create().inode()), op.create());
        break;
      case BatchOp::OP_NOT_SET: break;  // refused by ValidateRequest
    }
  }
  auto result = Run(request->session(), std::move(command));
  if (!result.ok()) return Reply(context, result.status());
  response->mutable_results()->Reserve(result->items_size());
  std::vector<uint64_t> dirs;
  for (int i = 0; i < result->items_size(); ++i) {
    const CommandResult& item = result->items(i);
    BatchOpResult* out = response->add_results();
    out->set_code(item.code());
    out->set_message(item.message());
    out->set_posix_errno(item.posix_errno());
    if (item.code() != 0) continue;
    const BatchOp& op = request->ops(i);
    if (op.has_create() || op.has_mkdir()) *out->mutable_attr() = item.attr();
    switch (op.op_case()) {
      case BatchOp::kUnlink: dirs.push_back(op.unlink().parent()); break;
      case BatchOp::kRmdir: dirs.push_back(op.rmdir().parent()); break;
      case BatchOp::kMkdir: dirs.push_back(op.mkdir().parent()); break;
      case BatchOp::kCreate: dirs.push_back(op.create().parent()); break;
      case BatchOp::kRename:
        dirs.push_back(op.rename().parent());
        dirs.push_back(op.rename().new_parent());
        break;
      case BatchOp::OP_NOT_SET: break;
    }
  }
  response->set_index(result->applied_index());
  // As RunForAttr's: read after the batch was applied here, at least as new as its changes.
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  for (uint64_t dir : dirs) {
    absl::StatusOr<Attr> attr = ctx_.sm->GetAttr(dir);
    if (attr.ok()) *response->add_dir_attrs() = *std::move(attr);
  }
  return grpc::Status::OK;
}

grpc::Status MasterServiceImpl::ReleaseOrphan(grpc::ServerContext* context,
                                              const ReleaseOrphanRequest* request, Empty*) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  Command command;
  command.mutable_release_orphan()->set_inode(request->inode());
  // Not checked: only the mount that kept the orphan open knows its number.
  return Reply(context, Run(request->session(), std::move(command)).status());
}

grpc::Status MasterServiceImpl::SetAttr(grpc::ServerContext* context,
                                        const SetAttrRequest* request, AttrResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  Command command;
  SetAttrCmd* cmd = command.mutable_set_attr();
  cmd->set_inode(request->inode());
  if (request->has_mode()) cmd->set_set_mode(true), cmd->set_mode(request->mode());
  if (request->has_uid()) cmd->set_set_uid(true), cmd->set_uid(request->uid());
  if (request->has_gid()) cmd->set_set_gid(true), cmd->set_gid(request->gid());
  if (request->has_size()) cmd->set_set_size(true), cmd->set_size(request->size());
  if (request->has_atime_ns()) cmd->set_set_atime(true), cmd->set_atime_ns(request->atime_ns());
  if (request->has_mtime_ns()) cmd->set_set_mtime(true), cmd->set_mtime_ns(request->mtime_ns());
  cmd->set_times_are_now(request->times_are_now());
  return RunForAttr(context, request->session(), std::move(command),
                    CallerOf(context, *request), response);
}

grpc::Status MasterServiceImpl::AllocateChunk(grpc::ServerContext* context,
                                              const AllocateChunkRequest* request,
                                              AllocateChunkResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  if (!ctx_.log->IsLeader()) return Reply(context, absl::UnavailableError("not the leader"));
  // A chunk is only written to be committed, which safe mode would refuse.
  if (absl::Status s = CheckWritable(); !s.ok()) return Reply(context, s);
  std::set<std::string> exclude(request->exclude_datanodes().begin(),
                                request->exclude_datanodes().end());
  auto pipeline = ctx_.datanodes->Place(ctx_.replication, request->size_hint(), exclude);
  if (!pipeline.ok()) return Reply(context, pipeline.status());
  auto chunk_id = chunk_ids_.Next();
  if (!chunk_id.ok()) return Reply(context, chunk_id.status());
  response->set_chunk_id(*chunk_id);
  for (auto& node : *pipeline) *response->add_pipeline() = std::move(node);
  // Chunks the client reserves for its next small writes, placed one by one as if asked for
  // separately. Best effort: the first failure ends them, the client then asks again later.
  for (uint32_t i = 0; i < request->extra(); ++i) {
    auto more_pipeline = ctx_.datanodes->Place(ctx_.replication, request->size_hint(), exclude);
    if (!more_pipeline.ok()) break;
    auto more_id = chunk_ids_.Next();
    if (!more_id.ok()) break;
    AllocatedChunk* extra = response->add_extra();
    extra->set_chunk_id(*more_id);
    for (auto& node : *more_pipeline) *extra->add_pipeline() = std::move(node);
  }
  return grpc::Status::OK;
}

grpc::Status MasterServiceImpl::CommitWrite(grpc::ServerContext* context,
                                            const CommitWriteRequest* request,
                                            CommitWriteResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  Command command;
  CommitWriteCmd* cmd = command.mutable_commit_write();
  cmd->set_inode(request->inode());
  cmd->set_append(request->append());
  cmd->set_offset(request->offset());
  *cmd->mutable_extents() = request->extents();
  *cmd->mutable_new_chunks() = request->new_chunks();
  cmd->set_length(request->length());
  auto result = Run(request->session(), std::move(command), CallerOf(context, *request));
  if (!result.ok()) return Reply(context, result.status());
  *response->mutable_attr() = result->attr();
  response->set_write_offset(result->write_offset());
  response->set_applied_index(result->applied_index());
  return grpc::Status::OK;
}

grpc::Status MasterServiceImpl::ReportBadReplica(grpc::ServerContext* context,
                                                 const ReportBadReplicaRequest* request, Empty*) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  DFS_LOG(WARNING) << "datanode " << request->datanode_id() << " has a bad replica of chunk "
                   << request->chunk_id() << ": " << request->reason();
  {
    std::lock_guard<std::mutex> lock(mu_);
    corrupt_[request->chunk_id()].insert(request->datanode_id());
    ++corrupt_reports_;
  }
  // Forget the bad copy (unless it is the last one) and have the datanode delete it.
  Command command;
  command.mutable_drop_replica()->set_chunk_id(request->chunk_id());
  command.mutable_drop_replica()->set_datanode_id(request->datanode_id());
  auto result = Run(Session(), std::move(command));
  if (result.ok()) ctx_.datanodes->QueueDelete(request->datanode_id(), request->chunk_id());
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::set<std::string>& kept = bad_kept_[request->chunk_id()];
    if (result.ok()) {
      kept.erase(request->datanode_id());
    } else {
      kept.insert(request->datanode_id());
    }
    if (kept.empty()) bad_kept_.erase(request->chunk_id());
  }
  return Reply(context, result.status());
}

// ---- datanodes ----

grpc::Status MasterServiceImpl::Heartbeat(grpc::ServerContext* context,
                                          const HeartbeatRequest* request,
                                          HeartbeatResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  bool want_report = ctx_.datanodes->Heartbeat(*request);
  response->set_send_chunk_report(want_report);
  for (uint64_t id : ctx_.datanodes->TakeDeletes(request->node().id())) {
    response->add_delete_chunks(id);
  }
  return grpc::Status::OK;
}

// ---- admin ----

grpc::Status MasterServiceImpl::RaftStatus(grpc::ServerContext*, const Empty*,
                                           RaftStatusResponse* response) {
  *response = ctx_.raft->Status();
  response->set_http_address(ctx_.http_address);
  return grpc::Status::OK;
}

grpc::Status MasterServiceImpl::RaftAddMember(grpc::ServerContext* context,
                                              const RaftMemberRequest* request, Empty*) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  return Reply(context, ctx_.raft->AddMember(request->address()));
}

grpc::Status MasterServiceImpl::RaftRemoveMember(grpc::ServerContext* context,
                                                 const RaftMemberRequest* request, Empty*) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  return Reply(context, ctx_.raft->RemoveMember(request->address()));
}

grpc::Status MasterServiceImpl::RaftTransferLeader(grpc::ServerContext* context,
                                                   const RaftMemberRequest* request, Empty*) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  return Reply(context, ctx_.raft->TransferLeadership(request->address()));
}

grpc::Status MasterServiceImpl::RaftSnapshot(grpc::ServerContext* context, const Empty*, Empty*) {
  return Reply(context, ctx_.raft->SnapshotNow());
}

grpc::Status MasterServiceImpl::SetBlockedPeers(grpc::ServerContext* context,
                                                const BlockedPeersRequest* request, Empty*) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  if (!ctx_.enable_test_hooks) {
    return ToGrpcStatus(absl::PermissionDeniedError("test hooks are off (--enable_test_hooks)"));
  }
  ctx_.raft->SetBlockedPeers({request->addresses().begin(), request->addresses().end()});
  return grpc::Status::OK;
}

grpc::Status MasterServiceImpl::ListDatanodes(grpc::ServerContext*, const Empty*,
                                              ListDatanodesResponse* response) {
  for (auto& node : ctx_.datanodes->List()) *response->add_datanodes() = std::move(node);
  return grpc::Status::OK;
}

grpc::Status MasterServiceImpl::ChunkReplicas(grpc::ServerContext* context,
                                              const ChunkReplicasRequest* request,
                                              ChunkReplicasResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  auto chunk = ctx_.sm->GetChunk(request->chunk_id());
  if (!chunk.ok()) return Reply(context, chunk.status());
  *response->mutable_chunk() = *chunk;
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& id : corrupt_[request->chunk_id()]) response->add_corrupt_replicas(id);
  return grpc::Status::OK;
}

grpc::Status MasterServiceImpl::ClusterStatus(grpc::ServerContext*, const Empty*,
                                              ClusterStatusResponse* response) {
  response->set_applied_index(ctx_.sm->applied_index());
  response->set_inodes(ctx_.sm->inode_count());
  response->set_chunks(ctx_.sm->chunk_count());
  for (const DatanodeStatus& node : ctx_.datanodes->List()) {
    if (node.live()) {
      response->set_live_datanodes(response->live_datanodes() + 1);
    } else {
      response->set_dead_datanodes(response->dead_datanodes() + 1);
    }
  }
  if (ctx_.maintenance != nullptr) ctx_.maintenance->FillStatus(response);
  response->set_safe_mode(ctx_.sm->safe_mode());
  response->set_corrupt_chunks(KeptBadReplicas().size());
  std::lock_guard<std::mutex> lock(mu_);
  response->set_corrupt_replica_reports(corrupt_reports_);
  return grpc::Status::OK;
}

// ---- maintenance (master/maintenance/maintenance.h) ----

grpc::Status MasterServiceImpl::Decommission(grpc::ServerContext* context,
                                             const DecommissionRequest* request,
                                             DecommissionResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  if (ctx_.maintenance == nullptr) return Reply(context, absl::UnimplementedError("no maintenance"));
  auto result = ctx_.maintenance->SetDecommission(request->datanode(), /*decommission=*/true);
  if (result.ok()) *response = *result;
  return Reply(context, result.status());
}

grpc::Status MasterServiceImpl::Recommission(grpc::ServerContext* context,
                                             const DecommissionRequest* request,
                                             DecommissionResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  if (ctx_.maintenance == nullptr) return Reply(context, absl::UnimplementedError("no maintenance"));
  auto result = ctx_.maintenance->SetDecommission(request->datanode(), /*decommission=*/false);
  if (result.ok()) *response = *result;
  return Reply(context, result.status());
}

grpc::Status MasterServiceImpl::Balance(grpc::ServerContext* context,
                                        const BalanceRequest* request, BalanceResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return Reply(context, s);
  if (ctx_.maintenance == nullptr) return Reply(context, absl::UnimplementedError("no maintenance"));
  auto result = ctx_.maintenance->Balance(request->threshold());
  if (result.ok()) *response = *result;
  return Reply(context, result.status());
}

}  // namespace dfs
