// ReplicateChunk between in-process DatanodeServers (no masters), and the scrubber over a store.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/crc32c.h"
#include "common/grpc_status.h"
#include "common/random.h"
#include "common/rate_limiter.h"
#include "common/rpc.h"
#include "datanode/datanode_server.h"
#include "datanode/replication.h"
#include "datanode/scrubber.h"
#include "gtest/gtest.h"
#include "proto/datanode.grpc.pb.h"
#include "tests/testutil/temp_dir.h"

namespace dfs {
namespace {

std::string RandomBytes(size_t size, uint64_t seed) {
  Random random(seed);
  std::string data(size, '\0');
  for (char& c : data) c = static_cast<char>(random.Next());
  return data;
}

void StoreChunk(ChunkStore* store, uint64_t id, const std::string& data) {
  auto writer = store->OpenWriter(id);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append(data).ok());
  ASSERT_TRUE((*writer)->Commit().ok());
}

// Inverts one byte of a stored chunk's data.
void Damage(ChunkStore* store, uint64_t id, uint64_t offset) {
  std::string path = store->ChunkPath(id);
  FILE* f = std::fopen(path.c_str(), "r+b");
  ASSERT_NE(f, nullptr);
  std::fseek(f, static_cast<long>(offset), SEEK_SET);
  int c = std::fgetc(f);
  std::fseek(f, static_cast<long>(offset), SEEK_SET);
  std::fputc(~c & 0xff, f);
  std::fclose(f);
}

class ReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      DatanodeOptions options;
      options.data_dir = dirs_[i].path();
      options.scrub_bytes_per_sec = 0;  // these tests drive verification themselves
      options.seed = 100 + i;
      nodes_.push_back(std::make_unique<DatanodeServer>(options));
      ASSERT_TRUE(nodes_.back()->Start().ok());
    }
  }

  // Asks node `target` to copy; returns the status and fills *response.
  absl::Status Replicate(int target, uint64_t id, const std::string& data,
                         std::vector<int> sources, ReplicateChunkResponse* response,
                         std::vector<std::string>* bad_in_trailer = nullptr) {
    auto stub = DatanodeService::NewStub(GetChannel(nodes_[target]->address()));
    grpc::ClientContext context;
    SetTimeout(&context, 30000);
    ReplicateChunkRequest request;
    request.set_chunk_id(id);
    request.set_length(data.size());
    request.set_crc32c(Crc32c(data));
    for (int s : sources) request.add_sources(nodes_[s]->address());
    absl::Status status = FromGrpcStatus(stub->ReplicateChunk(&context, request, response));
    if (bad_in_trailer != nullptr) {
      const auto& trailer = context.GetServerTrailingMetadata();
      if (auto it = trailer.find(kBadSourcesKey); it != trailer.end()) {
        *bad_in_trailer = absl::StrSplit(std::string(it->second.data(), it->second.size()), ',');
      }
    }
    return status;
  }

  TempDir dirs_[3];
  std::vector<std::unique_ptr<DatanodeServer>> nodes_;
};

TEST_F(ReplicationTest, CopiesAVerifiedChunk) {
  const std::string data = RandomBytes(3 << 20, 1);
  StoreChunk(nodes_[0]->store(), 42, data);
  ReplicateChunkResponse response;
  ASSERT_TRUE(Replicate(1, 42, data, {0}, &response).ok());
  EXPECT_FALSE(response.already_present());
  EXPECT_EQ(response.source(), nodes_[0]->address());
  auto copy = nodes_[1]->store()->Read(42, 0, data.size());
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(*copy, data);
  // Asked again: the copy is verified and kept.
  ASSERT_TRUE(Replicate(1, 42, data, {0}, &response).ok());
  EXPECT_TRUE(response.already_present());
}

TEST_F(ReplicationTest, DamagedSourceIsNamedAndTheNextOneUsed) {
  const std::string data = RandomBytes(1 << 20, 2);
  StoreChunk(nodes_[0]->store(), 7, data);
  StoreChunk(nodes_[1]->store(), 7, data);
  Damage(nodes_[0]->store(), 7, 5000);
  ReplicateChunkResponse response;
  ASSERT_TRUE(Replicate(2, 7, data, {0, 1}, &response).ok());
  EXPECT_EQ(response.source(), nodes_[1]->address());
  ASSERT_EQ(response.bad_sources_size(), 1);
  EXPECT_EQ(response.bad_sources(0), nodes_[0]->address());
  EXPECT_EQ(*nodes_[2]->store()->Read(7, 0, data.size()), data);
}

TEST_F(ReplicationTest, NoGoodSourceFailsAndLeavesNothing) {
  const std::string data = RandomBytes(200000, 3);
  StoreChunk(nodes_[0]->store(), 9, data);
  Damage(nodes_[0]->store(), 9, 10);
  ReplicateChunkResponse response;
  std::vector<std::string> bad;
  absl::Status status = Replicate(2, 9, data, {0}, &response, &bad);
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_EQ(bad, std::vector<std::string>{nodes_[0]->address()});
  EXPECT_FALSE(nodes_[2]->store()->Contains(9));
}

