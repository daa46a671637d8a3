// WriteBuffer (fuse/write_buffer.h) against in-memory chunks and an in-memory file: whatever
// mix of sequential runs, scattered writes, appends, reads and commits, the file ends up as if
// every write had been applied in order, reads see buffered bytes, and the commits follow the
// master's rules (each new chunk committed once, every referenced chunk known).
#include "fuse/write_buffer.h"

#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/random.h"
#include "gtest/gtest.h"

namespace dfs::fuse {
namespace {

struct Chunks {
  uint64_t next_id = 1;
  std::map<uint64_t, std::string> sealed;
};

class MemoryPipeline : public ChunkPipeline {
 public:
  MemoryPipeline(Chunks* chunks, uint64_t id) : chunks_(chunks), id_(id) {
    DatanodeInfo node;
    node.set_id("dn");
    nodes_.push_back(node);
  }
  uint64_t chunk_id() const override { return id_; }
  const std::vector<DatanodeInfo>& nodes() const override { return nodes_; }
  absl::Status Write(absl::string_view piece, bool last) override {
    data_.append(piece.data(), piece.size());
    return absl::OkStatus();
  }
  absl::StatusOr<SealedChunk> Finish() override {
    chunks_->sealed[id_] = data_;
    SealedChunk sealed;
    sealed.length = data_.size();
    sealed.crc32c = Crc32c(data_);
    sealed.stored_on = {"dn"};
    return sealed;
  }

 private:
  Chunks* chunks_;
  uint64_t id_;
  std::vector<DatanodeInfo> nodes_;
  std::string data_;
};

class MemoryAllocator : public ChunkAllocator {
 public:
  explicit MemoryAllocator(Chunks* chunks) : chunks_(chunks) {}
  absl::StatusOr<std::unique_ptr<ChunkPipeline>> Open(uint64_t,
                                                      const std::vector<std::string>&) override {
    return std::unique_ptr<ChunkPipeline>(new MemoryPipeline(chunks_, chunks_->next_id++));
  }
  std::vector<std::string> Suspects(const ChunkPipeline&, const absl::Status&) override {
    return {};
  }

 private:
  Chunks* chunks_;
};

// The file as the master would keep it.
class MemoryFile : public WriteTarget {
 public:
  std::unique_ptr<ChunkWriter> NewWriter() override {
    ChunkWriterOptions options;
    options.chunk_size_bytes = 3000;  // several chunks per commit, cut anywhere
    options.piece_bytes = 700;
    return std::make_unique<ChunkWriter>(&allocator_, options);
  }
  absl::Status Commit(bool append, uint64_t offset, const WrittenData& data) override {
    ++commits;
    for (const ChunkInfo& chunk : data.chunks) {
      EXPECT_TRUE(committed_.insert(chunk.chunk_id()).second)
          << "chunk " << chunk.chunk_id() << " committed as new twice";
    }
    if (append) offset = content.size();
    std::string bytes(data.length, '\0');
    uint64_t covered = 0;
    for (const Extent& extent : data.extents) {
      EXPECT_TRUE(committed_.count(extent.chunk_id())) << "unknown chunk " << extent.chunk_id();
      const std::string& chunk = chunks_.sealed[extent.chunk_id()];
      EXPECT_LE(extent.chunk_offset() + extent.length(), chunk.size());
      EXPECT_EQ(extent.file_offset(), covered) << "extents must cover the write";
      bytes.replace(extent.file_offset(), extent.length(),
                    chunk.substr(extent.chunk_offset(), extent.length()));
      covered += extent.length();
    }
    EXPECT_EQ(covered, data.length);
    if (content.size() < offset + bytes.size()) content.resize(offset + bytes.size(), '\0');
    content.replace(offset, bytes.size(), bytes);
    return absl::OkStatus();
  }

  std::string content;
  int commits = 0;

