#include "client/chunk_reader.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "client/grpc_chunk_store.h"
#include "common/crc32c.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/rpc.h"
#include "proto/datanode.grpc.pb.h"

namespace dfs {
namespace {

// One ReadChunk RPC asks for at most this much. The RPC's deadline grows with its size, so
// bounded requests keep a hung replica (a stopped process answers nothing, yet its connection
// stays up) from stalling a read for long before the next replica is tried.
constexpr uint64_t kMaxReadRequestBytes = 4 << 20;

enum class Outcome { kOk, kSinkFailed, kBad, kFailed };

struct AttemptResult {
  Outcome outcome = Outcome::kOk;
  absl::Status status;
  uint64_t delivered = 0;
};

AttemptResult ReadFromReplica(const ClientOptions& options, const DatanodeInfo& replica,
                              uint64_t chunk_id, uint64_t offset, uint64_t length,
                              const ByteSink& sink) {
  AttemptResult result;
  auto stub = DatanodeService::NewStub(GetChannel(replica.address()));
  grpc::ClientContext context;
  SetTimeout(&context, DataTimeoutMs(options, length));
  ReadChunkRequest request;
  request.set_chunk_id(chunk_id);
  request.set_offset(offset);
  request.set_length(length);
  std::unique_ptr<grpc::ClientReader<ReadChunkResponse>> reader = stub->ReadChunk(&context, request);
  ReadChunkResponse piece;
  while (reader->Read(&piece)) {
    const std::string& data = piece.data();
    if (Crc32c(data) != piece.data_crc32c()) {
      result.outcome = Outcome::kBad;
      result.status = absl::DataLossError(
          absl::StrCat("checksum mismatch at chunk offset ", offset + result.delivered));
      break;
    }
    if (data.size() > length - result.delivered) {
      result.outcome = Outcome::kBad;
      result.status = absl::DataLossError("replica sent more bytes than asked for");
      break;
    }
    if (data.empty()) continue;
    absl::Status status = sink(data);
    if (!status.ok()) {
      result.outcome = Outcome::kSinkFailed;
      result.status = status;
      break;
    }
    result.delivered += data.size();
  }
  if (result.outcome != Outcome::kOk) {
    context.TryCancel();
    (void)reader->Finish();
    return result;
  }
  absl::Status status = FromGrpcStatus(reader->Finish());
  if (status.ok() && result.delivered < length) {
    result.outcome = Outcome::kBad;
    result.status = absl::DataLossError(
        absl::StrCat("replica ended after ", result.delivered, " of ", length, " bytes"));
  } else if (absl::IsDataLoss(status) || absl::IsNotFound(status)) {
    result.outcome = Outcome::kBad;
    result.status = status;
  } else if (!status.ok()) {
    result.outcome = Outcome::kFailed;
    result.status = status;
  }
  return result;
}

}  // namespace

absl::Status ReadChunkRange(const ClientOptions& options, const ChunkLocation& location,
                            uint64_t chunk_offset, uint64_t length, const ByteSink& sink,
                            const BadReplicaReporter& report_bad) {
  const uint64_t chunk_id = location.chunk_id();
  const int replicas = location.replicas_size();
  if (replicas == 0) {
    return absl::DataLossError(absl::StrCat("chunk ", chunk_id, " has no replica"));
  }
  std::set<int> bad;
  std::set<int> failed;
  absl::Status last;
  uint64_t done = 0;
  int next = 0;
  while (done < length) {
    // The replica that served the last request, else the next usable one in the master's order
    // (it puts the preferred ones first).
    int pick = -1;
    for (int k = 0; k < replicas; ++k) {
      int i = (next + k) % replicas;
      if (!bad.count(i) && !failed.count(i)) {
        pick = i;
        break;
      }
    }
    if (pick < 0) break;
    const DatanodeInfo& replica = location.replicas(pick);
    AttemptResult attempt =
        ReadFromReplica(options, replica, chunk_id, chunk_offset + done,
                        std::min(length - done, kMaxReadRequestBytes), sink);
    done += attempt.delivered;
    switch (attempt.outcome) {
      case Outcome::kOk:
        next = pick;  // stay with a replica that works
        continue;
      case Outcome::kSinkFailed:
        return attempt.status;
      case Outcome::kBad: {
        DFS_LOG(WARNING) << "chunk " << chunk_id << " replica " << replica.id() << " ("
                         << replica.address() << ") is bad: " << attempt.status;
        bad.insert(pick);
        if (report_bad) {
          report_bad(chunk_id, replica.id(), std::string(attempt.status.message()));
        }
        break;
      }
      case Outcome::kFailed:
        DFS_LOG(INFO) << "chunk " << chunk_id << " replica " << replica.id() << " ("
                      << replica.address() << ") failed: " << attempt.status;
        failed.insert(pick);
        break;
    }
    last = attempt.status;
    if (attempt.delivered > 0) failed.clear();
    next = pick + 1;
  }
  if (done == length) return absl::OkStatus();
  if (static_cast<int>(bad.size()) == replicas) {
    return absl::DataLossError(
        absl::StrCat("chunk ", chunk_id, ": every replica is bad; last: ", last.message()));
  }
  return absl::UnavailableError(absl::StrCat("chunk ", chunk_id, ": no replica could be read (",
                                             replicas, " tried); last: ", last.message()));
}

}  // namespace dfs
