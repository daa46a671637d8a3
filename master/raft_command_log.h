// RaftCommandLog: the CommandLog of a replicated master. It drives the pure Raft core
// (master/raft/raft_node.h) with real time (a tick every tick_ms), a durable log in segment files
// (master/raft/segment_storage.h), gRPC transport (raft_transport.h) and the namespace state
// machine, following the core's persist -> send -> apply -> advance contract on one loop thread.
//
// Proposals from any thread queue up and enter the core together, so all of them share one fsync
// (group commit). A proposal completes when its (index, term) is applied; if another entry lands
// there, or this node loses leadership first, it fails with Unavailable and the client retries
// under its session. ReadBarrier uses ReadIndex: linearizable reads without a log write.
//
// Member ids are derived from addresses (MemberIdForAddress), so `dfsadmin raft add ADDR` needs
// nothing else; an address that is re-added must come back with an empty data directory.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "master/command_log.h"
#include "master/raft/segment_storage.h"
#include "master/raft/raft_node.h"
#include "master/raft_transport.h"
#include "master/state_machine.h"
#include "proto/master.pb.h"
#include "proto/raft.grpc.pb.h"

namespace dfs {

uint64_t MemberIdForAddress(const std::string& address);

struct RaftCommandLogOptions {
  std::string dir;                       // the Raft log's directory
  std::string address;                   // this master's address (clients and peers)
  std::vector<std::string> initial_peers;  // every member of a new group, this one included
  bool join = false;                     // start empty; wait to be added by the leader
  int tick_ms = 100;
  int election_ticks = 10;               // election timeout: election_ticks * tick_ms
  uint64_t seed = 1;
  uint64_t snapshot_every_entries = 20000;
  bool lease_reads = false;
  int64_t read_timeout_ms = 5000;
  // A replicating leader, once its last batch committed, waits up to this long for as many
  // proposals as that batch had before it proposes the next (see ProposalGate). 0: never.
  int proposal_gather_us = 0;
  // Called once, on a transport thread, when the leader refuses this master because it is no
  // member of the group (it was removed): the owner stops the master.
  std::function<void(const std::string& why)> on_removed;
};

class RaftCommandLog : public CommandLog {
 public:
  static absl::StatusOr<std::unique_ptr<RaftCommandLog>> Open(const RaftCommandLogOptions& options,
                                                              StateMachine* sm);
  ~RaftCommandLog() override;

  absl::StatusOr<CommandResult> Propose(const Command& command) override;
  absl::Status ReadBarrier() override;
  bool IsLeader() override { return is_leader_.load(); }
  std::string LeaderHint() override;

  // Messages from a peer (RaftService.Stream). A leader refuses a sender that is no member of its
  // configuration (FailedPrecondition): a removed master learns so and stops, where it would
  // otherwise campaign forever, since nobody replicates to it any more.
  absl::Status Receive(const raft::MessageBatch& batch);

  // Membership and leadership (leader only).
  absl::Status AddMember(const std::string& address);
  absl::Status RemoveMember(const std::string& address);
  absl::Status TransferLeadership(const std::string& address);
  // Takes a snapshot now and compacts the log.
  absl::Status SnapshotNow();
  // This node's view: role, term, indexes and (on the leader) every member's progress.
  RaftStatusResponse Status();

  // Test hook: drop traffic to and from these peers.
  void SetBlockedPeers(const std::vector<std::string>& addresses);

  void Shutdown();

 private:
  friend class RaftServiceImpl;
  RaftCommandLog(const RaftCommandLogOptions& options, StateMachine* sm,
                 std::unique_ptr<raft::Storage> storage);

