#include "datanode/chunk_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"

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

// ---------------------------------------------------------------------------------------------
// The chunk log: small chunks stored whole (Put).

std::string LogDir(const TempDir& dir) { return dir.path() + "/log"; }

TEST_F(ChunkStoreTest, SmallChunksAreLoggedAndReadBackAfterReopen) {
  const size_t sizes[] = {1, 4096, kBlock, kBlock + 1, 3 * kBlock + 17, ChunkLog::kMaxChunkBytes};
  std::map<uint64_t, std::string> written;
  uint64_t id = 100;
  for (size_t size : sizes) {
    written[id] = RandomBytes(size, id);
    absl::StatusOr<ChunkMeta> meta = store_->Put(id, written[id]);
    ASSERT_TRUE(meta.ok()) << meta.status();
    EXPECT_NE(meta->log.segment, 0u);
    EXPECT_EQ(meta->crc32c, Crc32c(written[id]));
    ++id;
  }
  // No file of their own.
  for (const auto& [chunk, data] : written) {
    EXPECT_FALSE(std::filesystem::exists(store_->ChunkPath(chunk)));
  }
  const uint64_t used = store_->used_bytes();
  for (int round = 0; round < 2; ++round) {
    for (const auto& [chunk, data] : written) {
      EXPECT_EQ(*store_->Read(chunk, 0, data.size()), data);
      const uint64_t from = data.size() / 3;
      EXPECT_EQ(*store_->Read(chunk, from, kBlock), data.substr(from, kBlock));
      EXPECT_EQ(store_->Info(chunk)->length, data.size());
    }
    EXPECT_EQ(store_->used_bytes(), used);
    Reopen();
  }
  // Survey finds each chunk's bytes where they lie.
  absl::StatusOr<std::map<uint64_t, StoredChunk>> survey = ChunkStore::Survey(dir_.path());
  ASSERT_TRUE(survey.ok()) << survey.status();
  ASSERT_EQ(survey->size(), written.size());
  for (const auto& [chunk, data] : written) {
    const StoredChunk& where = survey->at(chunk);
    EXPECT_EQ(where.length, data.size());
    EXPECT_EQ(FileContents(where.path).substr(where.data_offset, data.size()), data);
  }
}

TEST_F(ChunkStoreTest, LargerChunksPutGetAFile) {
  const std::string data = RandomBytes(ChunkLog::kMaxChunkBytes + 1, 3);
  absl::StatusOr<ChunkMeta> meta = store_->Put(5, data);
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->log.segment, 0u);
  EXPECT_TRUE(std::filesystem::exists(store_->ChunkPath(5)));
  EXPECT_EQ(*store_->Read(5, 0, data.size()), data);
}

TEST_F(ChunkStoreTest, PutOfAStoredOrClaimedChunkIsAlreadyExists) {
  ASSERT_TRUE(store_->Put(1, "logged").ok());
  EXPECT_TRUE(absl::IsAlreadyExists(store_->Put(1, "again").status()));
  EXPECT_TRUE(absl::IsAlreadyExists(store_->OpenWriter(1).status()));
  auto writer = store_->OpenWriter(2);
  ASSERT_TRUE(writer.ok());
  EXPECT_TRUE(absl::IsAlreadyExists(store_->Put(2, "racing").status()));
  ASSERT_TRUE((*writer)->Append("file").ok());
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_TRUE(absl::IsAlreadyExists(store_->Put(2, "late").status()));
  EXPECT_EQ(*store_->Read(1, 0, 100), "logged");
  EXPECT_EQ(*store_->Read(2, 0, 100), "file");
  // An aborted writer gives its claim back.
  { auto aborted = store_->OpenWriter(3); ASSERT_TRUE(aborted.ok()); }
  EXPECT_TRUE(store_->Put(3, "now").ok());
}

TEST_F(ChunkStoreTest, DeletedLoggedChunksStayDeletedAndCanBeStoredAgain) {
  ASSERT_TRUE(store_->Put(1, "one").ok());
  ASSERT_TRUE(store_->Put(2, "two").ok());
  ASSERT_TRUE(store_->Delete(1).ok());
  EXPECT_TRUE(absl::IsNotFound(store_->Read(1, 0, 10).status()));
  Reopen();
  EXPECT_THAT(store_->List(), ElementsAre(2u));
  ASSERT_TRUE(store_->Put(1, "one again").ok());
  ASSERT_TRUE(store_->Delete(2).ok());
  Reopen();
  EXPECT_THAT(store_->List(), ElementsAre(1u));
  EXPECT_EQ(*store_->Read(1, 0, 100), "one again");
}

