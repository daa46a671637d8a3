// RaftNode: the Raft consensus core as a pure, deterministic state machine.
//
// A RaftNode owns no threads, locks, sockets, clocks or files, and draws randomness only from the
// seed in its options: its behaviour is a function of the calls made on it. Time enters as Tick(),
// the network as Step(message) and the outgoing messages of a Ready, the disk as the Ready's
// hard state / entries / snapshot (persisted by the caller through storage.h). The same core runs
// inside the seeded simulation (tests/sim) and behind the gRPC driver in the master.
// It holds no snapshot data either (that grows with the state machine): of its snapshot it keeps
// the metadata and the size; the chunks it sends name their bytes (offset, length), which the
// driver reads from its storage; a snapshot received from the leader is held only until the
// Ready that hands it out.
//
// Implemented: leader election with pre-vote and check-quorum (a follower that heard from a leader
// within the election timeout ignores (pre-)votes, so a node returning from a partition cannot
// depose a healthy leader); batched, pipelined log replication with bounded in-flight appends and
// conflict-term hints for fast backtracking; commit of current-term entries by counting (each new
// leader appends a no-op); snapshots streamed in chunks (InstallSnapshot); ReadIndex reads, and
// optionally lease reads; leadership transfer (catch up the target, then TimeoutNow); single-server
// membership changes (a configuration takes effect when appended; one change at a time).
//
// Thread safety: none. The driver serializes every call (one thread, or one mutex).
//
// ---------------------------------------------------------------------------------------------
// The driver contract (after etcd-io/raft's Ready/Advance):
//
//   storage = SegmentStorage::Open(dir)              // or MemoryStorage in tests
//   state   = storage->Load()
//   node    = RaftNode(options, state)               // options.applied_index = what the state
//                                                    // machine durably applied (>= snapshot)
//   loop:
//     feed inputs: node.Tick() every tick interval, node.Step(m) for each received message,
//                  node.Propose(cmd) / ProposeConfChange / ReadIndex / TransferLeadership
//     if node.HasReady():
//       rd = node.GetReady()
//       0. send the messages for which rd.SendableBeforePersist(m) (a leader's appends and
//          heartbeats), so that followers write to disk while the leader does
//       1. persist: storage->SaveReady(rd)  (hard state + snapshot + entries, one batch, fsync
//          if rd.must_sync) -- one fsync for every proposal that went into this Ready: group
//          commit. A failed write is fatal: abort the process (its disk state is unknown).
//       2. send the other rd.messages (only now: a vote or an append ack must never leave before
//          the state it vouches for is durable); delivery may fail, drop, reorder, duplicate --
//          Raft copes, so the transport never retries or blocks the loop. Batch per peer.
//          (In 0. and 2., a snapshot chunk gets its bytes from storage first: FillSnapshotChunk.)
//       3. apply: if rd.snapshot, restore the state machine from rd.snapshot->data();
//          then apply rd.committed_entries in order (ENTRY_NORMAL: the command;
//          ENTRY_CONF_CHANGE: a ConfChangeRecord, e.g. connect to a new member, or shut down
//          when change() removes this node; ENTRY_NO_OP: nothing).
//          Serve rd.read_states once the state machine has applied >= read_state.index.
//          Note rd.soft_state (leader/role changes): fail waiting proposals on a leader change.
//       4. node.Advance(rd)
//     periodically, with the state machine at applied index i:
//       w = storage->NewSnapshotWriter(i); write the state machine at i into w (on any thread);
//       w->Finish(); node.CompactTo(i, w->size()); storage->Compact(node.snapshot(), *w)
//     (the log between snapshot and last entry is held in memory: compaction bounds it).
//
// Between GetReady() and Advance() no other method of the node may be called (checked): the
// driver queues inputs that arrive meanwhile (they form the next group commit).
//
// A proposal is identified by the (index, term) Propose returns: it committed iff the state
// machine applies an entry at that index with that term; if another term is applied there, it was
// lost; if a snapshot jumps past it, the outcome is unknown. Either way the client retries, and
// its session (client id, sequence number) makes the retry safe. Pending proposals and reads are
// not failed by the core when leadership is lost; the driver fails them on a soft-state change or
// by timeout.
//
// Membership: a brand-new group starts every member with the same RaftOptions::initial_members
// (only on the very first start: with non-empty storage it is ignored). To add a node, start it
// with empty storage and no initial members (it waits, never campaigns), then call
// ProposeConfChange(ADD) on the leader; the leader sends it the log or a snapshot. The driver's
// address book is configuration() plus every member it has seen: responses may go to a node that
// has just been removed.
// ---------------------------------------------------------------------------------------------
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/random.h"
#include "master/raft/raft_log.h"
#include "master/raft/progress.h"
#include "proto/raft.pb.h"

