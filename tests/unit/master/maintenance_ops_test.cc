// The maintenance commands applied to a real (temp-dir LevelDB) state machine.
#include <string>
#include <vector>

#include "common/errors.h"
#include "gtest/gtest.h"
#include "master/keys.h"
#include "master/state_machine.h"
#include "tests/testutil/temp_dir.h"

namespace dfs {
namespace {

constexpr uint64_t kRoot = keys::kRootInode;

class MaintenanceOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sm = StateMachine::Open(dir_.path() + "/meta");
    ASSERT_TRUE(sm.ok()) << sm.status();
    sm_ = *std::move(sm);
  }

  CommandResult Apply(Command command) {
    if (command.timestamp_ns() == 0) command.set_timestamp_ns(1000 * next_index_);
    return sm_->Apply(next_index_++, command);
  }
  absl::Status Status(Command command) { return ResultStatus(Apply(std::move(command))); }

  uint64_t Reserve(ReserveIdsCmd::Kind kind) {
    Command c;
    c.mutable_reserve_ids()->set_kind(kind);
    c.mutable_reserve_ids()->set_count(1);
    return Apply(c).first_id();
  }

  // Creates /name with `length` bytes in one new chunk on `replicas`; returns the chunk id.
  uint64_t CreateFile(const std::string& name, uint64_t length,
                      std::vector<std::string> replicas, Attr* attr = nullptr) {
    uint64_t chunk = Reserve(ReserveIdsCmd::KIND_CHUNK);
    Command c;
    CreateCmd* create = c.mutable_create();
    create->set_parent(kRoot);
    create->set_name(name);
    create->set_inode(Reserve(ReserveIdsCmd::KIND_INODE));
    create->set_mode(0644);
    create->set_size(length);
    ChunkInfo* info = create->add_new_chunks();
    info->set_chunk_id(chunk);
    info->set_length(length);
    for (auto& r : replicas) info->add_replicas(r);
    Extent* e = create->add_extents();
    e->set_chunk_id(chunk);
    e->set_length(length);
    CommandResult r = Apply(c);
    EXPECT_EQ(r.code(), 0) << r.message();
    if (attr != nullptr) *attr = r.attr();
    return chunk;
  }

  std::vector<std::string> ReplicasOf(uint64_t chunk) {
    auto info = sm_->GetChunk(chunk);
    if (!info.ok()) return {};
    return {info->replicas().begin(), info->replicas().end()};
  }

  Command AddReplica(uint64_t chunk, const std::string& node) {
    Command c;
    c.mutable_add_replica()->set_chunk_id(chunk);
    c.mutable_add_replica()->set_datanode_id(node);
    return c;
  }
  Command Trim(uint64_t chunk, const std::string& node, std::vector<std::string> require) {
    Command c;
    c.mutable_trim_replica()->set_chunk_id(chunk);
    c.mutable_trim_replica()->set_datanode_id(node);
    for (auto& r : require) c.mutable_trim_replica()->add_require(r);
    return c;
  }

  TempDir dir_;
  std::unique_ptr<StateMachine> sm_;
  uint64_t next_index_ = 1;
};