 private:
  Chunks chunks_;
  MemoryAllocator allocator_{&chunks_};
  std::set<uint64_t> committed_;
};

// Reads through the buffer as FileSystem does: commit if needed, else overlay.
std::string Read(WriteBuffer& buffer, MemoryFile& file, uint64_t offset, uint64_t length) {
  if (buffer.NeedsCommitToRead(offset, length)) {
    EXPECT_TRUE(buffer.Commit().ok());
  }
  Overlay overlay = buffer.OverlayFor(offset, length);
  std::string data =
      offset < file.content.size() ? file.content.substr(offset, length) : std::string();
  overlay.Apply(offset, length, &data);
  return data;
}

void ApplyToModel(std::string* model, bool append, uint64_t offset, const std::string& data) {
  if (append) offset = model->size();
  if (model->size() < offset + data.size()) model->resize(offset + data.size(), '\0');
  model->replace(offset, data.size(), data);
}

TEST(WriteBufferTest, SequentialWritesAreOneRunAndOneCommit) {
  MemoryFile file;
  WriteBuffer buffer(&file);
  std::string model;
  for (int i = 0; i < 50; ++i) {
    std::string piece(1000, static_cast<char>('a' + i % 26));
    ASSERT_TRUE(buffer.Write(false, i * 1000, piece, 1 << 20).ok());
    ApplyToModel(&model, false, i * 1000, piece);
  }
  EXPECT_EQ(buffer.bytes(), 50000u);
  EXPECT_EQ(buffer.SizeWith(0), 50000u);
  ASSERT_TRUE(buffer.Commit().ok());
  EXPECT_EQ(file.commits, 1);
  EXPECT_TRUE(buffer.empty());
  EXPECT_TRUE(file.content == model);
}

TEST(WriteBufferTest, ScatteredWritesShareOnePipelineAndCommitPerRange) {
  MemoryFile file;
  WriteBuffer buffer(&file);
  std::string model;
  ASSERT_TRUE(buffer.Write(false, 0, std::string(100, 'r'), 1 << 20).ok());  // the run
  ApplyToModel(&model, false, 0, std::string(100, 'r'));
  for (uint64_t offset : {5000, 9000, 5100, 7000, 5050}) {
    std::string piece(100, static_cast<char>('0' + offset % 10));
    ASSERT_TRUE(buffer.Write(false, offset, piece, 1 << 20).ok());
    ApplyToModel(&model, false, offset, piece);
  }
  // Reads see the buffered ranges without a commit, holes as zeros.
  EXPECT_EQ(file.commits, 0);
  EXPECT_TRUE(Read(buffer, file, 4900, 400) == model.substr(4900, 400));
  EXPECT_TRUE(Read(buffer, file, 8000, 5000) == model.substr(8000));
  EXPECT_EQ(file.commits, 0);
  ASSERT_TRUE(buffer.Commit().ok());
  // The run, then [5000, 5200), [7000, 7100), [9000, 9100).
  EXPECT_EQ(file.commits, 4);
  EXPECT_TRUE(file.content == model);
}

TEST(WriteBufferTest, TheLaterWriteWinsBetweenRunAndRanges) {
  MemoryFile file;
  WriteBuffer buffer(&file);
  ASSERT_TRUE(buffer.Write(false, 0, "aaaaaaaaaa", 1 << 20).ok());   // run [0, 10)
  ASSERT_TRUE(buffer.Write(false, 12, "RRRR", 1 << 20).ok());        // range [12, 16)
  ASSERT_TRUE(buffer.Write(false, 10, "bbbbbb", 1 << 20).ok());      // run grows over it
  ASSERT_TRUE(buffer.Write(false, 2, "X", 1 << 20).ok());            // range over the run
  ASSERT_TRUE(buffer.Commit().ok());
  EXPECT_EQ(file.content, "aaXaaaaaaabbbbbb");
}

TEST(WriteBufferTest, AppendsAndPositionalWritesKeepTheirOrder) {
  MemoryFile file;
  file.content = "start";
  WriteBuffer buffer(&file);
  ASSERT_TRUE(buffer.Write(true, 0, "+one", 1 << 20).ok());
  ASSERT_TRUE(buffer.Write(true, 0, "+two", 1 << 20).ok());
  EXPECT_EQ(buffer.SizeWith(5), 13u);
  // Reading appended bytes needs their place: committed first.
  EXPECT_TRUE(buffer.NeedsCommitToRead(0, 1));
  ASSERT_TRUE(buffer.Write(false, 0, "S", 1 << 20).ok());  // commits the appends first
  EXPECT_EQ(file.content, "start+one+two");
  ASSERT_TRUE(buffer.Write(true, 0, "+three", 1 << 20).ok());  // commits the positional write
  ASSERT_TRUE(buffer.Commit().ok());
  EXPECT_EQ(file.content, "Start+one+two+three");
}

TEST(WriteBufferTest, CommitsAtTheThreshold) {
  MemoryFile file;
  WriteBuffer buffer(&file);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(buffer.Write(false, i * 20000, std::string(1000, 'x'), 4000).ok());
  }
  // Every fourth write fills 4000 bytes of ranges: commits of 4 ranges each (the first is a run).
  EXPECT_GE(file.commits, 8);
  EXPECT_LT(buffer.bytes(), 4000u);
}

TEST(WriteBufferTest, RandomMixesMatchAModel) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    Random random(seed);
    MemoryFile file;
    WriteBuffer buffer(&file);
    std::string model;
    uint64_t next = 0;  // where a sequential writer would go on
    for (int step = 0; step < 300; ++step) {
      const int kind = static_cast<int>(random.Uniform(10));
      if (kind < 4) {  // sequential
        std::string data(random.Range(1, 2000), static_cast<char>('a' + random.Uniform(26)));
        ASSERT_TRUE(buffer.Write(false, next, data, 20000).ok());
        ApplyToModel(&model, false, next, data);
        next += data.size();
      } else if (kind < 7) {  // scattered
        uint64_t offset = random.Uniform(30000);
        std::string data(random.Range(1, 3000), static_cast<char>('A' + random.Uniform(26)));
        ASSERT_TRUE(buffer.Write(false, offset, data, 20000).ok());
        ApplyToModel(&model, false, offset, data);
        if (random.Chance(0.3)) next = offset + data.size();
      } else if (kind < 8) {  // append
        std::string data(random.Range(1, 500), static_cast<char>('0' + random.Uniform(10)));
        ASSERT_TRUE(buffer.Write(true, 0, data, 20000).ok());
        ApplyToModel(&model, true, 0, data);
      } else if (kind < 9) {  // read
        uint64_t offset = random.Uniform(model.size() + 100);
        uint64_t length = random.Range(1, 5000);
        std::string expected = offset < model.size() ? model.substr(offset, length) : "";
        ASSERT_EQ(Read(buffer, file, offset, length), expected) << "seed " << seed;
      } else {
        ASSERT_TRUE(buffer.Commit().ok());
        ASSERT_EQ(file.content, model) << "seed " << seed;
      }
      ASSERT_EQ(buffer.SizeWith(file.content.size()), model.size()) << "seed " << seed;
    }
    ASSERT_TRUE(buffer.Commit().ok());
    ASSERT_EQ(file.content, model) << "seed " << seed;
  }
}

