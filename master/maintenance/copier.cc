#include "master/maintenance/copier.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/rpc.h"
#include "proto/datanode.grpc.pb.h"

namespace dfs {
namespace {

// Deadline of one copy: a base for the round trips plus the bytes at a pessimistic 4 MiB/s (or
// the configured rate, if slower).
int64_t CopyTimeoutMs(uint64_t length, uint64_t rate) {
  double bytes_per_ms = 4.0 * (1 << 20) / 1000;
  if (rate != 0) bytes_per_ms = std::min(bytes_per_ms, rate / 1000.0 / 2);
  return 30000 + static_cast<int64_t>(length / bytes_per_ms);
}

}  // namespace

Copier::Copier(MaintenanceContext* ctx)
    : ctx_(ctx),
      limiter_(ctx->options().replication_bytes_per_sec,
               // Burst: one max-size chunk, so a copy never waits for more than the bucket holds.
               std::max<uint64_t>(ctx->options().replication_bytes_per_sec, 64ull << 20),
               ctx->clock(), [this](int64_t ns) {
                 std::unique_lock<std::mutex> lock(mu_);
                 return !cv_.wait_for(lock, std::chrono::nanoseconds(ns), [this] { return stop_; });
               }) {}

Copier::~Copier() { Stop(); }

void Copier::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!workers_.empty()) return;
  stop_ = false;
  for (int i = 0; i < ctx_->options().max_concurrent_copies; ++i) {
    workers_.emplace_back([this] { Worker(); });
  }
}

void Copier::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    for (grpc::ClientContext* context : running_) context->TryCancel();
  }
  cv_.notify_all();
  for (auto& worker : workers_) worker.join();
  workers_.clear();
}

void Copier::ReplaceQueue(std::vector<CopyTask> tasks) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Repairs are replanned every scan; queued balancer moves stay, behind the repairs.
    std::deque<CopyTask> moves;
    for (CopyTask& task : queue_) {
      if (!task.move_from.empty()) {
        moves.push_back(std::move(task));
      } else if (--busy_[task.chunk_id] == 0) {
        busy_.erase(task.chunk_id);
      }
    }
    queue_.clear();
    for (CopyTask& task : tasks) {
      ++busy_[task.chunk_id];
      queue_.push_back(std::move(task));
    }
    for (CopyTask& task : moves) queue_.push_back(std::move(task));
  }
  cv_.notify_all();
}

void Copier::CancelAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const CopyTask& task : queue_) {
    if (--busy_[task.chunk_id] == 0) busy_.erase(task.chunk_id);
    if (!task.move_from.empty()) --moves_;
  }
  queue_.clear();
  for (grpc::ClientContext* context : running_) context->TryCancel();
}

void Copier::Enqueue(std::vector<CopyTask> tasks) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (CopyTask& task : tasks) {
      ++busy_[task.chunk_id];
      if (!task.move_from.empty()) ++moves_;
      queue_.push_back(std::move(task));
    }
  }
  cv_.notify_all();
}

bool Copier::Busy(uint64_t chunk_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return busy_.count(chunk_id) > 0;
}

size_t Copier::running() {
  std::lock_guard<std::mutex> lock(mu_);
  return running_.size();
}

size_t Copier::queued() {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

size_t Copier::moves_in_flight() {
  std::lock_guard<std::mutex> lock(mu_);
  return moves_;
}

void Copier::Worker() {
  for (;;) {
    CopyTask task;
    grpc::ClientContext context;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
      running_.insert(&context);
    }
    if (ctx_->StillLeading(task.term)) Run(task, &context);
    std::lock_guard<std::mutex> lock(mu_);
    running_.erase(&context);
    if (--busy_[task.chunk_id] == 0) busy_.erase(task.chunk_id);
    if (!task.move_from.empty()) --moves_;
  }
}