TEST_F(ReplicationTest, DataThatDoesNotMatchTheRecordIsRefused) {
  const std::string data = RandomBytes(100000, 4);
  StoreChunk(nodes_[0]->store(), 11, data);
  ReplicateChunkResponse response;
  // The master's record says different bytes (same length): the copy is not sealed.
  std::string other = data;
  other[0] ^= 1;
  absl::Status status = Replicate(1, 11, other, {0}, &response);
  EXPECT_FALSE(status.ok());
  EXPECT_FALSE(nodes_[1]->store()->Contains(11));
}

TEST_F(ReplicationTest, DamagedLocalCopyIsReplaced) {
  const std::string data = RandomBytes(300000, 5);
  StoreChunk(nodes_[0]->store(), 13, data);
  StoreChunk(nodes_[1]->store(), 13, data);
  Damage(nodes_[1]->store(), 13, 200000);
  ReplicateChunkResponse response;
  ASSERT_TRUE(Replicate(1, 13, data, {0}, &response).ok());
  EXPECT_FALSE(response.already_present());
  EXPECT_EQ(*nodes_[1]->store()->Read(13, 0, data.size()), data);
}

TEST(ScrubberTest, FindsDamagedChunksAndCountsProgress) {
  TempDir dir;
  auto store = ChunkStore::Open(dir.path(), 1);
  ASSERT_TRUE(store.ok());
  for (uint64_t id = 1; id <= 5; ++id) StoreChunk(store->get(), id, RandomBytes(150000, id));
  Damage(store->get(), 3, 70000);
  ScrubberOptions options;
  options.bytes_per_sec = 0;  // unlimited; no background thread
  Scrubber scrubber(options, store->get());
  EXPECT_EQ(scrubber.RunPass(), 1u);
  ScrubStats stats = scrubber.stats();
  EXPECT_EQ(stats.passes(), 1u);
  EXPECT_EQ(stats.chunks_scanned(), 5u);
  EXPECT_EQ(stats.corrupt_found(), 1u);
  EXPECT_EQ(stats.current_pass_chunks(), 5u);
  EXPECT_GE(stats.bytes_scanned(), 5u * 150000);
  // Deleted chunks are skipped, not reported.
  ASSERT_TRUE((*store)->Delete(3).ok());
  EXPECT_EQ(scrubber.RunPass(), 0u);
}

TEST(ScrubberTest, StopInterruptsAThrottledPass) {
  TempDir dir;
  auto store = ChunkStore::Open(dir.path(), 1);
  ASSERT_TRUE(store.ok());
  for (uint64_t id = 1; id <= 3; ++id) StoreChunk(store->get(), id, RandomBytes(4 << 20, id));
  ScrubberOptions options;
  options.bytes_per_sec = 1 << 20;  // 12 MiB at 1 MiB/s: a pass would take 12 s
  Scrubber scrubber(options, store->get());
  scrubber.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto start = std::chrono::steady_clock::now();
  scrubber.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(scrubber.stats().passes(), 0u);
}

// A clock the test moves; sleeping advances it.
class FakeClock : public Clock {
 public:
  int64_t NowNanos() override { return now_; }
  int64_t MonotonicNanos() override { return now_; }
  int64_t now_ = 1'000'000'000;
};

TEST(RateLimiterTest, PacesToTheRateAfterTheBurst) {
  FakeClock clock;
  int64_t slept = 0;
  RateLimiter limiter(1000, 1000, &clock, [&](int64_t ns) {
    clock.now_ += ns;
    slept += ns;
    return true;
  });
  EXPECT_TRUE(limiter.Acquire(1000));  // the burst
  EXPECT_EQ(slept, 0);
  EXPECT_TRUE(limiter.Acquire(500));  // half a second of debt
  EXPECT_NEAR(slept, 500'000'000, 1'000'000);
  EXPECT_TRUE(limiter.Acquire(3000));  // larger than the burst: waits, never starves
  EXPECT_NEAR(slept, 3'500'000'000, 1'000'000);
}

TEST(RateLimiterTest, ZeroIsUnlimitedAndStopIsHonoured) {
  FakeClock clock;
  RateLimiter unlimited(0, 1, &clock, [](int64_t) { return false; });
  EXPECT_TRUE(unlimited.Acquire(1ull << 40));
  RateLimiter limited(10, 10, &clock, [](int64_t) { return false; });
  EXPECT_TRUE(limited.Acquire(10));
  EXPECT_FALSE(limited.Acquire(10));  // would wait; the sleep says stop
}

}  // namespace
}  // namespace dfs
