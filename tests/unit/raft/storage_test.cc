// Storage implementations: the same round-trip tests over MemoryStorage and LevelDbStorage, plus
// crash behaviour (MemoryStorage) and reload across reopen (LevelDB).
#include "master/raft/storage.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

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
  ASSERT_TRUE(s.Compact(MakeSnapshot(2, 1, "state@2")).ok());
  ASSERT_TRUE(s.Save(std::nullopt, std::nullopt, {MakeEntry(4, 3), MakeEntry(5, 3)}, true).ok());
  st = s.Load();
  EXPECT_EQ(st->snapshot.metadata().index(), 2u);
  EXPECT_EQ(st->snapshot.data(), "state@2");
  EXPECT_EQ(Indexes(*st), (std::vector<uint64_t>{3, 4, 5}));

  // A snapshot from the leader replaces the whole log; entries may follow it in the same write.
  ASSERT_TRUE(s.Save(MakeHardState(4, 0, 10), MakeSnapshot(10, 4, "state@10"), {MakeEntry(11, 4)},
                     true)
                  .ok());
  st = s.Load();
  EXPECT_EQ(st->snapshot.metadata().index(), 10u);
  EXPECT_EQ(st->snapshot.data(), "state@10");
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
  EXPECT_FALSE(s.Compact(MakeSnapshot(1, 1, "")).ok());
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
    ASSERT_TRUE((*s)->Compact(MakeSnapshot(200, 3, std::string(100000, 'z'))).ok());
    ASSERT_TRUE((*s)->Save(std::nullopt, std::nullopt, {MakeEntry(290, 5)}, true).ok());
  }
  auto s = LevelDbStorage::Open(dir.path());
  ASSERT_TRUE(s.ok());
  absl::StatusOr<PersistentState> st = (*s)->Load();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->hard_state.term(), 4u);
  EXPECT_EQ(st->hard_state.vote(), 2u);
  EXPECT_EQ(st->hard_state.commit(), 250u);
  EXPECT_EQ(st->snapshot.metadata().index(), 200u);
  EXPECT_EQ(st->snapshot.data().size(), 100000u);
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
    ASSERT_TRUE((*s)->Compact(MakeSnapshot(1, 1, "state@1")).ok());
    ASSERT_TRUE((*s)->Compact(MakeSnapshot(2, 1, "state@2")).ok());
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
    EXPECT_EQ(st->snapshot.metadata().index(), 7u);
    EXPECT_EQ(st->snapshot.metadata().configuration().members_size(), 1);
    EXPECT_EQ(st->snapshot.data(), "state@7");
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
  EXPECT_EQ(st->snapshot.metadata().index(), 4u);
  EXPECT_EQ(st->snapshot.data(), "state@4");
  // The next snapshot moves to the new layout.
  ASSERT_TRUE((*s)->Compact(MakeSnapshot(5, 2, "state@5")).ok());
  EXPECT_EQ((*s)->Load()->snapshot.data(), "state@5");
  EXPECT_EQ(SnapshotFiles(dir.path()),
            (std::vector<std::string>{"snapshot-00000000000000000005.data"}));
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
    ASSERT_TRUE(node.CompactTo(5, "state@5").ok());
    ASSERT_TRUE((*s)->Compact(node.snapshot()).ok());
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
  EXPECT_EQ(node.snapshot().data(), "state@5");
  EXPECT_EQ(node.configuration().members_size(), 1);
}

}  // namespace
}  // namespace dfs::raft
