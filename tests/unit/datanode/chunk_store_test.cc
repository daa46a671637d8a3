#include "datanode/chunk_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/crc32c.h"
#include "common/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"

namespace dfs {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr uint64_t kBlock = ChunkStore::kBlockBytes;

std::string RandomBytes(size_t size, uint64_t seed) {
  Random random(seed);
  std::string data(size, '\0');
  for (char& c : data) c = static_cast<char>(random.Next());
  return data;
}

size_t CountFiles(const std::string& dir) {
  size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    (void)entry;
    ++n;
  }
  return n;
}

void FlipByte(const std::string& path, uint64_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  char c;
  ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(offset)), 1);
  c ^= 0x01;
  ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(offset)), 1);
  ::close(fd);
}

std::string FileContents(const std::string& path) {
  std::string out(std::filesystem::file_size(path), '\0');
  int fd = ::open(path.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::pread(fd, out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
  ::close(fd);
  return out;
}

class ChunkStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<ChunkStore>> store = ChunkStore::Open(dir_.path(), 42);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Writes `data` as chunk `id`, in pieces of varying size so block boundaries fall inside pieces.
  ChunkMeta Write(uint64_t id, const std::string& data) {
    absl::StatusOr<std::unique_ptr<ChunkWriter>> writer = store_->OpenWriter(id);
    EXPECT_TRUE(writer.ok()) << writer.status();
    if (!writer.ok()) return {};
    const size_t piece_sizes[] = {1, 1000, 70000, kBlock, 300000, 7};
    size_t done = 0;
    for (int i = 0; done < data.size(); ++i) {
      size_t n = std::min(piece_sizes[i % 6], data.size() - done);
      EXPECT_TRUE((*writer)->Append(std::string_view(data).substr(done, n)).ok());
      done += n;
    }
    absl::StatusOr<ChunkMeta> meta = (*writer)->Commit();
    EXPECT_TRUE(meta.ok()) << meta.status();
    return meta.ok() ? *meta : ChunkMeta{};
  }

  std::string TmpDir() const { return dir_.path() + "/tmp"; }

  TempDir dir_;
  std::unique_ptr<ChunkStore> store_;
};

TEST_F(ChunkStoreTest, RoundTripOfEverySize) {
  const size_t sizes[] = {0, 1, kBlock - 1, kBlock, kBlock + 1, (3 << 20) + 5};
  uint64_t id = 100;
  for (size_t size : sizes) {
    SCOPED_TRACE(size);
    const std::string data = RandomBytes(size, size);
    ChunkMeta meta = Write(++id, data);
    EXPECT_EQ(meta.length, size);
    EXPECT_EQ(meta.crc32c, Crc32c(data));
    const uint64_t blocks = (size + kBlock - 1) / kBlock;
    EXPECT_EQ(meta.file_bytes, size + 4 * blocks + ChunkStore::kFooterBytes);

    absl::StatusOr<std::string> read = store_->Read(id, 0, size);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_TRUE(*read == data);

    // The data sits at the start of the file, as fault-injection tests expect.
    const std::string file = FileContents(store_->ChunkPath(id));
    EXPECT_EQ(file.size(), meta.file_bytes);
    EXPECT_TRUE(file.compare(0, size, data) == 0);

    absl::StatusOr<ChunkMeta> info = store_->Info(id);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->length, size);
    EXPECT_EQ(info->crc32c, Crc32c(data));
  }
  EXPECT_EQ(store_->chunk_count(), 6u);
  EXPECT_EQ(CountFiles(TmpDir()), 0u);
}

