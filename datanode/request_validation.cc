#include "datanode/request_validation.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/validation.h"

namespace dfs {

absl::Status ValidateWriteHeader(const WriteChunkRequest& first) {
  if (!first.has_header()) {
    return absl::InvalidArgumentError("the first WriteChunk message must carry the header");
  }
  DFS_RETURN_IF_ERROR(CheckNonZero(first.header().chunk_id(), "chunk id"));
  // This node is one of the chain too.
  DFS_RETURN_IF_ERROR(
      CheckCount(first.header().downstream_size(), kMaxReplicas - 1, "downstream datanodes"));
  for (const std::string& address : first.header().downstream()) {
    DFS_RETURN_IF_ERROR(CheckHostPort(address, "downstream address"));
  }
  return absl::OkStatus();
}

absl::Status ValidateWritePiece(const WriteChunkRequest& piece, bool first, uint64_t written) {
  if (!first && piece.has_header()) {
    return absl::InvalidArgumentError("WriteChunk header repeated mid-stream");
  }
  return CheckRange(written, piece.data().size(), kMaxChunkBytes, "chunk data");
}

absl::Status ValidateRequest(const PutChunkRequest& request) {
  DFS_RETURN_IF_ERROR(CheckNonZero(request.chunk_id(), "chunk id"));
  if (request.data().empty()) return absl::InvalidArgumentError("PutChunk without data");
  return CheckRange(0, request.data().size(), kMaxPutChunkBytes, "chunk data");
}

absl::Status ValidateRequest(const ReadChunkRequest& request) {
  DFS_RETURN_IF_ERROR(CheckNonZero(request.chunk_id(), "chunk id"));
  // Length 0 means "to the end"; any range is fine as long as it does not wrap.
  return CheckRange(request.offset(), request.length(), std::numeric_limits<uint64_t>::max(),
                    "read range");
}

absl::Status ValidateRequest(const DeleteChunksRequest& request) {
  DFS_RETURN_IF_ERROR(CheckCount(request.chunk_ids_size(), kMaxDeleteChunks, "chunk ids"));
  for (uint64_t id : request.chunk_ids()) DFS_RETURN_IF_ERROR(CheckNonZero(id, "chunk id"));
  return absl::OkStatus();
}

absl::Status ValidateRequest(const ReplicateChunkRequest& request) {
  DFS_RETURN_IF_ERROR(
      CheckChunk(request.chunk_id(), request.length(), request.sources_size(), "sources"));
  for (const std::string& source : request.sources()) {
    DFS_RETURN_IF_ERROR(CheckHostPort(source, "source address"));
  }
  return absl::OkStatus();
}

}  // namespace dfs
