// Scripted interaction tests of the Raft core: each test drives a small group through one
// scenario with explicit ticks, deliveries and cuts, and checks what the protocol must do.
#include "master/raft/raft_node.h"

#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/raft/raft_test_util.h"

namespace dfs::raft {
namespace {

using testing::CompactWithData;
using testing::Network;

std::vector<std::string> Strings(std::initializer_list<const char*> list) {
  return std::vector<std::string>(list.begin(), list.end());
}

// Elects node 1 leader of {1, 2, 3}.
Network ThreeNodes(Network::Tweak tweak = nullptr) {
  Network net({1, 2, 3}, std::move(tweak));
  net.Campaign(1);
  return net;
}

TEST(RaftElection, BootstrapAndElect) {
  Network net({1, 2, 3});
  for (uint64_t id : {1, 2, 3}) {
    EXPECT_EQ(net.raft(id).term(), 1u);
    EXPECT_EQ(net.raft(id).commit_index(), 1u);  // the bootstrap configuration
    ASSERT_EQ(net.node(id).applied.size(), 1u);
    EXPECT_EQ(net.node(id).applied[0].type(), ENTRY_CONF_CHANGE);
    EXPECT_EQ(net.raft(id).configuration().members_size(), 3);
  }
  net.Campaign(1);
  EXPECT_EQ(net.raft(1).role(), Role::kLeader);
  EXPECT_EQ(net.raft(1).term(), 2u);
  for (uint64_t id : {2, 3}) {
    EXPECT_EQ(net.raft(id).role(), Role::kFollower);
    EXPECT_EQ(net.raft(id).leader(), 1u);
    EXPECT_EQ(net.raft(id).vote(), 1u);
  }
  // The leader's no-op commits everywhere.
  net.Run(1);
  for (uint64_t id : {1, 2, 3}) {
    EXPECT_EQ(net.raft(id).commit_index(), 2u);
    EXPECT_EQ(net.node(id).applied.back().type(), ENTRY_NO_OP);
  }
}

TEST(RaftElection, SingleNodeElectsItselfAndCommits) {
  Network net({7});
  net.Campaign(7);
  ASSERT_EQ(net.raft(7).role(), Role::kLeader);
  ASSERT_TRUE(net.raft(7).Propose("x").ok());
  net.Process(7);
  EXPECT_EQ(net.AppliedData(7), Strings({"x"}));
}

TEST(RaftElection, VoteRejectedForStaleLog) {
  Network net = ThreeNodes();
  ASSERT_TRUE(net.raft(1).Propose("a").ok());
  net.Process(1);
  net.Stabilize();
  // Node 3 misses an entry, then asks for votes: 2 must refuse (its log is more up to date).
  net.Isolate(3);
  ASSERT_TRUE(net.raft(1).Propose("b").ok());
  net.Process(1);
  net.Stabilize();
  net.Heal();
  net.Crash(1);
  net.Tick(2, 5);  // let 2's lease on leader 1 lapse partly; 3 campaigns after its timeout
  for (int i = 0; i < 40 && net.raft(3).role() == Role::kFollower; ++i) {
    net.Tick(3);
    net.Tick(2);
  }
  net.Stabilize();
  EXPECT_NE(net.raft(3).role(), Role::kLeader);
}

TEST(RaftPreVote, PartitionedNodeDoesNotInflateTermOrDisruptLeader) {
  Network net = ThreeNodes();
  const uint64_t term = net.raft(1).term();
  net.Isolate(3);
  for (int i = 0; i < 100; ++i) {
    net.TickAll();
    net.Stabilize();
  }
  // Pre-votes fail without a quorum, so the isolated node never bumped its term.
  EXPECT_EQ(net.raft(3).term(), term);
  EXPECT_NE(net.raft(3).role(), Role::kLeader);
  net.Heal();
  net.Run(20);
  EXPECT_EQ(net.Leader(), 1u);
  EXPECT_EQ(net.raft(1).term(), term);
  EXPECT_EQ(net.raft(3).leader(), 1u);
}

TEST(RaftPreVote, WithoutPreVoteTheTermInflates) {
  Network net = ThreeNodes([](RaftOptions& o) { o.pre_vote = false; });
  const uint64_t term = net.raft(1).term();
  net.Isolate(3);
  for (int i = 0; i < 60; ++i) {
    net.TickAll();
    net.Stabilize();
  }
  EXPECT_GT(net.raft(3).term(), term + 1);
}

TEST(RaftCheckQuorum, IsolatedLeaderStepsDown) {
  Network net = ThreeNodes();
  net.Isolate(1);
  // Within two election timeouts: the first check after taking office counts everyone as active.
  for (int i = 0; i < 20; ++i) {
    net.Tick(1);
    net.Stabilize();
  }
  // A whole election timeout without hearing from a quorum.
  EXPECT_EQ(net.raft(1).role(), Role::kFollower);
  EXPECT_EQ(net.raft(1).leader(), 0u);
  // The others elect a new leader; the old one follows it after healing.
  net.Run(40);
  const uint64_t leader = net.Leader();
  EXPECT_TRUE(leader == 2 || leader == 3);
  net.Heal();
  net.Run(5);
  EXPECT_EQ(net.raft(1).leader(), leader);
}

TEST(RaftCheckQuorum, LeaderWhoseRepliesAreLostStepsDown) {
  // One-way partition: the leader's heartbeats arrive but it hears nothing back.
  Network net = ThreeNodes();
  net.CutOneWay(2, 1);
  net.CutOneWay(3, 1);
  net.Run(20);
  EXPECT_NE(net.raft(1).role(), Role::kLeader);
  net.Run(40);
  EXPECT_TRUE(net.Leader() == 2 || net.Leader() == 3);
}

TEST(RaftCheckQuorum, FollowerWithLiveLeaderIgnoresVotes) {
  Network net = ThreeNodes();
  const uint64_t term = net.raft(2).term();
  Message vote;
  vote.set_type(MSG_VOTE);
  vote.set_from(3);
  vote.set_to(2);
  vote.set_term(term + 5);
  vote.set_index(100);
  vote.set_log_term(term + 4);
  net.Deliver(vote);
  EXPECT_EQ(net.raft(2).term(), term);
  EXPECT_TRUE(net.queue().empty());  // not even a rejection
  // A forced (leadership transfer) vote is not subject to the lease.
  vote.set_transfer(true);
  net.Deliver(vote);
  EXPECT_EQ(net.raft(2).term(), term + 5);
  EXPECT_EQ(net.raft(2).vote(), 3u);
}

// Found by the simulation: without check-quorum and pre-vote, a stale leader must still learn a
// newer term from the followers it contacts, or a group can deadlock around it.
TEST(RaftElection, StaleLeaderLearnsNewerTermFromAppendReply) {
  Network net = ThreeNodes([](RaftOptions& o) {
    o.check_quorum = false;
    o.pre_vote = false;
  });
  const uint64_t term = net.raft(1).term();
  Message vote;  // moves node 2 to a later term behind the leader's back
  vote.set_type(MSG_VOTE);
  vote.set_from(3);
  vote.set_to(2);
  vote.set_term(term + 5);
  net.Deliver(vote);
  net.queue().clear();
  ASSERT_EQ(net.raft(2).term(), term + 5);
  net.Tick(1);  // heartbeat at the old term
  net.Stabilize();
  EXPECT_EQ(net.raft(1).role(), Role::kFollower);
  EXPECT_EQ(net.raft(1).term(), term + 5);
}

// Found by the simulation: a candidate behind in term must learn the newer term from the
// rejection, or it may never catch up with nodes that do not know it is a member.
TEST(RaftElection, StaleCandidateLearnsNewerTermFromVoteRejection) {
  Network net({1, 2, 3}, [](RaftOptions& o) {
    o.check_quorum = false;
    o.pre_vote = false;
  });
  Message vote;  // moves node 2 ahead in term
  vote.set_type(MSG_VOTE);
  vote.set_from(3);
  vote.set_to(2);
  vote.set_term(9);
  net.Deliver(vote);
  net.queue().clear();
  for (int i = 0; i < 30 && net.raft(1).role() != Role::kCandidate; ++i) net.Tick(1);
  ASSERT_EQ(net.raft(1).role(), Role::kCandidate);
  ASSERT_LT(net.raft(1).term(), 9u);
  net.Stabilize([](const Message& m) { return m.to() == 3 || m.from() == 3; });
  EXPECT_EQ(net.raft(1).role(), Role::kFollower);
  EXPECT_EQ(net.raft(1).term(), 9u);
}

TEST(RaftReplication, ProposalOnFollowerNamesLeader) {
  Network net = ThreeNodes();
  absl::StatusOr<ProposalId> p = net.raft(2).Propose("x");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(LeaderHint(p.status()), 1u);
}

TEST(RaftReplication, BatchedAndPipelined) {
  Network net = ThreeNodes([](RaftOptions& o) {
    o.max_bytes_per_msg = 64;
    o.max_inflight_msgs = 3;
  });
  net.Run(2);
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(net.raft(1).Propose(absl::StrCat("v", i)).ok());
  net.Process(1);
  // Many proposals, few messages: each append carries several entries, and at most 3 appends
  // per follower are in flight before an acknowledgement.
  std::vector<Message> out = net.Take();
  int appends_to_2 = 0, entries_to_2 = 0;
  for (const Message& m : out) {
    if (m.type() == MSG_APP && m.to() == 2) {
      ++appends_to_2;
      entries_to_2 += m.entries_size();
      EXPECT_GT(m.entries_size(), 1);
    }
  }
  EXPECT_EQ(appends_to_2, 3);
  EXPECT_LT(entries_to_2, 40);
  for (const Message& m : out) net.queue().push_back(m);
  net.Stabilize();
  EXPECT_EQ(net.AppliedData(1).size(), 40u) << net.raft(1).DebugString();
  // The followers learn the last commit index from the next heartbeat.
  net.Run(1);
  for (uint64_t id : {2, 3}) EXPECT_EQ(net.AppliedData(id).size(), 40u) << net.raft(id).DebugString();
}

TEST(RaftReplication, CommitIndexRidesOnAppendsAndHeartbeats) {
  Network net = ThreeNodes();
  net.Run(2);
  ASSERT_TRUE(net.raft(1).Propose("a").ok());
  net.Process(1);
  // Deliver the append and the acks; the commit that follows sends no append of its own.
  int empty_appends = 0;
  net.Stabilize([&](const Message& m) {
    if (m.type() == MSG_APP && m.entries_size() == 0) ++empty_appends;
    return false;
  });
  EXPECT_EQ(empty_appends, 0);
  EXPECT_EQ(net.AppliedData(1).size(), 1u);
  EXPECT_EQ(net.AppliedData(2).size(), 0u);
  // The next write's append carries it...
  ASSERT_TRUE(net.raft(1).Propose("b").ok());
  net.Process(1);
  net.Stabilize();
  EXPECT_EQ(net.AppliedData(2), std::vector<std::string>{"a"});
  // ...and with no more writes, the next heartbeat does.
  net.Run(1);
  for (uint64_t id : {2, 3}) {
    EXPECT_EQ(net.AppliedData(id), (std::vector<std::string>{"a", "b"})) << id;
  }
}

TEST(RaftReplication, LostAppendsAreRetried) {
  Network net = ThreeNodes([](RaftOptions& o) { o.max_inflight_msgs = 2; });
  net.Run(2);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.raft(1).Propose(absl::StrCat("v", i)).ok());
  net.Process(1);
  net.Stabilize([](const Message& m) { return m.type() == MSG_APP && m.to() == 3; });
  net.Run(15);
  EXPECT_EQ(net.AppliedData(3).size(), 5u);
}

TEST(RaftReplication, ConflictingSuffixIsRepairedWithFewRoundTrips) {
  Network net = ThreeNodes();
  net.Run(2);
  // Leader 1, cut off, appends entries nobody else gets.
  net.Isolate(1);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(net.raft(1).Propose(absl::StrCat("lost", i)).ok());
  net.Process(1);
  net.Stabilize();
  // 2 and 3 elect a new leader and commit other entries at the same indexes.
  for (int i = 0; i < 40 && net.Leader() != 2 && net.Leader() != 3; ++i) {
    net.Tick(2);
    net.Tick(3);
    net.Stabilize();
  }
  const uint64_t leader = net.raft(2).role() == Role::kLeader ? 2 : 3;
  ASSERT_EQ(net.raft(leader).role(), Role::kLeader);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.raft(leader).Propose(absl::StrCat("kept", i)).ok());
  net.Process(leader);
  net.Stabilize();
  net.Heal();
  // Count rejections while node 1 is repaired: the conflict-term hint skips the whole term.
  int rejects = 0;
  for (int round = 0; round < 30; ++round) {
    net.TickAll();
    while (!net.queue().empty()) {
      Message m = net.queue().front();
      net.queue().pop_front();
      if (m.type() == MSG_APP_RESP && m.reject() && m.from() == 1) ++rejects;
      net.Deliver(m);
    }
  }
  EXPECT_LE(rejects, 2);
  EXPECT_EQ(net.raft(1).role(), Role::kFollower);
  EXPECT_EQ(net.AppliedData(1), net.AppliedData(leader));
  EXPECT_EQ(net.raft(1).last_index(), net.raft(leader).last_index());
  for (const std::string& s : net.AppliedData(1)) EXPECT_EQ(s.rfind("lost", 0), std::string::npos);
}

