#include "datanode/datanode_service.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/crc32c.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/rpc.h"
#include "common/status.h"
#include "datanode/replication.h"
#include "datanode/request_validation.h"

namespace dfs {
namespace {

// Deadline for the best-effort cleanup of downstream copies after a failed write.
constexpr int64_t kCleanupTimeoutMs = 2000;

// Counts a call as active for its lifetime.
class CallGuard {
 public:
  explicit CallGuard(std::atomic<uint32_t>* count) : count_(count) {
    count_->fetch_add(1, std::memory_order_relaxed);
  }
  ~CallGuard() { count_->fetch_sub(1, std::memory_order_relaxed); }

 private:
  std::atomic<uint32_t>* count_;
};

// A status from a downstream node, with its address prepended so the client can tell which node
// of the chain failed and exclude it next time. The code is kept.
absl::Status DownstreamError(const std::string& address, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat("downstream datanode ", address, ": ", status.message()));
}

// The WriteChunk stream to the next node of a pipeline. The call inherits the upstream call's
// deadline and cancellation (ClientContext::FromServerContext): when the client gives up, the
// whole chain stops. Destroying an unfinished stream cancels it, so the downstream node aborts
// its temp file instead of committing a partial chunk.
class DownstreamStream {
 public:
  DownstreamStream(const grpc::ServerContext& upstream, std::string address)
      : address_(std::move(address)),
        context_(grpc::ClientContext::FromServerContext(upstream)),
        stub_(DatanodeService::NewStub(GetChannel(address_))),
        writer_(stub_->WriteChunk(context_.get(), &response_)) {}

  ~DownstreamStream() {
    if (!finished_) {
      context_->TryCancel();
      writer_->Finish().ok();  // reaps the call; the outcome no longer matters
    }
  }

  const std::string& address() const { return address_; }

  // Sends one message. On failure returns the downstream node's final status.
  absl::Status Write(const WriteChunkRequest& request) {
    if (writer_->Write(request)) return absl::OkStatus();
    return FailedStatus();
  }

  absl::Status WritesDone() {
    if (writer_->WritesDone()) return absl::OkStatus();
    return FailedStatus();
  }

  // Waits for the downstream node's answer.
  absl::StatusOr<WriteChunkResponse> Finish() {
    finished_ = true;
    absl::Status status = FromGrpcStatus(writer_->Finish());
    if (!status.ok()) return DownstreamError(address_, status);
    return response_;
  }

  // Cancels the call, then finishes it. OK means the downstream chain committed before the
  // cancellation reached it.
  absl::StatusOr<WriteChunkResponse> CancelAndFinish() {
    context_->TryCancel();
    return Finish();
  }

 private:
  // The stream broke: Finish tells why.
  absl::Status FailedStatus() {
    absl::StatusOr<WriteChunkResponse> result = Finish();
    if (!result.ok()) return result.status();
    return absl::InternalError(
        absl::StrCat("downstream datanode ", address_, " ended the write stream early"));
  }

  const std::string address_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<DatanodeService::Stub> stub_;
  WriteChunkResponse response_;
  std::unique_ptr<grpc::ClientWriter<WriteChunkRequest>> writer_;
  bool finished_ = false;
};

// DataLoss unless `data`, `offset` bytes into chunk `chunk_id`, matches the CRC32C it came with.
absl::Status CheckPieceCrc(uint64_t chunk_id, uint64_t offset, const std::string& data,
                           uint32_t crc32c) {
  if (Crc32c(data) == crc32c) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrFormat("chunk %016x: data piece at offset %d (%d bytes) does not match its CRC32C",
                      chunk_id, offset, data.size()));
}

// Best effort: removes chunk `chunk_id` from nodes that committed it although the write as a
// whole failed. What this misses, the master's garbage collection removes later.
void DeleteFromNodes(uint64_t chunk_id, const std::vector<std::string>& addresses) {
  for (const std::string& address : addresses) {
    grpc::ClientContext context;
    SetTimeout(&context, kCleanupTimeoutMs);
    DeleteChunksRequest request;
    request.add_chunk_ids(chunk_id);
    DeleteChunksResponse response;
    grpc::Status status =
        DatanodeService::NewStub(GetChannel(address))->DeleteChunks(&context, request, &response);
    if (!status.ok()) {
      DFS_LOG(WARNING) << absl::StrFormat("cannot delete orphan chunk %016x on %s: %s", chunk_id,
                                          address, status.error_message());
    }
  }
}

}  // namespace

DatanodeServiceImpl::DatanodeServiceImpl(ChunkStore* store, std::string rack)
    : store_(store), rack_(std::move(rack)) {}

