#include "tests/sim/raft_sim.h"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/keycoding.h"
#include "common/random.h"
#include "master/raft/raft_node.h"
#include "master/raft/storage.h"

namespace dfs::raft::sim {

namespace {

struct Failure {
  std::string what;
};

uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 31);
}

uint64_t HashBytes(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

uint64_t EntryHash(const Entry& e) { return Mix(Mix(HashBytes(e.data()), e.term()), e.type()); }

const char* TypeName(MessageType t) {
  switch (t) {
    case MSG_PRE_VOTE: return "PreVote";
    case MSG_PRE_VOTE_RESP: return "PreVoteResp";
    case MSG_VOTE: return "Vote";
    case MSG_VOTE_RESP: return "VoteResp";
    case MSG_APP: return "App";
    case MSG_APP_RESP: return "AppResp";
    case MSG_HEARTBEAT: return "Heartbeat";
    case MSG_HEARTBEAT_RESP: return "HeartbeatResp";
    case MSG_SNAP: return "Snap";
    case MSG_SNAP_RESP: return "SnapResp";
    case MSG_TIMEOUT_NOW: return "TimeoutNow";
    case MSG_READ_INDEX: return "ReadIndex";
    case MSG_READ_INDEX_RESP: return "ReadIndexResp";
    default: return "?";
  }
}

std::string Describe(const Message& m) {
  std::string s = absl::StrCat(m.from(), "->", m.to(), " ", TypeName(m.type()), " t", m.term());
  switch (m.type()) {
    case MSG_APP:
      absl::StrAppend(&s, " prev=", m.index(), "/", m.log_term(), " n=", m.entries_size(),
                      " commit=", m.commit());
      break;
    case MSG_APP_RESP:
      absl::StrAppend(&s, m.reject() ? " REJECT" : "", " idx=", m.index());
      if (m.reject()) absl::StrAppend(&s, " hint=", m.reject_hint(), "/", m.log_term());
      break;
    case MSG_VOTE:
    case MSG_PRE_VOTE:
      absl::StrAppend(&s, " last=", m.index(), "/", m.log_term(), m.transfer() ? " transfer" : "");
      break;
    case MSG_VOTE_RESP:
    case MSG_PRE_VOTE_RESP:
    case MSG_READ_INDEX_RESP: absl::StrAppend(&s, m.reject() ? " REJECT" : " ok"); break;
    case MSG_HEARTBEAT: absl::StrAppend(&s, " commit=", m.commit(), " seq=", m.read_seq()); break;
    case MSG_HEARTBEAT_RESP: absl::StrAppend(&s, " seq=", m.read_seq()); break;
    case MSG_SNAP:
      absl::StrAppend(&s, " snap=", m.snapshot().metadata().index(), " off=", m.snapshot().offset(),
                      "/", m.snapshot().total_bytes(), m.snapshot().last() ? " last" : "");
      break;
    case MSG_SNAP_RESP:
      absl::StrAppend(&s, " snap=", m.index(), " off=", m.snapshot().offset(),
                      m.reject() ? " REJECT" : "");
      break;
    default: break;
  }
  return s;
}

struct PairHash {
  size_t operator()(const std::pair<uint64_t, uint64_t>& p) const { return Mix(p.first, p.second); }
};

struct Packet {
  uint64_t deliver_at;
  Message message;
};

struct CommittedEntry {
  uint64_t term;
  uint64_t chain;              // hash of the applied sequence up to this entry
  uint64_t max_term_at_apply;  // highest term any node had when it was first applied
};

struct Node {
  uint64_t id = 0;
  bool initial = false;  // bootstraps with the initial configuration
  bool alive = false;
  bool removed = false;  // its removal committed: shut down for good
  int down_until = 0;
  MemoryStorage storage;
  std::unique_ptr<RaftNode> raft;
  uint64_t applied = 0;
  uint64_t chain = 0;
  uint64_t compact_threshold = 40;
  std::map<std::string, uint64_t> reads;  // context -> lowest acceptable read index
};

class Simulation {
 public:
  explicit Simulation(const SimOptions& options) : o_(options), rng_(options.seed) {}

  SimResult Run();

 private:
  [[noreturn]] void Fail(const std::string& what) { throw Failure{what}; }
  template <typename... Args>
  void Trace(const Args&... args) {
    if (!o_.trace) return;
    trace_.push_back(absl::StrCat("t", round_, " ", args...));
    if (trace_.size() > o_.trace_tail) trace_.pop_front();
  }

  Node& NodeById(uint64_t id) { return *nodes_.at(id); }
  Node* Leader();  // the leader with the highest term among live nodes, if any
  std::vector<Node*> LiveNodes();

  void StartNode(Node& n);
  void CrashNode(Node& n);
  void Process(Node& n);
  void CheckReadyEntries(Node& n, const Ready& rd);
  void ApplyEntry(Node& n, const Entry& e);
  void RestoreSnapshot(Node& n, uint64_t index, const std::string& data, const char* why);
  // Sends `m` as the driver would: a snapshot chunk with its bytes read from n's storage.
  void SendFrom(Node& n, const Message& m);
  void CheckLeader(Node& n);
  void FullCheck();
  void CheckLog(Node& n);  // the whole log against the registry and the committed sequence
  void MaybeCompact(Node& n);

  void Send(const Message& m);
  void DeliverDue();
  void TickAll();

  void ChaosStep();
  void ChangePartition();
  void ChangeMembership(Node& leader);
  bool Live();

  SimOptions o_;
  Random rng_;
  int round_ = 0;
  bool healed_ = false;
  std::map<uint64_t, std::unique_ptr<Node>> nodes_;
  std::vector<Member> initial_members_;
  uint64_t next_id_ = 1;
  uint64_t next_value_ = 1;
  std::vector<Packet> network_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;  // directed links that drop everything

  // Global history, the ground truth the invariants are checked against.
  std::map<uint64_t, uint64_t> leader_of_term_;
  std::vector<CommittedEntry> committed_;  // committed_[i - 1] is entry i
  std::unordered_map<std::pair<uint64_t, uint64_t>, std::pair<uint64_t, uint64_t>, PairHash>
      entries_;  // (index, term) -> (entry hash, term of the entry before it)
  uint64_t max_term_ = 0;
  Configuration committed_conf_;  // latest committed membership

  // Liveness phase.
  std::optional<ProposalId> marker_;
  std::string read_ctx_;
  bool read_done_ = false;
  uint64_t read_node_ = 0;

  SimResult result_;
  std::deque<std::string> trace_;
};

std::vector<Node*> Simulation::LiveNodes() {
  std::vector<Node*> out;
  for (auto& [id, n] : nodes_) {
    if (n->alive) out.push_back(n.get());
  }
  return out;
}

Node* Simulation::Leader() {
  Node* best = nullptr;
  for (Node* n : LiveNodes()) {
    if (n->raft->role() == Role::kLeader && (best == nullptr || n->raft->term() > best->raft->term())) {
      best = n;
    }
  }
  return best;
}

void Simulation::StartNode(Node& n) {
  absl::StatusOr<PersistentState> state = n.storage.Load();
  if (!state.ok()) Fail("load: " + state.status().ToString());
  RaftOptions opts;
  opts.id = n.id;
  if (n.initial) opts.initial_members = initial_members_;
  opts.applied_index = state->snapshot.index();
  opts.election_ticks = 10;
  opts.heartbeat_ticks = 1 + static_cast<int>(rng_.Uniform(2));
  opts.seed = rng_.Next();
  // Sometimes one entry per append (1 byte), so a new leader's no-op travels apart from the
  // older entries before it.
  opts.max_bytes_per_msg = rng_.Chance(0.3) ? 1 : 64 + rng_.Uniform(512);
  opts.max_inflight_msgs = 1 + static_cast<int>(rng_.Uniform(8));
  opts.max_snapshot_chunk_bytes = 128 + rng_.Uniform(1024);
  opts.max_committed_bytes_per_ready = 64 + rng_.Uniform(1024);
  opts.lease_reads = o_.lease_reads;
  opts.pre_vote = o_.pre_vote;
  opts.check_quorum = o_.check_quorum;
  opts.max_uncommitted_bytes = rng_.Chance(0.5) ? 0 : 100 + rng_.Uniform(2000);
  opts.replicate_stall_ticks = 2 + static_cast<int>(rng_.Uniform(8));
  n.raft = std::make_unique<RaftNode>(opts, *state);
  n.alive = true;
  n.applied = 0;
  n.chain = 0;
  n.compact_threshold = 10 + rng_.Uniform(60);
  if (state->snapshot.index() > 0) {
    absl::StatusOr<std::string> data =
        n.storage.ReadSnapshotData(state->snapshot.index(), 0, state->snapshot_bytes);
    if (!data.ok()) Fail("read snapshot: " + data.status().ToString());
    RestoreSnapshot(n, state->snapshot.index(), *data, "restart");
  }
  Trace("start ", n.id, " hs=", state->hard_state.term(), "/", state->hard_state.vote(), "/",
        state->hard_state.commit(), " snap=", state->snapshot.index(),
        " entries=", state->entries.size());
  Process(n);
}

void Simulation::CrashNode(Node& n) {
  Trace("crash ", n.id, " ", n.raft->DebugString());
  n.alive = false;
  n.raft.reset();
  n.storage.Crash();
  n.reads.clear();
  n.down_until = round_ + 1 + static_cast<int>(rng_.Uniform(40));
  ++result_.crashes;
}

void Simulation::SendFrom(Node& n, const Message& m) {
  Message out = m;
  absl::Status s = FillSnapshotChunk(n.storage, out);
  if (absl::IsFailedPrecondition(s)) {
    Trace("chunk of a replaced snapshot not sent ", Describe(m));
    return;
  }
  if (!s.ok()) Fail(absl::StrCat("node ", n.id, " fill snapshot chunk: ", s.ToString()));
  if (out.type() == MSG_SNAP && out.snapshot().data().size() != out.snapshot().length()) {
    Fail("snapshot chunk not filled");
  }
  Send(out);
}

void Simulation::Send(const Message& m) {
  ++result_.messages;
  if (rng_.Chance(healed_ ? 0 : o_.drop_rate)) {
    Trace("drop ", Describe(m));
    return;
  }
  int copies = rng_.Chance(healed_ ? 0 : o_.dup_rate) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    uint64_t delay = 1 + rng_.Uniform(o_.max_delay_ticks + 1);
    network_.push_back(Packet{round_ + delay, m});
  }
}

