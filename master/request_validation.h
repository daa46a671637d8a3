// Checks of every request the master's gRPC services accept (MasterService, DatanodeRegistry,
// AdminService), made at the top of each handler before the request touches any state or the
// command log: names, symlink targets, ids, sizes and offsets, extents, repeated-field counts,
// addresses and admin arguments. A failure is InvalidArgument with a message naming the field;
// where a POSIX call maps it, the status carries its errno (ENAMETOOLONG for a long name, EFBIG
// for a size past kMaxFileBytes), as the state machine's own checks do.
//
// These are the structural rules a request must meet whatever the state; the state machine checks
// again what depends on the state (does the parent exist, is the extent inside its chunk), and
// Apply never trusts a command either (a log entry may come from a buggy or older leader).
//
// Pure functions; thread-safe.
#pragma once

#include "absl/status/status.h"
#include "proto/master.pb.h"

namespace dfs {

// Extents or new chunks one Create or CommitWrite may carry: a put of a 16 TiB file in 64 MiB
// chunks. Well past what kMaxMessageBytes lets through anyway; bounds the work of one command.
inline constexpr int kMaxExtentsPerRequest = 1 << 18;
// Chunk ids one heartbeat may report.
inline constexpr int kMaxReportedChunks = 1 << 22;
// Files one CheckFiles call may name.
inline constexpr int kMaxCheckFiles = 1000;
// Datanodes one AllocateChunk may exclude; addresses one SetBlockedPeers may block.
inline constexpr int kMaxListedNodes = 1000;
// Chunks one AllocateChunk may allocate beyond the one asked for (client reservations).
inline constexpr int kMaxExtraChunks = 64;
// Ops one Batch may carry (dfs-fuse's write-behind sends at most this many at once).
inline constexpr int kMaxBatchOps = 1024;
// Inode ids one ReserveInodes may reserve.
inline constexpr int kMaxReservedInodes = 4096;
// A LookupPath path (PATH_MAX) and a bad-replica report's reason (it is logged).
inline constexpr size_t kMaxPathBytes = 4096;
inline constexpr size_t kMaxReasonBytes = 4096;

// MasterService
absl::Status ValidateRequest(const LookupRequest& request);
absl::Status ValidateRequest(const LookupPathRequest& request);
absl::Status ValidateRequest(const GetAttrRequest& request);
absl::Status ValidateRequest(const ReadDirRequest& request);
absl::Status ValidateRequest(const MkdirRequest& request);
absl::Status ValidateRequest(const CreateRequest& request);
absl::Status ValidateRequest(const SymlinkRequest& request);
absl::Status ValidateRequest(const LinkRequest& request);
absl::Status ValidateRequest(const RemoveRequest& request);
absl::Status ValidateRequest(const RenameRequest& request);
// 1..kMaxBatchOps ops, each set and valid as its single call's request (a mkdir with its inode).
absl::Status ValidateRequest(const BatchRequest& request);
absl::Status ValidateRequest(const ReserveInodesRequest& request);
absl::Status ValidateRequest(const ReleaseOrphanRequest& request);
absl::Status ValidateRequest(const SetAttrRequest& request);
absl::Status ValidateRequest(const AllocateChunkRequest& request);
absl::Status ValidateRequest(const CommitWriteRequest& request);
absl::Status ValidateRequest(const GetExtentsRequest& request);
absl::Status ValidateRequest(const ReportBadReplicaRequest& request);
// DatanodeRegistry
absl::Status ValidateRequest(const HeartbeatRequest& request);
// AdminService
absl::Status ValidateRequest(const RaftMemberRequest& request);
absl::Status ValidateRequest(const BlockedPeersRequest& request);
absl::Status ValidateRequest(const ChunkReplicasRequest& request);
absl::Status ValidateRequest(const DecommissionRequest& request);
absl::Status ValidateRequest(const BalanceRequest& request);
absl::Status ValidateRequest(const SafeModeRequest& request);
absl::Status ValidateRequest(const CheckFilesRequest& request);

}  // namespace dfs
