#include "master/raft/raft_node.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace dfs::raft {

namespace {

constexpr char kLeaderPayloadUrl[] = "dfs/raft-leader";

bool SameHardState(const HardState& a, const HardState& b) {
  return a.term() == b.term() && a.vote() == b.vote() && a.commit() == b.commit();
}

Message NewMessage(MessageType type, uint64_t to) {
  Message m;
  m.set_type(type);
  m.set_to(to);
  return m;
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kFollower: return "follower";
    case Role::kPreCandidate: return "pre-candidate";
    case Role::kCandidate: return "candidate";
    case Role::kLeader: return "leader";
  }
  return "?";
}

absl::Status RaftOptions::Validate() const {
  if (id == 0) return absl::InvalidArgumentError("raft: id must be nonzero");
  if (heartbeat_ticks < 1) return absl::InvalidArgumentError("raft: heartbeat_ticks must be >= 1");
  if (election_ticks <= heartbeat_ticks) {
    return absl::InvalidArgumentError("raft: election_ticks must exceed heartbeat_ticks");
  }
  if (max_inflight_msgs < 1) return absl::InvalidArgumentError("raft: max_inflight_msgs < 1");
  if (max_snapshot_chunk_bytes == 0) {
    return absl::InvalidArgumentError("raft: max_snapshot_chunk_bytes must be positive");
  }
  if (snapshot_resend_ticks < 1) return absl::InvalidArgumentError("raft: snapshot_resend_ticks < 1");
  if (replicate_stall_ticks < 1) return absl::InvalidArgumentError("raft: replicate_stall_ticks < 1");
  if (lease_reads) {
    if (!check_quorum) return absl::InvalidArgumentError("raft: lease_reads needs check_quorum");
    if (lease_drift_ticks < 0 || election_ticks - 2 - lease_drift_ticks < 1) {
      return absl::InvalidArgumentError("raft: lease_drift_ticks leaves no lease");
    }
  }
  std::set<uint64_t> ids;
  for (const Member& m : initial_members) {
    if (m.id() == 0 || !ids.insert(m.id()).second) {
      return absl::InvalidArgumentError("raft: initial member ids must be unique and nonzero");
    }
  }
  return absl::OkStatus();
}

absl::Status NotLeaderError(uint64_t leader) {
  absl::Status status = absl::UnavailableError(
      leader != 0 ? absl::StrCat("not the Raft leader; leader is ", leader)
                  : std::string("not the Raft leader; leader unknown"));
  status.SetPayload(kLeaderPayloadUrl, absl::Cord(std::to_string(leader)));
  return status;
}

uint64_t LeaderHint(const absl::Status& status) {
  uint64_t leader = 0;
  if (auto payload = status.GetPayload(kLeaderPayloadUrl)) {
    if (!absl::SimpleAtoi(std::string(*payload), &leader)) leader = 0;
  }
  return leader;
}

RaftNode::RaftNode(const RaftOptions& options, const PersistentState& state)
    : opts_(options), id_(options.id), rand_(options.seed * 0x9E3779B97F4A7C15ull + options.id) {
  DFS_CHECK_OK(opts_.Validate());
  const HardState& hs = state.hard_state;
  bool empty = hs.term() == 0 && hs.vote() == 0 && hs.commit() == 0 && state.entries.empty() &&
               state.snapshot.index() == 0;
  if (empty && !opts_.initial_members.empty()) {
    // A new group: every initial member starts from the same entry 1, committed by fiat.
    std::vector<Member> members = opts_.initial_members;
    std::sort(members.begin(), members.end(),
              [](const Member& a, const Member& b) { return a.id() < b.id(); });
    ConfChangeRecord record;
    for (const Member& m : members) *record.mutable_configuration()->add_members() = m;
    Entry entry;
    entry.set_index(1);
    entry.set_term(1);
    entry.set_type(ENTRY_CONF_CHANGE);
    entry.set_data(record.SerializeAsString());
    log_.Reset(SnapshotMetadata(), 0, {}, 0, 0);
    log_.Append(std::move(entry));
    log_.CommitTo(1);
    term_ = 1;
  } else {
    log_.Reset(state.snapshot, state.snapshot_bytes, state.entries, hs.commit(),
               opts_.applied_index);
    term_ = hs.term();
    vote_ = hs.vote();
    prev_hard_state_ = hs;
  }
  prev_soft_state_ = SoftState{0, Role::kFollower};
  BecomeFollower(term_, 0);
}

bool RaftNode::IsMember(uint64_t id) const { return HasMember(configuration(), id); }

bool RaftNode::Promotable() const { return IsMember(id_); }

int RaftNode::Quorum() const { return configuration().members_size() / 2 + 1; }

std::vector<uint64_t> RaftNode::Voters() const {
  std::vector<uint64_t> ids;
  for (const Member& m : configuration().members()) ids.push_back(m.id());
  return ids;
}

const Progress* RaftNode::progress(uint64_t id) const {
  auto it = prs_.find(id);
  return it == prs_.end() ? nullptr : &it->second;
}

HardState RaftNode::CurrentHardState() const {
  HardState hs;
  hs.set_term(term_);
  hs.set_vote(vote_);
  hs.set_commit(log_.committed());
  return hs;
}