void Simulation::DeliverDue() {
  std::vector<Packet> due;
  std::vector<Packet> rest;
  for (Packet& p : network_) {
    (p.deliver_at <= static_cast<uint64_t>(round_) ? due : rest).push_back(std::move(p));
  }
  network_ = std::move(rest);
  // Reorder: deliver this round's packets in random order.
  for (size_t i = due.size(); i > 1; --i) std::swap(due[i - 1], due[rng_.Uniform(i)]);
  for (Packet& p : due) {
    const Message& m = p.message;
    auto it = nodes_.find(m.to());
    if (it == nodes_.end() || !it->second->alive) continue;
    if (cut_.count({m.from(), m.to()}) != 0) {
      Trace("cut ", Describe(m));
      continue;
    }
    Node& n = *it->second;
    Trace("deliver ", Describe(m));
    n.raft->Step(m);
    Process(n);
  }
}

void Simulation::TickAll() {
  for (Node* n : LiveNodes()) {
    int ticks = 1;
    if (!o_.lease_reads && !healed_) {
      // Clock drift (leases assume bounded drift, so only without them).
      if (rng_.Chance(0.02)) ticks = 0;
      if (rng_.Chance(0.02)) ticks = 2;
    }
    for (int i = 0; i < ticks && n->alive; ++i) {
      n->raft->Tick();
      Process(*n);
    }
  }
}