TEST_F(ChunkStoreTest, ArbitraryRanges) {
  const std::string data = RandomBytes((3 << 20) + 5, 7);
  Write(1, data);
  absl::StatusOr<std::unique_ptr<ChunkReader>> reader = store_->OpenReader(1);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->length(), data.size());
  EXPECT_EQ((*reader)->crc32c(), Crc32c(data));

  Random random(1);
  for (int i = 0; i < 200; ++i) {
    uint64_t offset = random.Uniform(data.size() + 1);
    uint64_t length = random.Uniform(3 * kBlock);
    absl::StatusOr<std::string> read = (*reader)->Read(offset, length);
    ASSERT_TRUE(read.ok()) << read.status();
    ASSERT_TRUE(*read == data.substr(offset, length)) << offset << "+" << length;
  }
  // Edges: block boundaries, the last byte, the empty range at the end, past the end.
  EXPECT_EQ(*(*reader)->Read(kBlock - 1, 2), data.substr(kBlock - 1, 2));
  EXPECT_EQ(*(*reader)->Read(data.size() - 1, 1), data.substr(data.size() - 1));
  EXPECT_EQ(*(*reader)->Read(data.size(), 10), "");
  EXPECT_EQ(*(*reader)->Read(data.size() - 3, 100), data.substr(data.size() - 3));  // clamped
  EXPECT_TRUE(absl::IsInvalidArgument((*reader)->Read(data.size() + 1, 1).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(store_->Read(1, data.size() + 1, 0).status()));
}

TEST_F(ChunkStoreTest, FlippedDataByteIsDataLossOnlyForItsBlock) {
  const std::string data = RandomBytes(3 * kBlock + 100, 3);
  Write(9, data);
  FlipByte(store_->ChunkPath(9), kBlock + 12345);  // in block 1

  EXPECT_TRUE(absl::IsDataLoss(store_->Read(9, kBlock + 12345, 1).status()));
  EXPECT_TRUE(absl::IsDataLoss(store_->Read(9, kBlock, kBlock).status()));
  EXPECT_TRUE(absl::IsDataLoss(store_->Read(9, 0, data.size()).status()));
  // A read that merely touches the block still verifies the whole block.
  EXPECT_TRUE(absl::IsDataLoss(store_->Read(9, 2 * kBlock - 1, 1).status()));

  absl::StatusOr<std::string> block0 = store_->Read(9, 0, kBlock);
  ASSERT_TRUE(block0.ok()) << block0.status();
  EXPECT_TRUE(*block0 == data.substr(0, kBlock));
  absl::StatusOr<std::string> tail = store_->Read(9, 2 * kBlock, kBlock + 100);
  ASSERT_TRUE(tail.ok()) << tail.status();
  EXPECT_TRUE(*tail == data.substr(2 * kBlock));
}

TEST_F(ChunkStoreTest, DamagedTrailerIsDataLoss) {
  const std::string data = RandomBytes(2 * kBlock, 4);
  Write(1, data);
  Write(2, data);
  // A flipped CRC entry, and a flipped footer field.
  FlipByte(store_->ChunkPath(1), data.size() + 2);
  FlipByte(store_->ChunkPath(2), std::filesystem::file_size(store_->ChunkPath(2)) - 20);
  EXPECT_TRUE(absl::IsDataLoss(store_->Read(1, 0, 10).status()));
  EXPECT_TRUE(absl::IsDataLoss(store_->Read(2, 0, 10).status()));
}

TEST_F(ChunkStoreTest, TruncatedFileIsDataLoss) {
  const std::string data = RandomBytes(2 * kBlock + 5, 5);
  Write(1, data);
  Write(2, data);
  Write(3, data);
  std::filesystem::resize_file(store_->ChunkPath(1), data.size() + 8);
  std::filesystem::resize_file(store_->ChunkPath(2),
                               std::filesystem::file_size(store_->ChunkPath(2)) - 1);
  std::filesystem::resize_file(store_->ChunkPath(3), 0);
  for (uint64_t id : {1, 2, 3}) {
    absl::Status status = store_->Read(id, 0, 1).status();
    EXPECT_TRUE(absl::IsDataLoss(status)) << id << ": " << status;
  }

  // On restart the damaged files are set aside and no longer reported.
  Write(4, data);
  Reopen();
  EXPECT_THAT(store_->List(), ElementsAre(4u));
  EXPECT_EQ(CountFiles(dir_.path() + "/corrupt"), 3u);
  EXPECT_TRUE(absl::IsNotFound(store_->Read(1, 0, 1).status()));
}