namespace dfs::raft {

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };
const char* RoleName(Role role);

struct RaftOptions {
  uint64_t id = 0;  // this node's member id, nonzero
  // Members of a brand-new group. Used only when the restored state is empty: each initial member
  // then starts from the same log entry 1 holding this configuration. A node that joins an existing
  // group passes none and waits for the leader to send it the log (or a snapshot).
  std::vector<Member> initial_members;
  // The state machine's applied index at startup (entries up to it are not handed out again).
  // Must be >= the restored snapshot's index; lower values are raised to it.
  uint64_t applied_index = 0;

  // A follower campaigns after a random timeout in [election_ticks, 2 * election_ticks).
  int election_ticks = 10;
  int heartbeat_ticks = 1;  // must be < election_ticks
  uint64_t seed = 1;        // election jitter; a simulation run is a function of its seeds

  bool pre_vote = true;
  bool check_quorum = true;

  uint64_t max_bytes_per_msg = 1 << 20;        // entries per append message, at least one entry
  int max_inflight_msgs = 64;                  // pipelined appends per follower
  uint64_t max_snapshot_chunk_bytes = 1 << 20;
  uint64_t max_committed_bytes_per_ready = 8 << 20;  // at least one entry per Ready
  int snapshot_resend_ticks = 4;  // resend an unacknowledged snapshot chunk after this many ticks
  // A follower whose pipelined appends go unacknowledged this long is probed again (lost appends).
  int replicate_stall_ticks = 5;
  // Back-pressure: Propose fails (Unavailable, retry) while the leader's uncommitted entries of
  // its term hold more than this many payload bytes. 0: no limit.
  uint64_t max_uncommitted_bytes = 64 << 20;

  // Lease reads: a leader serves ReadIndex without a heartbeat round while a quorum acknowledged a
  // heartbeat sent less than (election_ticks - 2 - lease_drift_ticks) of its ticks ago.
  // Safe only if check_quorum is on and, over one election timeout, any two members' tick rates
  // differ by less than lease_drift_ticks / election_ticks (e.g. 2/10: ticks may run 20% fast or
  // slow relative to each other). With leases on, a restarted node also refuses votes for its
  // first election timeout, since it forgot which leader it promised.
  bool lease_reads = false;
  int lease_drift_ticks = 2;

  absl::Status Validate() const;
};

// Volatile state that the driver may want to watch (leader changes).
struct SoftState {
  uint64_t leader = 0;
  Role role = Role::kFollower;
  bool operator==(const SoftState& o) const { return leader == o.leader && role == o.role; }
  bool operator!=(const SoftState& o) const { return !(*this == o); }
};

// A ReadIndex answer: once the state machine has applied `index`, a read issued with `context`
// observes every write that completed before the ReadIndex call.
struct ReadState {
  std::string context;
  uint64_t index = 0;
};

// What the node asks the driver to do; see the contract at the top of this file.
struct Ready {
  std::optional<SoftState> soft_state;  // set when leader or role changed
  std::optional<HardState> hard_state;  // set when term, vote or commit changed
  std::vector<Entry> entries;           // append, replacing any stored suffix from entries[0]
  std::optional<Snapshot> snapshot;     // received from the leader, with its data: persist, then
                                        // restore from it
  std::vector<Entry> committed_entries; // apply in order (after the snapshot, if any)
  std::vector<Message> messages;        // send after persisting, except SendableBeforePersist
  std::vector<ReadState> read_states;
  bool must_sync = false;  // entries, snapshot, term or vote changed: fsync before sending
  bool term_or_vote_changed = false;

  // True for the messages that may leave before this Ready is persisted, so that a leader's disk
  // write overlaps its followers' (Raft thesis 10.2.1): a leader's appends, heartbeats and
  // snapshot chunks vouch for nothing on its own disk (it counts its own log toward commit only
  // once persisted), as long as the term and vote they carry are already durable. Votes and
  // acknowledgements always wait for the persist.
  bool SendableBeforePersist(const Message& m) const {
    return !term_or_vote_changed &&
           (m.type() == MSG_APP || m.type() == MSG_HEARTBEAT || m.type() == MSG_SNAP);
  }