// Raft paper figure 8: an entry from an earlier term stored on a majority is not committed by
// counting replicas; it commits only together with an entry of the leader's term.
TEST(RaftCommit, OldTermEntryIsNotCommittedByCounting) {
  Member m1, m2, m3;
  m1.set_id(1);
  m2.set_id(2);
  m3.set_id(3);
  ConfChangeRecord record;
  *record.mutable_configuration()->add_members() = m1;
  *record.mutable_configuration()->add_members() = m2;
  *record.mutable_configuration()->add_members() = m3;
  Entry conf;
  conf.set_index(1);
  conf.set_term(1);
  conf.set_type(ENTRY_CONF_CHANGE);
  conf.set_data(record.SerializeAsString());
  Entry old;
  old.set_index(2);
  old.set_term(2);
  old.set_data("old");

  // Node 1 holds an uncommitted entry of term 2 (it led term 2); it is now term 3.
  PersistentState s1;
  s1.hard_state.set_term(3);
  s1.hard_state.set_commit(1);
  s1.entries = {conf, old};
  PersistentState s23;
  s23.hard_state.set_term(3);
  s23.hard_state.set_commit(1);
  s23.entries = {conf};

  RaftOptions o;
  o.max_bytes_per_msg = 1;  // one entry per append
  std::map<uint64_t, std::unique_ptr<RaftNode>> nodes;
  for (uint64_t id : {1, 2, 3}) {
    o.id = id;
    o.seed = id;
    nodes[id] = std::make_unique<RaftNode>(o, id == 1 ? s1 : s23);
  }
  std::vector<Message> net;
  auto process = [&](uint64_t id) {
    while (nodes[id]->HasReady()) {
      Ready rd = nodes[id]->GetReady();
      for (const Message& m : rd.messages) net.push_back(m);
      nodes[id]->Advance(rd);
    }
  };
  // Election: deliver only votes (node 3 is unreachable throughout); keep appends for later.
  for (int i = 0; i < 30 && nodes[1]->role() != Role::kLeader; ++i) {
    nodes[1]->Tick();
    process(1);
    for (size_t k = 0; k < net.size(); ++k) {
      Message m = net[k];
      if (m.to() == 3 || m.type() == MSG_APP) continue;
      nodes[m.to()]->Step(m);
      process(m.to());
    }
    std::vector<Message> appends;
    for (const Message& m : net) {
      if (m.type() == MSG_APP && m.to() == 2) appends.push_back(m);
    }
    net = std::move(appends);
  }
  ASSERT_EQ(nodes[1]->role(), Role::kLeader);
  ASSERT_EQ(nodes[1]->term(), 4u);
  // Replicate to node 2 only, one entry per message; stop as soon as 2 holds the term-2 entry.
  for (int i = 0; i < 10 && nodes[2]->last_index() < 2; ++i) {
    std::vector<Message> batch = std::move(net);
    net.clear();
    for (const Message& m : batch) {
      if (m.to() == 3) continue;
      nodes[m.to()]->Step(m);
      process(m.to());
    }
  }
  ASSERT_EQ(nodes[2]->last_index(), 2u);  // {1, 2} is a majority holding entry 2 (term 2) ...
  // ... and the leader learns it.
  for (int i = 0; i < 4; ++i) {
    std::vector<Message> batch = std::move(net);
    net.clear();
    for (const Message& m : batch) {
      if (m.to() == 3 || m.to() == 2) continue;  // let only responses through
      nodes[m.to()]->Step(m);
      process(m.to());
    }
  }
  ASSERT_GE(nodes[1]->progress(2)->match, 2u);
  EXPECT_EQ(nodes[1]->commit_index(), 1u) << "an entry of term 2 was committed by counting in term 4";
  // Once the no-op of term 4 reaches node 2, both commit.
  for (int i = 0; i < 10 && nodes[1]->commit_index() < 3; ++i) {
    std::vector<Message> batch = std::move(net);
    net.clear();
    for (const Message& m : batch) {
      if (m.to() == 3) continue;
      nodes[m.to()]->Step(m);
      process(m.to());
    }
    nodes[1]->Tick();
    process(1);
  }
  EXPECT_EQ(nodes[1]->commit_index(), 3u);
}