// ----------------------------------------------------------------------------------------------
// Roles.

void RaftNode::ResetRandomizedElectionTimeout() {
  randomized_election_timeout_ =
      static_cast<int>(rand_.Range(opts_.election_ticks, 2 * opts_.election_ticks - 1));
}

void RaftNode::Reset(uint64_t term) {
  if (term_ != term) {
    term_ = term;
    vote_ = 0;
  }
  lead_ = 0;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  ResetRandomizedElectionTimeout();
  AbortTransfer();
  votes_.clear();
  prs_.clear();
  term_start_index_ = 0;
  uncommitted_bytes_ = 0;
  hb_sent_tick_.clear();
  pending_reads_.clear();
  reads_before_commit_.clear();
  read_round_needed_ = false;
  lease_valid_ = false;
  lease_start_tick_ = 0;
  lease_revoked_ = false;
  append_broadcast_needed_ = false;
}

void RaftNode::BecomeFollower(uint64_t term, uint64_t lead) {
  Reset(term);
  lead_ = lead;
  role_ = Role::kFollower;
}

void RaftNode::BecomePreCandidate() {
  DFS_CHECK(role_ != Role::kLeader);
  // Term and vote stay: a pre-vote only asks whether an election could be won.
  votes_.clear();
  prs_.clear();
  lead_ = 0;
  role_ = Role::kPreCandidate;
}

void RaftNode::BecomeCandidate() {
  DFS_CHECK(role_ != Role::kLeader);
  Reset(term_ + 1);
  vote_ = id_;
  role_ = Role::kCandidate;
}

void RaftNode::BecomeLeader() {
  DFS_CHECK(role_ == Role::kCandidate);
  Reset(term_);
  lead_ = id_;
  role_ = Role::kLeader;
  SyncProgressWithConfig();
  // Entries of earlier terms commit only once an entry of this term does: append one right away.
  Entry noop;
  noop.set_type(ENTRY_NO_OP);
  term_start_index_ = log_.last_index() + 1;
  AppendAsLeader(std::move(noop));
}

void RaftNode::SyncProgressWithConfig() {
  std::set<uint64_t> voters;
  for (uint64_t id : Voters()) {
    voters.insert(id);
    if (id == id_ || prs_.count(id) != 0) continue;
    Progress pr(log_.last_index() + 1, opts_.max_inflight_msgs);
    pr.recent_active = true;
    prs_.emplace(id, pr);
  }
  for (auto it = prs_.begin(); it != prs_.end();) {
    if (voters.count(it->first) == 0) {
      if (lead_transferee_ == it->first) AbortTransfer();
      it = prs_.erase(it);
    } else {
      ++it;
    }
  }
}

void RaftNode::Campaign(bool pre_vote, bool transfer) {
  uint64_t vote_term;
  MessageType type;
  if (pre_vote) {
    BecomePreCandidate();
    vote_term = term_ + 1;
    type = MSG_PRE_VOTE;
  } else {
    BecomeCandidate();
    vote_term = term_;
    type = MSG_VOTE;
  }
  if (Poll(id_, true) > 0) {
    // A group of one.
    if (pre_vote) {
      Campaign(false, transfer);
    } else {
      BecomeLeader();
    }
    return;
  }
  for (uint64_t id : Voters()) {
    if (id == id_) continue;
    Message m = NewMessage(type, id);
    m.set_term(vote_term);
    m.set_index(log_.last_index());
    m.set_log_term(log_.last_term());
    m.set_transfer(transfer);
    Send(std::move(m));
  }
}

int RaftNode::Poll(uint64_t id, bool granted) {
  votes_.emplace(id, granted);
  int yes = 0, no = 0;
  for (uint64_t voter : Voters()) {
    auto it = votes_.find(voter);
    if (it == votes_.end()) continue;
    (it->second ? yes : no)++;
  }
  int q = Quorum();
  if (yes >= q) return 1;
  if (configuration().members_size() - no < q) return -1;
  return 0;
}

// ----------------------------------------------------------------------------------------------
// Time.

void RaftNode::Tick() {
  DFS_CHECK(!ready_outstanding_);
  ++ticks_;
  if (role_ == Role::kLeader) {
    TickHeartbeat();
  } else {
    TickElection();
  }
}

void RaftNode::TickElection() {
  ++election_elapsed_;
  if (Promotable() && election_elapsed_ >= randomized_election_timeout_) {
    election_elapsed_ = 0;
    Campaign(opts_.pre_vote, false);
  }
}

void RaftNode::TickHeartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= opts_.election_ticks) {
    election_elapsed_ = 0;
    if (opts_.check_quorum) {
      int active = IsMember(id_) ? 1 : 0;
      for (auto& [id, pr] : prs_) {
        if (pr.recent_active) ++active;
        pr.recent_active = false;
      }
      if (active < Quorum()) {
        // Cut off from a quorum for a whole election timeout: others may have elected a leader.
        BecomeFollower(term_, 0);
        return;
      }
    }
    if (lead_transferee_ != 0) AbortTransfer();
  }
  for (auto& [id, pr] : prs_) {
    if (pr.state == Progress::State::kSnapshot) {
      if (++pr.snapshot_idle_ticks >= opts_.snapshot_resend_ticks) SendSnapshotChunk(id, pr);
    } else if (pr.state == Progress::State::kReplicate && pr.inflight() > 0) {
      if (++pr.stall_ticks >= opts_.replicate_stall_ticks) {
        // Appends were lost (or the follower restarted): find its position again.
        pr.BecomeProbe();
        SendAppend(id, /*send_if_empty=*/true);
      }
    }
  }
  if (heartbeat_elapsed_ >= opts_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    BroadcastHeartbeat();
    ReleaseReads();
  }
}