TEST(WriteBufferTest, SliceWrittenRebasesAndListsNewChunksOnce) {
  WrittenData data;
  data.length = 300;
  for (uint64_t i = 0; i < 3; ++i) {
    Extent& extent = data.extents.emplace_back();
    extent.set_file_offset(i * 100);
    extent.set_chunk_id(10 + i);
    extent.set_chunk_offset(0);
    extent.set_length(100);
    ChunkInfo& chunk = data.chunks.emplace_back();
    chunk.set_chunk_id(10 + i);
    chunk.set_length(100);
  }
  std::set<uint64_t> committed;
  WrittenData a = SliceWritten(data, 50, 150, &committed);
  EXPECT_EQ(a.length, 100u);
  ASSERT_EQ(a.extents.size(), 2u);
  EXPECT_EQ(a.extents[0].file_offset(), 0u);
  EXPECT_EQ(a.extents[0].chunk_id(), 10u);
  EXPECT_EQ(a.extents[0].chunk_offset(), 50u);
  EXPECT_EQ(a.extents[0].length(), 50u);
  EXPECT_EQ(a.extents[1].file_offset(), 50u);
  EXPECT_EQ(a.extents[1].chunk_id(), 11u);
  EXPECT_EQ(a.extents[1].chunk_offset(), 0u);
  ASSERT_EQ(a.chunks.size(), 2u);
  WrittenData b = SliceWritten(data, 150, 300, &committed);
  ASSERT_EQ(b.extents.size(), 2u);
  EXPECT_EQ(b.extents[0].chunk_offset(), 50u);
  // Chunk 11 was committed with the first slice: only 12 is new here.
  ASSERT_EQ(b.chunks.size(), 1u);
  EXPECT_EQ(b.chunks[0].chunk_id(), 12u);
}

}  // namespace
}  // namespace dfs::fuse