TEST(RaftReadIndex, LeaderConfirmsWithHeartbeatRound) {
  Network net = ThreeNodes();
  net.Run(2);
  ASSERT_TRUE(net.raft(1).Propose("x").ok());
  net.Process(1);
  net.Stabilize();
  const uint64_t commit = net.raft(1).commit_index();
  ASSERT_TRUE(net.raft(1).ReadIndex("r1").ok());
  net.Process(1);
  EXPECT_TRUE(net.node(1).reads.empty());  // not before a quorum confirmed leadership
  std::vector<Message> out = net.Take();
  bool heartbeat = false;
  for (const Message& m : out) heartbeat |= m.type() == MSG_HEARTBEAT && m.read_seq() > 0;
  EXPECT_TRUE(heartbeat);
  for (const Message& m : out) net.queue().push_back(m);
  net.Stabilize();
  ASSERT_EQ(net.node(1).reads.size(), 1u);
  EXPECT_EQ(net.node(1).reads[0].context, "r1");
  EXPECT_EQ(net.node(1).reads[0].index, commit);
}

// A read round asks only as many followers as a quorum needs: of 3 masters, one follower.
TEST(RaftReadIndex, ReadRoundAsksOnlyAQuorum) {
  Network net = ThreeNodes();
  net.Run(2);
  const uint64_t commit = net.raft(1).commit_index();
  ASSERT_TRUE(net.raft(1).ReadIndex("r").ok());
  net.Process(1);
  std::set<uint64_t> asked;
  std::vector<Message> out = net.Take();
  for (const Message& m : out) {
    if (m.type() == MSG_HEARTBEAT) asked.insert(m.to());
  }
  EXPECT_EQ(asked.size(), 1u);
  for (const Message& m : out) net.queue().push_back(m);
  net.Stabilize();
  ASSERT_EQ(net.node(1).reads.size(), 1u);
  EXPECT_EQ(net.node(1).reads[0].index, commit);
}

