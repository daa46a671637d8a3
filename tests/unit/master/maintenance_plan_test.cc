// The pure decisions of background maintenance: what to do about one chunk and how healthy fsck
// finds it (replica_plan.h), and which replicas the balancer moves (balance_plan.h).
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "master/maintenance/balance_plan.h"
#include "master/maintenance/replica_plan.h"

namespace dfs {
namespace {

ChunkInfo Chunk(std::vector<std::string> replicas) {
  ChunkInfo info;
  info.set_chunk_id(7);
  info.set_length(1000);
  for (auto& r : replicas) info.add_replicas(r);
  return info;
}

// a1 a2 a3 in rack a, b1 b2 b3 in rack b; all live and in service unless changed.
std::map<std::string, PlanNode> Nodes() {
  std::map<std::string, PlanNode> nodes;
  for (std::string id : {"a1", "a2", "a3"}) nodes[id] = PlanNode{"a", true, false, 100};
  for (std::string id : {"b1", "b2", "b3"}) nodes[id] = PlanNode{"b", true, false, 100};
  return nodes;
}

bool Has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

TEST(ReplicaPlanTest, HealthyChunkNeedsNothing) {
  ChunkPlan plan = PlanChunk(Chunk({"a1", "b1", "a2"}), 3, Nodes(), {}, {});
  EXPECT_EQ(plan.good, 3);
  EXPECT_EQ(plan.copies, 0);
  EXPECT_FALSE(plan.missing);
  EXPECT_TRUE(plan.trim.empty());
  EXPECT_TRUE(plan.forget.empty());
  EXPECT_TRUE(plan.adopt.empty());
}

TEST(ReplicaPlanTest, DeadReplicaIsCopiedFromLiveOnesAvoidingTheirRacks) {
  auto nodes = Nodes();
  nodes["b1"].live = false;
  ChunkPlan plan = PlanChunk(Chunk({"a1", "b1", "a2"}), 3, nodes, {}, {});
  EXPECT_EQ(plan.good, 2);
  EXPECT_EQ(plan.live, 2);
  EXPECT_EQ(plan.copies, 1);
  EXPECT_EQ(plan.sources, (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(plan.used_racks, (std::set<std::string>{"a"}));
  // The dead copy is forgotten only once the chunk is whole again.
  EXPECT_TRUE(plan.forget.empty());
}

TEST(ReplicaPlanTest, UnknownNodeCountsAsDead) {
  ChunkPlan plan = PlanChunk(Chunk({"a1", "zz", "b1"}), 3, Nodes(), {}, {});
  EXPECT_EQ(plan.copies, 1);
}

TEST(ReplicaPlanTest, DeadReplicaForgottenOnceRfGoodElsewhere) {
  auto nodes = Nodes();
  nodes["b1"].live = false;
  ChunkPlan plan = PlanChunk(Chunk({"a1", "b1", "a2", "b2"}), 3, nodes, {}, {});
  EXPECT_EQ(plan.copies, 0);
  EXPECT_EQ(plan.forget, std::vector<std::string>{"b1"});
  EXPECT_EQ(plan.keep.size(), 3u);
  EXPECT_TRUE(plan.trim.empty());
}

TEST(ReplicaPlanTest, NoLiveReplicaIsMissingNeverDropped) {
  auto nodes = Nodes();
  nodes["a1"].live = nodes["b1"].live = false;
  ChunkPlan plan = PlanChunk(Chunk({"a1", "b1"}), 3, nodes, {}, {});
  EXPECT_TRUE(plan.missing);
  EXPECT_EQ(plan.copies, 0);
  EXPECT_TRUE(plan.forget.empty());
  EXPECT_TRUE(plan.trim.empty());
}

TEST(ReplicaPlanTest, ExtraReplicasTrimmedKeepingRackSpread) {
  auto nodes = Nodes();
  nodes["a2"].free_bytes = 10;  // the fullest of rack a
  ChunkPlan plan = PlanChunk(Chunk({"a1", "a2", "a3", "b1"}), 3, nodes, {}, {});
  ASSERT_EQ(plan.trim.size(), 1u);
  EXPECT_EQ(plan.trim[0], "a2");  // from the crowded rack, the fullest node
  EXPECT_EQ(plan.keep.size(), 3u);
  EXPECT_TRUE(Has(plan.keep, "b1"));
  EXPECT_FALSE(Has(plan.keep, "a2"));
}

TEST(ReplicaPlanTest, DrainingReplicasDoNotCountButAreSources) {
  auto nodes = Nodes();
  nodes["a1"].draining = true;
  ChunkPlan plan = PlanChunk(Chunk({"a1", "b1", "a2"}), 3, nodes, {}, {});
  EXPECT_EQ(plan.good, 2);
  EXPECT_EQ(plan.live, 3);
  EXPECT_EQ(plan.copies, 1);
  EXPECT_EQ(plan.sources.back(), "a1");  // in-service sources first
  // Once drained, the draining copy is neither trimmed nor forgotten: it stays a read source.
  plan = PlanChunk(Chunk({"a1", "b1", "a2", "b2"}), 3, nodes, {}, {});
  EXPECT_EQ(plan.copies, 0);
  EXPECT_TRUE(plan.trim.empty());
  EXPECT_TRUE(plan.forget.empty());
}

TEST(ReplicaPlanTest, UnrecordedCopyAdoptedWhenShortDeletedWhenNot) {
  auto nodes = Nodes();
  nodes["b1"].live = false;
  ChunkPlan plan = PlanChunk(Chunk({"a1", "b1", "a2"}), 3, nodes, {}, {"b2"});
  EXPECT_EQ(plan.adopt, std::vector<std::string>{"b2"});
  EXPECT_EQ(plan.copies, 0);
  EXPECT_EQ(plan.forget, std::vector<std::string>{"b1"});
  plan = PlanChunk(Chunk({"a1", "b1", "a2"}), 3, Nodes(), {}, {"b2"});
  EXPECT_TRUE(plan.adopt.empty());
  EXPECT_EQ(plan.delete_unrecorded, std::vector<std::string>{"b2"});
}

TEST(ReplicaPlanTest, UnrecordedCopyRescuesAMissingChunk) {
  auto nodes = Nodes();
  nodes["a1"].live = false;
  ChunkPlan plan = PlanChunk(Chunk({"a1"}), 3, nodes, {}, {"b3"});
  EXPECT_FALSE(plan.missing);
  EXPECT_EQ(plan.adopt, std::vector<std::string>{"b3"});
  EXPECT_EQ(plan.copies, 2);
  EXPECT_EQ(plan.sources, std::vector<std::string>{"b3"});
}

TEST(ReplicaPlanTest, AbsentReplicaCountsAsDead) {
  ChunkPlan plan = PlanChunk(Chunk({"a1", "b1", "a2"}), 3, Nodes(), {"a2"}, {});
  EXPECT_EQ(plan.good, 2);
  EXPECT_EQ(plan.copies, 1);
}

// fsck's verdicts (CheckChunk).

std::vector<ReplicaHealth> Healths(const ChunkCheck& check) {
  std::vector<ReplicaHealth> out;
  for (const ReplicaCheck& r : check.replicas()) out.push_back(r.health());
  return out;
}

TEST(ChunkCheckTest, HealthyWhenRfGoodReplicasEvenWithExtras) {
  ChunkCheck check = CheckChunk(Chunk({"a1", "b1", "a2", "b2"}), 3, Nodes(), {});
  EXPECT_EQ(check.health(), CHUNK_HEALTHY);
  EXPECT_EQ(check.good_replicas(), 4u);
  EXPECT_EQ(check.live_replicas(), 4u);
  EXPECT_EQ(check.replication(), 3u);
  EXPECT_EQ(check.chunk_id(), 7u);
  EXPECT_EQ(check.length(), 1000u);
  EXPECT_EQ(check.replicas(0).node().id(), "a1");
}

TEST(ChunkCheckTest, DeadOrDrainingReplicasMakeItUnderReplicated) {
  auto nodes = Nodes();
  nodes["b1"].live = false;
  nodes["a2"].draining = true;
  ChunkCheck check = CheckChunk(Chunk({"a1", "b1", "a2", "zz"}), 3, nodes, {});
  EXPECT_EQ(check.health(), CHUNK_UNDER_REPLICATED);
  EXPECT_EQ(check.good_replicas(), 1u);
  EXPECT_EQ(check.live_replicas(), 2u);
  EXPECT_EQ(Healths(check), (std::vector<ReplicaHealth>{REPLICA_LIVE, REPLICA_DEAD,
                                                         REPLICA_DECOMMISSIONING, REPLICA_DEAD}));
}

TEST(ChunkCheckTest, NoLiveReplicaIsMissing) {
  auto nodes = Nodes();
  nodes["a1"].live = false;
  nodes["b1"].live = false;
  EXPECT_EQ(CheckChunk(Chunk({"a1", "b1"}), 3, nodes, {}).health(), CHUNK_MISSING);
  EXPECT_EQ(CheckChunk(Chunk({}), 3, nodes, {}).health(), CHUNK_MISSING);
}

TEST(ChunkCheckTest, OnlyDamagedCopiesLeftIsCorrupt) {
  ChunkCheck check = CheckChunk(Chunk({"a1"}), 3, Nodes(), {"a1"});
  EXPECT_EQ(check.health(), CHUNK_CORRUPT);
  EXPECT_EQ(check.live_replicas(), 0u);
  EXPECT_EQ(Healths(check), std::vector<ReplicaHealth>{REPLICA_CORRUPT});
  // A good copy besides the damaged one: readable, but short.
  check = CheckChunk(Chunk({"a1", "b1"}), 3, Nodes(), {"a1"});
  EXPECT_EQ(check.health(), CHUNK_UNDER_REPLICATED);
  EXPECT_EQ(check.good_replicas(), 1u);
}

std::vector<BalanceNode> Cluster(std::vector<uint64_t> used) {
  std::vector<BalanceNode> nodes;
  for (size_t i = 0; i < used.size(); ++i) {
    nodes.push_back({"n" + std::to_string(i), i % 2 == 0 ? "a" : "b", used[i], 1000});
  }
  return nodes;
}

TEST(BalancePlanTest, BalancedClusterMovesNothing) {
  auto nodes = Cluster({500, 520, 480});
  EXPECT_TRUE(BalanceSources(nodes, 0.1).empty());
  EXPECT_TRUE(PlanBalance(nodes, {}, 0.1, 0).empty());
}

TEST(BalancePlanTest, MovesFromFullToEmptyUntilWithinThreshold) {
  // n0 (rack a) is full, n1 (b) and n2 (a) hold copies too, n3 (b) is empty.
  auto nodes = Cluster({600, 300, 300, 0});
  std::map<std::string, std::vector<BalanceChunk>> chunks;
  for (uint64_t id = 1; id <= 30; ++id) {
    chunks["n0"].push_back({id, 20, {"n0", "n1", "n2"}});
  }
  ASSERT_EQ(BalanceSources(nodes, 0.1), std::vector<std::string>{"n0"});
  auto moves = PlanBalance(nodes, chunks, 0.1, 0);
  ASSERT_FALSE(moves.empty());
  uint64_t moved = 0;
  for (const auto& m : moves) {
    EXPECT_EQ(m.from, "n0");
    EXPECT_EQ(m.to, "n3");
    moved += m.length;
  }
  // Average 30%: n0 ends at or below 40%, n3 at or below 40%.
  EXPECT_GE(moved, 200u);
  EXPECT_LE(moved, 400u);
}

TEST(BalancePlanTest, NeverReducesRackSpread) {
  // The only empty node is in rack a; moving n1's (rack b) copy there would leave the chunk in
  // rack a only.
  std::vector<BalanceNode> nodes = {{"n0", "a", 300, 1000}, {"n1", "b", 900, 1000},
                                    {"n2", "a", 0, 1000}};
  std::map<std::string, std::vector<BalanceChunk>> chunks;
  chunks["n1"].push_back({1, 100, {"n0", "n1"}});
  EXPECT_TRUE(PlanBalance(nodes, chunks, 0.1, 0).empty());
  // Rack spread kept: a chunk on two rack-a nodes and n1 may move from n1... not to rack a.
  chunks["n1"].push_back({2, 100, {"n1", "n2"}});
  EXPECT_TRUE(PlanBalance(nodes, chunks, 0.1, 0).empty());
}

TEST(BalancePlanTest, RespectsTheByteBudget) {
  auto nodes = Cluster({900, 100, 0, 100});
  std::map<std::string, std::vector<BalanceChunk>> chunks;
  for (uint64_t id = 1; id <= 50; ++id) chunks["n0"].push_back({id, 10, {"n0", "n1"}});
  auto moves = PlanBalance(nodes, chunks, 0.05, 35);
  EXPECT_EQ(moves.size(), 4u);  // stops once 35 bytes are planned: 4 x 10
}

TEST(BalancePlanTest, AboveAverageNodesFeedUnderFullOnes) {
  // Average 40%: n0 and n1 at 60% are within 0.25 of it, n2 at 0% is far below.
  auto nodes = Cluster({600, 600, 0});
  std::map<std::string, std::vector<BalanceChunk>> chunks;
  for (uint64_t id = 1; id <= 40; ++id) {
    chunks[id % 2 ? "n0" : "n1"].push_back({id, 20, {id % 2 ? "n0" : "n1"}});
  }
  auto sources = BalanceSources(nodes, 0.25);
  EXPECT_EQ(sources.size(), 2u);
  auto moves = PlanBalance(nodes, chunks, 0.25, 0);
  ASSERT_FALSE(moves.empty());
  uint64_t to_n2 = 0;
  for (const auto& m : moves) to_n2 += m.to == "n2" ? m.length : 0;
  EXPECT_GE(to_n2, 150u);  // n2 reaches at least 40% - 25%
}

}  // namespace
}  // namespace dfs