void Copier::Run(const CopyTask& task, grpc::ClientContext* context) {
  if (!limiter_.Acquire(task.length) || !ctx_->StillLeading(task.term)) return;
  const uint64_t rate = ctx_->options().replication_bytes_per_sec;
  ReplicateChunkRequest request;
  request.set_chunk_id(task.chunk_id);
  request.set_length(task.length);
  request.set_crc32c(task.crc32c);
  request.set_max_bytes_per_sec(rate);
  for (const DatanodeInfo& source : task.sources) request.add_sources(source.address());
  SetTimeout(context, CopyTimeoutMs(task.length, rate));
  ReplicateChunkResponse response;
  auto stub = DatanodeService::NewStub(GetChannel(task.target.address()));
  absl::Status status = FromGrpcStatus(stub->ReplicateChunk(context, request, &response));
  std::vector<std::string> bad(response.bad_sources().begin(), response.bad_sources().end());
  if (!status.ok()) {
    // A failed call carries no response: the datanode names damaged sources in the trailer.
    const auto& trailer = context->GetServerTrailingMetadata();
    if (auto it = trailer.find("dfs-bad-sources"); it != trailer.end()) {
      bad = absl::StrSplit(std::string(it->second.data(), it->second.size()), ',',
                           absl::SkipEmpty());
    }
  }
  if (!bad.empty()) DropBadSources(task, bad);
  if (!status.ok()) {
    ctx_->stats().replications_failed++;
    DFS_LOG(WARNING) << absl::StrFormat("copy of chunk %016x to %s (%s) failed: %s",
                                        task.chunk_id, task.target.id(), task.target.address(),
                                        status.ToString());
    return;
  }
  Command add;
  add.mutable_add_replica()->set_chunk_id(task.chunk_id);
  add.mutable_add_replica()->set_datanode_id(task.target.id());
  absl::StatusOr<CommandResult> result = ctx_->Propose(add);
  if (!result.ok()) return;  // leadership lost: the next leader finds the copy in reports
  if (absl::Status s = ResultStatus(*result); !s.ok()) {
    // The chunk is gone altogether (collected meanwhile): the new copy is an orphan.
    DFS_LOG(INFO) << absl::StrFormat("chunk %016x vanished during its copy: %s", task.chunk_id,
                                     s.ToString());
    ctx_->DeleteOnDatanode(task.target.address(), {task.chunk_id}).IgnoreError();
    return;
  }
  ctx_->stats().replications_done++;
  DFS_LOG(DEBUG) << absl::StrFormat("chunk %016x copied to %s%s", task.chunk_id, task.target.id(),
                                    response.already_present() ? " (already there)" : "");
  if (task.move_from.empty() || !ctx_->StillLeading(task.term)) return;
  Command trim;
  trim.mutable_trim_replica()->set_chunk_id(task.chunk_id);
  trim.mutable_trim_replica()->set_datanode_id(task.move_from);
  trim.mutable_trim_replica()->add_require(task.target.id());
  result = ctx_->Propose(trim);
  if (!result.ok() || !ResultStatus(*result).ok()) return;
  ctx_->stats().balancer_moves++;
  for (const DatanodeInfo& source : task.sources) {
    if (source.id() == task.move_from) {
      absl::Status deleted = ctx_->DeleteOnDatanode(source.address(), {task.chunk_id});
      if (!deleted.ok()) {
        DFS_LOG(WARNING) << "balancer: " << deleted;
      }
    }
  }
}

void Copier::DropBadSources(const CopyTask& task, const std::vector<std::string>& bad_addresses) {
  for (const std::string& address : bad_addresses) {
    for (const DatanodeInfo& source : task.sources) {
      if (source.address() != address) continue;
      DFS_LOG(WARNING) << absl::StrFormat("chunk %016x: the copy on %s (%s) is damaged",
                                          task.chunk_id, source.id(), address);
      Command drop;
      drop.mutable_drop_replica()->set_chunk_id(task.chunk_id);
      drop.mutable_drop_replica()->set_datanode_id(source.id());
      absl::StatusOr<CommandResult> result = ctx_->Propose(drop);
      if (result.ok() && ResultStatus(*result).ok()) {
        ctx_->datanodes()->QueueDelete(source.id(), task.chunk_id);
      }
    }
  }
}

}  // namespace dfs
