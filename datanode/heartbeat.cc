#include "datanode/heartbeat.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/call_group.h"
#include "common/file_util.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/rpc.h"

namespace dfs {

absl::StatusOr<FileSystemSpace> GetFileSystemSpace(const std::string& path) {
  struct statvfs st;
  if (::statvfs(path.c_str(), &st) != 0) return ErrnoStatus(errno, "statvfs " + path);
  FileSystemSpace space;
  space.capacity_bytes = static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
  space.free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  return space;
}

HeartbeatSender::HeartbeatSender(HeartbeatOptions options, ChunkStore* store,
                                 std::function<uint32_t()> active_streams, Clock* clock)
    : options_(std::move(options)),
      store_(store),
      active_streams_(std::move(active_streams)),
      clock_(clock) {
  absl::MutexLock lock(&round_mu_);
  for (const std::string& address : options_.masters) {
    Master master;
    master.address = address;
    master.stub = DatanodeRegistry::NewStub(GetChannel(address));
    masters_.push_back(std::move(master));
  }
}

HeartbeatSender::~HeartbeatSender() { Stop(); }

void HeartbeatSender::Start() {
  if (options_.masters.empty()) {
    DFS_LOG(INFO) << "no masters configured: not sending heartbeats";
    return;
  }
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void HeartbeatSender::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void HeartbeatSender::Loop() {
  for (;;) {
    RunOnce();
    // Between rounds, where copying a few MiB delays nobody's request.
    store_->CompactLog();
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(options_.interval_ms))) {
      return;
    }
  }
}

HeartbeatRequest HeartbeatSender::BaseRequest() {
  HeartbeatRequest request;
  *request.mutable_node() = options_.self;
  const uint64_t used = store_->used_bytes();
  request.set_used_bytes(used);
  request.set_chunk_count(store_->chunk_count());
  request.set_active_streams(active_streams_ ? active_streams_() : 0);
  absl::StatusOr<FileSystemSpace> space = GetFileSystemSpace(store_->data_dir());
  if (!space.ok()) {
    DFS_LOG(WARNING) << "heartbeat: " << space.status();
    space = FileSystemSpace{};
  }
  uint64_t capacity = space->capacity_bytes;
  uint64_t free_bytes = space->free_bytes;
  if (options_.capacity_bytes > 0) {
    // A configured capacity caps what we offer: never more than the disk really has free.
    capacity = options_.capacity_bytes;
    free_bytes = std::min(free_bytes, capacity > used ? capacity - used : 0);
  }
  request.set_capacity_bytes(capacity);
  request.set_free_bytes(free_bytes);
  if (decorate_) decorate_(&request);
  return request;
}

int HeartbeatSender::RunOnce() {
  absl::MutexLock round_lock(&round_mu_);
  if (masters_.empty()) return 0;

  const int64_t now_ns = clock_->MonotonicNanos();
  const int64_t timeout_ms = options_.rpc_timeout_ms > 0
                                 ? options_.rpc_timeout_ms
                                 : std::clamp<int64_t>(options_.interval_ms, 500, 5000);
  const HeartbeatRequest base = BaseRequest();
  std::vector<uint64_t> chunk_ids;
  bool listed = false;

  struct Call {
    grpc::ClientContext context;
    HeartbeatRequest request;
    HeartbeatResponse response;
    grpc::Status status;
    bool full_report = false;
  };
  std::vector<std::unique_ptr<Call>> calls;
  CallGroup group;

  for (Master& master : masters_) {
    auto call = std::make_unique<Call>();
    call->request = base;
    call->full_report = master.report_due || now_ns - master.last_report_ns >=
                                                 options_.full_report_interval_ms * 1000000;
    if (call->full_report) {
      if (!listed) {
        chunk_ids = store_->List();
        listed = true;
      }
      call->request.set_has_chunk_report(true);
      call->request.mutable_chunk_ids()->Assign(chunk_ids.begin(), chunk_ids.end());
    }
    SetTimeout(&call->context, timeout_ms);
    Call* raw = call.get();
    master.stub->async()->Heartbeat(&raw->context, &raw->request, &raw->response,
                                    group.Done(&raw->status));
    calls.push_back(std::move(call));
  }
  group.Wait();

  int ok = 0;
  std::vector<uint64_t> to_delete;
  for (size_t i = 0; i < masters_.size(); ++i) {
    Master& master = masters_[i];
    const Call& call = *calls[i];
    if (!call.status.ok()) {
      // The master may have restarted meanwhile; it gets a full report once it answers again.
      master.report_due = true;
      if (!master.failing) {
        DFS_LOG(WARNING) << "heartbeat to master " << master.address
                         << " failed: " << FromGrpcStatus(call.status);
      }
      master.failing = true;
      continue;
    }
    ++ok;
    if (master.failing) {
      DFS_LOG(INFO) << "heartbeat to master " << master.address << " ok again";
    }
    master.failing = false;
    if (call.full_report) {
      master.report_due = false;
      master.last_report_ns = now_ns;
    }
    if (call.response.send_chunk_report()) master.report_due = true;
    to_delete.insert(to_delete.end(), call.response.delete_chunks().begin(),
                     call.response.delete_chunks().end());
  }

  std::sort(to_delete.begin(), to_delete.end());
  to_delete.erase(std::unique(to_delete.begin(), to_delete.end()), to_delete.end());
  for (uint64_t chunk_id : to_delete) {
    absl::Status status = store_->Delete(chunk_id);
    if (status.ok()) {
      DFS_LOG(DEBUG) << absl::StrFormat("deleted chunk %016x as the master asked", chunk_id);
    } else if (!absl::IsNotFound(status)) {
      DFS_LOG(WARNING) << "heartbeat delete: " << status;
    }
  }
  return ok;
}

}  // namespace dfs