  bool empty() const {
    return !soft_state && !hard_state && entries.empty() && !snapshot &&
           committed_entries.empty() && messages.empty() && read_states.empty();
  }
};

// What storage hands back at startup (see storage.h).
struct PersistentState {
  HardState hard_state;
  SnapshotMetadata snapshot;    // index 0: none
  uint64_t snapshot_bytes = 0;  // size of its data (Storage::ReadSnapshotData)
  std::vector<Entry> entries;   // contiguous, starting at snapshot index + 1
};

// (index, term) of an accepted proposal.
struct ProposalId {
  uint64_t index = 0;
  uint64_t term = 0;
};

// Errors: not being leader is Unavailable with the known leader id (0: unknown) attached; read it
// with LeaderHint(status).
absl::Status NotLeaderError(uint64_t leader);
uint64_t LeaderHint(const absl::Status& status);

class RaftNode {
 public:
  RaftNode(const RaftOptions& options, const PersistentState& state);
  RaftNode(const RaftNode&) = delete;
  RaftNode& operator=(const RaftNode&) = delete;

  // Advances logical time by one tick.
  void Tick();
  // Handles a message from a peer. Messages not addressed to this node are ignored.
  void Step(const Message& message);

  // Appends a command to the log if this node is the leader. Unavailable otherwise (with the
  // leader hint), while leadership is being transferred, or while too much is uncommitted
  // (max_uncommitted_bytes; the hint then names this node).
  absl::StatusOr<ProposalId> Propose(std::string data);
  // Proposes adding or removing one member. FailedPrecondition while another change is uncommitted
  // or before this leader committed an entry of its term (retry later); AlreadyExists / NotFound /
  // InvalidArgument for a change that makes no sense.
  absl::StatusOr<ProposalId> ProposeConfChange(const ConfChange& change);
  // Starts a linearizable read. The answer arrives later as a ReadState with this context (on a
  // follower, after a round trip to the leader). Unavailable if no leader is known. A read may be
  // dropped silently when leadership changes; the driver times it out.
  absl::Status ReadIndex(std::string context);
  // Asks the leader to hand leadership to `target` (a member): it stops accepting proposals,
  // brings the target up to date, then tells it to campaign. Abandoned after an election timeout.
  absl::Status TransferLeadership(uint64_t target);

  // Compacts the log up to `index` (<= applied). The state machine at that index is the
  // snapshot's data, `data_bytes` long, which the driver has written to storage and now stores
  // with snapshot() (Storage::Compact).
  absl::Status CompactTo(uint64_t index, uint64_t data_bytes);

  bool HasReady();
  Ready GetReady();
  void Advance(const Ready& ready);

  // Observers (for the driver, metrics and tests).
  uint64_t id() const { return id_; }
  Role role() const { return role_; }
  uint64_t leader() const { return lead_; }
  uint64_t term() const { return term_; }
  uint64_t vote() const { return vote_; }
  uint64_t commit_index() const { return log_.committed(); }
  uint64_t applied_index() const { return log_.applied(); }
  uint64_t first_index() const { return log_.first_index(); }
  uint64_t last_index() const { return log_.last_index(); }
  // Effective configuration: the latest in the log, committed or not.
  const Configuration& configuration() const { return log_.configuration(); }
  bool IsMember(uint64_t id) const;
  // Latest snapshot (compaction point): metadata and data size; the data is in storage.
  const SnapshotMetadata& snapshot() const { return log_.snapshot(); }
  uint64_t snapshot_bytes() const { return log_.snapshot_bytes(); }
  const RaftLog& log() const { return log_; }
  uint64_t lead_transferee() const { return lead_transferee_; }
  // Leader only: replication progress of a member (nullptr if unknown).
  const Progress* progress(uint64_t id) const;
  std::string DebugString() const;

 private:
  struct PendingRead {
    std::string context;
    uint64_t index = 0;
    uint64_t from = 0;          // requester; this node's id for a local read
    uint64_t required_seq = 0;  // heartbeat round that must reach a quorum
  };
  // A snapshot being received. Its chunks gather in memory (not in a file: only a follower that
  // catches up by snapshot holds them, until the Ready that hands the snapshot out).
  struct IncomingSnapshot {
    bool active = false;
    uint64_t term = 0;  // leader term that sends it
    SnapshotMetadata metadata;
    uint64_t total_bytes = 0;
    std::string data;
  };

