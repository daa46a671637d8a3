#include "master/placement.h"

#include <map>
#include <set>

#include "gtest/gtest.h"

namespace dfs {
namespace {

PlacementCandidate Node(const std::string& id, const std::string& rack, uint64_t free_gb) {
  PlacementCandidate c;
  c.node.set_id(id);
  c.node.set_rack(rack);
  c.free_bytes = free_gb << 30;
  return c;
}

TEST(Placement, DistinctRacksFirst) {
  Random random(1);
  std::vector<PlacementCandidate> nodes = {Node("a1", "a", 100), Node("a2", "a", 100),
                                           Node("a3", "a", 100), Node("b1", "b", 10)};
  for (int i = 0; i < 50; ++i) {
    auto chosen = ChoosePlacement(nodes, 3, random);
    ASSERT_EQ(chosen.size(), 3u);
    std::set<std::string> ids, racks;
    for (auto& n : chosen) ids.insert(n.id()), racks.insert(n.rack());
    EXPECT_EQ(ids.size(), 3u);
    EXPECT_EQ(racks.size(), 2u) << "both racks must be used";
    EXPECT_TRUE(ids.count("b1"));
  }
}

TEST(Placement, PrefersFreeSpaceAndSpreadsEqualNodes) {
  Random random(2);
  std::vector<PlacementCandidate> nodes = {Node("x", "r", 1), Node("y", "r", 100),
                                           Node("z", "r", 100)};
  auto chosen = ChoosePlacement(nodes, 2, random);
  ASSERT_EQ(chosen.size(), 2u);
  EXPECT_NE(chosen[0].id(), "x");
  EXPECT_NE(chosen[1].id(), "x");
  std::map<std::string, int> first;
  for (int i = 0; i < 200; ++i) first[ChoosePlacement(nodes, 1, random)[0].id()]++;
  EXPECT_GT(first["y"], 40);
  EXPECT_GT(first["z"], 40);
}

TEST(Placement, FewerNodesThanReplicas) {
  Random random(3);
  EXPECT_EQ(ChoosePlacement({Node("a", "r", 1)}, 3, random).size(), 1u);
  EXPECT_TRUE(ChoosePlacement({}, 3, random).empty());
}

}  // namespace
}  // namespace dfs