// If the follower a read round asked is gone, the next tick's heartbeat (to every follower)
// completes the round, and later rounds ask the follower that answers.
TEST(RaftReadIndex, ReadRoundSurvivesTheAskedFollowerGoingAway) {
  Network net = ThreeNodes();
  net.Run(2);
  ASSERT_TRUE(net.raft(1).ReadIndex("probe").ok());
  net.Process(1);
  uint64_t asked = 0;
  std::vector<Message> out = net.Take();
  for (const Message& m : out) {
    if (m.type() == MSG_HEARTBEAT) asked = m.to();
  }
  ASSERT_NE(asked, 0u);
  net.Isolate(asked);  // the round's heartbeat is lost with it
  for (const Message& m : out) net.queue().push_back(m);
  net.Stabilize();
  EXPECT_TRUE(net.node(1).reads.empty());
  net.Tick(1);
  net.Stabilize();
  ASSERT_EQ(net.node(1).reads.size(), 1u);
  EXPECT_EQ(net.node(1).reads[0].context, "probe");
  ASSERT_TRUE(net.raft(1).ReadIndex("next").ok());
  net.Process(1);
  net.Stabilize();
  ASSERT_EQ(net.node(1).reads.size(), 2u);  // answered by the other follower, no tick needed
  EXPECT_EQ(net.node(1).reads[1].context, "next");
}