  // Role changes.
  void BecomeFollower(uint64_t term, uint64_t lead);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void Reset(uint64_t term);
  void ResetRandomizedElectionTimeout();
  void Campaign(bool pre_vote, bool transfer);
  bool Promotable() const;
  int Quorum() const;
  std::vector<uint64_t> Voters() const;
  // Records a vote; returns +1 won, -1 lost, 0 pending.
  int Poll(uint64_t id, bool granted);

  void TickElection();
  void TickHeartbeat();

  // Message handling.
  void StepFollower(const Message& m);
  void StepCandidate(const Message& m);
  void StepLeader(const Message& m);
  void HandleVote(const Message& m);
  void HandleAppend(const Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleSnapshotChunk(const Message& m);
  void HandleAppendResponse(const Message& m, Progress& pr);
  void HandleHeartbeatResponse(const Message& m, Progress& pr);
  void HandleSnapshotResponse(const Message& m, Progress& pr);
  void HandleReadIndexRequest(uint64_t from, std::string context);
  bool InLease() const;
  bool LeaseValid() const;

  // Leader replication.
  void Send(Message m);
  bool SendAppend(uint64_t to, bool send_if_empty);
  void SendSnapshotChunk(uint64_t to, Progress& pr);
  void SendHeartbeat(uint64_t to);
  // Starts heartbeat round hb_seq_ + 1 to every peer (each tick) or, for a read, only to as many
  // voters as a quorum needs beside this node (SendReadRound).
  void BroadcastHeartbeat();
  void SendReadRound();
  void FlushBroadcasts();
  bool MaybeCommit();
  void OnCommitAdvanced();
  void AppendAsLeader(Entry entry);
  void SyncProgressWithConfig();
  void SendTimeoutNow(uint64_t to);
  void AbortTransfer() { lead_transferee_ = 0; }
  bool CommittedInTerm() const { return log_.committed() >= term_start_index_; }
  // Releases pending reads whose heartbeat round reached a quorum.
  void ReleaseReads();
  void RespondRead(const PendingRead& read);
  uint64_t QuorumAckedSeq() const;

  HardState CurrentHardState() const;
  SoftState CurrentSoftState() const { return SoftState{lead_, role_}; }

  RaftOptions opts_;
  uint64_t id_;
  Random rand_;
  RaftLog log_;

  uint64_t term_ = 0;
  uint64_t vote_ = 0;
  uint64_t lead_ = 0;
  Role role_ = Role::kFollower;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;
  bool quiet_after_start_ = false;  // lease reads: refuse votes for the first election timeout
  uint64_t ticks_ = 0;              // ticks since construction (lease arithmetic)

  std::map<uint64_t, bool> votes_;
  std::map<uint64_t, Progress> prs_;  // leader only; includes this node while it is a member
  uint64_t lead_transferee_ = 0;
  uint64_t term_start_index_ = 0;  // index of this leader's no-op
  uint64_t uncommitted_bytes_ = 0;  // payload of this leader's entries above the commit index

  // Reads.
  uint64_t hb_seq_ = 0;                       // last heartbeat round sent
  std::map<uint64_t, uint64_t> hb_sent_tick_; // round -> tick it was sent (for leases)
  std::deque<PendingRead> pending_reads_;     // ordered by required_seq
  std::vector<PendingRead> reads_before_commit_;  // wait for this leader's first commit
  bool read_round_needed_ = false;
  uint64_t lease_start_tick_ = 0;  // send tick of the last round acknowledged by a quorum
  bool lease_valid_ = false;
  bool lease_revoked_ = false;     // a TimeoutNow went out this term: no more lease reads

  bool append_broadcast_needed_ = false;

  IncomingSnapshot incoming_snapshot_;
  // Complete, with its data, from HandleSnapshotChunk until GetReady hands it out.
  std::optional<Snapshot> received_snapshot_;

  std::vector<Message> msgs_;
  std::vector<ReadState> read_states_;

  HardState prev_hard_state_;
  SoftState prev_soft_state_;
  bool ready_outstanding_ = false;
};

}  // namespace dfs::raft