  // Runs `fn` on the loop thread with the node, between Readies; returns its result.
  absl::Status RunOnLoop(std::function<absl::Status(raft::RaftNode&)> fn);
  void Loop();
  // Ticks the core once for each tick_ms from `next_tick` up to `now` (a bounded number of times
  // after a long stall); returns the next tick's time.
  std::chrono::steady_clock::time_point TickUntil(std::chrono::steady_clock::time_point now,
                                                  std::chrono::steady_clock::time_point next_tick);
  // Whether new proposals wait: a leader holds them while its last batch is uncommitted, so that
  // they go out together in the next batch (one fsync and one append per follower for all of
  // them) rather than one small batch per wake-up of the loop, each with its own fsync and
  // messages. One client is not slowed: with nothing in flight its proposal goes at once.
  bool HoldProposals() const;
  // When queued proposals may go into the core:
  //   kHeld: the last batch is uncommitted (HoldProposals);
  //   kGathering: it committed less than proposal_gather_us ago, in a group of more than one, and
  //     fewer proposals wait than it had: the clients it answered are on their way back, and
  //     waiting for them makes the next batch as large. Every batch costs a replication round
  //     (the leader's fsync, an append to and an ack from each follower, each follower's fsync),
  //     which fewer, larger batches share. A lone client never waits: its batch had one;
  //   kOpen: otherwise.
  enum class ProposalGate { kOpen, kHeld, kGathering };
  ProposalGate Gate(std::chrono::steady_clock::time_point now) const;  // loop thread, mu_ held
  // Whether queued proposals may go in, by the gate the loop last published (mu_ held).
  bool ProposalsReady() const;
  void HandleReady(raft::Ready ready);
  // Sends the Ready's messages (before_persist: only those that may leave before it is persisted)
  // and removes them from it. Snapshot chunks get their bytes from the storage's file here.
  void SendMessages(raft::Ready& ready, bool before_persist);
  void ApplyEntry(const raft::Entry& entry);
  void FailPending(const absl::Status& status);
  // Snapshots and compacts the log every snapshot_every_entries (streamed into a file of the
  // log's storage on a thread of its own), or now and on the loop thread when forced.
  void MaybeCompact(bool force);
  // Compacts the node and the storage to `index`, whose state `data` holds (finished).
  void CompactTo(uint64_t index, raft::SnapshotWriter& data);
  std::string AddressOf(uint64_t id);
  // The transport's report that `peer` refused us for good.
  void OnRefused(const std::string& peer, const grpc::Status& status);

  using ResultPromise = std::promise<absl::StatusOr<CommandResult>>;
  struct PendingProposal {
    uint64_t term;
    std::shared_ptr<ResultPromise> result;
  };
  struct PendingRead {
    std::promise<absl::Status> done;
    uint64_t index = 0;  // 0 until the read state arrives
    int64_t deadline_ns = 0;
  };
  // Submits a proposal on the loop thread and waits for its outcome.
  absl::StatusOr<CommandResult> ProposeAndWait(
      std::function<absl::StatusOr<raft::ProposalId>(raft::RaftNode&)> propose);

  const RaftCommandLogOptions options_;
  StateMachine* const sm_;
  std::unique_ptr<raft::Storage> storage_;
  std::unique_ptr<raft::RaftNode> node_;  // loop thread only
  RaftTransport transport_;
  std::atomic<bool> is_leader_{false};
  std::atomic<uint64_t> leader_id_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                                    // guarded by mu_
  std::vector<raft::Message> inbox_;                         // guarded by mu_
  std::deque<std::function<void(raft::RaftNode&)>> tasks_;   // guarded by mu_
  // Proposals the loop has not handed to the core yet (see HoldProposals).
  std::deque<std::function<void(raft::RaftNode&)>> proposal_tasks_;  // guarded by mu_
  // The gate as the loop saw it when it last went to sleep (kOpen while it is awake): a proposer
  // wakes the loop only if the gate lets its proposal through.
  ProposalGate gate_ = ProposalGate::kOpen;  // guarded by mu_
  size_t gather_target_ = 0;                 // guarded by mu_: the size of the last batch
  std::map<std::string, uint64_t> addresses_;                // guarded by mu_: address -> id
  std::map<uint64_t, std::string> members_;                  // guarded by mu_: id -> address
  std::set<uint64_t> voters_;                                // guarded by mu_: the configuration
  std::atomic<bool> removed_{false};

  // Loop thread only.
  std::map<uint64_t, PendingProposal> proposals_;  // by index
  std::map<std::string, std::shared_ptr<PendingRead>> reads_;  // by context
  uint64_t next_read_ = 0;
  uint64_t last_snapshot_index_ = 0;
  // The last batch of proposals handed to the core: its last index, and the term it was made in.
  uint64_t last_proposed_index_ = 0;
  uint64_t last_proposed_term_ = 0;
  bool awaiting_commit_ = false;                       // the last batch is not known committed
  std::chrono::steady_clock::time_point gather_until_;  // the gather window's end
  uint64_t proposals_made_ = 0;
  uint64_t proposal_batches_ = 0;
  bool snapshot_building_ = false;
  std::thread snapshot_builder_;
  std::thread loop_;
};

// The gRPC face of the Raft transport: peers' streams of messages go to the log's loop.
class RaftServiceImpl final : public raft::RaftService::Service {
 public:
  explicit RaftServiceImpl(RaftCommandLog* log) : log_(log) {}
  grpc::Status Stream(grpc::ServerContext* context, grpc::ServerReader<raft::MessageBatch>* reader,
                      raft::SendResponse*) override;
  // Ends every open stream now (they never end on their own), so that server shutdown is prompt.
  void Stop();

 private:
  RaftCommandLog* log_;
  std::mutex mu_;
  bool stopped_ = false;                      // guarded by mu_
  std::set<grpc::ServerContext*> streams_;    // guarded by mu_
};

}  // namespace dfs
