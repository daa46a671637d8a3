// Storage implementations: the same round-trip tests over MemoryStorage, LevelDbStorage and
// SegmentStorage, plus crash behaviour (MemoryStorage), reload across reopen and snapshot files
// (both durable ones), and what only the segment files have: torn tails, segment boundaries,
// whole segments dropped by compaction, migration from LevelDB, fail-stop.
#include "master/raft/storage.h"

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "common/crc32c.h"
#include "common/file_util.h"
#include "gtest/gtest.h"
#include "leveldb/db.h"
#include "master/raft/leveldb_storage.h"
#include "master/raft/segment_storage.h"
#include "tests/unit/raft/raft_test_util.h"

namespace dfs::raft {
namespace {

Entry MakeEntry(uint64_t index, uint64_t term, const std::string& data = "") {
  Entry e;
  e.set_index(index);
  e.set_term(term);
  e.set_data(data.empty() ? "e" + std::to_string(index) + "t" + std::to_string(term) : data);
  return e;
}

HardState MakeHardState(uint64_t term, uint64_t vote, uint64_t commit) {
  HardState hs;
  hs.set_term(term);
  hs.set_vote(vote);
  hs.set_commit(commit);
  return hs;
}

Snapshot MakeSnapshot(uint64_t index, uint64_t term, const std::string& data) {
  Snapshot s;
  s.mutable_metadata()->set_index(index);
  s.mutable_metadata()->set_term(term);
  s.mutable_metadata()->mutable_configuration()->add_members()->set_id(1);
  s.set_data(data);
  return s;
}

// A local snapshot, as the driver stores one: data through a writer, then Compact.
absl::Status Compact(Storage& s, const Snapshot& snapshot) {
  absl::StatusOr<std::unique_ptr<SnapshotWriter>> writer =
      s.NewSnapshotWriter(snapshot.metadata().index());
  if (!writer.ok()) return writer.status();
  if (absl::Status st = (*writer)->Append(snapshot.data()); !st.ok()) return st;
  if (absl::Status st = (*writer)->Finish(); !st.ok()) return st;
  return s.Compact(snapshot.metadata(), **writer);
}

// The stored snapshot's data, whole.
std::string SnapshotData(Storage& s) {
  absl::StatusOr<PersistentState> st = s.Load();
  if (!st.ok()) return "load: " + st.status().ToString();
  absl::StatusOr<std::string> data = s.ReadSnapshotData(st->snapshot.index(), 0, st->snapshot_bytes);
  return data.ok() ? *data : "read: " + data.status().ToString();
}

std::vector<uint64_t> Indexes(const PersistentState& s) {
  std::vector<uint64_t> out;
  for (const Entry& e : s.entries) out.push_back(e.index());
  return out;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "raft_storage_XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The durable storages, opened on a directory.
enum class Kind { kLevelDb, kSegment };

// Small segments, so that the tests cross segment boundaries.
constexpr uint64_t kTestSegmentBytes = 8192;

absl::StatusOr<std::unique_ptr<Storage>> OpenStorage(Kind kind, const std::string& dir) {
  if (kind == Kind::kLevelDb) {
    absl::StatusOr<std::unique_ptr<LevelDbStorage>> s = LevelDbStorage::Open(dir);
    if (!s.ok()) return s.status();
    return std::unique_ptr<Storage>(std::move(*s));
  }
  SegmentStorageOptions options;
  options.segment_bytes = kTestSegmentBytes;
  absl::StatusOr<std::unique_ptr<SegmentStorage>> s = SegmentStorage::Open(dir, options);
  if (!s.ok()) return s.status();
  return std::unique_ptr<Storage>(std::move(*s));
}

class DurableStorageTest : public ::testing::TestWithParam<Kind> {
 protected:
  absl::StatusOr<std::unique_ptr<Storage>> Open() { return OpenStorage(GetParam(), dir_.path()); }
  const std::string& path() const { return dir_.path(); }

 private:
  TempDir dir_;
};

INSTANTIATE_TEST_SUITE_P(All, DurableStorageTest,
                         ::testing::Values(Kind::kLevelDb, Kind::kSegment),
                         [](const ::testing::TestParamInfo<Kind>& info) {
                           return info.param == Kind::kLevelDb ? "LevelDb" : "Segment";
                         });

// The behaviour every Storage must have.
void RoundTrip(Storage& s) {
  absl::StatusOr<PersistentState> st = s.Load();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->hard_state.term(), 0u);
  EXPECT_TRUE(st->entries.empty());

  ASSERT_TRUE(s.Save(MakeHardState(2, 1, 3), std::nullopt,
                     {MakeEntry(1, 1), MakeEntry(2, 1), MakeEntry(3, 2), MakeEntry(4, 2)}, true)
                  .ok());
  st = s.Load();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->hard_state.term(), 2u);
  EXPECT_EQ(st->hard_state.vote(), 1u);
  EXPECT_EQ(st->hard_state.commit(), 3u);
  EXPECT_EQ(Indexes(*st), (std::vector<uint64_t>{1, 2, 3, 4}));

