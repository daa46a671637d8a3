#include "master/raft_transport.h"

#include "common/clock.h"
#include "common/logging.h"
#include "common/rpc.h"
#include "common/thread_name.h"

namespace dfs {
namespace {

// A peer that does not drain its queue loses messages beyond this; Raft resends what matters.
constexpr size_t kMaxQueuedBytes = 64 << 20;
constexpr size_t kMaxBatchBytes = 4 << 20;
constexpr int64_t kStreamLifetimeMs = 10000;

int64_t NowMs() { return RealClock::Get()->MonotonicNanos() / 1000000; }

}  // namespace

RaftTransport::~RaftTransport() { Shutdown(); }

void RaftTransport::Send(uint64_t to, const std::string& address, raft::Message message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || blocked_.count(to)) return;
  auto& peer = peers_[to];
  if (!peer) {
    peer = std::make_unique<Peer>();
    peer->thread = std::thread([this, to] {
      NameThisThread("raft-send");
      PeerLoop(to);
    });
  }
  peer->address = address;
  size_t bytes = message.ByteSizeLong();
  if (peer->queued_bytes + bytes > kMaxQueuedBytes) return;
  peer->queued_bytes += bytes;
  // A sender with messages queued has not yet taken them and will before it waits again.
  const bool was_empty = peer->queue.empty();
  peer->queue.push_back(std::move(message));
  if (was_empty) peer->queued.notify_one();
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
  // One client stream to the peer, replaced when it breaks and every kStreamLifetimeMs / 2: its
  // deadline bounds how long a write can hang on a peer that stopped reading (a partition).
  std::unique_ptr<raft::RaftService::Stub> stub;
  std::string stub_address;
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientWriter<raft::MessageBatch>> stream;
  raft::SendResponse response;
  int64_t stream_opened_ms = 0;
  auto set_active = [&](grpc::ClientContext* active) {
    std::lock_guard<std::mutex> lock(mu_);
    peers_[id]->stream_context = active;
  };
  // How a stream ends: kDone (we are finished with it), kBroken (a write failed: the call is
  // over, Finish returns the peer's status), kCancel (we give up on it).
  enum class End { kDone, kBroken, kCancel };
  auto close_stream = [&](End how) {
    if (!stream) return;
    if (how == End::kDone) stream->WritesDone();
    if (how == End::kCancel) context->TryCancel();
    grpc::Status status = stream->Finish();
    if (!status.ok()) {
      DFS_LOG(DEBUG) << "raft stream to " << stub_address << " ended: " << status.error_message();
    }
    if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION && on_refused_) {
      on_refused_(stub_address, status);
    }
    set_active(nullptr);
    stream.reset();
    context.reset();
  };
  for (;;) {
    raft::MessageBatch batch;
    batch.set_from_address(self_address_);
    std::string address;
    {
      std::unique_lock<std::mutex> lock(mu_);
      Peer& peer = *peers_[id];
      peer.queued.wait(lock, [&] { return stopping_ || !peer.queue.empty(); });
      if (stopping_) break;
      size_t bytes = 0;
      while (!peer.queue.empty() && (bytes == 0 || bytes < kMaxBatchBytes)) {
        bytes += peer.queue.front().ByteSizeLong();
        *batch.add_messages() = std::move(peer.queue.front());
        peer.queue.pop_front();
      }
      peer.queued_bytes -= std::min(peer.queued_bytes, bytes);
      address = peer.address;
    }
    const int64_t now_ms = NowMs();
    if (address != stub_address || now_ms - stream_opened_ms > kStreamLifetimeMs / 2) {
      close_stream(End::kDone);
    }
    if (address != stub_address) {
      stub = raft::RaftService::NewStub(GetChannel(address));
      stub_address = address;
    }
    if (!stream) {
      context = std::make_unique<grpc::ClientContext>();
      SetTimeout(context.get(), kStreamLifetimeMs);
      stream = stub->Stream(context.get(), &response);
      stream_opened_ms = now_ms;
      set_active(context.get());
    }
    if (!stream->Write(batch)) close_stream(End::kBroken);  // best effort: Raft copes
  }
  close_stream(End::kCancel);
}

void RaftTransport::Shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& [id, peer] : peers_) {
      // A write blocked on a peer that stopped reading returns once its stream is cancelled.
      if (peer->stream_context != nullptr) peer->stream_context->TryCancel();
      threads.push_back(std::move(peer->thread));
      peer->queued.notify_all();
    }
  }
  for (auto& thread : threads) {
    if (thread.joinable()) thread.join();
  }
}

}  // namespace dfs
