#include "client/chunk_reservations.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testutil/manual_clock.h"

namespace dfs {
namespace {

ReservedChunk Chunk(uint64_t id, std::vector<std::string> nodes) {
  ReservedChunk chunk;
  chunk.chunk_id = id;
  for (std::string& node : nodes) chunk.pipeline.emplace_back().set_id(std::move(node));
  return chunk;
}

TEST(ChunkReservationsTest, HandsOutOldestFirstOnlyForSmallChunksWithoutExclusions) {
  ManualClock clock;
  ChunkReservations reservations(/*max_bytes=*/1 << 20, /*ttl_ms=*/1000, &clock);
  reservations.Add({Chunk(7, {"a", "b", "c"}), Chunk(8, {"b", "c", "d"})});

  EXPECT_FALSE(reservations.Take((1 << 20) + 1, {}).has_value());
  EXPECT_FALSE(reservations.Take(4096, {"z"}).has_value());
  EXPECT_EQ(reservations.size(), 2u);

  std::optional<ReservedChunk> first = reservations.Take(4096, {});
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->chunk_id, 7u);
  ASSERT_EQ(first->pipeline.size(), 3u);
  EXPECT_EQ(first->pipeline[0].id(), "a");
  EXPECT_EQ(reservations.Take(1 << 20, {})->chunk_id, 8u);
  EXPECT_FALSE(reservations.Take(4096, {}).has_value());
}

TEST(ChunkReservationsTest, ExpiredReservationsAreDropped) {
  ManualClock clock;
  ChunkReservations reservations(1 << 20, 1000, &clock);
  reservations.Add({Chunk(1, {"a"})});
  clock.now_ns += 500'000'000;
  reservations.Add({Chunk(2, {"a"})});
  clock.now_ns += 600'000'000;  // the first is 1.1 s old, the second 0.6 s
  EXPECT_EQ(reservations.Take(1, {})->chunk_id, 2u);
  EXPECT_EQ(reservations.size(), 0u);
}

TEST(ChunkReservationsTest, DropNodesForgetsPipelinesThroughThem) {
  ManualClock clock;
  ChunkReservations reservations(1 << 20, 1000, &clock);
  reservations.Add({Chunk(1, {"a", "b"}), Chunk(2, {"c", "d"}), Chunk(3, {"d", "b"})});
  reservations.DropNodes({"b"});
  EXPECT_EQ(reservations.size(), 1u);
  EXPECT_EQ(reservations.Take(1, {})->chunk_id, 2u);
}

}  // namespace
}  // namespace dfs