  // A conflicting suffix is replaced.
  ASSERT_TRUE(s.Save(std::nullopt, std::nullopt, {MakeEntry(3, 3)}, true).ok());
  st = s.Load();
  EXPECT_EQ(Indexes(*st), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(st->entries.back().term(), 3u);
  EXPECT_EQ(st->hard_state.term(), 2u);  // untouched

  // Local compaction keeps later entries.
  ASSERT_TRUE(Compact(s, MakeSnapshot(2, 1, "state@2")).ok());
  ASSERT_TRUE(s.Save(std::nullopt, std::nullopt, {MakeEntry(4, 3), MakeEntry(5, 3)}, true).ok());
  st = s.Load();
  EXPECT_EQ(st->snapshot.index(), 2u);
  EXPECT_EQ(st->snapshot_bytes, 7u);
  EXPECT_EQ(SnapshotData(s), "state@2");
  EXPECT_EQ(*s.ReadSnapshotData(2, 3, 100), "te@2");
  EXPECT_EQ(s.ReadSnapshotData(1, 0, 1).status().code(), absl::StatusCode::kFailedPrecondition);
  // An older snapshot than the stored one is discarded.
  ASSERT_TRUE(Compact(s, MakeSnapshot(1, 1, "state@1")).ok());
  EXPECT_EQ(SnapshotData(s), "state@2");
  EXPECT_EQ(Indexes(*st), (std::vector<uint64_t>{3, 4, 5}));

  // A snapshot from the leader replaces the whole log; entries may follow it in the same write.
  ASSERT_TRUE(s.Save(MakeHardState(4, 0, 10), MakeSnapshot(10, 4, "state@10"), {MakeEntry(11, 4)},
                     true)
                  .ok());
  st = s.Load();
  EXPECT_EQ(st->snapshot.index(), 10u);
  EXPECT_EQ(SnapshotData(s), "state@10");
  EXPECT_EQ(Indexes(*st), (std::vector<uint64_t>{11}));
  EXPECT_EQ(st->hard_state.commit(), 10u);
}

TEST(MemoryStorage, RoundTrip) {
  MemoryStorage s;
  RoundTrip(s);
}

TEST(MemoryStorage, CrashLosesUnsyncedWritesOnly) {
  MemoryStorage s;
  ASSERT_TRUE(s.Save(MakeHardState(1, 1, 1), std::nullopt, {MakeEntry(1, 1)}, true).ok());
  ASSERT_TRUE(s.Save(MakeHardState(1, 1, 2), std::nullopt, {}, false).ok());
  EXPECT_EQ(s.Load()->hard_state.commit(), 2u);  // visible before the crash
  s.Crash();
  EXPECT_EQ(s.Load()->hard_state.commit(), 1u);
  // A synced write makes earlier unsynced ones durable too.
  ASSERT_TRUE(s.Save(MakeHardState(1, 1, 2), std::nullopt, {}, false).ok());
  ASSERT_TRUE(s.Save(std::nullopt, std::nullopt, {MakeEntry(2, 1)}, true).ok());
  s.Crash();
  EXPECT_EQ(s.Load()->hard_state.commit(), 2u);
  EXPECT_EQ(s.Load()->entries.size(), 2u);
}

TEST(MemoryStorage, FailedWriteIsSticky) {
  MemoryStorage s;
  s.FailWrites();
  EXPECT_FALSE(s.Save(MakeHardState(1, 0, 0), std::nullopt, {}, true).ok());
  EXPECT_FALSE(Compact(s, MakeSnapshot(1, 1, "")).ok());
}

TEST_P(DurableStorageTest, RoundTrip) {
  absl::StatusOr<std::unique_ptr<Storage>> s = Open();
  ASSERT_TRUE(s.ok()) << s.status();
  RoundTrip(**s);
}

// The round trip again, reopening the storage after each step, so that every state is read back
// from disk.
TEST_P(DurableStorageTest, RoundTripAcrossReopens) {
  std::vector<uint64_t> expected;
  for (uint64_t round = 1; round <= 6; ++round) {
    absl::StatusOr<std::unique_ptr<Storage>> s = Open();
    ASSERT_TRUE(s.ok()) << s.status();
    absl::StatusOr<PersistentState> st = (*s)->Load();
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_EQ(Indexes(*st), expected) << "round " << round;
    const uint64_t next = expected.empty() ? 1 : expected.back() + 1;
    // Each round appends three and replaces the last one it wrote.
    ASSERT_TRUE((*s)->Save(MakeHardState(round, 1, next), std::nullopt,
                           {MakeEntry(next, round), MakeEntry(next + 1, round),
                            MakeEntry(next + 2, round)},
                           true)
                    .ok());
    ASSERT_TRUE((*s)->Save(std::nullopt, std::nullopt, {MakeEntry(next + 2, round + 1)}, true).ok());
    for (uint64_t i = next; i <= next + 2; ++i) expected.push_back(i);
    if (round == 4) {
      ASSERT_TRUE(Compact(**s, MakeSnapshot(5, 2, "state@5")).ok());
      expected.erase(expected.begin(), expected.begin() + 5);
    }
  }
  absl::StatusOr<std::unique_ptr<Storage>> s = Open();
  ASSERT_TRUE(s.ok());
  absl::StatusOr<PersistentState> st = (*s)->Load();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(Indexes(*st), expected);
  EXPECT_EQ(st->entries.back().term(), 7u);
  EXPECT_EQ(st->hard_state.term(), 6u);
  EXPECT_EQ(st->snapshot.index(), 5u);
  EXPECT_EQ(SnapshotData(**s), "state@5");
}

TEST_P(DurableStorageTest, ReloadsAfterReopen) {
  {
    auto s = Open();
    ASSERT_TRUE(s.ok());
    std::vector<Entry> entries;
    for (uint64_t i = 1; i <= 300; ++i) entries.push_back(MakeEntry(i, 1 + i / 100));
    ASSERT_TRUE((*s)->Save(MakeHardState(4, 2, 250), std::nullopt, entries, true).ok());
    ASSERT_TRUE(Compact(**s, MakeSnapshot(200, 3, std::string(100000, 'z'))).ok());
    ASSERT_TRUE((*s)->Save(std::nullopt, std::nullopt, {MakeEntry(290, 5)}, true).ok());
  }
  auto s = Open();
  ASSERT_TRUE(s.ok());
  absl::StatusOr<PersistentState> st = (*s)->Load();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->hard_state.term(), 4u);
  EXPECT_EQ(st->hard_state.vote(), 2u);
  EXPECT_EQ(st->hard_state.commit(), 250u);
  EXPECT_EQ(st->snapshot.index(), 200u);
  EXPECT_EQ(SnapshotData(**s), std::string(100000, 'z'));
  ASSERT_EQ(st->entries.size(), 90u);
  EXPECT_EQ(st->entries.front().index(), 201u);
  EXPECT_EQ(st->entries.back().index(), 290u);
  EXPECT_EQ(st->entries.back().term(), 5u);
  // Index keys sort numerically (big-endian): appending across a byte boundary keeps order.
  std::vector<Entry> more;
  for (uint64_t i = 291; i <= 300; ++i) more.push_back(MakeEntry(i, 5));
  ASSERT_TRUE((*s)->Save(std::nullopt, std::nullopt, more, true).ok());
  st = (*s)->Load();
  EXPECT_EQ(st->entries.back().index(), 300u);
}

TEST_P(DurableStorageTest, RejectsEntriesWithAGap) {
  auto s = Open();
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Save(std::nullopt, std::nullopt, {MakeEntry(1, 1)}, true).ok());
  EXPECT_EQ((*s)->Save(std::nullopt, std::nullopt, {MakeEntry(3, 1)}, true).code(),
            absl::StatusCode::kInvalidArgument);
}