void Simulation::Process(Node& n) {
  while (n.alive && n.raft->HasReady()) {
    Ready rd = n.raft->GetReady();
    if (rd.soft_state) {
      Trace("node ", n.id, " -> ", RoleName(rd.soft_state->role), " term ", n.raft->term(),
            " leader ", rd.soft_state->leader);
    }
    CheckReadyEntries(n, rd);
    bool sent_early = false;
    for (const Message& m : rd.messages) {
      if (rd.SendableBeforePersist(m)) {
        SendFrom(n, m);
        sent_early = true;
      }
    }
    if (sent_early && rd.must_sync && !healed_ && rng_.Chance(o_.crash_before_persist)) {
      // The leader's appends are out, its own write is not: the crash loses it.
      CrashNode(n);
      return;
    }
    absl::Status s = n.storage.SaveReady(rd);
    if (!s.ok()) Fail("save: " + s.ToString());
    for (const Message& m : rd.messages) {
      if (!rd.SendableBeforePersist(m)) SendFrom(n, m);
    }
    if (rd.snapshot) {
      RestoreSnapshot(n, rd.snapshot->metadata().index(), rd.snapshot->data(), "install");
    }
    bool removed = false;
    for (const Entry& e : rd.committed_entries) {
      ApplyEntry(n, e);
      if (e.type() == ENTRY_CONF_CHANGE) {
        ConfChangeRecord rec;
        rec.ParseFromString(e.data());
        if (rec.has_change() && rec.change().type() == CONF_CHANGE_REMOVE_MEMBER &&
            rec.change().member().id() == n.id) {
          removed = true;
        }
      }
    }
    for (const ReadState& rs : rd.read_states) {
      auto it = n.reads.find(rs.context);
      if (it == n.reads.end()) continue;  // answered twice (a duplicated message)
      if (rs.index < it->second) {
        Fail(absl::StrCat("stale read at node ", n.id, ": read index ", rs.index,
                          " but index ", it->second, " was applied before the request"));
      }
      Trace("read ", rs.context, " at ", n.id, " index ", rs.index);
      ++result_.reads;
      if (rs.context == read_ctx_) read_done_ = true;
      n.reads.erase(it);
    }
    n.raft->Advance(rd);
    max_term_ = std::max(max_term_, n.raft->term());
    CheckLeader(n);
    CheckLog(n);
    if (removed) {
      Trace("node ", n.id, " applied its removal; shutting down");
      n.alive = false;
      n.removed = true;
      n.raft.reset();
      return;
    }
    MaybeCompact(n);
  }
  if (n.alive) max_term_ = std::max(max_term_, n.raft->term());
}