// ----------------------------------------------------------------------------------------------
// Messages.

bool RaftNode::InLease() const {
  if (!opts_.check_quorum) return false;
  // With leases a restarted node does not know whom it promised not to replace: wait it out.
  if (opts_.lease_reads && ticks_ < static_cast<uint64_t>(opts_.election_ticks)) return true;
  return lead_ != 0 && election_elapsed_ < opts_.election_ticks;
}

void RaftNode::Send(Message m) {
  m.set_from(id_);
  if (m.term() == 0) m.set_term(term_);
  msgs_.push_back(std::move(m));
}

void RaftNode::Step(const Message& m) {
  DFS_CHECK(!ready_outstanding_);
  if (m.to() != id_ || m.from() == 0 || m.from() == id_) return;
  const MessageType type = m.type();
  if (m.term() > term_) {
    if (type == MSG_VOTE || type == MSG_PRE_VOTE) {
      // Check-quorum lease: while we hear from a leader, nobody else may start a term.
      if (!m.transfer() && InLease()) return;
    }
    if (type == MSG_PRE_VOTE) {
      // A pre-vote never changes our term.
    } else if (type == MSG_PRE_VOTE_RESP && !m.reject()) {
      // Granted pre-votes carry the term we would campaign in; counted below.
    } else if (type == MSG_APP || type == MSG_HEARTBEAT || type == MSG_SNAP) {
      BecomeFollower(m.term(), m.from());
    } else {
      BecomeFollower(m.term(), 0);
    }
  } else if (m.term() < term_) {
    if (type == MSG_APP || type == MSG_HEARTBEAT || type == MSG_SNAP) {
      // A stale leader (e.g. back from a partition) learns the newer term from this and steps
      // down. Always answer (etcd answers only with check-quorum or pre-vote and otherwise relies
      // on vote requests reaching the stale leader; the simulation found a deadlock where none
      // does: the only candidate's configuration predates the stale leader's membership). A
      // removed node gets no appends, so this adds no disruption.
      Send(NewMessage(MSG_APP_RESP, m.from()));
    } else if (type == MSG_PRE_VOTE || type == MSG_VOTE) {
      // Reject with our term, so a candidate stuck at a lower term catches up. (etcd ignores a
      // stale MsgVote; the simulation found a livelock where the only electable candidate never
      // learns the newer term: the nodes ahead of it do not have it in their configuration.)
      Message resp =
          NewMessage(type == MSG_PRE_VOTE ? MSG_PRE_VOTE_RESP : MSG_VOTE_RESP, m.from());
      resp.set_reject(true);
      Send(std::move(resp));
    }
    return;
  }

  if (type == MSG_VOTE || type == MSG_PRE_VOTE) {
    HandleVote(m);
    return;
  }
  switch (role_) {
    case Role::kFollower: StepFollower(m); break;
    case Role::kPreCandidate:
    case Role::kCandidate: StepCandidate(m); break;
    case Role::kLeader: StepLeader(m); break;
  }
}

void RaftNode::HandleVote(const Message& m) {
  const bool pre = m.type() == MSG_PRE_VOTE;
  const MessageType resp_type = pre ? MSG_PRE_VOTE_RESP : MSG_VOTE_RESP;
  const bool can_vote = vote_ == m.from() || (vote_ == 0 && lead_ == 0) || (pre && m.term() > term_);
  if (can_vote && log_.IsUpToDate(m.index(), m.log_term())) {
    Message resp = NewMessage(resp_type, m.from());
    resp.set_term(m.term());
    Send(std::move(resp));
    if (!pre) {
      election_elapsed_ = 0;
      vote_ = m.from();
    }
  } else {
    Message resp = NewMessage(resp_type, m.from());
    resp.set_reject(true);
    Send(std::move(resp));
  }
}

void RaftNode::StepFollower(const Message& m) {
  switch (m.type()) {
    case MSG_APP:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleAppend(m);
      break;
    case MSG_HEARTBEAT:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleHeartbeat(m);
      break;
    case MSG_SNAP:
      election_elapsed_ = 0;
      lead_ = m.from();
      HandleSnapshotChunk(m);
      break;
    case MSG_TIMEOUT_NOW:
      if (Promotable()) Campaign(/*pre_vote=*/false, /*transfer=*/true);
      break;
    case MSG_READ_INDEX_RESP:
      if (!m.reject()) read_states_.push_back(ReadState{m.context(), m.index()});
      break;
    default: break;
  }
}