// The names of the snapshot data files in a storage directory.
std::vector<std::string> SnapshotFileNames(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("snapshot-", 0) == 0) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A snapshot's data is a file of its own: the newest one only, checked when read back.
TEST_P(DurableStorageTest, SnapshotDataLivesInOneFile) {
  {
    auto s = Open();
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Save(std::nullopt, std::nullopt, {MakeEntry(1, 1), MakeEntry(2, 1)}, true).ok());
    ASSERT_TRUE(Compact(**s, MakeSnapshot(1, 1, "state@1")).ok());
    ASSERT_TRUE(Compact(**s, MakeSnapshot(2, 1, "state@2")).ok());
    EXPECT_EQ(SnapshotFileNames(path()),
              (std::vector<std::string>{"snapshot-00000000000000000002.data"}));
    // From the leader: replaces the local one.
    ASSERT_TRUE((*s)->Save(MakeHardState(2, 0, 7), MakeSnapshot(7, 2, "state@7"), {}, true).ok());
    EXPECT_EQ(SnapshotFileNames(path()),
              (std::vector<std::string>{"snapshot-00000000000000000007.data"}));
  }
  // A crash between writing a new file and naming it leaves one that nobody names: dropped.
  {
    std::ofstream stray(path() + "/snapshot-00000000000000000009.data");
    stray << "unnamed";
  }
  {
    auto s = Open();
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(SnapshotFileNames(path()),
              (std::vector<std::string>{"snapshot-00000000000000000007.data"}));
    absl::StatusOr<PersistentState> st = (*s)->Load();
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_EQ(st->snapshot.index(), 7u);
    EXPECT_EQ(st->snapshot.configuration().members_size(), 1);
    EXPECT_EQ(SnapshotData(**s), "state@7");
  }
  // Damaged data is DataLoss, not a silently different state.
  {
    std::fstream f(path() + "/snapshot-00000000000000000007.data",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put('X');
  }
  auto s = Open();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->Load().status().code(), absl::StatusCode::kDataLoss);
}

// A store written before snapshot data had a file of its own keeps its data inside "snapshot".
TEST(LevelDbStorage, ReadsSnapshotDataStoredInTheDatabase) {
  TempDir dir;
  {
    leveldb::Options options;
    options.create_if_missing = true;
    leveldb::DB* raw = nullptr;
    ASSERT_TRUE(leveldb::DB::Open(options, dir.path(), &raw).ok());
    std::unique_ptr<leveldb::DB> db(raw);
    ASSERT_TRUE(db->Put(leveldb::WriteOptions(), "snapshot",
                        MakeSnapshot(4, 2, "state@4").SerializeAsString())
                    .ok());
  }
  auto s = LevelDbStorage::Open(dir.path());
  ASSERT_TRUE(s.ok()) << s.status();
  absl::StatusOr<PersistentState> st = (*s)->Load();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->snapshot.index(), 4u);
  EXPECT_EQ(SnapshotData(**s), "state@4");
  // Moved to a file of its own at open.
  EXPECT_EQ(SnapshotFileNames(dir.path()),
            (std::vector<std::string>{"snapshot-00000000000000000004.data"}));
  ASSERT_TRUE(Compact(**s, MakeSnapshot(5, 2, "state@5")).ok());
  EXPECT_EQ(SnapshotData(**s), "state@5");
  EXPECT_EQ(SnapshotFileNames(dir.path()),
            (std::vector<std::string>{"snapshot-00000000000000000005.data"}));
}