TEST(RaftReadIndex, IsolatedLeaderCannotAnswer) {
  Network net = ThreeNodes();
  net.Run(2);
  net.Isolate(1);
  ASSERT_TRUE(net.raft(1).ReadIndex("r").ok());
  net.Process(1);
  net.Stabilize();
  net.Tick(1, 3);
  net.Stabilize();
  EXPECT_TRUE(net.node(1).reads.empty());
}

TEST(RaftReadIndex, NewLeaderWaitsForItsFirstCommit) {
  Network net({1, 2, 3});
  for (int i = 0; i < 100 && net.raft(1).role() != Role::kLeader; ++i) {
    net.Tick(1);
    // Deliver everything except appends: the no-op cannot commit.
    net.Stabilize([](const Message& m) { return m.type() == MSG_APP; });
  }
  ASSERT_EQ(net.raft(1).role(), Role::kLeader);
  ASSERT_LT(net.raft(1).commit_index(), 2u);
  ASSERT_TRUE(net.raft(1).ReadIndex("early").ok());
  net.Process(1);
  net.Stabilize([](const Message& m) { return m.type() == MSG_APP; });
  EXPECT_TRUE(net.node(1).reads.empty());
  net.Run(2);
  ASSERT_EQ(net.node(1).reads.size(), 1u);
  EXPECT_GE(net.node(1).reads[0].index, 2u);
}