void RaftNode::StepCandidate(const Message& m) {
  switch (m.type()) {
    case MSG_APP:
    case MSG_HEARTBEAT:
    case MSG_SNAP:
      // Someone won this term.
      BecomeFollower(m.term(), m.from());
      StepFollower(m);
      break;
    case MSG_PRE_VOTE_RESP:
    case MSG_VOTE_RESP: {
      const bool mine = (role_ == Role::kPreCandidate) == (m.type() == MSG_PRE_VOTE_RESP);
      if (!mine) break;
      int result = Poll(m.from(), !m.reject());
      if (result > 0) {
        if (role_ == Role::kPreCandidate) {
          Campaign(/*pre_vote=*/false, /*transfer=*/false);
        } else {
          BecomeLeader();
        }
      } else if (result < 0) {
        BecomeFollower(term_, 0);
      }
      break;
    }
    default: break;
  }
}

void RaftNode::StepLeader(const Message& m) {
  switch (m.type()) {
    case MSG_APP:
    case MSG_HEARTBEAT:
    case MSG_SNAP:
      // Two leaders in one term: election safety is broken. Stop before doing damage.
      DFS_CHECK(false && "two leaders in one term");
      break;
    case MSG_READ_INDEX:
      HandleReadIndexRequest(m.from(), m.context());
      break;
    case MSG_APP_RESP:
    case MSG_HEARTBEAT_RESP:
    case MSG_SNAP_RESP: {
      auto it = prs_.find(m.from());
      if (it == prs_.end()) break;
      Progress& pr = it->second;
      pr.recent_active = true;  // for check-quorum
      if (m.type() == MSG_APP_RESP) {
        HandleAppendResponse(m, pr);
      } else if (m.type() == MSG_HEARTBEAT_RESP) {
        HandleHeartbeatResponse(m, pr);
      } else if (m.type() == MSG_SNAP_RESP) {
        HandleSnapshotResponse(m, pr);
      }
      break;
    }
    default: break;
  }
}

void RaftNode::HandleAppend(const Message& m) {
  Message resp = NewMessage(MSG_APP_RESP, m.from());
  if (m.index() < log_.committed()) {
    resp.set_index(log_.committed());
    Send(std::move(resp));
    return;
  }
  if (log_.MatchTerm(m.index(), m.log_term())) {
    uint64_t last_new = log_.MaybeAppend(m.index(), m.entries());
    log_.CommitTo(std::min(m.commit(), last_new));
    resp.set_index(last_new);
    Send(std::move(resp));
    return;
  }
  // Tell the leader where to probe next: the last index whose term is <= the term it sent, so it
  // can skip a whole term of divergent entries in one round trip.
  auto [hint_index, hint_term] =
      log_.FindConflictByTerm(std::min(m.index(), log_.last_index()), m.log_term());
  resp.set_reject(true);
  resp.set_index(m.index());
  resp.set_reject_hint(hint_index);
  resp.set_log_term(hint_term);
  Send(std::move(resp));
}

void RaftNode::HandleHeartbeat(const Message& m) {
  log_.CommitTo(m.commit());
  Message resp = NewMessage(MSG_HEARTBEAT_RESP, m.from());
  resp.set_read_seq(m.read_seq());
  Send(std::move(resp));
}

void RaftNode::HandleSnapshotChunk(const Message& m) {
  const SnapshotChunk& chunk = m.snapshot();
  const uint64_t index = chunk.metadata().index();
  const uint64_t term = chunk.metadata().term();
  if (index <= log_.committed()) {
    // Nothing to install: tell the leader how far we are.
    incoming_snapshot_ = IncomingSnapshot();
    Message resp = NewMessage(MSG_APP_RESP, m.from());
    resp.set_index(log_.committed());
    Send(std::move(resp));
    return;
  }
  IncomingSnapshot& in = incoming_snapshot_;
  auto respond = [&](bool reject) {
    Message resp = NewMessage(MSG_SNAP_RESP, m.from());
    resp.set_index(index);
    resp.set_reject(reject);
    resp.mutable_snapshot()->set_offset(in.active ? in.data.size() : 0);
    Send(std::move(resp));
  };
  if (!in.active || in.term != m.term() || in.metadata.index() != index ||
      in.metadata.term() != term) {
    if (chunk.offset() != 0) {
      in = IncomingSnapshot();
      respond(/*reject=*/true);
      return;
    }
    in = IncomingSnapshot();
    in.active = true;
    in.term = m.term();
    in.metadata = chunk.metadata();
    in.total_bytes = chunk.total_bytes();
  }
  if (chunk.offset() != in.data.size()) {
    // A duplicate (we have it) or a gap (resend from what we have).
    respond(/*reject=*/chunk.offset() > in.data.size());
    return;
  }
  in.data.append(chunk.data());
  if (!chunk.last()) {
    respond(/*reject=*/false);
    return;
  }
  if (in.data.size() != in.total_bytes) {
    in = IncomingSnapshot();
    respond(/*reject=*/true);
    return;
  }
  Snapshot snap;
  *snap.mutable_metadata() = in.metadata;
  snap.set_data(std::move(in.data));
  in = IncomingSnapshot();
  Message resp = NewMessage(MSG_APP_RESP, m.from());
  if (log_.MatchTerm(index, term)) {
    // Our log already holds the snapshot's last entry: just learn that it is committed.
    log_.CommitTo(index);
    resp.set_index(log_.committed());
  } else {
    log_.Restore(snap.metadata(), snap.data().size());
    received_snapshot_ = std::move(snap);
    resp.set_index(index);
  }
  Send(std::move(resp));
}