// A local snapshot is streamed into a temporary file (size and CRC32C computed on the way, no
// copy of the whole in memory needed), named only by Compact, and read back in pieces.
TEST_P(DurableStorageTest, SnapshotIsStreamedIntoAFileWithItsChecksum) {
  std::string expected;
  {
    auto s = Open();
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Save(std::nullopt, std::nullopt, {MakeEntry(1, 1), MakeEntry(2, 1)}, true).ok());
    absl::StatusOr<std::unique_ptr<SnapshotWriter>> writer = (*s)->NewSnapshotWriter(2);
    ASSERT_TRUE(writer.ok()) << writer.status();
    // Small pieces that fill the writer's buffer several times, and one larger than it.
    for (int i = 0; i < 40; ++i) {
      std::string piece(65536 + i, static_cast<char>('a' + i % 26));
      expected += piece;
      ASSERT_TRUE((*writer)->Append(piece).ok());
    }
    std::string big(3 << 20, 'Z');
    big[12345] = 'q';
    expected += big;
    ASSERT_TRUE((*writer)->Append(big).ok());
    ASSERT_TRUE((*writer)->Finish().ok());
    EXPECT_EQ((*writer)->size(), expected.size());
    EXPECT_EQ((*writer)->crc32c(), Crc32c(expected));
    // Written, not yet named: only a temporary file.
    std::vector<std::string> files = SnapshotFileNames(path());
    ASSERT_EQ(files.size(), 1u);
    EXPECT_NE(files[0].find(".tmp"), std::string::npos) << files[0];
    ASSERT_TRUE((*s)->Compact(MakeSnapshot(2, 1, "").metadata(), **writer).ok());
    EXPECT_EQ(SnapshotFileNames(path()),
              (std::vector<std::string>{"snapshot-00000000000000000002.data"}));
    absl::StatusOr<std::string> on_disk =
        ReadFile(path() + "/snapshot-00000000000000000002.data");
    ASSERT_TRUE(on_disk.ok());
    EXPECT_EQ(Crc32c(*on_disk), Crc32c(expected));
    EXPECT_TRUE(*on_disk == expected);
  }
  auto s = Open();
  ASSERT_TRUE(s.ok());
  absl::StatusOr<PersistentState> st = (*s)->Load();  // checks size and CRC32C
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->snapshot_bytes, expected.size());
  EXPECT_TRUE(*(*s)->ReadSnapshotData(2, 1 << 20, 100) == expected.substr(1 << 20, 100));
  EXPECT_TRUE(*(*s)->ReadSnapshotData(2, expected.size() - 5, 100) == expected.substr(expected.size() - 5));
}

// Snapshot data that was never adopted does not stay on disk: a writer dropped before Compact
// removes its file, a snapshot named meanwhile leaves a writer's file alone, and a crash's
// leftovers go at open.
TEST_P(DurableStorageTest, UnadoptedSnapshotFilesAreRemoved) {
  {
    auto s = Open();
    ASSERT_TRUE(s.ok());
    {
      absl::StatusOr<std::unique_ptr<SnapshotWriter>> dropped = (*s)->NewSnapshotWriter(1);
      ASSERT_TRUE(dropped.ok());
      ASSERT_TRUE((*dropped)->Append("partial").ok());
      EXPECT_EQ(SnapshotFileNames(path()).size(), 1u);
    }
    EXPECT_TRUE(SnapshotFileNames(path()).empty());
    ASSERT_TRUE((*s)->Save(std::nullopt, std::nullopt, {MakeEntry(1, 1), MakeEntry(2, 1)}, true).ok());
    absl::StatusOr<std::unique_ptr<SnapshotWriter>> building = (*s)->NewSnapshotWriter(2);
    ASSERT_TRUE(building.ok());
    ASSERT_TRUE((*building)->Append("state@2").ok());
    // A snapshot from the leader is named while ours is being written.
    ASSERT_TRUE((*s)->Save(MakeHardState(2, 0, 7), MakeSnapshot(7, 2, "state@7"), {}, true).ok());
    EXPECT_EQ(SnapshotFileNames(path()).size(), 2u);
    ASSERT_TRUE((*building)->Finish().ok());
    // Too old now: discarded, and its file with it.
    ASSERT_TRUE((*s)->Compact(MakeSnapshot(2, 1, "").metadata(), **building).ok());
    building->reset();
    EXPECT_EQ(SnapshotFileNames(path()),
              (std::vector<std::string>{"snapshot-00000000000000000007.data"}));
    // A crash while writing leaves a temporary file behind.
    absl::StatusOr<std::unique_ptr<SnapshotWriter>> crashed = (*s)->NewSnapshotWriter(9);
    ASSERT_TRUE(crashed.ok());
    ASSERT_TRUE(std::filesystem::copy_file(path() + "/snapshot-00000000000000000007.data",
                                           path() + "/snapshot-00000000000000000009.data.tmp-5"));
  }
  auto s = Open();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(SnapshotFileNames(path()),
            (std::vector<std::string>{"snapshot-00000000000000000007.data"}));
  EXPECT_EQ(SnapshotData(**s), "state@7");
}