TEST(RaftReadIndex, FollowerForwardsToLeader) {
  Network net = ThreeNodes();
  net.Run(2);
  ASSERT_TRUE(net.raft(2).ReadIndex("f").ok());
  net.Process(2);
  net.Stabilize();
  net.Run(1);
  ASSERT_EQ(net.node(2).reads.size(), 1u);
  EXPECT_EQ(net.node(2).reads[0].context, "f");
  EXPECT_EQ(net.node(2).reads[0].index, net.raft(1).commit_index());
}

TEST(RaftReadIndex, LeaseReadAnswersWithoutRoundTrip) {
  Network net({1, 2, 3}, [](RaftOptions& o) { o.lease_reads = true; });
  // With leases, restarted nodes refuse votes for their first election timeout.
  for (int i = 0; i < 100 && net.Leader() == 0; ++i) net.Run(1);
  const uint64_t leader = net.Leader();
  ASSERT_NE(leader, 0u);
  net.Run(3);  // the no-op commits; heartbeats are acknowledged
  ASSERT_TRUE(net.raft(leader).ReadIndex("lease").ok());
  net.Process(leader);
  ASSERT_EQ(net.node(leader).reads.size(), 1u);  // answered at once, no round trip
  EXPECT_TRUE(net.queue().empty());
  // Cut off, the lease runs out and reads need a quorum again.
  net.Isolate(leader);
  net.Tick(leader, 9);
  net.Stabilize();
  ASSERT_TRUE(net.raft(leader).ReadIndex("late").ok());
  net.Process(leader);
  net.Stabilize();
  EXPECT_EQ(net.node(leader).reads.size(), 1u);
}

TEST(RaftTransfer, CatchesUpTargetThenHandsOver) {
  Network net = ThreeNodes();
  net.Run(2);
  net.Isolate(3);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.raft(1).Propose(absl::StrCat("v", i)).ok());
  net.Process(1);
  net.Stabilize();
  net.Heal();
  const uint64_t term = net.raft(1).term();
  ASSERT_TRUE(net.raft(1).TransferLeadership(3).ok());
  EXPECT_EQ(net.raft(1).lead_transferee(), 3u);
  absl::StatusOr<ProposalId> p = net.raft(1).Propose("during");
  EXPECT_EQ(p.status().code(), absl::StatusCode::kUnavailable);
  net.Process(1);
  net.Stabilize();
  EXPECT_EQ(net.raft(3).role(), Role::kLeader);
  EXPECT_EQ(net.raft(3).term(), term + 1);
  EXPECT_EQ(net.raft(1).leader(), 3u);
  net.Run(2);
  EXPECT_EQ(net.AppliedData(3).size(), 5u);
}

TEST(RaftTransfer, AbandonedAfterElectionTimeout) {
  Network net = ThreeNodes();
  net.Run(2);
  net.Isolate(3);
  ASSERT_TRUE(net.raft(1).Propose("x").ok());
  net.Process(1);
  net.Stabilize();
  ASSERT_TRUE(net.raft(1).TransferLeadership(3).ok());
  net.Process(1);
  net.Stabilize();
  net.Tick(1, 10);
  net.Stabilize();
  EXPECT_EQ(net.raft(1).lead_transferee(), 0u);
  EXPECT_EQ(net.raft(1).role(), Role::kLeader);
  EXPECT_TRUE(net.raft(1).Propose("y").ok());
}

TEST(RaftMembership, AddMemberCatchesUpAndCountsInQuorum) {
  Network net = ThreeNodes();
  net.Run(2);
  ASSERT_TRUE(net.raft(1).Propose("before").ok());
  net.Process(1);
  net.AddJoiningNode(4);
  EXPECT_EQ(net.raft(4).configuration().members_size(), 0);
  ConfChange cc;
  cc.set_type(CONF_CHANGE_ADD_MEMBER);
  cc.mutable_member()->set_id(4);
  cc.mutable_member()->set_address("node4");
  ASSERT_TRUE(net.raft(1).ProposeConfChange(cc).ok());
  // The leader uses the new configuration as soon as it appends it.
  EXPECT_EQ(net.raft(1).configuration().members_size(), 4);
  // One change at a time.
  cc.mutable_member()->set_id(5);
  EXPECT_EQ(net.raft(1).ProposeConfChange(cc).status().code(),
            absl::StatusCode::kFailedPrecondition);
  net.Process(1);
  net.Run(5);
  for (uint64_t id : {1, 2, 3, 4}) {
    EXPECT_EQ(net.raft(id).configuration().members_size(), 4) << id;
    EXPECT_EQ(net.AppliedData(id), Strings({"before"})) << id;
  }
  // Quorum is now 3 of 4: with two members cut off nothing commits.
  net.Isolate(3);
  net.Isolate(4);
  ASSERT_TRUE(net.raft(1).Propose("stuck").ok());
  net.Process(1);
  net.Stabilize();
  EXPECT_EQ(net.AppliedData(1).size(), 1u);
  net.Heal();
  net.Run(10);  // the lost appends are retried after replicate_stall_ticks
  EXPECT_EQ(net.AppliedData(4), Strings({"before", "stuck"}));
}