grpc::Status DatanodeServiceImpl::WriteChunk(grpc::ServerContext* context,
                                             grpc::ServerReader<WriteChunkRequest>* reader,
                                             WriteChunkResponse* response) {
  CallGuard call(&active_calls_);
  CallGuard stream(&active_streams_);
  absl::StatusOr<WriteChunkResponse> result = DoWriteChunk(context, reader);
  if (!result.ok()) {
    DFS_LOG(WARNING) << "WriteChunk from " << context->peer() << " failed: " << result.status();
    return ToGrpcStatus(result.status());
  }
  *response = *std::move(result);
  return grpc::Status::OK;
}

absl::StatusOr<WriteChunkResponse> DatanodeServiceImpl::DoWriteChunk(
    grpc::ServerContext* context, grpc::ServerReader<WriteChunkRequest>* reader) {
  WriteChunkRequest request;
  if (!reader->Read(&request)) {
    if (context->IsCancelled()) return absl::CancelledError("write cancelled before its header");
    return absl::InvalidArgumentError("write stream ended before its header");
  }
  DFS_RETURN_IF_ERROR(ValidateWriteHeader(request));
  const uint64_t chunk_id = request.header().chunk_id();
  const std::vector<std::string> downstream_addresses(request.header().downstream().begin(),
                                                      request.header().downstream().end());

  // Every early return below destroys `writer` (removing the temp file) and `downstream`
  // (cancelling the rest of the chain), so a failed write leaves nothing behind.
  DFS_ASSIGN_OR_RETURN(std::unique_ptr<ChunkWriter> writer, store_->OpenWriter(chunk_id));
  std::unique_ptr<DownstreamStream> downstream;
  if (!downstream_addresses.empty()) {
    downstream = std::make_unique<DownstreamStream>(*context, downstream_addresses[0]);
    // The next node's header names the chain after it.
    request.mutable_header()->mutable_downstream()->DeleteSubrange(0, 1);
  }

  bool first = true;
  do {
    DFS_RETURN_IF_ERROR(ValidateWritePiece(request, first, writer->length()));
    // Checked before forwarding, so a piece corrupted on the way here goes no further.
    DFS_RETURN_IF_ERROR(
        CheckPieceCrc(chunk_id, writer->length(), request.data(), request.data_crc32c()));
    if (downstream != nullptr) DFS_RETURN_IF_ERROR(downstream->Write(request));
    DFS_RETURN_IF_ERROR(writer->Append(request.data()));
    first = false;
  } while (reader->Read(&request));

  // Read() also returns false when the sender cancels or disconnects: that is not the end of
  // the chunk, and committing would seal a truncated chunk.
  if (context->IsCancelled()) {
    return absl::CancelledError(
        absl::StrFormat("chunk %016x: write cancelled by sender", chunk_id));
  }

  // Half-close downstream first so the downstream nodes fsync while we do.
  if (downstream != nullptr) DFS_RETURN_IF_ERROR(downstream->WritesDone());
  absl::StatusOr<ChunkMeta> meta = writer->Commit();
  if (!meta.ok()) {
    if (downstream != nullptr && downstream->CancelAndFinish().ok()) {
      DeleteFromNodes(chunk_id, downstream_addresses);
    }
    return meta.status();
  }

  WriteChunkResponse response;
  response.set_length(meta->length);
  response.set_crc32c(meta->crc32c);
  response.add_stored_on(store_->node_id());
  if (downstream != nullptr) {
    absl::StatusOr<WriteChunkResponse> result = downstream->Finish();
    absl::Status status = result.status();
    if (status.ok() && (result->length() != meta->length || result->crc32c() != meta->crc32c)) {
      // Every hop checks every piece, so this means a bug or memory corruption; refuse the write.
      status = absl::DataLossError(absl::StrFormat(
          "chunk %016x: downstream %s stored %d bytes with CRC %08x, this node %d bytes with %08x",
          chunk_id, downstream->address(), result->length(), result->crc32c(), meta->length,
          meta->crc32c));
      DeleteFromNodes(chunk_id, downstream_addresses);
    }
    if (!status.ok()) {
      absl::Status deleted = store_->Delete(chunk_id);
      if (!deleted.ok()) {
        DFS_LOG(ERROR) << "cannot remove chunk after failed write: " << deleted;
      }
      return status;
    }
    for (const std::string& id : result->stored_on()) response.add_stored_on(id);
  }
  DFS_LOG(DEBUG) << absl::StrFormat("stored chunk %016x (%d bytes) on %s", chunk_id, meta->length,
                                    absl::StrJoin(response.stored_on(), ","));
  return response;
}

grpc::Status DatanodeServiceImpl::PutChunk(grpc::ServerContext* context,
                                           const PutChunkRequest* request,
                                           WriteChunkResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return ToGrpcStatus(s);
  CallGuard call(&active_calls_);
  CallGuard stream(&active_streams_);
  absl::Status status = DoPutChunk(*request, response);
  if (!status.ok()) {
    DFS_LOG(WARNING) << "PutChunk from " << context->peer() << " failed: " << status;
  }
  return ToGrpcStatus(status);
}