// ----------------------------------------------------------------------------------------------
// Leader: replication.

bool RaftNode::SendAppend(uint64_t to, bool send_if_empty) {
  Progress& pr = prs_.at(to);
  if (pr.IsPaused()) return false;
  const uint64_t prev = pr.next - 1;
  std::optional<uint64_t> prev_term = log_.Term(prev);
  if (!prev_term.has_value()) {
    // The follower needs entries we compacted away.
    DFS_CHECK(prev < log_.snapshot_index());
    pr.BecomeSnapshot(log_.snapshot_index());
    SendSnapshotChunk(to, pr);
    return false;
  }
  std::vector<Entry> entries;
  if (pr.next <= log_.last_index()) {
    entries = log_.Slice(pr.next, log_.last_index(), opts_.max_bytes_per_msg);
  }
  if (entries.empty() && !send_if_empty) return false;
  Message m = NewMessage(MSG_APP, to);
  m.set_index(prev);
  m.set_log_term(*prev_term);
  m.set_commit(log_.committed());
  uint64_t last = prev;
  for (Entry& e : entries) {
    last = e.index();
    *m.add_entries() = std::move(e);
  }
  if (last > prev || pr.state == Progress::State::kProbe) pr.SentEntries(last);
  Send(std::move(m));
  return true;
}

void RaftNode::SendSnapshotChunk(uint64_t to, Progress& pr) {
  const SnapshotMetadata& snap = log_.snapshot();
  if (pr.pending_snapshot != snap.index()) {
    // Compacted again since: stream the newer snapshot from the start.
    pr.pending_snapshot = snap.index();
    pr.snapshot_offset = 0;
  }
  const uint64_t total = log_.snapshot_bytes();
  const uint64_t offset = std::min<uint64_t>(pr.snapshot_offset, total);
  const uint64_t len = std::min<uint64_t>(opts_.max_snapshot_chunk_bytes, total - offset);
  Message m = NewMessage(MSG_SNAP, to);
  m.set_index(snap.index());
  SnapshotChunk* chunk = m.mutable_snapshot();
  *chunk->mutable_metadata() = snap;
  chunk->set_offset(offset);
  chunk->set_total_bytes(total);
  chunk->set_length(len);  // the driver fills in the bytes (FillSnapshotChunk)
  chunk->set_last(offset + len == total);
  pr.snapshot_idle_ticks = 0;
  Send(std::move(m));
}

void RaftNode::SendHeartbeat(uint64_t to) {
  Progress& pr = prs_.at(to);
  Message m = NewMessage(MSG_HEARTBEAT, to);
  // Never tell a follower to commit beyond what it is known to hold.
  m.set_commit(std::min(pr.match, log_.committed()));
  m.set_read_seq(hb_seq_);
  Send(std::move(m));
}

void RaftNode::BroadcastHeartbeat() {
  ++hb_seq_;
  hb_sent_tick_[hb_seq_] = ticks_;
  for (auto& [id, pr] : prs_) SendHeartbeat(id);
  read_round_needed_ = false;
}

void RaftNode::SendReadRound() {
  // A read needs a quorum's acknowledgement, not everyone's: with 3 masters one follower instead
  // of two, which halves what a read costs the leader and spares the other follower entirely.
  // The voters that answered the latest rounds are asked; if one of them is gone, the next tick's
  // heartbeat (to every peer) completes the round and shows who still answers.
  std::vector<std::pair<uint64_t, uint64_t>> voters;  // (acked_seq, id)
  for (uint64_t id : Voters()) {
    if (id == id_) continue;
    auto it = prs_.find(id);
    if (it != prs_.end()) voters.emplace_back(it->second.acked_seq, id);
  }
  std::sort(voters.begin(), voters.end(), std::greater<>());
  const size_t needed = static_cast<size_t>(Quorum() - (IsMember(id_) ? 1 : 0));
  ++hb_seq_;
  hb_sent_tick_[hb_seq_] = ticks_;
  for (size_t i = 0; i < voters.size() && i < needed; ++i) SendHeartbeat(voters[i].second);
  read_round_needed_ = false;
}

void RaftNode::FlushBroadcasts() {
  if (role_ != Role::kLeader) return;
  // New entries go out at once. A commit index alone does not: followers learn it from the next
  // append or heartbeat (every tick). Only the leader serves, so nothing waits on a follower's
  // apply, and an append per commit would double the messages each write costs.
  if (append_broadcast_needed_) {
    append_broadcast_needed_ = false;
    for (auto& [id, pr] : prs_) {
      while (SendAppend(id, /*send_if_empty=*/false)) {
      }
    }
  }
  if (read_round_needed_) {
    SendReadRound();
    ReleaseReads();
  }
}

void RaftNode::AppendAsLeader(Entry entry) {
  entry.set_index(log_.last_index() + 1);
  entry.set_term(term_);
  uncommitted_bytes_ += entry.data().size();
  const bool conf = entry.type() == ENTRY_CONF_CHANGE;
  log_.Append(std::move(entry));
  if (conf) SyncProgressWithConfig();
  append_broadcast_needed_ = true;
}

