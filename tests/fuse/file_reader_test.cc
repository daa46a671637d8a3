// FileReader (fuse/file_reader.h) against an in-memory source: correct bytes for every access
// pattern, readahead only for sequential readers, fresh data after a version change, and
// errors that do not stick.
#include "fuse/file_reader.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/random.h"
#include "gtest/gtest.h"
#include "tests/testutil/files.h"

namespace dfs::fuse {
using ::dfs::testing::RandomBytes;

namespace {

class MemorySource : public RangeSource {
 public:
  explicit MemorySource(std::string data) : data_(std::move(data)) {}
  absl::StatusOr<std::string> ReadRange(uint64_t offset, uint64_t length) override {
    ++calls;
    bytes += length;
    if (fail.load()) return absl::UnavailableError("injected");
    absl::MutexLock lock(&mu_);
    if (offset >= data_.size()) return std::string();
    return data_.substr(offset, length);
  }
  void Set(std::string data) {
    absl::MutexLock lock(&mu_);
    data_ = std::move(data);
  }
  std::atomic<int> calls{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<bool> fail{false};

 private:
  absl::Mutex mu_;
  std::string data_;
};

constexpr uint64_t kBlock = 64 << 10;

ReaderOptions Options(uint64_t readahead_blocks) {
  ReaderOptions options;
  options.block_bytes = kBlock;
  options.readahead_bytes = readahead_blocks * kBlock;
  return options;
}

TEST(FileReaderTest, SequentialReadsAreCorrectAndReadAhead) {
  std::string data = RandomBytes(40 * kBlock + 123, 1);
  auto source = std::make_shared<MemorySource>(data);
  ThreadPool pool(4);
  FileReader reader(source, &pool, Options(8));
  std::string got;
  for (uint64_t offset = 0;; offset += 4096 * 3) {
    absl::StatusOr<std::string> piece = reader.Read(offset, 4096 * 3, /*version=*/1);
    ASSERT_TRUE(piece.ok()) << piece.status();
    if (piece->empty()) break;
    got += *piece;
  }
  EXPECT_TRUE(got == data);
  // Whole blocks were fetched, not one call per request; at most the window past the end.
  EXPECT_LE(source->calls.load(), 41 + 8);
  EXPECT_LE(reader.cached_blocks(), 8u + 3u);
}

TEST(FileReaderTest, RandomReadsGoStraightToTheSource) {
  std::string data = RandomBytes(512 * kBlock, 2);
  auto source = std::make_shared<MemorySource>(data);
  ThreadPool pool(2);
  FileReader reader(source, &pool, Options(8));
  Random random(3);
  ASSERT_TRUE(reader.Read(50 * kBlock, 100, 1).ok());
  source->bytes = 0;
  for (int i = 0; i < 200; ++i) {
    uint64_t offset = random.Uniform(data.size() - 4096);
    absl::StatusOr<std::string> piece = reader.Read(offset, 4096, 1);
    ASSERT_TRUE(piece.ok());
    ASSERT_TRUE(*piece == data.substr(offset, 4096)) << offset;
  }
  // What was asked for: no block-sized fetches, no readahead (but for the rare read that lands
  // right after the previous one and so looks sequential).
  EXPECT_LE(source->bytes.load(), 200u * 4096 + 12 * kBlock);
}

TEST(FileReaderTest, ReadsPastTheEndAreShort) {
  std::string data = RandomBytes(3 * kBlock + 10, 4);
  auto source = std::make_shared<MemorySource>(data);
  ThreadPool pool(2);
  FileReader reader(source, &pool, Options(4));
  EXPECT_EQ(*reader.Read(3 * kBlock, 100, 1), data.substr(3 * kBlock));
  EXPECT_EQ(*reader.Read(3 * kBlock + 10, 100, 1), "");
  EXPECT_EQ(*reader.Read(10 * kBlock, 100, 1), "");
  EXPECT_EQ(*reader.Read(0, 0, 1), "");
}

TEST(FileReaderTest, ANewVersionDropsCachedBlocks) {
  std::string before(4 * kBlock, 'a');
  auto source = std::make_shared<MemorySource>(before);
  ThreadPool pool(2);
  FileReader reader(source, &pool, Options(4));
  ASSERT_EQ(*reader.Read(0, 100, 1), std::string(100, 'a'));
  ASSERT_EQ(*reader.Read(100, 100, 1), std::string(100, 'a'));
  source->Set(std::string(4 * kBlock, 'b'));
  // Same version: the cached block still answers (the caller decides what is stale).
  EXPECT_EQ(*reader.Read(200, 100, 1), std::string(100, 'a'));
  EXPECT_EQ(*reader.Read(300, 100, 2), std::string(100, 'b'));
}

TEST(FileReaderTest, ErrorsAreReturnedAndNotCached) {
  std::string data = RandomBytes(4 * kBlock, 5);
  auto source = std::make_shared<MemorySource>(data);
  ThreadPool pool(2);
  FileReader reader(source, &pool, Options(4));
  source->fail = true;
  EXPECT_TRUE(absl::IsUnavailable(reader.Read(0, 100, 1).status()));
  source->fail = false;
  absl::StatusOr<std::string> piece = reader.Read(0, 100, 1);
  ASSERT_TRUE(piece.ok()) << piece.status();
  EXPECT_EQ(*piece, data.substr(0, 100));
}

TEST(FileReaderTest, ConcurrentOutOfOrderReadsOfOneFile) {
  std::string data = RandomBytes(32 * kBlock, 6);
  auto source = std::make_shared<MemorySource>(data);
  ThreadPool pool(4);
  FileReader reader(source, &pool, Options(8));
  // Like the kernel's parallel readahead: neighbouring requests from several threads.
  constexpr uint64_t kPiece = 16 << 10;
  std::vector<std::string> pieces(data.size() / kPiece);
  std::atomic<size_t> next{0};
  std::atomic<bool> ok{true};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (size_t i; (i = next++) < pieces.size();) {
        absl::StatusOr<std::string> piece = reader.Read(i * kPiece, kPiece, 1);
        if (!piece.ok()) ok = false;
        else pieces[i] = *piece;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(ok);
  std::string got;
  for (const std::string& piece : pieces) got += piece;
  EXPECT_TRUE(got == data);
}

TEST(FileReaderTest, ReadaheadOffReadsAsAsked) {
  std::string data = RandomBytes(8 * kBlock, 7);
  auto source = std::make_shared<MemorySource>(data);
  ThreadPool pool(1);
  FileReader reader(source, &pool, Options(0));
  for (uint64_t offset = 0; offset < data.size(); offset += 1000) {
    ASSERT_EQ(*reader.Read(offset, 1000, 1), data.substr(offset, 1000));
  }
  EXPECT_EQ(source->bytes.load(), (data.size() + 999) / 1000 * 1000);
}

}  // namespace
}  // namespace dfs::fuse