void Simulation::CheckReadyEntries(Node& n, const Ready& rd) {
  for (size_t k = 0; k < rd.entries.size(); ++k) {
    const Entry& e = rd.entries[k];
    uint64_t prev_term;
    if (k > 0) {
      prev_term = rd.entries[k - 1].term();
      if (rd.entries[k - 1].index() + 1 != e.index()) Fail("ready entries not contiguous");
    } else {
      std::optional<uint64_t> t = n.raft->log().Term(e.index() - 1);
      if (!t) Fail(absl::StrCat("node ", n.id, " has no entry before ", e.index()));
      prev_term = *t;
    }
    auto key = std::make_pair(e.index(), e.term());
    auto value = std::make_pair(EntryHash(e), prev_term);
    auto [it, inserted] = entries_.emplace(key, value);
    if (!inserted && it->second != value) {
      Fail(absl::StrCat("log matching: node ", n.id, " holds a different entry ", e.index(), "/",
                        e.term(), " (or a different predecessor) than another node"));
    }
  }
}

void Simulation::ApplyEntry(Node& n, const Entry& e) {
  if (e.index() != n.applied + 1) {
    Fail(absl::StrCat("node ", n.id, " applied ", e.index(), " after ", n.applied));
  }
  n.chain = Mix(n.chain, EntryHash(e));
  n.applied = e.index();
  if (e.index() <= committed_.size()) {
    if (committed_[e.index() - 1].chain != n.chain) {
      Fail(absl::StrCat("state machine safety: node ", n.id, " applied a different entry at ",
                        e.index(), " (term ", e.term(), ", committed term ",
                        committed_[e.index() - 1].term, ")"));
    }
  } else {
    committed_.push_back(CommittedEntry{e.term(), n.chain, max_term_});
    result_.committed = committed_.size();
    if (e.type() == ENTRY_CONF_CHANGE) committed_conf_ = ConfigurationOf(e);
    if (e.type() == ENTRY_CONF_CHANGE && e.index() > 1) {
      ConfChangeRecord rec;
      rec.ParseFromString(e.data());
      ++result_.conf_changes;
      if (rec.change().type() == CONF_CHANGE_ADD_MEMBER) ++result_.members_added;
      if (rec.change().type() == CONF_CHANGE_REMOVE_MEMBER) ++result_.members_removed;
    }
  }
}