// A RaftNode restarted on durable storage picks up where it was.
TEST_P(DurableStorageTest, NodeRestartsFromDisk) {
  RaftOptions o;
  o.id = 1;
  Member m;
  m.set_id(1);
  o.initial_members = {m};
  uint64_t applied = 0;
  auto drain = [&](RaftNode& node, Storage& storage) {
    while (node.HasReady()) {
      Ready rd = node.GetReady();
      ASSERT_TRUE(storage.SaveReady(rd).ok());
      if (!rd.committed_entries.empty()) applied = rd.committed_entries.back().index();
      node.Advance(rd);
    }
  };
  {
    auto s = Open();
    ASSERT_TRUE(s.ok());
    RaftNode node(o, *(*s)->Load());
    drain(node, **s);
    for (int i = 0; i < 30 && node.role() != Role::kLeader; ++i) {
      node.Tick();
      drain(node, **s);
    }
    ASSERT_EQ(node.role(), Role::kLeader);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(node.Propose("cmd" + std::to_string(i)).ok());
    drain(node, **s);
    EXPECT_EQ(applied, 12u);  // conf + no-op + 10 commands
    ASSERT_TRUE(testing::CompactWithData(node, **s, 5, "state@5").ok());
  }
  auto s = Open();
  ASSERT_TRUE(s.ok());
  absl::StatusOr<PersistentState> st = (*s)->Load();
  ASSERT_TRUE(st.ok());
  o.applied_index = applied;
  RaftNode node(o, *st);
  EXPECT_EQ(node.term(), 2u);
  EXPECT_EQ(node.vote(), 1u);
  EXPECT_EQ(node.first_index(), 6u);
  EXPECT_EQ(node.last_index(), 12u);
  EXPECT_EQ(node.commit_index(), 12u);
  EXPECT_EQ(node.snapshot().index(), 5u);
  EXPECT_EQ(node.snapshot_bytes(), 7u);
  EXPECT_EQ(SnapshotData(**s), "state@5");
  EXPECT_EQ(node.configuration().members_size(), 1);
}

// ---- SegmentStorage only ----

