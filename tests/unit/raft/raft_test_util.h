// A scripted, deterministic in-process network of RaftNodes for interaction tests (in the spirit
// of etcd-io/raft's rafttest InteractionEnv): the test decides who ticks, which messages are
// delivered, which links are cut and who restarts. Each node's Ready is handled as the driver
// would: persist to MemoryStorage, queue messages (snapshot chunks filled from the storage),
// apply, Advance.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "master/raft/raft_node.h"
#include "master/raft/storage.h"

namespace dfs::raft::testing {

struct TestNode {
  uint64_t id = 0;
  bool initial = true;
  bool up = true;
  MemoryStorage storage;
  std::unique_ptr<RaftNode> raft;
  std::vector<Entry> applied;      // committed entries handed out, in order
  std::vector<Snapshot> restored;  // snapshots handed out
  std::vector<ReadState> reads;
  uint64_t applied_index = 0;
};

// Takes a snapshot at `index` with data `state` as the master does: the data goes to storage
// through a SnapshotWriter, the core learns only its size.
inline absl::Status CompactWithData(RaftNode& node, Storage& storage, uint64_t index,
                                    const std::string& state) {
  absl::StatusOr<std::unique_ptr<SnapshotWriter>> writer = storage.NewSnapshotWriter(index);
  if (!writer.ok()) return writer.status();
  if (absl::Status s = (*writer)->Append(state); !s.ok()) return s;
  if (absl::Status s = (*writer)->Finish(); !s.ok()) return s;
  if (absl::Status s = node.CompactTo(index, (*writer)->size()); !s.ok()) return s;
  return storage.Compact(node.snapshot(), **writer);
}

class Network {
 public:
  using Tweak = std::function<void(RaftOptions&)>;

  // A new group of `ids`, all bootstrapped with that configuration.
  explicit Network(std::vector<uint64_t> ids, Tweak tweak = nullptr) : tweak_(std::move(tweak)) {
    for (uint64_t id : ids) {
      Member m;
      m.set_id(id);
      m.set_address(absl::StrCat("node", id));
      members_.push_back(m);
    }
    for (uint64_t id : ids) {
      auto n = std::make_unique<TestNode>();
      n->id = id;
      nodes_[id] = std::move(n);
      Start(id);
    }
  }

  // A node that joins an existing group: it starts empty and waits for the leader.
  void AddJoiningNode(uint64_t id) {
    auto n = std::make_unique<TestNode>();
    n->id = id;
    n->initial = false;
    nodes_[id] = std::move(n);
    Start(id);
  }

  RaftNode& raft(uint64_t id) { return *nodes_.at(id)->raft; }
  TestNode& node(uint64_t id) { return *nodes_.at(id); }

  RaftOptions OptionsFor(const TestNode& n, const PersistentState& state) {
    RaftOptions o;
    o.id = n.id;
    if (n.initial) o.initial_members = members_;
    o.applied_index = n.applied_index;
    o.election_ticks = 10;
    o.heartbeat_ticks = 1;
    o.seed = n.id * 7 + restarts_;
    if (tweak_) tweak_(o);
    return o;
  }

  void Start(uint64_t id) {
    TestNode& n = node(id);
    absl::StatusOr<PersistentState> state = n.storage.Load();
    DFS_CHECK_OK(state.status());
    n.applied_index = std::max(n.applied_index, state->snapshot.index());
    n.raft = std::make_unique<RaftNode>(OptionsFor(n, *state), *state);
    n.up = true;
    Process(id);
  }

  // Crash: unsynced writes are lost; the state machine (n.applied) is kept as if durable.
  void Crash(uint64_t id) {
    TestNode& n = node(id);
    n.up = false;
    n.raft.reset();
    n.storage.Crash();
    ++restarts_;
  }
  void Restart(uint64_t id) {
    Crash(id);
    Start(id);
  }

