// Txn: reads through the pending writes, and savepoints that roll them back.
#include "master/meta_store.h"

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"

namespace dfs {
namespace {

using Writes = std::map<std::string, std::optional<std::string>>;

class TxnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = MetaStore::Open(dir_.path() + "/meta");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    // Committed: a=1, b=2.
    Txn txn(store_.get());
    txn.Put("a", "1");
    txn.Put("b", "2");
    ASSERT_TRUE(txn.Commit().ok());
  }

  // The committed value of `key`; nullopt if absent.
  std::optional<std::string> Committed(const std::string& key) {
    absl::StatusOr<std::string> value = store_->Get(key);
    if (!value.ok()) return std::nullopt;
    return *std::move(value);
  }

  // Every key of `txn`'s view in [a, z) as "key=value" lines.
  static std::string View(Txn& txn) {
    std::string out;
    for (const Txn::Entry& entry : txn.Scan("a", "z")) out += entry.key + "=" + entry.value + "\n";
    return out;
  }

  TempDir dir_;
  std::unique_ptr<MetaStore> store_;
};

TEST_F(TxnTest, RollbackRestoresPendingValuesAndAbsences) {
  Txn txn(store_.get());
  txn.Put("a", "10");  // pending before the savepoint
  txn.Delete("b");
  const Writes before = txn.writes();
  const std::string view_before = View(txn);

  const size_t savepoint = txn.Savepoint();
  txn.Put("a", "11");     // a pending value replaced
  txn.Put("a", "12");     // ... twice
  txn.Put("b", "20");     // a pending delete replaced
  txn.Put("c", "30");     // a key with no pending write
  txn.Delete("c");
  txn.PutCounter("d", 7);
  EXPECT_EQ(txn.Get("a"), "12");
  EXPECT_EQ(txn.Get("b"), "20");
  EXPECT_EQ(txn.GetCounter("d"), 7u);

  txn.RollbackTo(savepoint);
  EXPECT_EQ(txn.writes(), before);
  EXPECT_EQ(View(txn), view_before);
  EXPECT_EQ(txn.Get("a"), "10");
  EXPECT_EQ(txn.Get("b"), std::nullopt);
  EXPECT_EQ(txn.Get("c"), std::nullopt);
  EXPECT_EQ(txn.GetCounter("d"), 0u);

  ASSERT_TRUE(txn.Commit().ok());
  EXPECT_EQ(Committed("a"), "10");
  EXPECT_EQ(Committed("b"), std::nullopt);
  EXPECT_EQ(Committed("c"), std::nullopt);
}

TEST_F(TxnTest, ReleasedWritesStayAndLaterRollbacksStopAtTheirSavepoint) {
  Txn txn(store_.get());
  size_t first = txn.Savepoint();
  txn.Put("c", "3");
  txn.Release(first);
  const std::string view_after_first = View(txn);

  size_t second = txn.Savepoint();
  txn.Delete("a");
  txn.Put("c", "33");
  txn.RollbackTo(second);
  EXPECT_EQ(View(txn), view_after_first);
  EXPECT_EQ(txn.Get("c"), "3");
  EXPECT_EQ(txn.Get("a"), "1");

  ASSERT_TRUE(txn.Commit().ok());
  EXPECT_EQ(Committed("c"), "3");
  EXPECT_EQ(Committed("a"), "1");
}

TEST_F(TxnTest, NestedSavepoints) {
  Txn txn(store_.get());
  const size_t outer = txn.Savepoint();
  txn.Put("a", "outer");
  const std::string view_outer = View(txn);

  const size_t inner = txn.Savepoint();
  txn.Put("a", "inner");
  txn.Put("c", "inner");
  txn.RollbackTo(inner);
  EXPECT_EQ(View(txn), view_outer);

  // An inner savepoint released keeps its writes, until the outer one is rolled back.
  const size_t kept = txn.Savepoint();
  txn.Put("b", "kept");
  txn.Release(kept);
  EXPECT_EQ(txn.Get("b"), "kept");
  txn.RollbackTo(outer);
  EXPECT_TRUE(txn.writes().empty());
  EXPECT_EQ(txn.Get("a"), "1");
  EXPECT_EQ(txn.Get("b"), "2");
  EXPECT_EQ(txn.Get("c"), std::nullopt);
}

}  // namespace
}  // namespace dfs