absl::Status DatanodeServiceImpl::DoPutChunk(const PutChunkRequest& request,
                                             WriteChunkResponse* response) {
  DFS_RETURN_IF_ERROR(CheckPieceCrc(request.chunk_id(), 0, request.data(), request.data_crc32c()));
  DFS_ASSIGN_OR_RETURN(ChunkMeta meta, store_->Put(request.chunk_id(), request.data()));
  response->set_length(meta.length);
  response->set_crc32c(meta.crc32c);
  response->add_stored_on(store_->node_id());
  return absl::OkStatus();
}

grpc::Status DatanodeServiceImpl::ReadChunk(grpc::ServerContext* context,
                                            const ReadChunkRequest* request,
                                            grpc::ServerWriter<ReadChunkResponse>* writer) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return ToGrpcStatus(s);
  CallGuard call(&active_calls_);
  CallGuard stream(&active_streams_);
  absl::Status status = DoReadChunk(context, *request, writer);
  if (!status.ok()) {
    if (absl::IsDataLoss(status)) {
      DFS_LOG(ERROR) << "ReadChunk: " << status;
    } else {
      DFS_LOG(DEBUG) << "ReadChunk: " << status;
    }
  }
  return ToGrpcStatus(status);
}

absl::Status DatanodeServiceImpl::DoReadChunk(grpc::ServerContext* context,
                                              const ReadChunkRequest& request,
                                              grpc::ServerWriter<ReadChunkResponse>* writer) {
  DFS_ASSIGN_OR_RETURN(std::unique_ptr<ChunkReader> chunk, store_->OpenReader(request.chunk_id()));
  uint64_t offset = request.offset();
  if (offset > chunk->length()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("offset %d is beyond the end of chunk %016x (%d bytes)", offset,
                        request.chunk_id(), chunk->length()));
  }
  const uint64_t available = chunk->length() - offset;
  const uint64_t end =
      offset + (request.length() == 0 ? available : std::min(request.length(), available));
  while (offset < end) {
    if (context->IsCancelled()) return absl::CancelledError("reader went away");
    // Windows end on block boundaries so that no block is read and verified twice.
    uint64_t window_end = offset + kDataPieceBytes;
    window_end -= window_end % ChunkStore::kBlockBytes;
    window_end = std::min(end, std::max(window_end, offset + 1));
    DFS_ASSIGN_OR_RETURN(std::string data, chunk->Read(offset, window_end - offset));
    ReadChunkResponse piece;
    piece.set_data_crc32c(Crc32c(data));
    const size_t bytes = data.size();
    *piece.mutable_data() = std::move(data);
    if (!writer->Write(piece)) return absl::CancelledError("reader went away");
    static metrics::Counter* const read = metrics::Registry::Default()
        .Counter("dfs_datanode_read_bytes_total",
                 "Bytes of chunks served by ReadChunk, to clients and to peers copying a replica.")
        ->Get();
    read->Increment(bytes);
    offset = window_end;
  }
  return absl::OkStatus();
}

grpc::Status DatanodeServiceImpl::DeleteChunks(grpc::ServerContext* context,
                                               const DeleteChunksRequest* request,
                                               DeleteChunksResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return ToGrpcStatus(s);
  CallGuard call(&active_calls_);
  uint32_t deleted = 0;
  for (uint64_t chunk_id : request->chunk_ids()) {
    absl::Status status = store_->Delete(chunk_id);
    if (status.ok()) {
      ++deleted;
    } else if (!absl::IsNotFound(status)) {
      // Deleting is idempotent for the caller; a real I/O error is only worth a log line, the
      // master will ask again.
      DFS_LOG(WARNING) << "DeleteChunks: " << status;
    }
  }
  response->set_deleted(deleted);
  return grpc::Status::OK;
}

grpc::Status DatanodeServiceImpl::Identity(grpc::ServerContext* context,
                                           const DatanodeEmpty* request,
                                           DatanodeIdentity* response) {
  response->set_id(store_->node_id());
  response->set_rack(rack_);
  return grpc::Status::OK;
}

grpc::Status DatanodeServiceImpl::ReplicateChunk(grpc::ServerContext* context,
                                                 const ReplicateChunkRequest* request,
                                                 ReplicateChunkResponse* response) {
  if (absl::Status s = ValidateRequest(*request); !s.ok()) return ToGrpcStatus(s);
  CallGuard call(&active_calls_);
  CallGuard stream(&active_streams_);
  absl::Status status = ::dfs::ReplicateChunk(store_, *request, context, response);
  if (!status.ok() && !response->bad_sources().empty()) {
    context->AddTrailingMetadata(kBadSourcesKey, absl::StrJoin(response->bad_sources(), ","));
  }
  return ToGrpcStatus(status);
}

}  // namespace dfs