TEST_F(ChunkStoreTest, AbortedWriterLeavesNothing) {
  {
    absl::StatusOr<std::unique_ptr<ChunkWriter>> writer = store_->OpenWriter(5);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(RandomBytes(100000, 1)).ok());
    // Written under its final name, unsealed and unlisted.
    EXPECT_TRUE(std::filesystem::exists(store_->ChunkPath(5)));
    EXPECT_THAT(store_->List(), IsEmpty());
    EXPECT_TRUE(absl::IsNotFound(store_->Read(5, 0, 1).status()));
    (*writer)->Abort();
    EXPECT_FALSE(std::filesystem::exists(store_->ChunkPath(5)));
    EXPECT_TRUE(absl::IsFailedPrecondition((*writer)->Commit().status()));
  }
  {
    // Dropped without Commit: the destructor aborts.
    absl::StatusOr<std::unique_ptr<ChunkWriter>> writer = store_->OpenWriter(5);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append("partial").ok());
  }
  EXPECT_EQ(CountFiles(TmpDir()), 0u);
  EXPECT_THAT(store_->List(), IsEmpty());
  EXPECT_TRUE(absl::IsNotFound(store_->Read(5, 0, 1).status()));
  EXPECT_FALSE(std::filesystem::exists(store_->ChunkPath(5)));
  EXPECT_EQ(store_->used_bytes(), 0u);
}

TEST_F(ChunkStoreTest, ReopenListsChunksAndRemovesTempLeftovers) {
  const std::string data = RandomBytes(kBlock + 3, 6);
  Write(1, data);
  Write(0xabcdef, data);
  Write(2, "");
  const uint64_t used = store_->used_bytes();
  const std::string node_id = store_->node_id();
  store_.reset();

  // What a crash mid-write leaves behind.
  {
    std::FILE* f = std::fopen((TmpDir() + "/0000000000000003.1234.tmp").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("half a chunk", f);
    std::fclose(f);
  }
  Reopen();
  EXPECT_THAT(store_->List(), ElementsAre(1u, 2u, 0xabcdefu));
  EXPECT_EQ(CountFiles(TmpDir()), 0u);
  EXPECT_EQ(store_->used_bytes(), used);
  EXPECT_EQ(store_->node_id(), node_id);
  EXPECT_EQ(*store_->Read(0xabcdef, 0, data.size()), data);
  EXPECT_EQ(store_->Info(0xabcdef)->crc32c, Crc32c(data));
  EXPECT_EQ(store_->Info(2)->length, 0u);
}

TEST_F(ChunkStoreTest, DuplicateCommitIsAlreadyExists) {
  Write(7, "first");
  EXPECT_TRUE(absl::IsAlreadyExists(store_->OpenWriter(7).status()));

  // A second writer for an id being written is refused at once and disturbs nothing.
  auto a = store_->OpenWriter(8);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Append("aaa").ok());
  EXPECT_TRUE(absl::IsAlreadyExists(store_->OpenWriter(8).status()));
  EXPECT_TRUE((*a)->Commit().ok());
  EXPECT_EQ(*store_->Read(8, 0, 100), "aaa");
  EXPECT_TRUE(absl::IsAlreadyExists(store_->OpenWriter(8).status()));
}

