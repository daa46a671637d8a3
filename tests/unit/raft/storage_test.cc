// Storage implementations: the same round-trip tests over MemoryStorage and LevelDbStorage, plus
// crash behaviour (MemoryStorage), reload across reopen and snapshot files (LevelDB).
#include "master/raft/storage.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "common/crc32c.h"
#include "common/file_util.h"
#include "gtest/gtest.h"
#include "leveldb/db.h"
#include "master/raft/leveldb_storage.h"
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

TEST(LevelDbStorage, RoundTrip) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<LevelDbStorage>> s = LevelDbStorage::Open(dir.path());
  ASSERT_TRUE(s.ok()) << s.status();
  RoundTrip(**s);
}

TEST(LevelDbStorage, ReloadsAfterReopen) {
  TempDir dir;
  {
    auto s = LevelDbStorage::Open(dir.path());
    ASSERT_TRUE(s.ok());
    std::vector<Entry> entries;
    for (uint64_t i = 1; i <= 300; ++i) entries.push_back(MakeEntry(i, 1 + i / 100));
    ASSERT_TRUE((*s)->Save(MakeHardState(4, 2, 250), std::nullopt, entries, true).ok());
    ASSERT_TRUE(Compact(**s, MakeSnapshot(200, 3, std::string(100000, 'z'))).ok());
    ASSERT_TRUE((*s)->Save(std::nullopt, std::nullopt, {MakeEntry(290, 5)}, true).ok());
  }
  auto s = LevelDbStorage::Open(dir.path());
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

TEST(LevelDbStorage, RejectsEntriesWithAGap) {
  TempDir dir;
  auto s = LevelDbStorage::Open(dir.path());
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Save(std::nullopt, std::nullopt, {MakeEntry(1, 1)}, true).ok());
  EXPECT_EQ((*s)->Save(std::nullopt, std::nullopt, {MakeEntry(3, 1)}, true).code(),
            absl::StatusCode::kInvalidArgument);
}

// The names of the snapshot data files in a storage directory.
std::vector<std::string> SnapshotFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("snapshot-", 0) == 0) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A snapshot's data is a file of its own: the newest one only, checked when read back.
TEST(LevelDbStorage, SnapshotDataLivesInOneFile) {
  TempDir dir;
  {
    auto s = LevelDbStorage::Open(dir.path());
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Save(std::nullopt, std::nullopt, {MakeEntry(1, 1), MakeEntry(2, 1)}, true).ok());
    ASSERT_TRUE(Compact(**s, MakeSnapshot(1, 1, "state@1")).ok());
    ASSERT_TRUE(Compact(**s, MakeSnapshot(2, 1, "state@2")).ok());
    EXPECT_EQ(SnapshotFiles(dir.path()),
              (std::vector<std::string>{"snapshot-00000000000000000002.data"}));
    // From the leader: replaces the local one.
    ASSERT_TRUE((*s)->Save(MakeHardState(2, 0, 7), MakeSnapshot(7, 2, "state@7"), {}, true).ok());
    EXPECT_EQ(SnapshotFiles(dir.path()),
              (std::vector<std::string>{"snapshot-00000000000000000007.data"}));
  }
  // A crash between writing a new file and naming it leaves one that nobody names: dropped.
  {
    std::ofstream stray(dir.path() + "/snapshot-00000000000000000009.data");
    stray << "unnamed";
  }
  {
    auto s = LevelDbStorage::Open(dir.path());
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(SnapshotFiles(dir.path()),
              (std::vector<std::string>{"snapshot-00000000000000000007.data"}));
    absl::StatusOr<PersistentState> st = (*s)->Load();
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_EQ(st->snapshot.index(), 7u);
    EXPECT_EQ(st->snapshot.configuration().members_size(), 1);
    EXPECT_EQ(SnapshotData(**s), "state@7");
  }
  // Damaged data is DataLoss, not a silently different state.
  {
    std::fstream f(dir.path() + "/snapshot-00000000000000000007.data",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put('X');
  }
  auto s = LevelDbStorage::Open(dir.path());
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
  EXPECT_EQ(SnapshotFiles(dir.path()),
            (std::vector<std::string>{"snapshot-00000000000000000004.data"}));
  ASSERT_TRUE(Compact(**s, MakeSnapshot(5, 2, "state@5")).ok());
  EXPECT_EQ(SnapshotData(**s), "state@5");
  EXPECT_EQ(SnapshotFiles(dir.path()),
            (std::vector<std::string>{"snapshot-00000000000000000005.data"}));
}

