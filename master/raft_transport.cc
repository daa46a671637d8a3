#include "master/raft_transport.h"

#include "common/logging.h"
#include "common/rpc.h"

namespace dfs {
namespace {

// A peer that does not drain its queue loses messages beyond this; Raft resends what matters.
constexpr size_t kMaxQueuedBytes = 64 << 20;
constexpr size_t kMaxBatchBytes = 4 << 20;
constexpr int64_t kSendTimeoutMs = 3000;

}  // namespace

RaftTransport::~RaftTransport() { Shutdown(); }

void RaftTransport::Send(uint64_t to, const std::string& address, raft::Message message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || blocked_.count(to)) return;
  auto& peer = peers_[to];
  if (!peer) {
    peer = std::make_unique<Peer>();
    peer->thread = std::thread([this, to] { PeerLoop(to); });
  }
  peer->address = address;
  size_t bytes = message.ByteSizeLong();
  if (peer->queued_bytes + bytes > kMaxQueuedBytes) return;
  peer->queued_bytes += bytes;
  peer->queue.push_back(std::move(message));
  cv_.notify_all();
}

void RaftTransport::SetBlocked(std::set<uint64_t> blocked) {
  std::lock_guard<std::mutex> lock(mu_);
  blocked_ = std::move(blocked);
}

bool RaftTransport::IsBlocked(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  return blocked_.count(id) > 0;
}

void RaftTransport::PeerLoop(uint64_t id) {
  std::unique_ptr<raft::RaftService::Stub> stub;
  std::string stub_address;
  for (;;) {
    raft::MessageBatch batch;
    batch.set_from_address(self_address_);
    std::string address;
    {
      std::unique_lock<std::mutex> lock(mu_);
      Peer& peer = *peers_[id];
      cv_.wait(lock, [&] { return stopping_ || !peer.queue.empty(); });
      if (stopping_) return;
      size_t bytes = 0;
      while (!peer.queue.empty() && (bytes == 0 || bytes < kMaxBatchBytes)) {
        bytes += peer.queue.front().ByteSizeLong();
        *batch.add_messages() = std::move(peer.queue.front());
        peer.queue.pop_front();
      }
      peer.queued_bytes -= std::min(peer.queued_bytes, bytes);
      address = peer.address;
    }
    if (address != stub_address) {
      stub = raft::RaftService::NewStub(GetChannel(address));
      stub_address = address;
    }
    grpc::ClientContext context;
    SetTimeout(&context, kSendTimeoutMs);
    raft::SendResponse response;
    grpc::Status status = stub->Send(&context, batch, &response);  // best effort: Raft copes
    if (!status.ok()) {
      DFS_LOG(DEBUG) << "raft send to " << address << " failed: " << status.error_message();
    }
  }
}

void RaftTransport::Shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& [id, peer] : peers_) threads.push_back(std::move(peer->thread));
  }
  cv_.notify_all();
  for (auto& thread : threads) {
    if (thread.joinable()) thread.join();
  }
}

}  // namespace dfs