std::unique_ptr<SegmentStorage> OpenSegments(const std::string& dir,
                                             uint64_t segment_bytes = kTestSegmentBytes) {
  SegmentStorageOptions options;
  options.segment_bytes = segment_bytes;
  absl::StatusOr<std::unique_ptr<SegmentStorage>> s = SegmentStorage::Open(dir, options);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

// The segment files of a directory, oldest first.
std::vector<std::string> SegmentFileNames(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("segment-", 0) == 0) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string SegmentName(uint64_t seq) {
  std::string digits = std::to_string(seq);
  return "segment-" + std::string(20 - digits.size(), '0') + digits;
}

// Entries [1, last] of 300 bytes each (about 25 to a test segment), one Save each.
void SaveEntries(Storage& s, uint64_t last, bool sync = true) {
  for (uint64_t i = 1; i <= last; ++i) {
    ASSERT_TRUE(s.Save(std::nullopt, std::nullopt, {MakeEntry(i, 1, std::string(300, 'x'))}, sync).ok());
  }
}

// Where the records of a segment file end: after its last byte that is not zero.
uint64_t RecordsEnd(const std::string& path) {
  absl::StatusOr<std::string> file = ReadFile(path);
  EXPECT_TRUE(file.ok());
  size_t end = file->size();
  while (end > 0 && (*file)[end - 1] == 0) --end;
  return end;
}

void Overwrite(const std::string& path, uint64_t offset, const std::string& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Segments are preallocated (written with zeros) to their full size, the next one ahead of need,
// so that appending does not change a file's size.
TEST(SegmentStorage, SegmentsArePreallocated) {
  TempDir dir;
  auto s = OpenSegments(dir.path(), 1 << 20);
  ASSERT_NE(s, nullptr);
  const std::string active = dir.path() + "/" + SegmentName(1);
  EXPECT_EQ(std::filesystem::file_size(active), 1u << 20);
  ASSERT_TRUE(s->Save(MakeHardState(1, 1, 0), std::nullopt, {MakeEntry(1, 1)}, true).ok());
  EXPECT_EQ(std::filesystem::file_size(active), 1u << 20);
  // The next one appears under its name only once it is whole.
  const std::string next = dir.path() + "/" + SegmentName(2);
  for (int i = 0; i < 500 && !std::filesystem::exists(next); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  s.reset();
  EXPECT_EQ(SegmentFileNames(dir.path()),
            (std::vector<std::string>{SegmentName(1), SegmentName(2)}));
  EXPECT_EQ(std::filesystem::file_size(next), 1u << 20);
  // Reopened, the log reads back and goes on in a new segment (the unused one was replaced).
  s = OpenSegments(dir.path(), 1 << 20);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(Indexes(*s->Load()), (std::vector<uint64_t>{1}));
  ASSERT_TRUE(s->Save(std::nullopt, std::nullopt, {MakeEntry(2, 1)}, true).ok());
  EXPECT_EQ(std::filesystem::file_size(dir.path() + "/" + SegmentName(2)), 1u << 20);
  s.reset();  // one storage per directory at a time
  s = OpenSegments(dir.path(), 1 << 20);
  EXPECT_EQ(Indexes(*s->Load()), (std::vector<uint64_t>{1, 2}));
}

// Many records across many small segments, one larger than a whole segment among them.
TEST(SegmentStorage, CrossesSegmentBoundaries) {
  TempDir dir;
  std::vector<uint64_t> expected;
  {
    auto s = OpenSegments(dir.path());
    ASSERT_NE(s, nullptr);
    for (uint64_t i = 1; i <= 200; ++i) {
      const std::string data(i == 77 ? 3 * kTestSegmentBytes : 100 + i, static_cast<char>('a' + i % 26));
      ASSERT_TRUE(s->Save(MakeHardState(1, 1, i - 1), std::nullopt, {MakeEntry(i, 1, data)},
                          /*sync=*/i % 3 == 0)
                      .ok());
      expected.push_back(i);
    }
    EXPECT_EQ(Indexes(*s->Load()), expected);
  }
  EXPECT_GT(SegmentFileNames(dir.path()).size(), 5u);
  auto s = OpenSegments(dir.path());
  ASSERT_NE(s, nullptr);
  absl::StatusOr<PersistentState> st = s->Load();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(Indexes(*st), expected);
  EXPECT_EQ(st->entries[76].data().size(), 3 * kTestSegmentBytes);
  EXPECT_EQ(st->entries[199].data(), std::string(300, 'a' + 200 % 26));
  EXPECT_EQ(st->hard_state.commit(), 199u);
}

// Entries that replace a stored suffix win after a restart, also when the old ones are in an
// earlier segment.
TEST(SegmentStorage, SuffixOverwriteSurvivesRestart) {
  TempDir dir;
  {
    auto s = OpenSegments(dir.path());
    ASSERT_NE(s, nullptr);
    SaveEntries(*s, 60);
    ASSERT_GT(SegmentFileNames(dir.path()).size(), 2u);
    ASSERT_TRUE(s->Save(MakeHardState(2, 2, 5), std::nullopt, {MakeEntry(10, 2), MakeEntry(11, 2)}, true).ok());
    // And once more within the same segment.
    ASSERT_TRUE(s->Save(std::nullopt, std::nullopt, {MakeEntry(11, 3)}, true).ok());
  }
  auto s = OpenSegments(dir.path());
  ASSERT_NE(s, nullptr);
  absl::StatusOr<PersistentState> st = s->Load();
  ASSERT_TRUE(st.ok()) << st.status();
  std::vector<uint64_t> expected;
  for (uint64_t i = 1; i <= 11; ++i) expected.push_back(i);
  EXPECT_EQ(Indexes(*st), expected);
  EXPECT_EQ(st->entries[8].term(), 1u);
  EXPECT_EQ(st->entries[9].term(), 2u);
  EXPECT_EQ(st->entries[10].term(), 3u);
  EXPECT_EQ(st->hard_state.term(), 2u);
  // Appending continues after the replaced suffix.
  ASSERT_TRUE(s->Save(std::nullopt, std::nullopt, {MakeEntry(12, 3)}, true).ok());
  s.reset();
  s = OpenSegments(dir.path());
  EXPECT_EQ(s->Load()->entries.back().index(), 12u);
}

// A torn write at a crash: the log ends at the first record that does not check, later writes
// go where it was, and the restart after that sees them (and no stale bytes).
TEST(SegmentStorage, TornTailIsTheEndOfTheLog) {
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE(variant);
    TempDir dir;
    const std::string active = dir.path() + "/" + SegmentName(1);
    uint64_t end_before_last = 0, end = 0;
    {
      auto s = OpenSegments(dir.path(), 1 << 20);
      ASSERT_NE(s, nullptr);
      for (uint64_t i = 1; i <= 5; ++i) {
        end_before_last = RecordsEnd(active);
        ASSERT_TRUE(s->Save(MakeHardState(1, 1, i), std::nullopt, {MakeEntry(i, 1)}, true).ok());
      }
      end = RecordsEnd(active);
    }
    if (variant == 0) {
      Overwrite(active, end - 3, "\x7f");  // a byte of the last record flipped
    } else if (variant == 1) {
      std::filesystem::resize_file(active, end - 5);  // cut inside the last record
    } else {
      Overwrite(active, end_before_last + 4, "\x01\x02");  // the last record's CRC garbled
      Overwrite(active, end + 100, "garbage after the end");
    }
    {
      auto s = OpenSegments(dir.path(), 1 << 20);
      ASSERT_NE(s, nullptr);
      absl::StatusOr<PersistentState> st = s->Load();
      ASSERT_TRUE(st.ok()) << st.status();
      EXPECT_EQ(Indexes(*st), (std::vector<uint64_t>{1, 2, 3, 4}));
      EXPECT_EQ(st->hard_state.commit(), 4u);
      // Past the end of the log there are only zeros now.
      EXPECT_EQ(RecordsEnd(active), end_before_last);
      ASSERT_TRUE(s->Save(std::nullopt, std::nullopt, {MakeEntry(5, 2, "short")}, true).ok());
    }
    auto s = OpenSegments(dir.path(), 1 << 20);
    ASSERT_NE(s, nullptr);
    absl::StatusOr<PersistentState> st = s->Load();
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_EQ(Indexes(*st), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
    EXPECT_EQ(st->entries.back().term(), 2u);
  }
}

// A record that does not check in a segment before the last one was synced (a segment is synced
// before the next one is written): damage, not a torn write.
TEST(SegmentStorage, BadRecordBeforeTheLastSegmentIsDataLoss) {
  TempDir dir;
  {
    auto s = OpenSegments(dir.path());
    ASSERT_NE(s, nullptr);
    SaveEntries(*s, 60, /*sync=*/false);
  }
  const std::string first = dir.path() + "/" + SegmentName(1);
  Overwrite(first, RecordsEnd(first) - 10, "\x55");
  SegmentStorageOptions options;
  options.segment_bytes = kTestSegmentBytes;
  EXPECT_EQ(SegmentStorage::Open(dir.path(), options).status().code(),
            absl::StatusCode::kDataLoss);
}

// Compaction deletes the oldest segments once the snapshot covers every entry in them; the rest
// (and the hard state, which a later segment's checkpoint carries) reloads.
TEST(SegmentStorage, CompactionDropsCoveredSegments) {
  TempDir dir;
  {
    auto s = OpenSegments(dir.path());
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->Save(MakeHardState(7, 3, 0), std::nullopt, {}, true).ok());
    SaveEntries(*s, 150);
    const std::vector<std::string> before = SegmentFileNames(dir.path());
    ASSERT_GT(before.size(), 5u);
    ASSERT_TRUE(Compact(*s, MakeSnapshot(60, 1, "state@60")).ok());
    const std::vector<std::string> after = SegmentFileNames(dir.path());
    EXPECT_LE(after.size(), before.size() - 2);
    EXPECT_NE(after.front(), SegmentName(1));
    // Not more than that: every entry after 60 is still on disk.
    absl::StatusOr<PersistentState> st = s->Load();
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_EQ(st->entries.front().index(), 61u);
    // Everything, once the snapshot passes the last entry, but the active segment.
    ASSERT_TRUE(Compact(*s, MakeSnapshot(150, 1, "state@150")).ok());
    ASSERT_TRUE(s->Save(std::nullopt, std::nullopt, {MakeEntry(151, 1)}, true).ok());
  }
  const std::vector<std::string> left = SegmentFileNames(dir.path());
  EXPECT_LE(left.size(), 2u);  // the active one, and the next one prepared
  auto s = OpenSegments(dir.path());
  ASSERT_NE(s, nullptr);
  absl::StatusOr<PersistentState> st = s->Load();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->snapshot.index(), 150u);
  EXPECT_EQ(SnapshotData(*s), "state@150");
  EXPECT_EQ(Indexes(*st), (std::vector<uint64_t>{151}));
  EXPECT_EQ(st->hard_state.term(), 7u);
  EXPECT_EQ(st->hard_state.vote(), 3u);
}

// Each open begins a new segment. Restarts do not pile them up: those the snapshot covers go at
// open, and once restarts left kSegmentsWorthCompaction behind, the storage asks for a snapshot,
// which deletes them.
TEST(SegmentStorage, RestartsDoNotPileUpSegments) {
  TempDir dir;
  auto s = OpenSegments(dir.path());
  ASSERT_NE(s, nullptr);
  SaveEntries(*s, 10);
  ASSERT_TRUE(Compact(*s, MakeSnapshot(10, 1, "state@10")).ok());
  // Nothing logged since the snapshot: restarts leave nothing behind.
  for (int restart = 0; restart < 5; ++restart) {
    s.reset();
    s = OpenSegments(dir.path());
    ASSERT_NE(s, nullptr);
  }
  EXPECT_LE(SegmentFileNames(dir.path()).size(), 2u);  // the active one and the next one
  EXPECT_FALSE(s->CompactionWorthwhile(10));
  // An entry logged after each start (a new leader's no-op) keeps that start's segment alive.
  uint64_t last = 10;
  for (size_t restart = 1; restart <= SegmentStorage::kSegmentsWorthCompaction; ++restart) {
    EXPECT_FALSE(s->CompactionWorthwhile(last)) << restart;
    ++last;
    ASSERT_TRUE(s->Save(std::nullopt, std::nullopt, {MakeEntry(last, 2)}, true).ok());
    s.reset();
    s = OpenSegments(dir.path());
    ASSERT_NE(s, nullptr);
  }
  EXPECT_FALSE(s->CompactionWorthwhile(last - 1)) << "a snapshot before the last entry frees less";
  ASSERT_TRUE(s->CompactionWorthwhile(last));
  // The restarts' segments and the active one (the next one may be preallocated already)...
  EXPECT_GE(SegmentFileNames(dir.path()).size(), SegmentStorage::kSegmentsWorthCompaction + 1);
  ASSERT_TRUE(Compact(*s, MakeSnapshot(last, 2, "state@last")).ok());
  // ... and then only the active one and the next.
  EXPECT_LE(SegmentFileNames(dir.path()).size(), 2u);
  EXPECT_FALSE(s->CompactionWorthwhile(last));
  absl::StatusOr<PersistentState> st = s->Load();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->snapshot.index(), last);
  EXPECT_EQ(SnapshotData(*s), "state@last");
}

