#include "master/raft_command_log.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/status.h"
#include "common/thread_name.h"

namespace dfs {
namespace {

constexpr int64_t kProposeTimeoutMs = 30000;

int64_t NowNs() { return RealClock::Get()->MonotonicNanos(); }

}  // namespace

uint64_t MemberIdForAddress(const std::string& address) {
  uint64_t hash = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : address) hash = (hash ^ c) * 1099511628211ull;
  return hash == 0 ? 1 : hash;
}

absl::StatusOr<std::unique_ptr<RaftCommandLog>> RaftCommandLog::Open(
    const RaftCommandLogOptions& options, StateMachine* sm) {
  DFS_ASSIGN_OR_RETURN(std::unique_ptr<raft::SegmentStorage> storage,
                       raft::SegmentStorage::Open(options.dir));
  std::unique_ptr<RaftCommandLog> log(new RaftCommandLog(options, sm, std::move(storage)));
  DFS_ASSIGN_OR_RETURN(raft::PersistentState state, log->storage_->Load());
  const uint64_t snapshot_index = state.snapshot.index();
  if (snapshot_index > sm->applied_index()) {
    // The metadata store lost writes the log had compacted away: start from the snapshot (read
    // whole: rare, and only at startup).
    DFS_ASSIGN_OR_RETURN(std::string data, log->storage_->ReadSnapshotData(
                                               snapshot_index, 0, state.snapshot_bytes));
    DFS_RETURN_IF_ERROR(sm->Restore(snapshot_index, data));
  }
  raft::RaftOptions ro;
  ro.id = MemberIdForAddress(options.address);
  if (!options.join) {
    for (const std::string& peer : options.initial_peers) {
      raft::Member member;
      member.set_id(MemberIdForAddress(peer));
      member.set_address(peer);
      ro.initial_members.push_back(member);
    }
  }
  ro.applied_index = sm->applied_index();
  ro.election_ticks = options.election_ticks;
  ro.seed = options.seed;
  ro.lease_reads = options.lease_reads;
  DFS_RETURN_IF_ERROR(ro.Validate());
  log->node_ = std::make_unique<raft::RaftNode>(ro, state);
  log->last_snapshot_index_ = snapshot_index;
  {
    std::lock_guard<std::mutex> lock(log->mu_);
    for (const raft::Member& m : ro.initial_members) {
      log->members_[m.id()] = m.address();
      log->addresses_[m.address()] = m.id();
    }
    for (const raft::Member& m : log->node_->configuration().members()) {
      log->members_[m.id()] = m.address();
      log->addresses_[m.address()] = m.id();
    }
  }
  log->loop_ = std::thread([l = log.get()] {
    NameThisThread("raft-loop");
    l->Loop();
  });
  DFS_LOG(INFO) << "raft member " << ro.id << " at " << options.address << ", applied "
                << sm->applied_index() << (options.join ? ", waiting to be added" : "");
  return log;
}

RaftCommandLog::RaftCommandLog(const RaftCommandLogOptions& options, StateMachine* sm,
                               std::unique_ptr<raft::Storage> storage)
    : options_(options),
      sm_(sm),
      storage_(std::move(storage)),
      transport_(options.address, [this](const std::string& peer, const grpc::Status& status) {
        OnRefused(peer, status);
      }) {}

RaftCommandLog::~RaftCommandLog() { Shutdown(); }

void RaftCommandLog::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  if (snapshot_builder_.joinable()) snapshot_builder_.join();  // it posts nothing once stopping
  transport_.Shutdown();
  // The loop is gone: run what was queued so every waiter gets an answer, then fail them all.
  std::deque<std::function<void(raft::RaftNode&)>> tasks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks.swap(tasks_);
    for (auto& task : proposal_tasks_) tasks.push_back(std::move(task));
    proposal_tasks_.clear();
  }
  for (auto& task : tasks) task(*node_);
  FailPending(absl::UnavailableError("master is shutting down"));
}

std::string RaftCommandLog::AddressOf(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = members_.find(id);
  return it == members_.end() ? "" : it->second;
}