void Simulation::RestoreSnapshot(Node& n, uint64_t snap_index, const std::string& data,
                                 const char* why) {
  if (data.size() < 16) Fail("snapshot data too short");
  const uint64_t index = DecodeFixed64BE(absl::string_view(data.data(), 8));
  const uint64_t chain = DecodeFixed64BE(absl::string_view(data.data() + 8, 8));
  if (index != snap_index) Fail("snapshot index mismatch");
  if (index > committed_.size() || committed_[index - 1].chain != chain) {
    Fail(absl::StrCat("snapshot at ", index, " (", why, ", node ", n.id,
                      ") does not match the committed sequence"));
  }
  n.applied = index;
  n.chain = chain;
  if (std::string(why) == "install") ++result_.snapshots_installed;
  Trace("node ", n.id, " restored snapshot ", index, " (", why, ")");
}

void Simulation::MaybeCompact(Node& n) {
  const RaftNode& r = *n.raft;
  if (n.applied < r.log().snapshot_index() + n.compact_threshold) return;
  if (n.applied != r.applied_index()) return;
  std::string data;
  PutFixed64BE(&data, n.applied);
  PutFixed64BE(&data, n.chain);
  data.append(rng_.Uniform(3000), 'x');  // big enough to need several chunks
  // As the master does: written to storage, then the core learns only its size.
  absl::StatusOr<std::unique_ptr<SnapshotWriter>> writer = n.storage.NewSnapshotWriter(n.applied);
  if (!writer.ok()) Fail("snapshot writer: " + writer.status().ToString());
  for (size_t at = 0; at < data.size(); at += 1000) {
    absl::Status s = (*writer)->Append(absl::string_view(data).substr(at, 1000));
    if (!s.ok()) Fail("snapshot write: " + s.ToString());
  }
  absl::Status s = (*writer)->Finish();
  if (!s.ok()) Fail("snapshot finish: " + s.ToString());
  s = n.raft->CompactTo(n.applied, (*writer)->size());
  if (!s.ok()) Fail("compact: " + s.ToString());
  s = n.storage.Compact(n.raft->snapshot(), **writer);
  if (!s.ok()) Fail("storage compact: " + s.ToString());
  Trace("node ", n.id, " compacted to ", n.applied);
}

void Simulation::CheckLeader(Node& n) {
  const RaftNode& r = *n.raft;
  if (r.role() != Role::kLeader) return;
  auto [it, inserted] = leader_of_term_.emplace(r.term(), n.id);
  if (!inserted && it->second != n.id) {
    Fail(absl::StrCat("election safety: nodes ", it->second, " and ", n.id, " both lead term ",
                      r.term()));
  }
  if (inserted) ++result_.elections;
  // Leader completeness: every entry applied while all terms were below ours was committed
  // before our term, so our log must hold it. max_term_at_apply never decreases along the log.
  auto pos = std::partition_point(committed_.begin(), committed_.end(),
                                  [&](const CommittedEntry& c) { return c.max_term_at_apply < r.term(); });
  const uint64_t index = pos - committed_.begin();
  if (index == 0 || index <= r.log().snapshot_index()) return;
  std::optional<uint64_t> term = r.log().Term(index);
  if (!term || *term != committed_[index - 1].term) {
    Fail(absl::StrCat("leader completeness: leader ", n.id, " of term ", r.term(),
                      " lacks committed entry ", index, " (term ", committed_[index - 1].term, ")"));
  }
}

void Simulation::FullCheck() {
  for (Node* n : LiveNodes()) CheckLog(*n);
}