bool RaftNode::MaybeCommit() {
  std::vector<uint64_t> matches;
  for (uint64_t id : Voters()) {
    if (id == id_) {
      matches.push_back(log_.stable());  // our own copy counts once it is durable
    } else {
      auto it = prs_.find(id);
      matches.push_back(it == prs_.end() ? 0 : it->second.match);
    }
  }
  if (matches.empty()) return false;
  std::sort(matches.begin(), matches.end(), std::greater<uint64_t>());
  const uint64_t index = matches[Quorum() - 1];
  // Only entries of the current term commit by counting (Raft paper 5.4.2).
  if (index <= log_.committed() || log_.Term(index) != term_) return false;
  for (uint64_t i = std::max(log_.committed() + 1, term_start_index_); i <= index; ++i) {
    uncommitted_bytes_ -= std::min<uint64_t>(uncommitted_bytes_, log_.At(i).data().size());
  }
  log_.CommitTo(index);
  return true;
}

void RaftNode::OnCommitAdvanced() {
  if (!reads_before_commit_.empty() && CommittedInTerm()) {
    std::vector<PendingRead> reads = std::move(reads_before_commit_);
    reads_before_commit_.clear();
    for (PendingRead& r : reads) HandleReadIndexRequest(r.from, std::move(r.context));
  }
  if (!IsMember(id_) && log_.last_conf_index() <= log_.committed()) {
    // Our removal is committed: stop leading, and let the most caught-up member take over now
    // instead of after an election timeout.
    uint64_t best = 0, best_match = 0;
    for (const auto& [id, pr] : prs_) {
      if (pr.match > best_match) {
        best = id;
        best_match = pr.match;
      }
    }
    if (best != 0) SendTimeoutNow(best);
    BecomeFollower(term_, 0);
  }
}

void RaftNode::SendTimeoutNow(uint64_t to) {
  // A forced election ignores the followers' leases, so ours is void from now on.
  lease_revoked_ = true;
  lease_valid_ = false;
  Send(NewMessage(MSG_TIMEOUT_NOW, to));
}

void RaftNode::HandleAppendResponse(const Message& m, Progress& pr) {
  if (m.reject()) {
    if (pr.state == Progress::State::kSnapshot) return;
    uint64_t next_probe = m.reject_hint();
    if (m.log_term() > 0) next_probe = log_.FindConflictByTerm(m.reject_hint(), m.log_term()).first;
    if (pr.MaybeDecrTo(m.index(), next_probe)) {
      if (pr.state == Progress::State::kReplicate) pr.BecomeProbe();
      SendAppend(m.from(), /*send_if_empty=*/true);
    }
    return;
  }
  if (pr.MaybeUpdate(m.index())) {
    if (pr.state == Progress::State::kProbe) {
      pr.BecomeReplicate();
    } else if (pr.state == Progress::State::kSnapshot && pr.match >= pr.pending_snapshot) {
      pr.BecomeReplicate();
    }
    if (MaybeCommit()) OnCommitAdvanced();
    if (role_ != Role::kLeader) return;
    if (m.from() == lead_transferee_ && pr.match == log_.last_index()) SendTimeoutNow(m.from());
  }
  // Send what is new (the commit index rides along; see FlushBroadcasts).
  while (SendAppend(m.from(), /*send_if_empty=*/false)) {
  }
}

void RaftNode::HandleHeartbeatResponse(const Message& m, Progress& pr) {
  // A probe that got no answer is retried; a pipeline in kReplicate is left alone (its appends
  // may still be on the way; the stall timer in TickHeartbeat handles lost ones).
  if (pr.state == Progress::State::kProbe) {
    pr.probe_sent = false;
    if (pr.match < log_.last_index()) SendAppend(m.from(), /*send_if_empty=*/true);
  }
  if (m.read_seq() > pr.acked_seq) {
    pr.acked_seq = m.read_seq();
    ReleaseReads();
  }
}

void RaftNode::HandleSnapshotResponse(const Message& m, Progress& pr) {
  if (pr.state != Progress::State::kSnapshot || m.index() != pr.pending_snapshot) return;
  pr.snapshot_offset = m.snapshot().offset();
  pr.snapshot_idle_ticks = 0;
  SendSnapshotChunk(m.from(), pr);
}

// ----------------------------------------------------------------------------------------------
// Reads.

uint64_t RaftNode::QuorumAckedSeq() const {
  std::vector<uint64_t> acked;
  for (uint64_t id : Voters()) {
    if (id == id_) {
      acked.push_back(hb_seq_);
    } else {
      auto it = prs_.find(id);
      acked.push_back(it == prs_.end() ? 0 : it->second.acked_seq);
    }
  }
  if (acked.empty()) return 0;
  std::sort(acked.begin(), acked.end(), std::greater<uint64_t>());
  return acked[Quorum() - 1];
}