std::string RaftCommandLog::LeaderHint() { return AddressOf(leader_id_.load()); }

absl::Status RaftCommandLog::Receive(const raft::MessageBatch& batch) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::UnavailableError("master is shutting down");
    for (const raft::Message& m : batch.messages()) {
      // Only the leader knows the configuration for sure; a follower may not have applied an add.
      if (is_leader_.load() && !voters_.count(m.from())) {
        return absl::FailedPreconditionError(absl::StrCat(
            batch.from_address(), " (member ", m.from(), ") is not a member of the Raft group led by ",
            options_.address, ": it was removed"));
      }
      // Remember who sent it: a joining node learns its leader's address this way.
      if (!batch.from_address().empty() && !members_.count(m.from())) {
        members_[m.from()] = batch.from_address();
        addresses_[batch.from_address()] = m.from();
      }
      DFS_LOG(DEBUG) << "recv " << raft::MessageType_Name(m.type()) << " from " << m.from()
                     << " term " << m.term();
      if (transport_.IsBlocked(m.from())) continue;
      inbox_.push_back(m);
    }
  }
  cv_.notify_all();
  return absl::OkStatus();
}

void RaftCommandLog::OnRefused(const std::string& peer, const grpc::Status& status) {
  if (removed_.exchange(true)) return;
  const std::string why = absl::StrCat("refused by ", peer, ": ", status.error_message());
  DFS_LOG(WARNING) << "raft: this master is no member of the group (" << why << "); stopping";
  if (options_.on_removed) options_.on_removed(why);
}

absl::Status RaftCommandLog::RunOnLoop(std::function<absl::Status(raft::RaftNode&)> fn) {
  auto done = std::make_shared<std::promise<absl::Status>>();
  auto future = done->get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::UnavailableError("master is shutting down");
    tasks_.push_back([fn, done](raft::RaftNode& node) { done->set_value(fn(node)); });
  }
  cv_.notify_all();
  if (future.wait_for(std::chrono::milliseconds(kProposeTimeoutMs)) != std::future_status::ready) {
    return absl::DeadlineExceededError("raft loop did not answer");
  }
  return future.get();
}

absl::StatusOr<CommandResult> RaftCommandLog::ProposeAndWait(
    std::function<absl::StatusOr<raft::ProposalId>(raft::RaftNode&)> propose) {
  if (!is_leader_.load()) return absl::UnavailableError("not the leader");
  auto result = std::make_shared<ResultPromise>();
  auto future = result->get_future();
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::UnavailableError("master is shutting down");
    proposal_tasks_.push_back([this, propose, result](raft::RaftNode& node) {
      absl::StatusOr<raft::ProposalId> id = propose(node);
      if (!id.ok()) {
        result->set_value(id.status());
        return;
      }
      proposals_[id->index] = PendingProposal{id->term, result};
    });
    wake = ProposalsReady();
  }
  if (wake) cv_.notify_all();
  if (future.wait_for(std::chrono::milliseconds(kProposeTimeoutMs)) != std::future_status::ready) {
    // Still pending: it may yet commit. The session makes the client's retry safe.
    return absl::UnavailableError("proposal not committed in time");
  }
  return future.get();
}

absl::StatusOr<CommandResult> RaftCommandLog::Propose(const Command& command) {
  std::string data = command.SerializeAsString();
  return ProposeAndWait([data](raft::RaftNode& node) { return node.Propose(data); });
}

absl::Status RaftCommandLog::ReadBarrier() {
  if (!is_leader_.load()) return absl::UnavailableError("not the leader");
  auto read = std::make_shared<PendingRead>();
  auto future = read->done.get_future();
  read->deadline_ns = NowNs() + options_.read_timeout_ms * 1000000;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::UnavailableError("master is shutting down");
    tasks_.push_back([this, read](raft::RaftNode& node) {
      std::string context = absl::StrCat(next_read_++);
      absl::Status s = node.ReadIndex(context);
      if (!s.ok()) {
        read->done.set_value(s);
        return;
      }
      reads_[context] = read;
    });
  }
  cv_.notify_all();
  if (future.wait_for(std::chrono::milliseconds(options_.read_timeout_ms + 1000)) !=
      std::future_status::ready) {
    return absl::UnavailableError("read index timed out");
  }
  return future.get();
}