void Simulation::CheckLog(Node& node) {
  {
    Node* n = &node;
    const RaftNode& r = *n->raft;
    const RaftLog& log = r.log();
    uint64_t prev_term = log.snapshot_term();
    for (uint64_t i = log.first_index(); i <= log.last_index(); ++i) {
      const Entry& e = log.At(i);
      if (e.index() != i) Fail("log index mismatch");
      auto it = entries_.find({i, e.term()});
      if (it == entries_.end() || it->second != std::make_pair(EntryHash(e), prev_term)) {
        // Entries not yet handed out in a Ready are not registered yet.
        if (i <= log.stable()) {
          Fail(absl::StrCat("log matching: node ", n->id, " entry ", i, "/", e.term(),
                            " differs from the entry registered when it was persisted"));
        }
      }
      if (i <= r.commit_index() && i <= committed_.size() && committed_[i - 1].term != e.term()) {
        Fail(absl::StrCat("node ", n->id, " commit index covers entry ", i, "/", e.term(),
                          " but term ", committed_[i - 1].term, " was committed there"));
      }
      prev_term = e.term();
    }
  }
}

void Simulation::ChangePartition() {
  cut_.clear();
  std::vector<uint64_t> ids;
  for (auto& [id, n] : nodes_) {
    if (!n->removed) ids.push_back(id);
  }
  Node* leader = Leader();
  switch (rng_.Uniform(6)) {
    case 0:
      Trace("partition: heal");
      break;
    case 1: {  // symmetric split
      std::set<uint64_t> side;
      for (uint64_t id : ids) {
        if (rng_.Chance(0.5)) side.insert(id);
      }
      for (uint64_t a : ids) {
        for (uint64_t b : ids) {
          if (side.count(a) != side.count(b)) cut_.insert({a, b});
        }
      }
      std::string s;
      for (uint64_t id : side) absl::StrAppend(&s, id, " ");
      Trace("partition: split {", s, "} from the rest");
      break;
    }
    case 2: {  // one-way link
      uint64_t a = ids[rng_.Uniform(ids.size())], b = ids[rng_.Uniform(ids.size())];
      if (a != b) cut_.insert({a, b});
      Trace("partition: one-way ", a, " -/-> ", b);
      break;
    }
    default: {  // the leader in a minority of one: both ways, only outgoing, only incoming
      if (leader == nullptr) break;
      const int mode = static_cast<int>(rng_.Uniform(3));
      for (uint64_t id : ids) {
        if (id == leader->id) continue;
        if (mode != 1) cut_.insert({id, leader->id});  // leader hears nothing
        if (mode != 2) cut_.insert({leader->id, id});  // leader's messages are lost
      }
      Trace("partition: isolate leader ", leader->id, " mode ", mode);
      break;
    }
  }
}

void Simulation::ChangeMembership(Node& leader) {
  const Configuration& conf = leader.raft->configuration();
  const int size = conf.members_size();
  const int min_size = std::max(2, o_.num_nodes - 1), max_size = o_.num_nodes + 2;
  ConfChange cc;
  bool add = size < max_size && (size <= min_size || rng_.Chance(0.5));
  if (add) {
    uint64_t id = next_id_;
    cc.set_type(CONF_CHANGE_ADD_MEMBER);
    cc.mutable_member()->set_id(id);
    cc.mutable_member()->set_address(absl::StrCat("node", id));
    absl::StatusOr<ProposalId> p = leader.raft->ProposeConfChange(cc);
    Trace("propose add ", id, " at ", leader.id, ": ", p.ok() ? "ok" : p.status().ToString());
    if (!p.ok()) return;
    ++next_id_;
    auto n = std::make_unique<Node>();
    n->id = id;
    Node& ref = *n;
    nodes_.emplace(id, std::move(n));
    StartNode(ref);
  } else {
    const Member& victim = conf.members(static_cast<int>(rng_.Uniform(size)));
    cc.set_type(CONF_CHANGE_REMOVE_MEMBER);
    cc.mutable_member()->set_id(victim.id());
    absl::StatusOr<ProposalId> p = leader.raft->ProposeConfChange(cc);
    Trace("propose remove ", victim.id(), " at ", leader.id, ": ",
          p.ok() ? "ok" : p.status().ToString());
  }
  Process(leader);
}