TEST(RaftMembership, RemoveFollower) {
  Network net = ThreeNodes();
  net.Run(2);
  ConfChange cc;
  cc.set_type(CONF_CHANGE_REMOVE_MEMBER);
  cc.mutable_member()->set_id(3);
  ASSERT_TRUE(net.raft(1).ProposeConfChange(cc).ok());
  net.Process(1);
  net.Run(3);
  EXPECT_EQ(net.raft(1).configuration().members_size(), 2);
  EXPECT_EQ(net.raft(1).progress(3), nullptr);
  // Quorum of {1, 2} is 2; node 3 no longer matters.
  net.Crash(3);
  ASSERT_TRUE(net.raft(1).Propose("after").ok());
  net.Process(1);
  net.Run(2);
  EXPECT_EQ(net.AppliedData(2), Strings({"after"}));
  // Removing a non-member or the last member is refused.
  EXPECT_EQ(net.raft(1).ProposeConfChange(cc).status().code(), absl::StatusCode::kNotFound);
}

TEST(RaftMembership, RemovedLeaderStepsDownAfterCommit) {
  Network net = ThreeNodes();
  net.Run(2);
  ConfChange cc;
  cc.set_type(CONF_CHANGE_REMOVE_MEMBER);
  cc.mutable_member()->set_id(1);
  ASSERT_TRUE(net.raft(1).ProposeConfChange(cc).ok());
  EXPECT_EQ(net.raft(1).role(), Role::kLeader);  // still leads until the removal commits
  net.Process(1);
  net.Stabilize();
  EXPECT_NE(net.raft(1).role(), Role::kLeader);
  // It handed over with TimeoutNow; one of the remaining members leads at once.
  const uint64_t leader = net.Leader();
  EXPECT_TRUE(leader == 2 || leader == 3);
  ASSERT_TRUE(net.raft(leader).Propose("new").ok());
  net.Process(leader);
  net.Run(2);
  EXPECT_EQ(net.AppliedData(2), Strings({"new"}));
  EXPECT_EQ(net.AppliedData(3), Strings({"new"}));
  // The removed node never campaigns again.
  net.Run(50);
  EXPECT_EQ(net.Leader(), leader);
  EXPECT_NE(net.raft(1).role(), Role::kPreCandidate);
}

