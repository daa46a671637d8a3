#include "master/command_log.h"

#include <thread>
#include <vector>

#include "common/keycoding.h"
#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"

namespace dfs {
namespace {

Command MkdirCommand(uint64_t inode, const std::string& name) {
  Command c;
  c.set_timestamp_ns(1);
  c.mutable_mkdir()->set_parent(1);
  c.mutable_mkdir()->set_name(name);
  c.mutable_mkdir()->set_inode(inode);
  return c;
}

TEST(LocalLog, ConcurrentProposalsAllApplyAndSurviveRestart) {
  TempDir dir;
  {
    auto sm = StateMachine::Open(dir.path() + "/meta");
    ASSERT_TRUE(sm.ok());
    auto log = LocalLog::Open(dir.path() + "/log", sm->get());
    ASSERT_TRUE(log.ok());
    Command reserve;
    reserve.mutable_reserve_ids()->set_kind(ReserveIdsCmd::KIND_INODE);
    reserve.mutable_reserve_ids()->set_count(100);
    auto first = (*log)->Propose(reserve);
    ASSERT_TRUE(first.ok());
    uint64_t base = first->first_id();
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 10; ++i) {
          int n = t * 10 + i;
          auto r = (*log)->Propose(MkdirCommand(base + n, "d" + std::to_string(n)));
          EXPECT_TRUE(r.ok() && r->code() == 0);
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ((*sm)->applied_index(), 81u);
  }
  // Reopen: the store and the log agree; everything is there.
  auto sm = StateMachine::Open(dir.path() + "/meta");
  ASSERT_TRUE(sm.ok());
  auto log = LocalLog::Open(dir.path() + "/log", sm->get());
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*sm)->applied_index(), 81u);
  for (int n = 0; n < 80; ++n) {
    EXPECT_TRUE((*sm)->LookupPath("/d" + std::to_string(n)).ok()) << n;
  }
}

TEST(LocalLog, ReplaysEntriesLoggedButNotApplied) {
  TempDir dir;
  // Write log entries directly, as if the process died after the log sync and before apply.
  {
    leveldb::DB* raw = nullptr;
    leveldb::Options options;
    options.create_if_missing = true;
    ASSERT_TRUE(leveldb::DB::Open(options, dir.path() + "/log", &raw).ok());
    std::unique_ptr<leveldb::DB> db(raw);
    Command reserve;
    reserve.mutable_reserve_ids()->set_kind(ReserveIdsCmd::KIND_INODE);
    reserve.mutable_reserve_ids()->set_count(10);
    std::string k1 = "L", k2 = "L";
    PutFixed64BE(&k1, 1);
    PutFixed64BE(&k2, 2);
    ASSERT_TRUE(db->Put(leveldb::WriteOptions(), k1, reserve.SerializeAsString()).ok());
    ASSERT_TRUE(db->Put(leveldb::WriteOptions(), k2, MkdirCommand(2, "late").SerializeAsString()).ok());
  }
  auto sm = StateMachine::Open(dir.path() + "/meta");
  auto log = LocalLog::Open(dir.path() + "/log", sm->get());
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*sm)->applied_index(), 2u);
  EXPECT_TRUE((*sm)->LookupPath("/late").ok());
}

}  // namespace
}  // namespace dfs
