// RaftTransport: delivers Raft messages to peer masters over gRPC (a RaftService.Stream per
// peer), one sender thread per peer so that a slow or dead peer never blocks the Raft loop or the
// other peers.
// Delivery is best effort — Raft tolerates loss, so a failed batch is dropped, not retried.
//
// A peer that refuses us for good (FAILED_PRECONDITION: the leader says this master is no member
// of the group, e.g. it was removed) ends the stream with that status; `on_refused` hears of it.
//
// A test hook can block delivery to chosen peers (a partition without iptables).
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "proto/raft.grpc.pb.h"

namespace dfs {

class RaftTransport {
 public:
  using RefusedCallback = std::function<void(const std::string& peer, const grpc::Status&)>;
  RaftTransport(std::string self_address, RefusedCallback on_refused)
      : self_address_(std::move(self_address)), on_refused_(std::move(on_refused)) {}
  ~RaftTransport();

  // Queues `message` for peer `to` at `address`.
  void Send(uint64_t to, const std::string& address, raft::Message message);
  // Test hook: messages to and from these member ids are dropped.
  void SetBlocked(std::set<uint64_t> blocked);
  bool IsBlocked(uint64_t id);
  void Shutdown();

 private:
  struct Peer {
    std::string address;
    std::deque<raft::Message> queue;
    size_t queued_bytes = 0;
    std::condition_variable queued;  // wakes this peer's sender only
    std::thread thread;
    grpc::ClientContext* stream_context = nullptr;  // the open stream's, to cancel it on shutdown
  };
  void PeerLoop(uint64_t id);

  const std::string self_address_;
  const RefusedCallback on_refused_;
  std::mutex mu_;
  std::map<uint64_t, std::unique_ptr<Peer>> peers_;  // guarded by mu_
  std::set<uint64_t> blocked_;                       // guarded by mu_
  bool stopping_ = false;                            // guarded by mu_
};

}  // namespace dfs
