// The master's gRPC services: the client API (MasterService), heartbeats (DatanodeRegistry) and
// the admin API (AdminService). Mutations become commands in the CommandLog; reads go to the
// state machine after a read barrier. gRPC calls these from many threads; every member they
// use is thread-safe.
#pragma once

#include <map>
#include <optional>
#include <mutex>
#include <set>
#include <string>

#include "common/clock.h"
#include "master/command_log.h"
#include "master/datanode_manager.h"
#include "master/id_allocator.h"
#include "master/maintenance/maintenance.h"
#include "master/raft_command_log.h"
#include "master/state_machine.h"
#include "master/watch_hub.h"
#include "proto/master.grpc.pb.h"

namespace dfs {

struct MasterContext {
  StateMachine* sm;
  CommandLog* log;
  RaftCommandLog* raft;  // the same log, for membership and status
  bool enable_test_hooks = false;
  DatanodeManager* datanodes;
  Clock* clock;
  int replication = 3;
  Maintenance* maintenance = nullptr;  // background tasks (master/maintenance/); may be null
  std::string http_address;  // this master's HTTP server, reported by RaftStatus; "" if none
  // Callers with a client credential who say they are uid 0 act as nobody (65534).
  bool root_squash = false;
  WatchHub* watch = nullptr;  // the change feed (Watch); null: not served
};

class MasterServiceImpl final : public MasterService::Service,
                                public DatanodeRegistry::Service,
                                public AdminService::Service {
 public:
  explicit MasterServiceImpl(MasterContext context);

  // MasterService
  grpc::Status Lookup(grpc::ServerContext*, const LookupRequest*, AttrResponse*) override;
  grpc::Status LookupPath(grpc::ServerContext*, const LookupPathRequest*, AttrResponse*) override;
  grpc::Status GetAttr(grpc::ServerContext*, const GetAttrRequest*, AttrResponse*) override;
  grpc::Status ReadDir(grpc::ServerContext*, const ReadDirRequest*, ReadDirResponse*) override;
  grpc::Status Mkdir(grpc::ServerContext*, const MkdirRequest*, AttrResponse*) override;
  grpc::Status Create(grpc::ServerContext*, const CreateRequest*, AttrResponse*) override;
  grpc::Status Symlink(grpc::ServerContext*, const SymlinkRequest*, AttrResponse*) override;
  grpc::Status Link(grpc::ServerContext*, const LinkRequest*, AttrResponse*) override;
  grpc::Status Unlink(grpc::ServerContext*, const RemoveRequest*, AttrResponse*) override;
  grpc::Status Rmdir(grpc::ServerContext*, const RemoveRequest*, AttrResponse*) override;
  grpc::Status Rename(grpc::ServerContext*, const RenameRequest*, AttrResponse*) override;
  grpc::Status Batch(grpc::ServerContext*, const BatchRequest*, BatchResponse*) override;
  grpc::Status ReserveInodes(grpc::ServerContext*, const ReserveInodesRequest*,
                             ReserveInodesResponse*) override;
  grpc::Status ReleaseOrphan(grpc::ServerContext*, const ReleaseOrphanRequest*, Empty*) override;
  grpc::Status SetAttr(grpc::ServerContext*, const SetAttrRequest*, AttrResponse*) override;
  grpc::Status AllocateChunk(grpc::ServerContext*, const AllocateChunkRequest*,
                             AllocateChunkResponse*) override;
  grpc::Status CommitWrite(grpc::ServerContext*, const CommitWriteRequest*,
                           CommitWriteResponse*) override;
  grpc::Status GetExtents(grpc::ServerContext*, const GetExtentsRequest*,
                          GetExtentsResponse*) override;
  grpc::Status ReportBadReplica(grpc::ServerContext*, const ReportBadReplicaRequest*,
                                Empty*) override;
  grpc::Status StatFs(grpc::ServerContext*, const Empty*, StatFsResponse*) override;
  grpc::Status Watch(grpc::ServerContext*, const WatchRequest*,
                     grpc::ServerWriter<WatchEvent>*) override;

  // DatanodeRegistry
  grpc::Status Heartbeat(grpc::ServerContext*, const HeartbeatRequest*,
                         HeartbeatResponse*) override;

  // AdminService
  grpc::Status RaftStatus(grpc::ServerContext*, const Empty*, RaftStatusResponse*) override;
  grpc::Status RaftAddMember(grpc::ServerContext*, const RaftMemberRequest*, Empty*) override;
  grpc::Status RaftRemoveMember(grpc::ServerContext*, const RaftMemberRequest*, Empty*) override;
  grpc::Status RaftTransferLeader(grpc::ServerContext*, const RaftMemberRequest*, Empty*) override;
  grpc::Status RaftSnapshot(grpc::ServerContext*, const Empty*, Empty*) override;
  grpc::Status SetBlockedPeers(grpc::ServerContext*, const BlockedPeersRequest*, Empty*) override;
  grpc::Status ListDatanodes(grpc::ServerContext*, const Empty*, ListDatanodesResponse*) override;
  grpc::Status ChunkReplicas(grpc::ServerContext*, const ChunkReplicasRequest*,
                             ChunkReplicasResponse*) override;
  grpc::Status ClusterStatus(grpc::ServerContext*, const Empty*, ClusterStatusResponse*) override;
  grpc::Status Decommission(grpc::ServerContext*, const DecommissionRequest*,
                            DecommissionResponse*) override;
  grpc::Status Recommission(grpc::ServerContext*, const DecommissionRequest*,
                            DecommissionResponse*) override;
  grpc::Status Balance(grpc::ServerContext*, const BalanceRequest*, BalanceResponse*) override;
  // Merge, SafeMode and CheckFiles live in master_service_admin.cc.
  grpc::Status Merge(grpc::ServerContext*, const Empty*, MergeResponse*) override;
  grpc::Status SafeMode(grpc::ServerContext*, const SafeModeRequest*, SafeModeResponse*) override;
  grpc::Status CheckFiles(grpc::ServerContext*, const CheckFilesRequest*,
                          CheckFilesResponse*) override;

 private:
  // The caller a request states, root squashed if --root_squash and the call has a client
  // credential; nullopt without one (not checked).
  std::optional<Caller> EffectiveCaller(grpc::ServerContext* context, const Caller* stated);
  // The inode id for a new inode: the client's own (`requested`), else the leader's next.
  absl::StatusOr<uint64_t> NewInodeId(uint64_t requested);
  // Whether this call's uid 0 acts as nobody.
  bool SquashesRoot(grpc::ServerContext* context);
  template <typename Request>
  std::optional<Caller> CallerOf(grpc::ServerContext* context, const Request& request) {
    return EffectiveCaller(context, request.has_caller() ? &request.caller() : nullptr);
  }
  static const Caller* OrNull(const std::optional<Caller>& caller) {
    return caller ? &*caller : nullptr;
  }
  // Proposes `command` under the request's session, as `caller` (Apply checks permissions
  // against it); returns the result or its error.
  absl::StatusOr<CommandResult> Run(const Session& session, Command command,
                                    const std::optional<Caller>& caller = std::nullopt);
  // Runs `command` and answers with the inode it created or changed (if any); with `parent`
  // (not 0), a directory the command changes, also with that directory's attributes afterwards,
  // and likewise with `new_parent`, the other directory of a rename (if not `parent`).
  grpc::Status RunForAttr(grpc::ServerContext* context, const Session& session, Command command,
                          const std::optional<Caller>& caller, AttrResponse* response,
                          uint64_t parent = 0, uint64_t new_parent = 0);
  // EROFS if the leader is in safe mode (confirmed after a read barrier, so that a new leader
  // still applying an earlier `safemode leave` does not refuse).
  absl::Status CheckWritable();
  // Replicas reported damaged that are still recorded, by chunk (a snapshot).
  std::map<uint64_t, std::set<std::string>> KeptBadReplicas();
  // Converts to a gRPC status, adding the leader hint when this master is not the leader.
  grpc::Status Reply(grpc::ServerContext* context, const absl::Status& status);
  grpc::Status ReplyAttr(grpc::ServerContext* context, const absl::StatusOr<Attr>& attr,
                         AttrResponse* response);

  MasterContext ctx_;
  IdAllocator inode_ids_;
  IdAllocator chunk_ids_;
  std::mutex mu_;
  std::map<uint64_t, std::set<std::string>> corrupt_;  // guarded by mu_: chunk -> datanode ids
  uint64_t corrupt_reports_ = 0;                       // guarded by mu_
  // Guarded by mu_: reported damaged but not dropped from the record (the last copy, or the
  // drop failed), chunk -> datanode ids. What fsck and status call corrupt.
  std::map<uint64_t, std::set<std::string>> bad_kept_;
};

}  // namespace dfs
