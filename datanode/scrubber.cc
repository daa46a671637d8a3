#include "datanode/scrubber.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/rpc.h"
#include "datanode/replication.h"
#include "proto/master.grpc.pb.h"

namespace dfs {
namespace {

constexpr int64_t kReportTimeoutMs = 5000;

}  // namespace

Scrubber::Scrubber(ScrubberOptions options, ChunkStore* store, Clock* clock)
    : options_(std::move(options)),
      store_(store),
      // Burst of one verify step, so the rate holds from the first chunk on.
      limiter_(options_.bytes_per_sec, 1 << 20, clock, [this](int64_t ns) {
        absl::MutexLock lock(&mu_);
        return !mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Nanoseconds(ns));
      }) {}

Scrubber::~Scrubber() { Stop(); }

void Scrubber::Start() {
  if (options_.bytes_per_sec == 0 || thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void Scrubber::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool Scrubber::Stopping() {
  absl::MutexLock lock(&mu_);
  return stop_;
}

void Scrubber::Loop() {
  for (;;) {
    RunPass();
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stop_),
                             absl::Milliseconds(options_.pass_interval_ms))) {
      return;
    }
  }
}

ScrubStats Scrubber::stats() const {
  ScrubStats stats;
  stats.set_passes(passes_);
  stats.set_chunks_scanned(chunks_scanned_);
  stats.set_bytes_scanned(bytes_scanned_);
  stats.set_corrupt_found(corrupt_found_);
  stats.set_current_pass_chunks(current_pass_chunks_);
  return stats;
}

uint64_t Scrubber::RunPass() {
  absl::MutexLock pass_lock(&pass_mu_);
  const auto start = std::chrono::steady_clock::now();
  const uint64_t bytes_before = bytes_scanned_;
  current_pass_chunks_ = 0;
  uint64_t corrupt = 0;
  for (uint64_t chunk_id : store_->List()) {
    if (Stopping()) return corrupt;
    if (!ScrubChunk(chunk_id)) ++corrupt;
    ++current_pass_chunks_;
  }
  ++passes_;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const LogLevel level = corrupt > 0 ? LogLevel::kWarning : LogLevel::kInfo;
  if (LogLevelEnabled(level)) {
    LogLine(level, __FILE__, __LINE__).stream() << absl::StrFormat("scrub pass %d: %d chunks, %d bytes verified in %.1f s, %d damaged",
                         passes_.load(), current_pass_chunks_.load(),
                         bytes_scanned_ - bytes_before, seconds, corrupt);
  }
  return corrupt;
}

bool Scrubber::ScrubChunk(uint64_t chunk_id) {
  absl::StatusOr<VerifiedChunk> verified =
      VerifyStoredChunk(store_, chunk_id, [this](uint64_t bytes) {
        bool go = limiter_.Acquire(bytes);
        bytes_scanned_ += bytes;
        return go;
      });
  if (verified.ok()) {
    ++chunks_scanned_;
    return true;
  }
  // Deleted since the pass began, or the scrubber is stopping: nothing to report.
  if (absl::IsNotFound(verified.status()) || absl::IsCancelled(verified.status())) return true;
  ++chunks_scanned_;
  if (!absl::IsDataLoss(verified.status())) {
    DFS_LOG(WARNING) << "scrub: cannot read chunk: " << verified.status();
    return true;
  }
  ++corrupt_found_;
  DFS_LOG(ERROR) << "scrub: damaged replica: " << verified.status();
  Report(chunk_id, verified.status());
  return false;
}

void Scrubber::Report(uint64_t chunk_id, const absl::Status& why) {
  ReportBadReplicaRequest request;
  request.set_chunk_id(chunk_id);
  request.set_datanode_id(options_.node_id);
  request.set_reason(absl::StrCat("scrubber: ", why.message()));
  absl::Status last = absl::UnavailableError("no masters configured");
  // Only the leader accepts; the others answer UNAVAILABLE.
  for (const std::string& master : options_.masters) {
    auto stub = MasterService::NewStub(GetChannel(master));
    grpc::ClientContext context;
    SetTimeout(&context, kReportTimeoutMs);
    Empty response;
    last = FromGrpcStatus(stub->ReportBadReplica(&context, request, &response));
    if (last.ok()) return;
    // The master refused for a reason of its own (the chunk is garbage, or this is its last
    // copy): nothing more to do now; the next pass reports it again if it is still here.
    if (!absl::IsUnavailable(last) && !absl::IsDeadlineExceeded(last)) break;
  }
  DFS_LOG(WARNING) << absl::StrFormat("scrub: report of chunk %016x not accepted: %s", chunk_id,
                                      last.ToString());
}

}  // namespace dfs