TEST_F(ChunkStoreTest, TornLastRecordIsDroppedAtOpen) {
  const std::string a = RandomBytes(5000, 1), b = RandomBytes(7000, 2);
  ASSERT_TRUE(store_->Put(1, a).ok());
  const ChunkMeta meta_b = *store_->Put(2, b);
  store_.reset();
  // A crash cut the last record's data short: what it wrote is not what its CRC says.
  const std::string segment = absl::StrFormat("%s/%016x.seg", LogDir(dir_), meta_b.log.segment);
  FlipByte(segment, meta_b.log.offset + meta_b.file_bytes - 10);
  Reopen();
  EXPECT_THAT(store_->List(), ElementsAre(1u));
  // Appends continue where the valid records end, and survive the next open.
  const std::string c = RandomBytes(300, 3);
  ASSERT_TRUE(store_->Put(3, c).ok());
  Reopen();
  EXPECT_THAT(store_->List(), ElementsAre(1u, 3u));
  EXPECT_EQ(*store_->Read(1, 0, a.size()), a);
  EXPECT_EQ(*store_->Read(3, 0, c.size()), c);
}

TEST_F(ChunkStoreTest, DamagedLoggedChunkIsDataLossOnlyForItsBlock) {
  const std::string data = RandomBytes(2 * kBlock, 4);
  const ChunkMeta meta = *store_->Put(9, data);
  ASSERT_TRUE(store_->Put(10, "after").ok());
  absl::StatusOr<std::map<uint64_t, StoredChunk>> survey = ChunkStore::Survey(dir_.path());
  ASSERT_TRUE(survey.ok());
  const StoredChunk& where = survey->at(9);
  FlipByte(where.path, where.data_offset + kBlock + 5);  // in block 1
  EXPECT_EQ(*store_->Read(9, 0, kBlock), data.substr(0, kBlock));
  EXPECT_TRUE(absl::IsDataLoss(store_->Read(9, kBlock, 10).status()));
  EXPECT_EQ(meta.length, data.size());
  EXPECT_EQ(*store_->Read(10, 0, 10), "after");
}

TEST_F(ChunkStoreTest, DeadLogSegmentsGoAndSparseOnesAreCompacted) {
  // 1 MiB chunks: a 32 MiB segment holds 31 of them.
  const size_t per_segment = ChunkLog::kSegmentBytes / (ChunkLog::kMaxChunkBytes + 100);
  const uint64_t count = per_segment + 5;
  std::map<uint64_t, std::string> data;
  for (uint64_t id = 1; id <= count; ++id) {
    data[id] = RandomBytes(ChunkLog::kMaxChunkBytes, id);
    ASSERT_TRUE(store_->Put(id, data[id]).ok());
  }
  ASSERT_EQ(store_->log_segment_count(), 2u);
  // Delete most of the first segment: once nothing more went from it for a while, its last
  // live quarter is copied forward and it goes.
  const uint64_t kept = 3;
  for (uint64_t id = 1; id <= per_segment - kept; ++id) {
    ASSERT_TRUE(store_->Delete(id).ok());
    data.erase(id);
  }
  EXPECT_FALSE(store_->CompactLog(absl::Hours(1)));  // deletes too recent
  EXPECT_EQ(store_->log_segment_count(), 2u);
  EXPECT_TRUE(store_->CompactLog(absl::ZeroDuration()));
  EXPECT_EQ(store_->log_segment_count(), 1u);
  EXPECT_FALSE(std::filesystem::exists(LogDir(dir_) + "/0000000000000001.seg"));
  for (int round = 0; round < 2; ++round) {
    ASSERT_EQ(store_->chunk_count(), data.size());
    for (const auto& [id, bytes] : data) {
      EXPECT_EQ(*store_->Read(id, 0, bytes.size()), bytes) << "chunk " << id;
    }
    Reopen();
  }
  // Everything deleted: only the newest (active) segment is left.
  for (const auto& [id, bytes] : data) ASSERT_TRUE(store_->Delete(id).ok());
  Reopen();
  EXPECT_THAT(store_->List(), IsEmpty());
  EXPECT_EQ(store_->used_bytes(), 0u);
  EXPECT_LE(store_->log_segment_count(), 1u);
}

TEST_F(ChunkStoreTest, ConcurrentPutsAllSurvive) {
  constexpr int kThreads = 8, kPerThread = 40;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const uint64_t id = t * 1000 + i + 1;
        EXPECT_TRUE(store_->Put(id, RandomBytes(1000 + i * 37, id)).ok());
        if (i % 3 == 0) EXPECT_TRUE(store_->Delete(id).ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  Reopen();
  size_t expected = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      const uint64_t id = t * 1000 + i + 1;
      if (i % 3 == 0) {
        EXPECT_FALSE(store_->Contains(id));
        continue;
      }
      ++expected;
      EXPECT_EQ(*store_->Read(id, 0, 100000), RandomBytes(1000 + i * 37, id));
    }
  }
  EXPECT_EQ(store_->chunk_count(), expected);
}

}  // namespace
}  // namespace dfs
