// ChunkWriter against a fake allocator: chunk boundaries, piece sizes, and the abandon-and-resend
// path when a pipeline fails.
#include "client/chunk_writer.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "common/random.h"
#include "gtest/gtest.h"

namespace dfs {
namespace {

struct FakeState {
  uint64_t next_chunk_id = 100;
  std::map<uint64_t, std::string> sealed;          // chunk id -> bytes
  std::vector<size_t> piece_sizes;                 // every Write, in order
  std::vector<bool> last_flags;                    // every Write's `last`, in order
  std::vector<std::vector<std::string>> excludes;  // exclude list of every Open
  std::vector<uint64_t> size_hints;
  // Failure injection: fail the Nth Write (1-based, over all pipelines) / the Nth Finish.
  int fail_write_number = 0;
  int fail_finish_number = 0;
  int fail_open_count = 0;  // fail the first N Opens
  absl::Status open_error = absl::UnavailableError("no datanodes");  // how they fail
  bool lie_about_crc = false;
  int writes = 0;
  int finishes = 0;
  int opens = 0;
  int pauses = 0;
  std::vector<std::string> suspects = {"dn-b"};
};

class FakePipeline : public ChunkPipeline {
 public:
  FakePipeline(FakeState* state, uint64_t chunk_id) : state_(state), chunk_id_(chunk_id) {
    for (const char* id : {"dn-a", "dn-b", "dn-c"}) {
      DatanodeInfo node;
      node.set_id(id);
      node.set_address(absl::StrCat(id, ":1"));
      nodes_.push_back(node);
    }
  }
  uint64_t chunk_id() const override { return chunk_id_; }
  const std::vector<DatanodeInfo>& nodes() const override { return nodes_; }
  absl::Status Write(absl::string_view piece, bool last) override {
    ++state_->writes;
    state_->piece_sizes.push_back(piece.size());
    state_->last_flags.push_back(last);
    if (state_->writes == state_->fail_write_number) return absl::UnavailableError("write broke");
    data_.append(piece.data(), piece.size());
    return absl::OkStatus();
  }
  absl::StatusOr<SealedChunk> Finish() override {
    ++state_->finishes;
    if (state_->finishes == state_->fail_finish_number) {
      return absl::DeadlineExceededError("finish broke");
    }
    SealedChunk sealed;
    sealed.length = data_.size();
    sealed.crc32c = Crc32c(data_) ^ (state_->lie_about_crc ? 1 : 0);
    sealed.stored_on = {"dn-a", "dn-b", "dn-c"};
    state_->sealed[chunk_id_] = data_;
    return sealed;
  }

 private:
  FakeState* state_;
  uint64_t chunk_id_;
  std::vector<DatanodeInfo> nodes_;
  std::string data_;
};

class FakeAllocator : public ChunkAllocator {
 public:
  explicit FakeAllocator(FakeState* state) : state_(state) {}
  absl::StatusOr<std::unique_ptr<ChunkPipeline>> Open(
      uint64_t size_hint, const std::vector<std::string>& exclude) override {
    ++state_->opens;
    state_->excludes.push_back(exclude);
    state_->size_hints.push_back(size_hint);
    if (state_->opens <= state_->fail_open_count) return state_->open_error;
    return std::unique_ptr<ChunkPipeline>(new FakePipeline(state_, state_->next_chunk_id++));
  }
  std::vector<std::string> Suspects(const ChunkPipeline&, const absl::Status&) override {
    return state_->suspects;
  }
  void Pause(int) override { ++state_->pauses; }