  void Process(uint64_t id) {
    TestNode& n = node(id);
    while (n.up && n.raft->HasReady()) {
      Ready rd = n.raft->GetReady();
      DFS_CHECK_OK(n.storage.SaveReady(rd));
      for (Message m : rd.messages) {
        if (m.type() == MSG_SNAP) core_chunks_.push_back(m);
        // A chunk of a snapshot replaced since is dropped, as the master drops it.
        if (FillSnapshotChunk(n.storage, m).ok()) queue_.push_back(std::move(m));
      }
      if (rd.snapshot) {
        n.restored.push_back(*rd.snapshot);
        n.applied_index = rd.snapshot->metadata().index();
      }
      for (const Entry& e : rd.committed_entries) {
        n.applied.push_back(e);
        n.applied_index = e.index();
      }
      for (const ReadState& rs : rd.read_states) n.reads.push_back(rs);
      n.raft->Advance(rd);
    }
  }

  void Tick(uint64_t id, int times = 1) {
    for (int i = 0; i < times && node(id).up; ++i) {
      raft(id).Tick();
      Process(id);
    }
  }
  void TickAll(int times = 1) {
    for (int i = 0; i < times; ++i) {
      for (auto& [id, n] : nodes_) Tick(id);
    }
  }

  void Cut(uint64_t a, uint64_t b) {
    cut_.insert({a, b});
    cut_.insert({b, a});
  }
  void CutOneWay(uint64_t from, uint64_t to) { cut_.insert({from, to}); }
  void Isolate(uint64_t id) {
    for (auto& [other, n] : nodes_) {
      if (other != id) Cut(id, other);
    }
  }
  void Heal() { cut_.clear(); }

  // Messages sent and not yet delivered.
  std::deque<Message>& queue() { return queue_; }
  // Every snapshot chunk as the cores emitted it, before FillSnapshotChunk.
  const std::vector<Message>& core_chunks() const { return core_chunks_; }
  std::vector<Message> Take() {
    std::vector<Message> out(queue_.begin(), queue_.end());
    queue_.clear();
    return out;
  }
  void Deliver(const Message& m) {
    auto it = nodes_.find(m.to());
    if (it == nodes_.end() || !it->second->up || cut_.count({m.from(), m.to()}) != 0) return;
    it->second->raft->Step(m);
    Process(m.to());
  }

  // Delivers queued messages, and those they cause, until none is left. Returns how many.
  int Stabilize(const std::function<bool(const Message&)>& drop = nullptr) {
    int delivered = 0;
    while (!queue_.empty()) {
      Message m = queue_.front();
      queue_.pop_front();
      if (drop && drop(m)) continue;
      ++delivered;
      Deliver(m);
      DFS_CHECK(delivered < 1000000);
    }
    return delivered;
  }

  // Ticks `id` until it starts a campaign, then lets the election play out.
  void Campaign(uint64_t id) {
    for (int i = 0; i < 100 && raft(id).role() == Role::kFollower; ++i) Tick(id);
    Stabilize();
  }

  // Ticks everyone (heartbeats flow) and delivers, `rounds` times.
  void Run(int rounds) {
    for (int i = 0; i < rounds; ++i) {
      TickAll();
      Stabilize();
    }
  }

  uint64_t Leader() {
    uint64_t leader = 0, term = 0;
    for (auto& [id, n] : nodes_) {
      if (n->up && n->raft->role() == Role::kLeader && n->raft->term() >= term) {
        leader = id;
        term = n->raft->term();
      }
    }
    return leader;
  }

  std::vector<std::string> AppliedData(uint64_t id) {
    std::vector<std::string> out;
    for (const Entry& e : node(id).applied) {
      if (e.type() == ENTRY_NORMAL) out.push_back(e.data());
    }
    return out;
  }

 private:
  Tweak tweak_;
  std::vector<Member> members_;
  std::map<uint64_t, std::unique_ptr<TestNode>> nodes_;
  std::deque<Message> queue_;
  std::vector<Message> core_chunks_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  uint64_t restarts_ = 0;
};

}  // namespace dfs::raft::testing