void Simulation::ChaosStep() {
  Node* leader = Leader();
  if (rng_.Chance(0.3)) {
    const int k = 1 + static_cast<int>(rng_.Uniform(4));
    for (int i = 0; i < k; ++i) {
      std::vector<Node*> live = LiveNodes();
      if (live.empty()) break;
      Node* n = (leader != nullptr && rng_.Chance(0.8)) ? leader : live[rng_.Uniform(live.size())];
      absl::StatusOr<ProposalId> p = n->raft->Propose(absl::StrCat("v", next_value_++));
      if (p.ok()) {
        Trace("propose at ", n->id, " -> ", p->index, "/", p->term);
      } else if (n->raft->role() != Role::kLeader &&
                 LeaderHint(p.status()) != n->raft->leader()) {
        Fail("Propose on a follower did not name its leader");
      }
    }
    if (leader != nullptr && leader->alive) Process(*leader);
  }
  if (rng_.Chance(0.1)) {
    // Reads go mostly to nodes that believe they lead (stale leaders included): that is where a
    // broken lease or read index would answer from an old state.
    std::vector<Node*> live = LiveNodes(), leaders;
    for (Node* n : live) {
      if (n->raft->role() == Role::kLeader) leaders.push_back(n);
    }
    if (!live.empty()) {
      Node* n = !leaders.empty() && rng_.Chance(0.8) ? leaders[rng_.Uniform(leaders.size())]
                                                     : live[rng_.Uniform(live.size())];
      std::string ctx = absl::StrCat("r", next_value_++);
      n->reads[ctx] = committed_.size();
      absl::Status s = n->raft->ReadIndex(ctx);
      if (!s.ok()) n->reads.erase(ctx);
      Trace("read ", ctx, " requested at ", n->id, ": ", s.ok() ? "ok" : "no leader");
      Process(*n);
    }
  }
  if (rng_.Chance(0.02)) ChangePartition();
  if (rng_.Chance(0.01)) {
    std::vector<Node*> live = LiveNodes();
    if (!live.empty()) CrashNode(*live[rng_.Uniform(live.size())]);
  }
  for (auto& [id, n] : nodes_) {
    if (!n->alive && !n->removed && round_ >= n->down_until) StartNode(*n);
  }
  leader = Leader();
  if (leader != nullptr && o_.membership_changes && rng_.Chance(0.006)) ChangeMembership(*leader);
  leader = Leader();
  if (leader != nullptr && rng_.Chance(0.005)) {
    const Configuration& conf = leader->raft->configuration();
    if (conf.members_size() > 0) {
      uint64_t target = conf.members(static_cast<int>(rng_.Uniform(conf.members_size()))).id();
      absl::Status s = leader->raft->TransferLeadership(target);
      if (s.ok() && target != leader->id) ++result_.transfers;
      Trace("transfer ", leader->id, " -> ", target, ": ", s.ToString());
      Process(*leader);
    }
  }
}

bool Simulation::Live() {
  Node* leader = Leader();
  if (leader == nullptr) return false;
  RaftNode& r = *leader->raft;
  if (!marker_ || marker_->term != r.term()) {
    absl::StatusOr<ProposalId> p = r.Propose(absl::StrCat("marker", r.term()));
    if (!p.ok()) return false;
    marker_ = *p;
    read_ctx_.clear();
    read_done_ = false;
    Trace("liveness: marker ", p->index, "/", p->term, " at ", leader->id);
    Process(*leader);
    return false;
  }
  if (r.commit_index() < marker_->index || !r.log().MatchTerm(marker_->index, marker_->term)) {
    return false;
  }
  if (read_ctx_.empty() || read_node_ != leader->id) {
    read_ctx_ = absl::StrCat("final", next_value_++);
    read_node_ = leader->id;
    read_done_ = false;
    leader->reads[read_ctx_] = committed_.size();
    if (!r.ReadIndex(read_ctx_).ok()) read_ctx_.clear();
    Process(*leader);
    return false;
  }
  if (!read_done_) return false;
  for (const Member& m : r.configuration().members()) {
    auto it = nodes_.find(m.id());
    if (it == nodes_.end()) Fail(absl::StrCat("member ", m.id(), " was never created"));
    Node& n = *it->second;
    if (!n.alive || n.applied < marker_->index) return false;
  }
  return true;
}