bool RaftCommandLog::HoldProposals() const {
  // Within one term a leader's log only grows: the batch commits, or the leadership ends.
  return node_->role() == raft::Role::kLeader && node_->term() == last_proposed_term_ &&
         node_->commit_index() < last_proposed_index_;
}

RaftCommandLog::ProposalGate RaftCommandLog::Gate(std::chrono::steady_clock::time_point now) const {
  if (HoldProposals()) return ProposalGate::kHeld;
  if (node_->role() == raft::Role::kLeader && now < gather_until_ &&
      proposal_tasks_.size() < gather_target_) {
    return ProposalGate::kGathering;
  }
  return ProposalGate::kOpen;
}

bool RaftCommandLog::ProposalsReady() const {
  return !proposal_tasks_.empty() &&
         (gate_ == ProposalGate::kOpen ||
          (gate_ == ProposalGate::kGathering && proposal_tasks_.size() >= gather_target_));
}

void RaftCommandLog::Loop() {
  using Clock = std::chrono::steady_clock;
  auto next_tick = Clock::now() + std::chrono::milliseconds(options_.tick_ms);
  for (;;) {
    std::vector<raft::Message> inbox;
    std::deque<std::function<void(raft::RaftNode&)>> tasks;
    std::deque<std::function<void(raft::RaftNode&)>> proposals;
    {
      std::unique_lock<std::mutex> lock(mu_);
      const auto wake_at = gather_until_ > Clock::now() ? std::min(next_tick, gather_until_)
                                                        : next_tick;
      cv_.wait_until(lock, wake_at, [&] {
        gate_ = Gate(Clock::now());
        return stopping_ || !inbox_.empty() || !tasks_.empty() || ProposalsReady();
      });
      gate_ = ProposalGate::kOpen;  // awake: the loop looks at the queue before it sleeps again
      if (stopping_) return;
      inbox.swap(inbox_);
      tasks.swap(tasks_);
    }
    // Ticks come first: after a stall every missed tick counts before a message or a read is
    // handled.
    if (Clock::now() >= next_tick) {
      next_tick = TickUntil(Clock::now(), next_tick);
      // Reads the core dropped (leadership changed under them) time out here.
      int64_t now_ns = NowNs();
      for (auto it = reads_.begin(); it != reads_.end();) {
        if (it->second->deadline_ns < now_ns) {
          it->second->done.set_value(absl::UnavailableError("read index timed out"));
          it = reads_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (const raft::Message& m : inbox) node_->Step(m);
    for (auto& task : tasks) task(*node_);
    // Taken after the inbox: the acks just stepped may have committed the last batch.
    if (awaiting_commit_ && !HoldProposals()) {
      awaiting_commit_ = false;
      if (options_.proposal_gather_us > 0 && node_->configuration().members().size() > 1) {
        gather_until_ = Clock::now() + std::chrono::microseconds(options_.proposal_gather_us);
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (Gate(Clock::now()) == ProposalGate::kOpen) proposals.swap(proposal_tasks_);
      if (!proposals.empty()) gather_target_ = proposals.size();
    }
    for (auto& propose : proposals) propose(*node_);
    if (!proposals.empty()) {
      last_proposed_index_ = node_->last_index();
      last_proposed_term_ = node_->term();
      awaiting_commit_ = node_->role() == raft::Role::kLeader;
      proposals_made_ += proposals.size();
      ++proposal_batches_;
    }
    while (node_->HasReady()) HandleReady(node_->GetReady());
    MaybeCompact(false);
  }
}

std::chrono::steady_clock::time_point RaftCommandLog::TickUntil(
    std::chrono::steady_clock::time_point now, std::chrono::steady_clock::time_point next_tick) {
  // One Tick per tick_ms that passed, not one per wake-up: a process that stood still (stopped,
  // starved of CPU, its VM paused) must not come back believing that no time passed. A leader's
  // lease is counted in ticks; if it ran out during the stall, a read must not be answered under
  // it (another master may lead by now). A follower ticked past its election timeout campaigns,
  // as it should: it heard from no leader for that long (pre-vote keeps that harmless).
  const auto tick = std::chrono::milliseconds(options_.tick_ms);
  // More than enough to expire any lease and election timer; the rest of a long stall is skipped.
  const int max_ticks = 2 * options_.election_ticks + 2;
  for (int ticks = 0; now >= next_tick; ++ticks) {
    if (ticks == max_ticks) return now + tick;
    node_->Tick();
    next_tick += tick;
  }
  return next_tick;
}

void RaftCommandLog::HandleReady(raft::Ready ready) {
  // Membership takes effect when appended: refresh the address book before sending.
  {
    std::lock_guard<std::mutex> lock(mu_);
    voters_.clear();
    for (const raft::Member& m : node_->configuration().members()) {
      members_[m.id()] = m.address();
      addresses_[m.address()] = m.id();
      voters_.insert(m.id());
    }
  }
  // 0. A leader's appends go out first: the followers' fsyncs overlap ours.
  SendMessages(ready, /*before_persist=*/true);
  // 1. Persist (one synced batch: the group commit), fail-stop on error.
  DFS_CHECK_OK(storage_->SaveReady(ready));
  // 2. Send the rest (votes and acks vouch for what is now durable).
  SendMessages(ready, /*before_persist=*/false);
  // 3. Apply.
  if (ready.snapshot) {
    const uint64_t index = ready.snapshot->metadata().index();
    DFS_CHECK_OK(sm_->Restore(index, ready.snapshot->data()));
    last_snapshot_index_ = index;
    for (auto it = proposals_.begin(); it != proposals_.end() && it->first <= index;) {
      it->second.result->set_value(absl::UnavailableError("outcome unknown: replaced by a snapshot"));
      it = proposals_.erase(it);
    }
    DFS_LOG(INFO) << "installed snapshot at index " << index;
  }
  for (const raft::Entry& entry : ready.committed_entries) ApplyEntry(entry);
  for (const raft::ReadState& rs : ready.read_states) {
    auto it = reads_.find(rs.context);
    if (it != reads_.end()) it->second->index = rs.index;
  }
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (it->second->index != 0 && sm_->applied_index() >= it->second->index) {
      it->second->done.set_value(absl::OkStatus());
      it = reads_.erase(it);
    } else {
      ++it;
    }
  }
  if (ready.soft_state) {
    bool was_leader = is_leader_.load();
    bool leader = ready.soft_state->role == raft::Role::kLeader;
    leader_id_ = ready.soft_state->leader;
    is_leader_ = leader;
    if (was_leader && !leader) FailPending(absl::UnavailableError("leadership lost"));
    {
      DFS_LOG(INFO) << "raft: " << raft::RoleName(ready.soft_state->role) << ", term "
                    << node_->term() << ", leader " << AddressOf(ready.soft_state->leader);
    }
  }
  // 4. Advance.
  node_->Advance(ready);
}

void RaftCommandLog::SendMessages(raft::Ready& ready, bool before_persist) {
  std::vector<raft::Message> kept;
  for (raft::Message& m : ready.messages) {
    if (before_persist && !ready.SendableBeforePersist(m)) {
      kept.push_back(std::move(m));
      continue;
    }
    if (absl::Status s = raft::FillSnapshotChunk(*storage_, m); !s.ok()) {
      // Replaced by a newer snapshot, or unreadable: Raft resends, from the newer one.
      DFS_LOG(WARNING) << "snapshot chunk to " << m.to() << " dropped: " << s;
      continue;
    }
    const uint64_t to = m.to();  // read before `m` is moved from
    std::string address = AddressOf(to);
    DFS_LOG(DEBUG) << "send " << raft::MessageType_Name(m.type()) << " to " << address
                   << " term " << m.term() << (m.reject() ? " reject" : "");
    if (!address.empty()) transport_.Send(to, address, std::move(m));
  }
  ready.messages = std::move(kept);  // what is left for after the persist
}

void RaftCommandLog::ApplyEntry(const raft::Entry& entry) {
  if (entry.index() <= sm_->applied_index()) return;  // already in the metadata store
  CommandResult result;
  if (entry.type() == raft::ENTRY_NORMAL) {
    result = sm_->ApplyEncoded(entry.index(), entry.data());
  } else {
    sm_->ApplyNoop(entry.index());
  }
  auto it = proposals_.find(entry.index());
  if (it == proposals_.end()) return;
  if (it->second.term == entry.term()) {
    it->second.result->set_value(std::move(result));
  } else {
    it->second.result->set_value(absl::UnavailableError("proposal lost in a leader change"));
  }
  proposals_.erase(it);
}

void RaftCommandLog::FailPending(const absl::Status& status) {
  // Loop thread, or after it stopped.
  for (auto& [index, pending] : proposals_) pending.result->set_value(status);
  proposals_.clear();
  for (auto& [context, read] : reads_) read->done.set_value(status);
  reads_.clear();
}

void RaftCommandLog::MaybeCompact(bool force) {
  uint64_t applied = sm_->applied_index();
  if (applied <= last_snapshot_index_) return;
  const bool due = applied - last_snapshot_index_ >= options_.snapshot_every_entries ||
                   storage_->CompactionWorthwhile(applied);
  if (!force && (snapshot_building_ || !due)) return;
  // The log may drop entries only once the state they produced is durable.
  DFS_CHECK_OK(sm_->store()->Sync());
  absl::StatusOr<std::unique_ptr<raft::SnapshotWriter>> writer =
      storage_->NewSnapshotWriter(applied);
  if (!writer.ok()) {
    DFS_LOG(WARNING) << "snapshot at " << applied << " not taken: " << writer.status();
    return;
  }
  // Streams the state into the writer's file; the whole namespace is never in memory.
  auto write = [build = sm_->CaptureSnapshot()](raft::SnapshotWriter& out) {
    DFS_RETURN_IF_ERROR(build([&out](absl::string_view piece) { return out.Append(piece); }));
    return out.Finish();
  };
  if (force) {
    absl::Status s = write(**writer);
    if (!s.ok()) {
      DFS_LOG(WARNING) << "snapshot at " << applied << " not taken: " << s;
      return;
    }
    CompactTo(applied, **writer);
    return;
  }
  // Serializing the whole namespace takes seconds at millions of files: done here, it would
  // stop heartbeats long enough for the followers to elect someone else.
  snapshot_building_ = true;
  if (snapshot_builder_.joinable()) snapshot_builder_.join();  // finished: it posted its result
  // Shared: the task that takes it must be copyable (std::function).
  std::shared_ptr<raft::SnapshotWriter> out = std::move(*writer);
  snapshot_builder_ = std::thread([this, applied, write = std::move(write), out]() mutable {
    const int64_t start_ns = NowNs();
    absl::Status status = write(*out);
    const int64_t build_ms = (NowNs() - start_ns) / 1000000;
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    // Moved: from here only the loop thread touches the writer.
    tasks_.push_back([this, applied, out = std::move(out), status, build_ms](raft::RaftNode&) {
      snapshot_building_ = false;
      if (!status.ok()) {
        DFS_LOG(WARNING) << "snapshot at " << applied << " not taken: " << status;
        return;
      }
      DFS_LOG(INFO) << "snapshot at index " << applied << ": " << out->size()
                    << " bytes written in " << build_ms << " ms beside the loop";
      CompactTo(applied, *out);
    });
    cv_.notify_all();
  });
}

void RaftCommandLog::CompactTo(uint64_t index, raft::SnapshotWriter& data) {
  // A newer snapshot (forced, or installed from the leader) may have got there first; `data`
  // then removes its file when it goes.
  if (index <= last_snapshot_index_) return;
  absl::Status s = node_->CompactTo(index, data.size());
  if (!s.ok()) {
    DFS_LOG(WARNING) << "snapshot at " << index << " failed: " << s;
    return;
  }
  DFS_CHECK_OK(storage_->Compact(node_->snapshot(), data));
  last_snapshot_index_ = index;
  DFS_LOG(INFO) << "snapshot at index " << index;
}

absl::Status RaftCommandLog::AddMember(const std::string& address) {
  raft::ConfChange change;
  change.set_type(raft::CONF_CHANGE_ADD_MEMBER);
  change.mutable_member()->set_id(MemberIdForAddress(address));
  change.mutable_member()->set_address(address);
  return ProposeAndWait([change](raft::RaftNode& node) { return node.ProposeConfChange(change); })
      .status();
}

absl::Status RaftCommandLog::RemoveMember(const std::string& address) {
  raft::ConfChange change;
  change.set_type(raft::CONF_CHANGE_REMOVE_MEMBER);
  change.mutable_member()->set_id(MemberIdForAddress(address));
  change.mutable_member()->set_address(address);
  return ProposeAndWait([change](raft::RaftNode& node) { return node.ProposeConfChange(change); })
      .status();
}

absl::Status RaftCommandLog::TransferLeadership(const std::string& address) {
  uint64_t target = MemberIdForAddress(address);
  DFS_RETURN_IF_ERROR(
      RunOnLoop([target](raft::RaftNode& node) { return node.TransferLeadership(target); }));
  // Wait (bounded) for the target to take over, so the command reports the outcome.
  for (int i = 0; i < 100; ++i) {
    if (leader_id_.load() == target) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.tick_ms / 2 + 1));
  }
  return absl::DeadlineExceededError("leadership transfer did not complete");
}

absl::Status RaftCommandLog::SnapshotNow() {
  return RunOnLoop([this](raft::RaftNode&) {
    MaybeCompact(true);
    return absl::OkStatus();
  });
}

RaftStatusResponse RaftCommandLog::Status() {
  RaftStatusResponse response;
  absl::Status s = RunOnLoop([this, &response](raft::RaftNode& node) {
    response.set_id(node.id());
    response.set_address(options_.address);
    response.set_role(raft::RoleName(node.role()));
    response.set_term(node.term());
    response.set_leader_id(node.leader());
    response.set_commit_index(node.commit_index());
    response.set_applied_index(sm_->applied_index());
    response.set_last_index(node.last_index());
    response.set_snapshot_index(node.snapshot().index());
    response.set_proposals(proposals_made_);
    response.set_proposal_batches(proposal_batches_);
    for (const raft::Member& m : node.configuration().members()) {
      RaftMemberStatus* member = response.add_members();
      member->set_id(m.id());
      member->set_address(m.address());
      if (const raft::Progress* pr = node.progress(m.id())) member->set_match_index(pr->match);
    }
    return absl::OkStatus();
  });
  if (s.ok()) response.set_leader_address(AddressOf(response.leader_id()));
  return response;
}

void RaftCommandLog::SetBlockedPeers(const std::vector<std::string>& addresses) {
  std::set<uint64_t> ids;
  for (const std::string& address : addresses) ids.insert(MemberIdForAddress(address));
  transport_.SetBlocked(std::move(ids));
}

grpc::Status RaftServiceImpl::Stream(grpc::ServerContext* context,
                                     grpc::ServerReader<raft::MessageBatch>* reader,
                                     raft::SendResponse*) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "master is shutting down");
    streams_.insert(context);
  }
  raft::MessageBatch batch;
  absl::Status status;
  while (status.ok() && reader->Read(&batch)) status = log_->Receive(batch);
  std::lock_guard<std::mutex> lock(mu_);
  streams_.erase(context);
  return ToGrpcStatus(status);
}

void RaftServiceImpl::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  for (grpc::ServerContext* context : streams_) context->TryCancel();
}

}  // namespace dfs