// The core holds no snapshot bytes (RaftNode::snapshot() is metadata only, by type): its chunks
// name them (offset, length) and the driver's FillSnapshotChunk reads them from storage.
TEST(RaftSnapshot, LaggingFollowerGetsChunkedSnapshot) {
  Network net = ThreeNodes([](RaftOptions& o) { o.max_snapshot_chunk_bytes = 100; });
  net.Run(2);
  net.Isolate(3);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(net.raft(1).Propose(absl::StrCat("v", i)).ok());
  net.Process(1);
  net.Stabilize();
  net.Run(1);
  const uint64_t applied = net.raft(1).applied_index();
  // The "state machine": 10 chunks of 100 bytes, each byte telling where it belongs.
  std::string state;
  for (int i = 0; i < 1000; ++i) state.push_back(static_cast<char>('a' + i % 23));
  ASSERT_TRUE(CompactWithData(net.raft(1), net.node(1).storage, applied, state).ok());
  EXPECT_EQ(net.raft(1).snapshot_bytes(), state.size());
  EXPECT_EQ(net.raft(1).first_index(), applied + 1);
  ASSERT_TRUE(net.raft(1).Propose("after").ok());
  net.Process(1);
  net.Heal();
  int chunks = 0;
  std::string streamed;
  for (int round = 0; round < 20; ++round) {
    net.TickAll();
    while (!net.queue().empty()) {
      Message m = net.queue().front();
      net.queue().pop_front();
      if (m.type() == MSG_SNAP && m.to() == 3) {
        ++chunks;
        EXPECT_LE(m.snapshot().data().size(), 100u);
        if (m.snapshot().offset() == streamed.size()) streamed += m.snapshot().data();
      }
      net.Deliver(m);
    }
  }
  EXPECT_GE(chunks, 10);
  EXPECT_EQ(streamed, state);
  ASSERT_FALSE(net.core_chunks().empty());
  for (const Message& m : net.core_chunks()) {
    EXPECT_TRUE(m.snapshot().data().empty());
    EXPECT_EQ(m.snapshot().total_bytes(), state.size());
    EXPECT_EQ(m.snapshot().length(), std::min<uint64_t>(100, state.size() - m.snapshot().offset()));
  }
  ASSERT_EQ(net.node(3).restored.size(), 1u);
  EXPECT_EQ(net.node(3).restored[0].data(), state);  // the Ready hands the received data out
  EXPECT_EQ(net.node(3).restored[0].metadata().index(), applied);
  EXPECT_EQ(net.node(3).restored[0].metadata().configuration().members_size(), 3);
  EXPECT_EQ(net.AppliedData(3), Strings({"after"}));
  EXPECT_EQ(net.raft(3).last_index(), net.raft(1).last_index());
  // The snapshot is durable on node 3: it survives a restart.
  net.Restart(3);
  EXPECT_EQ(net.raft(3).snapshot().index(), applied);
  EXPECT_EQ(net.raft(3).snapshot_bytes(), state.size());
  EXPECT_EQ(*net.node(3).storage.ReadSnapshotData(applied, 0, state.size()), state);
  // A chunk of a snapshot replaced since cannot be filled (the driver drops it).
  net.Run(2);
  ASSERT_TRUE(
      CompactWithData(net.raft(1), net.node(1).storage, net.raft(1).applied_index(), "newer").ok());
  Message chunk = net.core_chunks().back();
  EXPECT_EQ(FillSnapshotChunk(net.node(1).storage, chunk).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(RaftSnapshot, CompactRules) {
  Network net = ThreeNodes();
  net.Run(2);
  EXPECT_EQ(net.raft(1).CompactTo(net.raft(1).applied_index() + 1, 1).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(net.raft(1).CompactTo(net.raft(1).applied_index(), 1).ok());
  EXPECT_EQ(net.raft(1).CompactTo(net.raft(1).applied_index(), 1).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(RaftRestart, StateSurvivesAndUnsyncedCommitIsRelearned) {
  Network net = ThreeNodes();
  net.Run(2);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(net.raft(1).Propose(absl::StrCat("v", i)).ok());
  net.Process(1);
  net.Run(2);
  const uint64_t term = net.raft(2).term(), last = net.raft(2).last_index();
  // The last commit-only hard state was written without sync: a crash may lose it, but the
  // state machine's applied index (passed back in) keeps commit from going backwards.
  net.Restart(2);
  EXPECT_EQ(net.raft(2).term(), term);
  EXPECT_EQ(net.raft(2).vote(), 1u);
  EXPECT_EQ(net.raft(2).last_index(), last);
  EXPECT_GE(net.raft(2).commit_index(), net.node(2).applied_index);
  net.Run(3);
  EXPECT_EQ(net.AppliedData(2), Strings({"v0", "v1", "v2"}));
}

TEST(RaftReady, MessagesComeWithTheStateTheyDependOn) {
  Network net({1, 2, 3});
  for (int i = 0; i < 30 && net.raft(1).role() == Role::kFollower; ++i) net.Tick(1);
  net.Stabilize([](const Message&) { return true; });  // drop: we step by hand below
  // Node 2 grants a vote: the Ready that carries the response must carry the vote to persist.
  Message vote;
  vote.set_type(MSG_VOTE);
  vote.set_from(1);
  vote.set_to(2);
  vote.set_term(net.raft(2).term() + 1);
  vote.set_index(1);
  vote.set_log_term(1);
  RaftNode& r2 = net.raft(2);
  r2.Step(vote);
  ASSERT_TRUE(r2.HasReady());
  Ready rd = r2.GetReady();
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].type(), MSG_VOTE_RESP);
  EXPECT_FALSE(rd.messages[0].reject());
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->vote(), 1u);
  EXPECT_TRUE(rd.must_sync);
  r2.Advance(rd);
}

TEST(RaftOptions, Validate) {
  RaftOptions o;
  EXPECT_FALSE(o.Validate().ok());  // id 0
  o.id = 1;
  EXPECT_TRUE(o.Validate().ok());
  o.heartbeat_ticks = 10;
  EXPECT_FALSE(o.Validate().ok());
  o.heartbeat_ticks = 1;
  o.lease_reads = true;
  o.check_quorum = false;
  EXPECT_FALSE(o.Validate().ok());
}

}  // namespace
}  // namespace dfs::raft