TEST_F(MaintenanceOpsTest, AddReplicaIsIdempotent) {
  uint64_t chunk = CreateFile("f", 100, {"a", "b"});
  EXPECT_TRUE(Status(AddReplica(chunk, "c")).ok());
  EXPECT_TRUE(Status(AddReplica(chunk, "c")).ok());
  EXPECT_EQ(ReplicasOf(chunk), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(absl::IsNotFound(Status(AddReplica(12345, "c"))));
  EXPECT_TRUE(absl::IsInvalidArgument(Status(AddReplica(chunk, ""))));
}

TEST_F(MaintenanceOpsTest, AddReplicaToGarbageRecordsTheCopyForTheGc) {
  uint64_t chunk = CreateFile("f", 100, {"a"});
  Command unlink;
  unlink.mutable_unlink()->set_parent(kRoot);
  unlink.mutable_unlink()->set_name("f");
  ASSERT_TRUE(Status(unlink).ok());
  EXPECT_FALSE(sm_->GetChunk(chunk).ok());
  EXPECT_TRUE(sm_->ChunkKnown(chunk));
  ASSERT_TRUE(Status(AddReplica(chunk, "b")).ok());
  GarbageRecord garbage;
  ASSERT_TRUE(sm_->store()->GetProto(keys::Garbage(chunk), &garbage).ok());
  EXPECT_EQ(garbage.info().replicas_size(), 2);

  Command purge;
  purge.mutable_purge_garbage()->add_chunk_ids(chunk);
  purge.mutable_purge_garbage()->add_chunk_ids(999);  // unknown ids are skipped
  ASSERT_TRUE(Status(purge).ok());
  EXPECT_FALSE(sm_->ChunkKnown(chunk));
}

TEST_F(MaintenanceOpsTest, PurgeNeverTouchesALiveChunk) {
  uint64_t chunk = CreateFile("f", 100, {"a"});
  Command purge;
  purge.mutable_purge_garbage()->add_chunk_ids(chunk);
  ASSERT_TRUE(Status(purge).ok());
  EXPECT_TRUE(sm_->GetChunk(chunk).ok());
}

TEST_F(MaintenanceOpsTest, TrimRequiresTheCopiesItReliesOn) {
  uint64_t chunk = CreateFile("f", 100, {"a", "b", "c", "d"});
  EXPECT_TRUE(Status(Trim(chunk, "d", {"a", "b", "c"})).ok());
  EXPECT_EQ(ReplicasOf(chunk), (std::vector<std::string>{"a", "b", "c"}));
  // "d" is gone already: a repeat is a no-op.
  EXPECT_TRUE(Status(Trim(chunk, "d", {"a", "b", "c"})).ok());
  // A required copy is missing: nothing changes.
  EXPECT_TRUE(absl::IsFailedPrecondition(Status(Trim(chunk, "c", {"a", "x"}))));
  EXPECT_EQ(ReplicasOf(chunk).size(), 3u);
  // Never the last copy.
  ASSERT_TRUE(Status(Trim(chunk, "c", {})).ok());
  ASSERT_TRUE(Status(Trim(chunk, "b", {})).ok());
  EXPECT_EQ(ErrnoOf(Status(Trim(chunk, "a", {}))), EPERM);
  EXPECT_EQ(ReplicasOf(chunk), std::vector<std::string>{"a"});
}

TEST_F(MaintenanceOpsTest, DecommissionRecordsSurviveAndCanBeUndone) {
  Command c;
  c.mutable_set_decommission()->set_datanode_id("node1");
  c.mutable_set_decommission()->set_decommission(true);
  ASSERT_TRUE(Status(c).ok());
  ASSERT_TRUE(Status(c).ok());  // again: keeps the original start
  DecommissionRecord record;
  ASSERT_TRUE(sm_->store()->GetProto(keys::Decommission("node1"), &record).ok());
  EXPECT_EQ(record.since_ns(), 1000 * 1);
  c.mutable_set_decommission()->set_decommission(false);
  ASSERT_TRUE(Status(c).ok());
  EXPECT_FALSE(sm_->store()->GetProto(keys::Decommission("node1"), &record).ok());
}

TEST_F(MaintenanceOpsTest, MergeSwapIsACompareAndSet) {
  Attr a, b;
  uint64_t chunk_a = CreateFile("a", 100, {"x"}, &a);
  uint64_t chunk_b = CreateFile("b", 50, {"x"}, &b);
  uint64_t merged = Reserve(ReserveIdsCmd::KIND_CHUNK);
  auto swap = [&](uint64_t generation_a) {
    Command c;
    MergeSwapCmd* m = c.mutable_merge_swap();
    ChunkInfo* info = m->add_new_chunks();
    info->set_chunk_id(merged);
    info->set_length(150);
    info->add_replicas("y");
    MergeFileSwap* fa = m->add_files();
    fa->set_inode(a.inode());
    fa->set_generation(generation_a);
    fa->set_length(100);
    Extent* ea = fa->add_extents();
    ea->set_chunk_id(merged);
    ea->set_length(100);
    MergeFileSwap* fb = m->add_files();
    fb->set_inode(b.inode());
    fb->set_generation(b.generation());
    fb->set_length(50);
    Extent* eb = fb->add_extents();
    eb->set_chunk_id(merged);
    eb->set_chunk_offset(100);
    eb->set_length(50);
    return Status(c);
  };
  // File a changed since the merger read it: nothing happens.
  EXPECT_TRUE(absl::IsFailedPrecondition(swap(a.generation() + 1)));
  EXPECT_FALSE(sm_->GetChunk(merged).ok());
  EXPECT_TRUE(sm_->GetChunk(chunk_a).ok());
  // Unchanged: both files now point into the shared chunk; the old chunks are garbage.
  ASSERT_TRUE(swap(a.generation()).ok());
  auto merged_chunk = sm_->GetChunk(merged);
  ASSERT_TRUE(merged_chunk.ok());
  EXPECT_FALSE(sm_->GetChunk(chunk_a).ok());
  EXPECT_FALSE(sm_->GetChunk(chunk_b).ok());
  EXPECT_TRUE(sm_->ChunkKnown(chunk_a));  // as garbage
  auto extents = sm_->GetExtents(b.inode(), 0, 0);
  ASSERT_TRUE(extents.ok());
  ASSERT_EQ(extents->extents.size(), 1u);
  EXPECT_EQ(extents->extents[0].chunk_id(), merged);
  EXPECT_EQ(extents->extents[0].chunk_offset(), 100u);
  EXPECT_EQ(extents->attr.size(), 50u);
  EXPECT_EQ(extents->attr.mtime_ns(), b.mtime_ns());  // content unchanged
  EXPECT_GT(extents->attr.generation(), b.generation());
}

TEST_F(MaintenanceOpsTest, MergeSwapRefusesToChangeContentCoverage) {
  Attr a;
  CreateFile("a", 100, {"x"}, &a);
  uint64_t merged = Reserve(ReserveIdsCmd::KIND_CHUNK);
  Command c;
  MergeSwapCmd* m = c.mutable_merge_swap();
  ChunkInfo* info = m->add_new_chunks();
  info->set_chunk_id(merged);
  info->set_length(60);
  info->add_replicas("y");
  MergeFileSwap* f = m->add_files();
  f->set_inode(a.inode());
  f->set_generation(a.generation());
  f->set_length(100);
  Extent* e = f->add_extents();
  e->set_chunk_id(merged);
  e->set_length(60);  // would turn 40 bytes into a hole
  EXPECT_FALSE(Status(c).ok());
  EXPECT_FALSE(sm_->GetChunk(merged).ok());
}

}  // namespace
}  // namespace dfs