void RaftNode::ReleaseReads() {
  if (role_ != Role::kLeader) return;
  const uint64_t acked = QuorumAckedSeq();
  auto it = hb_sent_tick_.find(acked);
  if (it != hb_sent_tick_.end()) {
    // A quorum heard from us after tick `it->second`: none of them votes for another candidate
    // (without a forced transfer) for an election timeout of its ticks after that.
    if (!lease_revoked_) {
      lease_start_tick_ = std::max(lease_start_tick_, it->second);
      lease_valid_ = true;
    }
    hb_sent_tick_.erase(hb_sent_tick_.begin(), it);
  }
  while (!pending_reads_.empty() && pending_reads_.front().required_seq <= acked) {
    RespondRead(pending_reads_.front());
    pending_reads_.pop_front();
  }
  if (!pending_reads_.empty() && acked >= hb_seq_) read_round_needed_ = true;
}

bool RaftNode::LeaseValid() const {
  if (!opts_.lease_reads || !lease_valid_ || lease_revoked_ || lead_transferee_ != 0) return false;
  const uint64_t lease_ticks = opts_.election_ticks - 2 - opts_.lease_drift_ticks;
  return ticks_ < lease_start_tick_ + lease_ticks;
}

void RaftNode::RespondRead(const PendingRead& read) {
  if (read.from == id_) {
    read_states_.push_back(ReadState{read.context, read.index});
  } else {
    Message m = NewMessage(MSG_READ_INDEX_RESP, read.from);
    m.set_index(read.index);
    m.set_context(read.context);
    Send(std::move(m));
  }
}

void RaftNode::HandleReadIndexRequest(uint64_t from, std::string context) {
  PendingRead read;
  read.context = std::move(context);
  read.from = from;
  if (!CommittedInTerm()) {
    // Our commit index may lag the previous leader's until our no-op commits.
    reads_before_commit_.push_back(std::move(read));
    return;
  }
  read.index = log_.committed();
  if (LeaseValid()) {
    RespondRead(read);
    return;
  }
  // Answer once a quorum acknowledged a heartbeat sent after this request: then we were still the
  // leader when the request arrived, and read.index covers every write acknowledged before it.
  read.required_seq = hb_seq_ + 1;
  pending_reads_.push_back(std::move(read));
  // One read round in flight at a time: reads that arrive meanwhile share the next round, sent
  // when this one is acknowledged (ReleaseReads) -- group commit for reads.
  if (QuorumAckedSeq() >= hb_seq_) read_round_needed_ = true;
}

// ----------------------------------------------------------------------------------------------
// Application calls.

absl::StatusOr<ProposalId> RaftNode::Propose(std::string data) {
  DFS_CHECK(!ready_outstanding_);
  if (role_ != Role::kLeader) return NotLeaderError(lead_);
  if (lead_transferee_ != 0) {
    return absl::UnavailableError(absl::StrCat("leadership transfer to ", lead_transferee_,
                                               " in progress"));
  }
  if (opts_.max_uncommitted_bytes > 0 && uncommitted_bytes_ > 0 &&
      uncommitted_bytes_ + data.size() > opts_.max_uncommitted_bytes) {
    absl::Status status = absl::UnavailableError("too many uncommitted entries; retry later");
    status.SetPayload(kLeaderPayloadUrl, absl::Cord(std::to_string(id_)));
    return status;
  }
  Entry entry;
  entry.set_type(ENTRY_NORMAL);
  entry.set_data(std::move(data));
  AppendAsLeader(std::move(entry));
  return ProposalId{log_.last_index(), term_};
}

absl::StatusOr<ProposalId> RaftNode::ProposeConfChange(const ConfChange& change) {
  DFS_CHECK(!ready_outstanding_);
  if (role_ != Role::kLeader) return NotLeaderError(lead_);
  if (lead_transferee_ != 0) return absl::UnavailableError("leadership transfer in progress");
  if (!CommittedInTerm()) {
    // A leader must commit an entry of its term before changing membership (else two leaders'
    // uncommitted single-server changes can form disjoint majorities).
    return absl::FailedPreconditionError("leader has not committed an entry of its term yet");
  }
  if (log_.last_conf_index() > log_.committed()) {
    return absl::FailedPreconditionError("another membership change is in progress");
  }
  Configuration conf = configuration();
  const uint64_t id = change.member().id();
  if (id == 0) return absl::InvalidArgumentError("member id must be nonzero");
  if (change.type() == CONF_CHANGE_ADD_MEMBER) {
    if (HasMember(conf, id)) return absl::AlreadyExistsError(absl::StrCat("member ", id));
    *conf.add_members() = change.member();
    std::sort(conf.mutable_members()->begin(), conf.mutable_members()->end(),
              [](const Member& a, const Member& b) { return a.id() < b.id(); });
  } else if (change.type() == CONF_CHANGE_REMOVE_MEMBER) {
    if (!HasMember(conf, id)) return absl::NotFoundError(absl::StrCat("member ", id));
    if (conf.members_size() == 1) return absl::InvalidArgumentError("cannot remove the last member");
    auto* members = conf.mutable_members();
    for (int i = 0; i < members->size(); ++i) {
      if (members->Get(i).id() == id) {
        members->DeleteSubrange(i, 1);
        break;
      }
    }
  } else {
    return absl::InvalidArgumentError("unknown membership change");
  }
  ConfChangeRecord record;
  *record.mutable_change() = change;
  *record.mutable_configuration() = std::move(conf);
  Entry entry;
  entry.set_type(ENTRY_CONF_CHANGE);
  entry.set_data(record.SerializeAsString());
  AppendAsLeader(std::move(entry));
  return ProposalId{log_.last_index(), term_};
}