// A local snapshot is streamed into a temporary file (size and CRC32C computed on the way, no
// copy of the whole in memory needed), named only by Compact, and read back in pieces.
TEST(LevelDbStorage, SnapshotIsStreamedIntoAFileWithItsChecksum) {
  TempDir dir;
  std::string expected;
  {
    auto s = LevelDbStorage::Open(dir.path());
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
    std::vector<std::string> files = SnapshotFiles(dir.path());
    ASSERT_EQ(files.size(), 1u);
    EXPECT_NE(files[0].find(".tmp"), std::string::npos) << files[0];
    ASSERT_TRUE((*s)->Compact(MakeSnapshot(2, 1, "").metadata(), **writer).ok());
    EXPECT_EQ(SnapshotFiles(dir.path()),
              (std::vector<std::string>{"snapshot-00000000000000000002.data"}));
    absl::StatusOr<std::string> on_disk =
        ReadFile(dir.path() + "/snapshot-00000000000000000002.data");
    ASSERT_TRUE(on_disk.ok());
    EXPECT_EQ(Crc32c(*on_disk), Crc32c(expected));
    EXPECT_TRUE(*on_disk == expected);
  }
  auto s = LevelDbStorage::Open(dir.path());
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
TEST(LevelDbStorage, UnadoptedSnapshotFilesAreRemoved) {
  TempDir dir;
  {
    auto s = LevelDbStorage::Open(dir.path());
    ASSERT_TRUE(s.ok());
    {
      absl::StatusOr<std::unique_ptr<SnapshotWriter>> dropped = (*s)->NewSnapshotWriter(1);
      ASSERT_TRUE(dropped.ok());
      ASSERT_TRUE((*dropped)->Append("partial").ok());
      EXPECT_EQ(SnapshotFiles(dir.path()).size(), 1u);
    }
    EXPECT_TRUE(SnapshotFiles(dir.path()).empty());
    ASSERT_TRUE((*s)->Save(std::nullopt, std::nullopt, {MakeEntry(1, 1), MakeEntry(2, 1)}, true).ok());
    absl::StatusOr<std::unique_ptr<SnapshotWriter>> building = (*s)->NewSnapshotWriter(2);
    ASSERT_TRUE(building.ok());
    ASSERT_TRUE((*building)->Append("state@2").ok());
    // A snapshot from the leader is named while ours is being written.
    ASSERT_TRUE((*s)->Save(MakeHardState(2, 0, 7), MakeSnapshot(7, 2, "state@7"), {}, true).ok());
    EXPECT_EQ(SnapshotFiles(dir.path()).size(), 2u);
    ASSERT_TRUE((*building)->Finish().ok());
    // Too old now: discarded, and its file with it.
    ASSERT_TRUE((*s)->Compact(MakeSnapshot(2, 1, "").metadata(), **building).ok());
    building->reset();
    EXPECT_EQ(SnapshotFiles(dir.path()),
              (std::vector<std::string>{"snapshot-00000000000000000007.data"}));
    // A crash while writing leaves a temporary file behind.
    absl::StatusOr<std::unique_ptr<SnapshotWriter>> crashed = (*s)->NewSnapshotWriter(9);
    ASSERT_TRUE(crashed.ok());
    ASSERT_TRUE(std::filesystem::copy_file(dir.path() + "/snapshot-00000000000000000007.data",
                                           dir.path() + "/snapshot-00000000000000000009.data.tmp-5"));
  }
  auto s = LevelDbStorage::Open(dir.path());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(SnapshotFiles(dir.path()),
            (std::vector<std::string>{"snapshot-00000000000000000007.data"}));
  EXPECT_EQ(SnapshotData(**s), "state@7");
}

// A RaftNode restarted on LevelDB storage picks up where it was.
TEST(LevelDbStorage, NodeRestartsFromDisk) {
  TempDir dir;
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
    auto s = LevelDbStorage::Open(dir.path());
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
  auto s = LevelDbStorage::Open(dir.path());
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

}  // namespace
}  // namespace dfs::raft