// A snapshot from the leader replaces the log: every older segment goes at once.
TEST(SegmentStorage, SnapshotFromTheLeaderDropsOlderSegments) {
  TempDir dir;
  auto s = OpenSegments(dir.path());
  ASSERT_NE(s, nullptr);
  SaveEntries(*s, 100);
  ASSERT_TRUE(s->Save(MakeHardState(3, 0, 50), MakeSnapshot(50, 2, "state@50"), {MakeEntry(51, 2)}, true).ok());
  s.reset();
  EXPECT_LE(SegmentFileNames(dir.path()).size(), 2u);
  s = OpenSegments(dir.path());
  absl::StatusOr<PersistentState> st = s->Load();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->snapshot.index(), 50u);
  EXPECT_EQ(Indexes(*st), (std::vector<uint64_t>{51}));
  EXPECT_EQ(st->entries[0].term(), 2u);
}

// A master whose raft directory holds the old LevelDB log starts on segments with the same state,
// once; the LevelDB files are gone after, the snapshot file stays.
TEST(SegmentStorage, MigratesALevelDbLog) {
  TempDir dir;
  {
    auto s = LevelDbStorage::Open(dir.path());
    ASSERT_TRUE(s.ok());
    std::vector<Entry> entries;
    for (uint64_t i = 1; i <= 30; ++i) entries.push_back(MakeEntry(i, 1 + i / 10));
    ASSERT_TRUE((*s)->Save(MakeHardState(4, 2, 25), std::nullopt, entries, true).ok());
    ASSERT_TRUE(Compact(**s, MakeSnapshot(20, 3, "state@20")).ok());
  }
  ASSERT_TRUE(std::filesystem::exists(dir.path() + "/CURRENT"));
  for (int reopen = 0; reopen < 2; ++reopen) {
    auto s = OpenSegments(dir.path());
    ASSERT_NE(s, nullptr);
    EXPECT_FALSE(std::filesystem::exists(dir.path() + "/CURRENT"));
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      const std::string name = e.path().filename().string();
      EXPECT_TRUE(name.rfind("segment-", 0) == 0 || name.rfind("snapshot-", 0) == 0) << name;
    }
    absl::StatusOr<PersistentState> st = s->Load();
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_EQ(st->hard_state.term(), 4u);
    EXPECT_EQ(st->hard_state.vote(), 2u);
    EXPECT_EQ(st->hard_state.commit(), 25u);
    EXPECT_EQ(st->snapshot.index(), 20u);
    EXPECT_EQ(st->snapshot.term(), 3u);
    EXPECT_EQ(SnapshotData(*s), "state@20");
    EXPECT_EQ(Indexes(*st), (std::vector<uint64_t>{21, 22, 23, 24, 25, 26, 27, 28, 29, 30}));
    EXPECT_EQ(st->entries.back().data(), "e30t4");
    if (reopen == 0) {
      ASSERT_TRUE(s->Save(std::nullopt, std::nullopt, {MakeEntry(30, 4)}, true).ok());
    }
  }
}