SimResult Simulation::Run() {
  for (int i = 0; i < o_.num_nodes; ++i) {
    Member m;
    m.set_id(next_id_++);
    m.set_address(absl::StrCat("node", m.id()));
    initial_members_.push_back(m);
  }
  for (const Member& m : initial_members_) {
    auto n = std::make_unique<Node>();
    n->id = m.id();
    n->initial = true;
    nodes_.emplace(m.id(), std::move(n));
  }
  try {
    for (auto& [id, n] : nodes_) StartNode(*n);
    for (round_ = 0; round_ < o_.chaos_ticks; ++round_) {
      ChaosStep();
      DeliverDue();
      TickAll();
      if (round_ % 4 == 0) FullCheck();
    }
    // Heal: no more faults; every member comes back.
    healed_ = true;
    cut_.clear();
    Trace("heal");
    for (auto& [id, n] : nodes_) {
      if (!n->alive && !n->removed) StartNode(*n);
    }
    if (!o_.pre_vote && !o_.check_quorum) {
      // Without pre-vote and check-quorum nothing stops a removed node that never learned of its
      // removal from disrupting the group with ever higher terms (Raft thesis 4.2.3); the
      // operator shuts it down.
      for (auto& [id, n] : nodes_) {
        // Keep members of the committed configuration, and nodes one of them is adding.
        bool known = HasMember(committed_conf_, id);
        for (auto& [other_id, other] : nodes_) {
          if (other_id != id && other->alive && HasMember(committed_conf_, other_id) &&
              other->raft->IsMember(id)) {
            known = true;
          }
        }
        if (n->alive && !known) {
          Trace("operator shuts down non-member ", id);
          n->alive = false;
          n->removed = true;
          n->raft.reset();
        }
      }
    }
    // Catching up a backlog takes time: allow a round trip per entry on top of the bound.
    uint64_t max_last = 0, min_applied = UINT64_MAX;
    for (Node* n : LiveNodes()) {
      max_last = std::max(max_last, n->raft->last_index());
      min_applied = std::min(min_applied, n->applied);
    }
    const int backlog = static_cast<int>(max_last - std::min(max_last, min_applied));
    const int bound = o_.liveness_ticks + backlog * 2 * (o_.max_delay_ticks + 2);
    const int start = round_;
    bool live = false;
    for (; round_ < start + bound; ++round_) {
      DeliverDue();
      TickAll();
      if (round_ % 4 == 0) FullCheck();
      if (Live()) {
        live = true;
        break;
      }
    }
    FullCheck();
    result_.recovery_ticks = round_ - start;
    if (!live) {
      std::string state;
      for (auto& [id, n] : nodes_) {
        absl::StrAppend(&state, "\n  ", n->alive ? n->raft->DebugString()
                                                  : absl::StrCat("node ", id, n->removed ? " removed" : " down"));
      }
      Fail(absl::StrCat("liveness: no progress within ", bound, " ticks after healing (backlog ",
                        backlog, " entries)", state));
    }
  } catch (const Failure& f) {
    result_.ok = false;
    result_.error = f.what;
  }
  result_.trace.assign(trace_.begin(), trace_.end());
  return result_;
}

}  // namespace

SimOptions OptionsForSeed(uint64_t seed) {
  Random r(seed ^ 0x5EED5EED5EEDull);
  SimOptions o;
  o.seed = seed;
  o.num_nodes = r.Chance(0.5) ? 3 : 5;
  o.lease_reads = r.Chance(0.3);
  o.pre_vote = r.Chance(0.8);
  o.check_quorum = o.lease_reads || r.Chance(0.8);
  o.drop_rate = r.Chance(0.2) ? 0.0 : 0.01 + 0.1 * static_cast<double>(r.Uniform(100)) / 100;
  o.dup_rate = r.Chance(0.3) ? 0.0 : 0.05;
  o.max_delay_ticks = static_cast<int>(r.Uniform(4));
  o.membership_changes = r.Chance(0.7);
  return o;
}

SimResult RunSimulation(const SimOptions& options) {
  Simulation sim(options);
  return sim.Run();
}

}  // namespace dfs::raft::sim