 private:
  FakeState* state_;
};

std::string RandomBytes(size_t n, uint64_t seed) {
  Random random(seed);
  std::string data(n, '\0');
  for (char& c : data) c = static_cast<char>(random.Next());
  return data;
}

// Feeds `data` to a writer in pieces of the sizes in `cuts`, cycling.
absl::StatusOr<WrittenData> WriteAll(ChunkWriter* writer, const std::string& data,
                                     const std::vector<size_t>& cuts) {
  size_t pos = 0;
  for (size_t i = 0; pos < data.size(); ++i) {
    size_t n = std::min(cuts[i % cuts.size()], data.size() - pos);
    absl::Status status = writer->Append(absl::string_view(data).substr(pos, n));
    if (!status.ok()) return status;
    pos += n;
  }
  return writer->Finish();
}

// Checks that `written` describes `data` exactly, chunk by chunk, using the fake's stored bytes.
void ExpectDescribes(const WrittenData& written, const std::string& data, const FakeState& state,
                     uint64_t chunk_size) {
  ASSERT_EQ(written.length, data.size());
  ASSERT_EQ(written.extents.size(), written.chunks.size());
  ASSERT_EQ(written.extents.size(), (data.size() + chunk_size - 1) / chunk_size);
  uint64_t offset = 0;
  for (size_t i = 0; i < written.extents.size(); ++i) {
    const Extent& extent = written.extents[i];
    const ChunkInfo& chunk = written.chunks[i];
    EXPECT_EQ(extent.file_offset(), offset);
    EXPECT_EQ(extent.chunk_offset(), 0u);
    EXPECT_EQ(extent.chunk_id(), chunk.chunk_id());
    uint64_t expected_length = std::min<uint64_t>(chunk_size, data.size() - offset);
    EXPECT_EQ(extent.length(), expected_length) << "chunk " << i;
    EXPECT_EQ(chunk.length(), expected_length);
    std::string expected = data.substr(offset, expected_length);
    EXPECT_EQ(chunk.crc32c(), Crc32c(expected));
    EXPECT_EQ(chunk.replicas_size(), 3);
    auto it = state.sealed.find(chunk.chunk_id());
    ASSERT_NE(it, state.sealed.end());
    EXPECT_TRUE(it->second == expected) << "chunk " << i << " content differs";
    offset += expected_length;
  }
}

ChunkWriterOptions SmallOptions() {
  ChunkWriterOptions options;
  options.chunk_size_bytes = 1000;
  options.piece_bytes = 128;
  options.max_attempts_per_chunk = 3;
  return options;
}

TEST(ChunkWriterTest, CutsAtChunkSizeWhateverThePieces) {
  for (std::vector<size_t> cuts : std::vector<std::vector<size_t>>{
           {1}, {7, 13, 999}, {1000}, {1001}, {4096}, {333, 1, 2500}}) {
    for (size_t size : {1u, 999u, 1000u, 1001u, 2000u, 3456u}) {
      FakeState state;
      FakeAllocator allocator(&state);
      ChunkWriter writer(&allocator, SmallOptions());
      std::string data = RandomBytes(size, size * 31 + cuts.size());
      absl::StatusOr<WrittenData> written = WriteAll(&writer, data, cuts);
      ASSERT_TRUE(written.ok()) << written.status();
      ExpectDescribes(*written, data, state, 1000);
      for (size_t piece : state.piece_sizes) {
        EXPECT_GT(piece, 0u);
        EXPECT_LE(piece, 128u);
      }
      EXPECT_EQ(state.opens, static_cast<int>(written->chunks.size()));
    }
  }
}

TEST(ChunkWriterTest, StreamsBeforeTheChunkIsFull) {
  FakeState state;
  FakeAllocator allocator(&state);
  ChunkWriter writer(&allocator, SmallOptions());
  ASSERT_TRUE(writer.Append(std::string(300, 'x')).ok());
  // Two whole pieces are on the wire already; the 44-byte tail waits for more.
  EXPECT_EQ(state.piece_sizes, (std::vector<size_t>{128, 128}));
  EXPECT_EQ(writer.bytes_appended(), 300u);
  ASSERT_TRUE(writer.Finish().ok());
  EXPECT_EQ(state.piece_sizes, (std::vector<size_t>{128, 128, 44}));
  // Only the piece that ends the chunk says so.
  EXPECT_EQ(state.last_flags, (std::vector<bool>{false, false, true}));
  // The chunk was opened while its final size was unknown: the hint is the chunk size.
  EXPECT_EQ(state.size_hints, std::vector<uint64_t>{1000});
}

TEST(ChunkWriterTest, SmallFileAllocatesWithItsSize) {
  FakeState state;
  FakeAllocator allocator(&state);
  ChunkWriter writer(&allocator, SmallOptions());
  ASSERT_TRUE(writer.Append("hello").ok());
  EXPECT_EQ(state.opens, 0);
  auto written = writer.Finish();
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(state.size_hints, std::vector<uint64_t>{5});
  ExpectDescribes(*written, "hello", state, 1000);
}

TEST(ChunkWriterTest, EmptyInputWritesNoChunk) {
  FakeState state;
  FakeAllocator allocator(&state);
  ChunkWriter writer(&allocator, SmallOptions());
  ASSERT_TRUE(writer.Append("").ok());
  auto written = writer.Finish();
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(written->length, 0u);
  EXPECT_TRUE(written->chunks.empty());
  EXPECT_EQ(state.opens, 0);
}

TEST(ChunkWriterTest, FailedWriteResendsTheWholeChunkElsewhere) {
  FakeState state;
  state.fail_write_number = 5;  // in the middle of the first chunk (pieces 1-8)
  FakeAllocator allocator(&state);
  ChunkWriter writer(&allocator, SmallOptions());
  std::string data = RandomBytes(2500, 7);
  auto written = WriteAll(&writer, data, {77});
  ASSERT_TRUE(written.ok()) << written.status();
  ExpectDescribes(*written, data, state, 1000);
  // First chunk: a failed pipeline, then a new one that excluded the suspect.
  ASSERT_GE(state.excludes.size(), 2u);
  EXPECT_TRUE(state.excludes[0].empty());
  EXPECT_EQ(state.excludes[1], std::vector<std::string>{"dn-b"});
  // Exclusions last for the whole writer: the next chunk avoids the suspect too.
  EXPECT_EQ(state.excludes[2], std::vector<std::string>{"dn-b"});
  EXPECT_EQ(state.pauses, 1);
  EXPECT_EQ(state.opens, 4);
}

TEST(ChunkWriterTest, FailedFinishResends) {
  FakeState state;
  state.fail_finish_number = 1;
  FakeAllocator allocator(&state);
  ChunkWriter writer(&allocator, SmallOptions());
  std::string data = RandomBytes(1500, 8);
  auto written = WriteAll(&writer, data, {1500});
  ASSERT_TRUE(written.ok()) << written.status();
  ExpectDescribes(*written, data, state, 1000);
  EXPECT_EQ(state.opens, 3);
}

TEST(ChunkWriterTest, FailedAllocationIsRetried) {
  FakeState state;
  state.fail_open_count = 2;
  FakeAllocator allocator(&state);
  ChunkWriter writer(&allocator, SmallOptions());
  std::string data = RandomBytes(500, 9);
  auto written = WriteAll(&writer, data, {500});
  ASSERT_TRUE(written.ok()) << written.status();
  ExpectDescribes(*written, data, state, 1000);
}

TEST(ChunkWriterTest, ReadOnlyClusterFailsAtOnce) {
  FakeState state;
  state.fail_open_count = 100;
  state.open_error = FsError(EROFS, "cluster is in safe mode (read-only)");
  FakeAllocator allocator(&state);
  ChunkWriter writer(&allocator, SmallOptions());
  absl::Status status = writer.Append(std::string(200, 'x'));
  EXPECT_EQ(ErrnoOf(status), EROFS) << status;
  EXPECT_EQ(status.message(), "cluster is in safe mode (read-only)");
  EXPECT_EQ(state.opens, 1);
  EXPECT_EQ(state.pauses, 0);
}

TEST(ChunkWriterTest, GivesUpAfterMaxAttempts) {
  FakeState state;
  state.fail_open_count = 100;
  FakeAllocator allocator(&state);
  ChunkWriter writer(&allocator, SmallOptions());
  absl::Status status = writer.Append(std::string(200, 'x'));
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_EQ(state.opens, 3);
  // The writer stays broken.
  EXPECT_FALSE(writer.Append("more").ok());
  EXPECT_FALSE(writer.Finish().ok());
}

// A clock that only moves when told to: here, by every Open of the allocator below.
class StepClock : public Clock {
 public:
  int64_t NowNanos() override { return now_ns; }
  int64_t MonotonicNanos() override { return now_ns; }
  int64_t now_ns = 1;
};

// Every Open takes `open_ms` of the clock's time (an allocation waiting out a master deadline).
class SlowAllocator : public FakeAllocator {
 public:
  SlowAllocator(FakeState* state, StepClock* clock, int64_t open_ms)
      : FakeAllocator(state), clock_(clock), open_ms_(open_ms) {}
  absl::StatusOr<std::unique_ptr<ChunkPipeline>> Open(
      uint64_t size_hint, const std::vector<std::string>& exclude) override {
    clock_->now_ns += open_ms_ * 1000000;
    return FakeAllocator::Open(size_hint, exclude);
  }