// A migration that stopped before its segment held the state runs again.
TEST(SegmentStorage, UnfinishedMigrationRunsAgain) {
  TempDir dir;
  {
    auto s = LevelDbStorage::Open(dir.path());
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Save(MakeHardState(2, 1, 1), std::nullopt, {MakeEntry(1, 2)}, true).ok());
  }
  // A first segment preallocated, nothing written to it.
  {
    std::ofstream f(dir.path() + "/" + SegmentName(1), std::ios::binary);
    f << std::string(kTestSegmentBytes, '\0');
  }
  auto s = OpenSegments(dir.path());
  ASSERT_NE(s, nullptr);
  absl::StatusOr<PersistentState> st = s->Load();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(Indexes(*st), (std::vector<uint64_t>{1}));
  EXPECT_EQ(st->hard_state.term(), 2u);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/CURRENT"));
}

// After a failed write the storage refuses every write (its state on disk is unknown); a restart
// reads what reached the disk.
TEST(SegmentStorage, FailedWriteIsSticky) {
  TempDir dir;
  {
    auto s = OpenSegments(dir.path());
    ASSERT_NE(s, nullptr);
    ASSERT_TRUE(s->Save(MakeHardState(1, 1, 1), std::nullopt, {MakeEntry(1, 1)}, true).ok());
    s->FailNextWrite();
    EXPECT_FALSE(s->Save(MakeHardState(1, 1, 2), std::nullopt, {MakeEntry(2, 1)}, true).ok());
    EXPECT_FALSE(s->Save(MakeHardState(1, 1, 2), std::nullopt, {}, true).ok());
    EXPECT_FALSE(Compact(*s, MakeSnapshot(1, 1, "state@1")).ok());
  }
  auto s = OpenSegments(dir.path());
  ASSERT_NE(s, nullptr);
  absl::StatusOr<PersistentState> st = s->Load();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(Indexes(*st), (std::vector<uint64_t>{1}));
  EXPECT_EQ(st->hard_state.commit(), 1u);
}

}  // namespace
}  // namespace dfs::raft
