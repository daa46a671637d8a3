#include "datanode/replication.h"

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_format.h"
#include "common/crc32c.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/rate_limiter.h"
#include "common/rpc.h"
#include "common/status.h"
#include "proto/datanode.grpc.pb.h"

namespace dfs {
namespace {

// Bytes read per step when verifying a stored chunk: a multiple of the CRC block.
constexpr uint64_t kVerifyStepBytes = 1 << 20;

// Outcome of one attempt at pulling the chunk from one source.
struct Attempt {
  absl::Status status;
  bool bad_source = false;  // the source's copy (or what it sent) is damaged
};

Attempt CopyFrom(ChunkStore* store, const ReplicateChunkRequest& request,
                 const std::string& source, grpc::ServerContext* server_context,
                 RateLimiter* limiter) {
  const uint64_t chunk_id = request.chunk_id();
  absl::StatusOr<std::unique_ptr<ChunkWriter>> writer = store->OpenWriter(chunk_id);
  if (!writer.ok()) return {writer.status()};
  auto client_context = grpc::ClientContext::FromServerContext(*server_context);
  auto stub = DatanodeService::NewStub(GetChannel(source));
  ReadChunkRequest read;
  read.set_chunk_id(chunk_id);
  auto reader = stub->ReadChunk(client_context.get(), read);
  ReadChunkResponse piece;
  uint32_t crc = 0;
  uint64_t length = 0;
  while (reader->Read(&piece)) {
    if (Crc32c(piece.data()) != piece.data_crc32c()) {
      client_context->TryCancel();
      reader->Finish().ok();
      return {absl::DataLossError(absl::StrFormat("chunk %016x from %s: piece at %d fails its CRC",
                                                  chunk_id, source, length)),
              true};
    }
    if (limiter != nullptr && !limiter->Acquire(piece.data().size())) {
      client_context->TryCancel();
      reader->Finish().ok();
      return {absl::CancelledError("copy cancelled")};
    }
    if (absl::Status s = (*writer)->Append(piece.data()); !s.ok()) {
      client_context->TryCancel();
      reader->Finish().ok();
      return {s};
    }
    crc = Crc32cExtend(crc, piece.data().data(), piece.data().size());
    length += piece.data().size();
  }
  absl::Status status = FromGrpcStatus(reader->Finish());
  if (!status.ok()) {
    return {absl::Status(status.code(), absl::StrFormat("chunk %016x from %s: %s", chunk_id,
                                                        source, status.message())),
            absl::IsDataLoss(status)};
  }
  if (server_context->IsCancelled()) return {absl::CancelledError("copy cancelled by the master")};
  if (length != request.length() || crc != request.crc32c()) {
    // The source's copy verified against its own checksums but is not the chunk the master
    // recorded: it is wrong all the same.
    return {absl::DataLossError(absl::StrFormat(
                "chunk %016x from %s: %d bytes with CRC %08x, the record says %d bytes with %08x",
                chunk_id, source, length, crc, request.length(), request.crc32c())),
            true};
  }
  absl::StatusOr<ChunkMeta> meta = (*writer)->Commit();
  if (!meta.ok()) return {meta.status()};
  return {absl::OkStatus()};
}

}  // namespace

absl::StatusOr<VerifiedChunk> VerifyStoredChunk(ChunkStore* store, uint64_t chunk_id,
                                                const std::function<bool(uint64_t)>& pace) {
  DFS_ASSIGN_OR_RETURN(std::unique_ptr<ChunkReader> reader, store->OpenReader(chunk_id));
  VerifiedChunk out;
  out.length = reader->length();
  for (uint64_t offset = 0; offset < reader->length(); offset += kVerifyStepBytes) {
    uint64_t step = std::min(kVerifyStepBytes, reader->length() - offset);
    if (pace && !pace(step)) return absl::CancelledError("verification stopped");
    DFS_ASSIGN_OR_RETURN(std::string data, reader->Read(offset, step));
    out.crc32c = Crc32cExtend(out.crc32c, data.data(), data.size());
  }
  if (out.crc32c != reader->crc32c()) {
    return absl::DataLossError(absl::StrFormat(
        "chunk %016x: data CRC %08x differs from the trailer's %08x", chunk_id, out.crc32c,
        reader->crc32c()));
  }
  return out;
}

absl::Status ReplicateChunk(ChunkStore* store, const ReplicateChunkRequest& request,
                            grpc::ServerContext* context, ReplicateChunkResponse* out) {
  const uint64_t chunk_id = request.chunk_id();
  if (request.sources().empty()) return absl::InvalidArgumentError("no source to copy from");
  ReplicateChunkResponse& response = *out;
  if (store->Contains(chunk_id)) {
    absl::StatusOr<VerifiedChunk> existing = VerifyStoredChunk(store, chunk_id);
    if (existing.ok() && existing->length == request.length() &&
        existing->crc32c == request.crc32c()) {
      response.set_length(existing->length);
      response.set_crc32c(existing->crc32c);
      response.set_already_present(true);
      return absl::OkStatus();
    }
    DFS_LOG(WARNING) << absl::StrFormat(
        "chunk %016x: replacing the stored copy, which does not match the record: %s", chunk_id,
        existing.ok() ? "length or CRC differs" : existing.status().ToString());
    absl::Status deleted = store->Delete(chunk_id);
    if (!deleted.ok() && !absl::IsNotFound(deleted)) return deleted;
  }
  std::unique_ptr<RateLimiter> limiter;
  if (request.max_bytes_per_sec() > 0) {
    // Burst of one second's worth: smooth at the rate, without stalls between pieces.
    limiter = std::make_unique<RateLimiter>(request.max_bytes_per_sec(),
                                            request.max_bytes_per_sec(), RealClock::Get(),
                                            [context](int64_t ns) {
                                              std::this_thread::sleep_for(
                                                  std::chrono::nanoseconds(ns));
                                              return !context->IsCancelled();
                                            });
  }
  absl::Status last = absl::UnavailableError("no source answered");
  for (const std::string& source : request.sources()) {
    if (context->IsCancelled()) return absl::CancelledError("copy cancelled by the master");
    Attempt attempt = CopyFrom(store, request, source, context, limiter.get());
    if (attempt.status.ok()) {
      response.set_length(request.length());
      response.set_crc32c(request.crc32c());
      response.set_source(source);
      return absl::OkStatus();
    }
    if (absl::IsAlreadyExists(attempt.status)) {
      // Another copy of the same chunk landed meanwhile; keep it if it is right.
      absl::StatusOr<VerifiedChunk> existing = VerifyStoredChunk(store, chunk_id);
      if (existing.ok() && existing->length == request.length() &&
          existing->crc32c == request.crc32c()) {
        response.set_length(existing->length);
        response.set_crc32c(existing->crc32c);
        response.set_already_present(true);
        return absl::OkStatus();
      }
    }
    if (attempt.bad_source) response.add_bad_sources(source);
    DFS_LOG(WARNING) << "ReplicateChunk: " << attempt.status;
    last = attempt.status;
  }
  return last;
}

}  // namespace dfs