absl::Status RaftNode::ReadIndex(std::string context) {
  DFS_CHECK(!ready_outstanding_);
  if (role_ == Role::kLeader) {
    HandleReadIndexRequest(id_, std::move(context));
    return absl::OkStatus();
  }
  if (lead_ == 0) return NotLeaderError(0);
  Message m = NewMessage(MSG_READ_INDEX, lead_);
  m.set_context(std::move(context));
  Send(std::move(m));
  return absl::OkStatus();
}

absl::Status RaftNode::TransferLeadership(uint64_t target) {
  DFS_CHECK(!ready_outstanding_);
  if (role_ != Role::kLeader) return NotLeaderError(lead_);
  if (target == id_) return absl::OkStatus();
  if (!IsMember(target)) return absl::InvalidArgumentError(absl::StrCat(target, " is not a member"));
  if (lead_transferee_ == target) return absl::OkStatus();
  lead_transferee_ = target;
  // The transfer must finish within an election timeout, or it is abandoned (TickHeartbeat).
  election_elapsed_ = 0;
  Progress& pr = prs_.at(target);
  if (pr.match == log_.last_index()) {
    SendTimeoutNow(target);
  } else {
    SendAppend(target, /*send_if_empty=*/true);
  }
  return absl::OkStatus();
}

absl::Status RaftNode::CompactTo(uint64_t index, uint64_t data_bytes) {
  DFS_CHECK(!ready_outstanding_);
  return log_.CompactTo(index, data_bytes);
}

// ----------------------------------------------------------------------------------------------
// Ready / Advance.

bool RaftNode::HasReady() {
  DFS_CHECK(!ready_outstanding_);
  FlushBroadcasts();
  return CurrentSoftState() != prev_soft_state_ ||
         !SameHardState(CurrentHardState(), prev_hard_state_) || log_.has_pending_snapshot() ||
         log_.HasUnstableEntries() || log_.HasNextCommittedEntries() || !msgs_.empty() ||
         !read_states_.empty();
}

Ready RaftNode::GetReady() {
  DFS_CHECK(!ready_outstanding_);
  FlushBroadcasts();
  Ready rd;
  SoftState ss = CurrentSoftState();
  if (ss != prev_soft_state_) {
    rd.soft_state = ss;
    prev_soft_state_ = ss;
  }
  HardState hs = CurrentHardState();
  if (!SameHardState(hs, prev_hard_state_)) {
    if (hs.term() != prev_hard_state_.term() || hs.vote() != prev_hard_state_.vote()) {
      rd.must_sync = true;
      rd.term_or_vote_changed = true;
    }
    rd.hard_state = hs;
    prev_hard_state_ = hs;
  }
  if (log_.has_pending_snapshot()) {
    // Handed out once (Advance clears the pending flag): from now on the Ready holds the data.
    DFS_CHECK(received_snapshot_.has_value());
    rd.snapshot = std::move(received_snapshot_);
    received_snapshot_.reset();
    rd.must_sync = true;
  }
  rd.entries = log_.UnstableEntries();
  if (!rd.entries.empty()) rd.must_sync = true;
  rd.committed_entries = log_.NextCommittedEntries(opts_.max_committed_bytes_per_ready);
  rd.messages = std::move(msgs_);
  msgs_.clear();
  rd.read_states = std::move(read_states_);
  read_states_.clear();
  ready_outstanding_ = true;
  return rd;
}

void RaftNode::Advance(const Ready& rd) {
  DFS_CHECK(ready_outstanding_);
  ready_outstanding_ = false;
  if (rd.snapshot.has_value()) log_.SnapshotApplied();
  if (!rd.entries.empty()) {
    const Entry& last = rd.entries.back();
    DFS_CHECK(log_.MatchTerm(last.index(), last.term()));
    log_.StableTo(std::max(log_.stable(), last.index()));
  }
  if (!rd.committed_entries.empty()) log_.AppliedTo(rd.committed_entries.back().index());
  if (role_ == Role::kLeader && MaybeCommit()) OnCommitAdvanced();
}

std::string RaftNode::DebugString() const {
  std::string out = absl::StrCat("node ", id_, " ", RoleName(role_), " term=", term_,
                                 " vote=", vote_, " lead=", lead_, " log=[", log_.first_index(), ",",
                                 log_.last_index(), "] commit=", log_.committed(),
                                 " applied=", log_.applied(), " stable=", log_.stable(),
                                 " members={");
  for (const Member& m : configuration().members()) absl::StrAppend(&out, m.id(), " ");
  absl::StrAppend(&out, "}");
  for (const auto& [id, pr] : prs_) {
    absl::StrAppend(&out, " [", id, " match=", pr.match, " next=", pr.next,
                    " state=", static_cast<int>(pr.state), " inflight=", pr.inflight(), "]");
  }
  return out;
}

}  // namespace dfs::raft