TEST_F(ChunkStoreTest, UnsealedChunkFilesAreRemovedAtStartup) {
  const std::string data = RandomBytes(kBlock + 3, 7);
  Write(1, data);
  const uint64_t used = store_->used_bytes();
  std::filesystem::permissions(store_->ChunkPath(1), std::filesystem::perms::owner_read,
                               std::filesystem::perm_options::remove);
  // What a crash mid-write leaves: a partial chunk under its final name, still unsealed (the
  // file above: complete, trailer and all, but it never got its read permission), and one
  // without a trailer in a directory of its own.
  Write(2, data);
  const std::string partial = store_->ChunkPath(0x3303);
  std::filesystem::create_directories(std::filesystem::path(partial).parent_path());
  {
    int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0200);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "half a chunk", 12), 12);
    ::close(fd);
  }
  Reopen();
  // Dropped, not quarantined: they were never acknowledged, so they are not damage.
  EXPECT_THAT(store_->List(), ElementsAre(2u));
  EXPECT_FALSE(std::filesystem::exists(store_->ChunkPath(1)));
  EXPECT_FALSE(std::filesystem::exists(partial));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/corrupt"));
  EXPECT_EQ(store_->used_bytes(), used);
  EXPECT_EQ(*store_->Read(2, 0, data.size()), data);
  // Their ids are free again.
  Write(0x3303, "new");
  EXPECT_EQ(*store_->Read(0x3303, 0, 10), "new");
}

TEST_F(ChunkStoreTest, CommittedChunkIsSealedAndSynced) {
  Write(4, "sealed");
  EXPECT_EQ(std::filesystem::status(store_->ChunkPath(4)).permissions() &
                std::filesystem::perms::owner_read,
            std::filesystem::perms::owner_read);
  EXPECT_EQ(CountFiles(TmpDir()), 0u);
}

TEST_F(ChunkStoreTest, Delete) {
  const std::string data = RandomBytes(kBlock * 2, 8);
  Write(1, data);
  Write(2, data);
  const uint64_t used = store_->used_bytes();
  absl::StatusOr<std::unique_ptr<ChunkReader>> open_reader = store_->OpenReader(1);
  ASSERT_TRUE(open_reader.ok());

  ASSERT_TRUE(store_->Delete(1).ok());
  EXPECT_THAT(store_->List(), ElementsAre(2u));
  EXPECT_EQ(store_->used_bytes(), used / 2);
  EXPECT_FALSE(std::filesystem::exists(store_->ChunkPath(1)));
  EXPECT_TRUE(absl::IsNotFound(store_->Read(1, 0, 1).status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Info(1).status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Delete(1)));
  // A reader opened before the delete keeps its view.
  EXPECT_EQ(*(*open_reader)->Read(0, data.size()), data);
  // The id can be written again.
  Write(1, "again");
  EXPECT_EQ(*store_->Read(1, 0, 10), "again");
}

TEST_F(ChunkStoreTest, PathLayout) {
  EXPECT_EQ(store_->ChunkPath(0x1234abcd), dir_.path() + "/chunks/cd/000000001234abcd.chunk");
  EXPECT_EQ(store_->ChunkPath(0xffffffffffffffffull),
            dir_.path() + "/chunks/ff/ffffffffffffffff.chunk");
  Write(0x1234abcd, "x");
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/chunks/cd/000000001234abcd.chunk"));
}

TEST_F(ChunkStoreTest, NodeIdIsStableAndRandom) {
  const std::string id = store_->node_id();
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
  Reopen();
  EXPECT_EQ(store_->node_id(), id);

  TempDir other_dir;
  auto other = ChunkStore::Open(other_dir.path(), 43);
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->node_id(), id);
}

TEST_F(ChunkStoreTest, SecondOpenOfTheSameDirectoryFails) {
  auto second = ChunkStore::Open(dir_.path(), 1);
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
}

TEST_F(ChunkStoreTest, UnknownChunk) {
  EXPECT_TRUE(absl::IsNotFound(store_->Read(12345, 0, 1).status()));
  EXPECT_TRUE(absl::IsNotFound(store_->OpenReader(12345).status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Info(12345).status()));
  EXPECT_FALSE(store_->Contains(12345));
}

}  // namespace
}  // namespace dfs
