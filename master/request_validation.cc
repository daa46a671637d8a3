#include "master/request_validation.h"

#include <cmath>
#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/status.h"
#include "common/validation.h"
#include "master/ops.h"

namespace dfs {
namespace {

using google::protobuf::RepeatedPtrField;

absl::Status ValidateCaller(const Caller& caller) {
  return CheckCount(caller.groups_size(), kMaxCallerGroups, "caller groups");
}

// The data of a Create or CommitWrite: `length` bytes, extents relative to the write's start.
// Whether the extents are sorted and disjoint and their chunks exist is the state machine's
// business (AddNewChunks); here each field must make sense on its own.
absl::Status ValidateContent(const RepeatedPtrField<Extent>& extents,
                             const RepeatedPtrField<ChunkInfo>& new_chunks, uint64_t length) {
  DFS_RETURN_IF_ERROR(CheckCount(extents.size(), kMaxExtentsPerRequest, "extents"));
  DFS_RETURN_IF_ERROR(CheckCount(new_chunks.size(), kMaxExtentsPerRequest, "new chunks"));
  for (const Extent& e : extents) {
    DFS_RETURN_IF_ERROR(CheckNonZero(e.chunk_id(), "extent chunk id"));
    DFS_RETURN_IF_ERROR(CheckNonZero(e.length(), "extent length"));
    DFS_RETURN_IF_ERROR(CheckRange(e.file_offset(), e.length(), length, "extent"));
    DFS_RETURN_IF_ERROR(
        CheckRange(e.chunk_offset(), e.length(), kMaxChunkBytes, "extent's chunk range"));
  }
  for (const ChunkInfo& chunk : new_chunks) {
    DFS_RETURN_IF_ERROR(
        CheckChunk(chunk.chunk_id(), chunk.length(), chunk.replicas_size(), "replicas"));
    for (const std::string& id : chunk.replicas()) {
      DFS_RETURN_IF_ERROR(CheckToken(id, kMaxTokenBytes, "replica datanode id"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateEntry(uint64_t parent, const std::string& name) {
  DFS_RETURN_IF_ERROR(CheckNonZero(parent, "parent inode"));
  return ValidateName(name);
}

}  // namespace

absl::Status ValidateRequest(const LookupRequest& request) {
  DFS_RETURN_IF_ERROR(ValidateCaller(request.caller()));
  return ValidateEntry(request.parent(), request.name());
}

absl::Status ValidateRequest(const LookupPathRequest& request) {
  DFS_RETURN_IF_ERROR(ValidateCaller(request.caller()));
  const std::string& path = request.path();
  if (path.empty() || path[0] != '/') return absl::InvalidArgumentError("path must be absolute");
  if (path.size() > kMaxPathBytes) {
    return absl::InvalidArgumentError(absl::StrCat("path longer than ", kMaxPathBytes, " bytes"));
  }
  if (path.find('\0') != std::string::npos) return absl::InvalidArgumentError("path contains NUL");
  return absl::OkStatus();
}

absl::Status ValidateRequest(const GetAttrRequest& request) {
  return CheckNonZero(request.inode(), "inode");
}

absl::Status ValidateRequest(const ReadDirRequest& request) {
  DFS_RETURN_IF_ERROR(ValidateCaller(request.caller()));
  DFS_RETURN_IF_ERROR(CheckNonZero(request.inode(), "inode"));
  if (!request.start_after().empty()) return ValidateName(request.start_after());
  return absl::OkStatus();
}

absl::Status ValidateRequest(const MkdirRequest& request) {
  DFS_RETURN_IF_ERROR(ValidateCaller(request.caller()));
  return ValidateEntry(request.parent(), request.name());
}

absl::Status ValidateRequest(const CreateRequest& request) {
  DFS_RETURN_IF_ERROR(ValidateCaller(request.caller()));
  DFS_RETURN_IF_ERROR(ValidateEntry(request.parent(), request.name()));
  DFS_RETURN_IF_ERROR(CheckFileRange(0, request.size()));
  return ValidateContent(request.extents(), request.new_chunks(), request.size());
}

absl::Status ValidateRequest(const SymlinkRequest& request) {
  DFS_RETURN_IF_ERROR(ValidateCaller(request.caller()));
  DFS_RETURN_IF_ERROR(ValidateEntry(request.parent(), request.name()));
  return ValidateSymlinkTarget(request.target());
}

absl::Status ValidateRequest(const LinkRequest& request) {
  DFS_RETURN_IF_ERROR(ValidateCaller(request.caller()));
  DFS_RETURN_IF_ERROR(CheckNonZero(request.inode(), "inode"));
  return ValidateEntry(request.new_parent(), request.new_name());
}

absl::Status ValidateRequest(const RemoveRequest& request) {
  DFS_RETURN_IF_ERROR(ValidateCaller(request.caller()));
  return ValidateEntry(request.parent(), request.name());
}

absl::Status ValidateRequest(const RenameRequest& request) {
  DFS_RETURN_IF_ERROR(ValidateCaller(request.caller()));
  DFS_RETURN_IF_ERROR(ValidateEntry(request.parent(), request.name()));
  return ValidateEntry(request.new_parent(), request.new_name());
}

absl::Status ValidateRequest(const BatchRequest& request) {
  if (request.ops().empty()) return absl::InvalidArgumentError("empty batch");
  DFS_RETURN_IF_ERROR(CheckCount(request.ops_size(), kMaxBatchOps, "batch ops"));
  for (int i = 0; i < request.ops_size(); ++i) {
    const BatchOp& op = request.ops(i);
    absl::Status status;
    switch (op.op_case()) {
      case BatchOp::kUnlink: status = ValidateRequest(op.unlink()); break;
      case BatchOp::kRmdir: status = ValidateRequest(op.rmdir()); break;
      case BatchOp::kRename: status = ValidateRequest(op.rename()); break;
      case BatchOp::kMkdir:
        status = op.mkdir().inode() == 0
                     ? absl::InvalidArgumentError("a batched mkdir names its inode id")
                     : ValidateRequest(op.mkdir());
        break;
      case BatchOp::kCreate: {
        const CreateRequest& create = op.create();
        status = create.inode() == 0 || !create.exclusive() || create.replace()
                     ? absl::InvalidArgumentError(
                           "a batched create names its inode id and is exclusive")
                     : ValidateRequest(create);
        break;
      }
      case BatchOp::OP_NOT_SET: status = absl::InvalidArgumentError("no op set"); break;
    }
    if (!status.ok()) return PrefixMessage(absl::StrCat("batch op ", i, ": "), status);
  }
  return absl::OkStatus();
}

absl::Status ValidateRequest(const ReserveInodesRequest& request) {
  if (request.count() == 0) return absl::InvalidArgumentError("count must be at least 1");
  return CheckCount(static_cast<int>(std::min<uint32_t>(request.count(), kMaxReservedInodes + 1)),
                    kMaxReservedInodes, "inode ids");
}

absl::Status ValidateRequest(const ReleaseOrphanRequest& request) {
  return CheckNonZero(request.inode(), "inode");
}

absl::Status ValidateRequest(const SetAttrRequest& request) {
  DFS_RETURN_IF_ERROR(ValidateCaller(request.caller()));
  DFS_RETURN_IF_ERROR(CheckNonZero(request.inode(), "inode"));
  if (request.has_size()) DFS_RETURN_IF_ERROR(CheckFileRange(0, request.size()));
  return absl::OkStatus();
}

absl::Status ValidateRequest(const AllocateChunkRequest& request) {
  DFS_RETURN_IF_ERROR(CheckRange(0, request.size_hint(), kMaxChunkBytes, "size hint"));
  if (request.extra() > static_cast<uint32_t>(kMaxExtraChunks)) {
    return absl::InvalidArgumentError(absl::StrCat("more than ", kMaxExtraChunks,
                                                   " extra chunks asked for"));
  }
  DFS_RETURN_IF_ERROR(
      CheckCount(request.exclude_datanodes_size(), kMaxListedNodes, "excluded datanodes"));
  for (const std::string& id : request.exclude_datanodes()) {
    DFS_RETURN_IF_ERROR(CheckToken(id, kMaxTokenBytes, "excluded datanode id"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRequest(const CommitWriteRequest& request) {
  DFS_RETURN_IF_ERROR(ValidateCaller(request.caller()));
  DFS_RETURN_IF_ERROR(CheckNonZero(request.inode(), "inode"));
  // An append's offset is decided at apply time, which checks the end again.
  DFS_RETURN_IF_ERROR(CheckFileRange(request.append() ? 0 : request.offset(), request.length()));
  return ValidateContent(request.extents(), request.new_chunks(), request.length());
}

absl::Status ValidateRequest(const GetExtentsRequest& request) {
  DFS_RETURN_IF_ERROR(ValidateCaller(request.caller()));
  DFS_RETURN_IF_ERROR(CheckNonZero(request.inode(), "inode"));
  // Reads past the end are fine (they find no extents); only the range must not wrap.
  return CheckRange(request.offset(), request.length(), std::numeric_limits<uint64_t>::max(),
                    "range");
}

absl::Status ValidateRequest(const ReportBadReplicaRequest& request) {
  DFS_RETURN_IF_ERROR(CheckNonZero(request.chunk_id(), "chunk id"));
  DFS_RETURN_IF_ERROR(CheckToken(request.datanode_id(), kMaxTokenBytes, "datanode id"));
  if (request.reason().size() > kMaxReasonBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("reason longer than ", kMaxReasonBytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRequest(const HeartbeatRequest& request) {
  DFS_RETURN_IF_ERROR(CheckToken(request.node().id(), kMaxTokenBytes, "datanode id"));
  DFS_RETURN_IF_ERROR(CheckHostPort(request.node().address(), "datanode address"));
  if (!request.node().rack().empty()) {
    DFS_RETURN_IF_ERROR(CheckToken(request.node().rack(), kMaxTokenBytes, "rack"));
  }
  // Ids are not checked one by one: a stray file on one datanode must not make the whole node
  // look dead. An unknown id is only an orphan to the GC.
  return CheckCount(request.chunk_ids_size(), kMaxReportedChunks, "reported chunks");
}

absl::Status ValidateRequest(const RaftMemberRequest& request) {
  return CheckHostPort(request.address(), "master address");
}

absl::Status ValidateRequest(const BlockedPeersRequest& request) {
  DFS_RETURN_IF_ERROR(CheckCount(request.addresses_size(), kMaxListedNodes, "blocked peers"));
  for (const std::string& address : request.addresses()) {
    DFS_RETURN_IF_ERROR(CheckHostPort(address, "blocked peer"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRequest(const ChunkReplicasRequest& request) {
  return CheckNonZero(request.chunk_id(), "chunk id");
}

absl::Status ValidateRequest(const DecommissionRequest& request) {
  return CheckToken(request.datanode(), kMaxAddressBytes, "datanode id or address");
}

absl::Status ValidateRequest(const BalanceRequest& request) {
  // NaN compares false with everything, so it would slip through a plain range check.
  if (!std::isfinite(request.threshold()) || request.threshold() < 0 || request.threshold() >= 1) {
    return absl::InvalidArgumentError("threshold must be a fraction in [0, 1)");
  }
  return absl::OkStatus();
}

absl::Status ValidateRequest(const SafeModeRequest& request) {
  // proto3 enums are open: an unknown number parses fine and must not read as GET.
  if (!SafeModeRequest::Action_IsValid(request.action())) {
    return absl::InvalidArgumentError(absl::StrCat("unknown safe mode action ", request.action()));
  }
  return absl::OkStatus();
}

absl::Status ValidateRequest(const CheckFilesRequest& request) {
  DFS_RETURN_IF_ERROR(CheckCount(request.inodes_size(), kMaxCheckFiles, "files"));
  for (uint64_t inode : request.inodes()) DFS_RETURN_IF_ERROR(CheckNonZero(inode, "inode"));
  return absl::OkStatus();
}

}  // namespace dfs