 private:
  StepClock* clock_;
  int64_t open_ms_;
};

TEST(ChunkWriterTest, RetryDeadlineStopsRetriesWithoutProgress) {
  FakeState state;
  state.fail_open_count = 100;
  StepClock clock;
  SlowAllocator allocator(&state, &clock, /*open_ms=*/10000);
  ChunkWriterOptions options = SmallOptions();
  options.max_attempts_per_chunk = 10;
  options.retry_deadline_ms = 15000;
  ChunkWriter writer(&allocator, options, &clock);
  absl::Status status = writer.Append(std::string(200, 'x'));
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  // 10 s: still within the deadline, retried; 20 s: past it.
  EXPECT_EQ(state.opens, 2);
}

TEST(ChunkWriterTest, RetryDeadlineIgnoresTimeBetweenCalls) {
  FakeState state;
  StepClock clock;
  SlowAllocator allocator(&state, &clock, /*open_ms=*/1000);
  ChunkWriterOptions options = SmallOptions();
  options.retry_deadline_ms = 15000;
  ChunkWriter writer(&allocator, options, &clock);
  ASSERT_TRUE(writer.Append("abc").ok());
  clock.now_ns += 3600ll * 1000000000;  // the producer paused for an hour
  state.fail_open_count = state.opens + 1;  // the next allocation fails once
  auto written = writer.Finish();
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->length, 3u);
}

TEST(ChunkWriterTest, MismatchedSealIsAFailure) {
  FakeState state;
  state.lie_about_crc = true;
  FakeAllocator allocator(&state);
  ChunkWriter writer(&allocator, SmallOptions());
  ASSERT_TRUE(writer.Append("abc").ok());
  auto written = writer.Finish();
  EXPECT_TRUE(absl::IsDataLoss(written.status())) << written.status();
  EXPECT_EQ(state.opens, 3);
}

}  // namespace
}  // namespace dfs
