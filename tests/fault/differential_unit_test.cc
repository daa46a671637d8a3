// The differential-testing machinery on its own, with two local directories: the operation
// stream, the runner and tree comparison (two local runs agree), and the shrinker (a bug
// injected into one side is found and cut down to a 1-minimal reproducer).
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fault/differential.h"
#include "tests/testutil/temp_dir.h"

namespace dfs::fault {
namespace {

using ::testing::HasSubstr;

// A side whose fresh roots are new directories under one temporary directory.
struct LocalSide {
  explicit LocalSide(std::string name) {
    side.name = std::move(name);
    side.fresh_root = [this]() -> absl::StatusOr<std::string> {
      last_root = absl::StrCat(dir.path(), "/run-", runs++);
      if (::mkdir(last_root.c_str(), 0755) != 0) return absl::InternalError("mkdir");
      return last_root;
    };
  }
  TempDir dir;
  int runs = 0;
  std::string last_root;
  FsSide side;
};

TEST(DifferentialUnitTest, StreamsAreAFunctionOfTheSeedAndCoverEveryKind) {
  std::vector<FsOp> a = GenerateOps(5, 2000);
  std::vector<FsOp> b = GenerateOps(5, 2000);
  std::vector<FsOp> c = GenerateOps(6, 2000);
  std::set<int> kinds;
  bool differs = false;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].ToString(), b[i].ToString());
    differs |= a[i].ToString() != c[i].ToString();
    kinds.insert(a[i].kind);
  }
  EXPECT_TRUE(differs);
  EXPECT_EQ(kinds.size(), 18u);
  FsOp write = a[0];
  write.length = 1000;
  EXPECT_EQ(OpBytes(write), OpBytes(write));
  EXPECT_EQ(OpBytes(write).size(), 1000u);
}

TEST(DifferentialUnitTest, TwoLocalDirectoriesAgree) {
  for (uint64_t seed : {1, 2, 3}) {
    LocalSide a("local-a");
    LocalSide b("local-b");
    std::optional<Mismatch> mismatch = RunBoth(GenerateOps(seed, 400), a.side, b.side, 20);
    EXPECT_FALSE(mismatch.has_value()) << "seed " << seed << ": " << mismatch->description;
    // The stream really builds a tree (else agreeing proves little).
    absl::StatusOr<Tree> tree = SnapshotTree(a.last_root);
    ASSERT_TRUE(tree.ok()) << tree.status();
    EXPECT_GE(tree->size(), 3u) << "seed " << seed;
  }
}

TEST(DifferentialUnitTest, CompareTreesNamesEveryDifference) {
  Tree a, b;
  a["f"] = TreeEntry{'f', 3, 0644, 1, "abc"};
  b["f"] = TreeEntry{'f', 3, 0600, 2, "abd"};
  a["d"] = TreeEntry{'d', 4096, 0755, 2, ""};
  b["d"] = TreeEntry{'d', 0, 0755, 2, ""};  // directory sizes do not count
  a["only"] = TreeEntry{'l', 1, 0777, 1, "x"};
  b["x"] = TreeEntry{'d', 0, 0755, 2, ""};
  std::vector<std::string> diffs = CompareTrees(a, b, "local", "dfs");
  EXPECT_THAT(diffs, ::testing::UnorderedElementsAre(
                         "f: mode 0644 (local) vs 0600 (dfs)", "f: nlink 1 (local) vs 2 (dfs)",
                         HasSubstr("f: content differs from byte 2"),
                         "only: only in local (type l)", "x: only in dfs (type d)"));
  EXPECT_TRUE(CompareTrees(a, a, "local", "dfs").empty());
}

TEST(DifferentialUnitTest, ShrinkFindsTheTwoOperationsThatMatter) {
  std::vector<FsOp> ops = GenerateOps(9, 100);
  for (size_t i = 0; i < ops.size(); ++i) ops[i].seed = i;  // a name for each
  int calls = 0;
  auto fails = [&](const std::vector<FsOp>& candidate) {
    ++calls;
    bool has17 = false, has63 = false;
    for (const FsOp& op : candidate) {
      has17 |= op.seed == 17;
      has63 |= op.seed == 63;
    }
    return has17 && has63;
  };
  std::vector<FsOp> shrunk = Shrink(ops, fails, absl::InfiniteFuture());
  ASSERT_EQ(shrunk.size(), 2u);
  EXPECT_EQ(shrunk[0].seed, 17u);
  EXPECT_EQ(shrunk[1].seed, 63u);
  EXPECT_LT(calls, 100);
  // Out of time: what it has so far, still failing.
  std::vector<FsOp> early = Shrink(ops, fails, absl::InfinitePast());
  EXPECT_EQ(early.size(), ops.size());
}

TEST(DifferentialUnitTest, AnInjectedBugIsFoundAndShrunkToAMinimalReproducer) {
  LocalSide good("local");
  LocalSide bad("buggy");
  // The bug: growing a file with truncate leaves an 'x' in its last byte instead of a zero.
  bad.side.apply = [](const std::string& root, const FsOp& op) {
    struct stat before;
    bool grows = op.kind == FsOp::kTruncate &&
                 ::stat((root + "/" + op.path).c_str(), &before) == 0 && S_ISREG(before.st_mode) &&
                 before.st_size < op.offset;
    std::string result = ApplyOp(root, op);
    if (grows && result == "ok") {
      FsOp poke;
      poke.kind = FsOp::kWrite;
      poke.path = op.path;
      poke.offset = op.offset - 1;
      poke.length = 1;
      ApplyOp(root, poke);
    }
    return result;
  };
  // Some stream meets the bug (it needs a truncate that grows an existing file).
  std::vector<FsOp> ops;
  std::optional<Mismatch> mismatch;
  for (uint64_t seed = 1; seed <= 20 && !mismatch.has_value(); ++seed) {
    ops = GenerateOps(seed, 400);
    mismatch = RunBoth(ops, good.side, bad.side, 10);
  }
  ASSERT_TRUE(mismatch.has_value());
  std::vector<FsOp> prefix(ops.begin(), ops.begin() + std::min(mismatch->op_index + 1, ops.size()));
  auto fails = [&](const std::vector<FsOp>& candidate) {
    return RunBoth(candidate, good.side, bad.side, 1).has_value();
  };
  ASSERT_TRUE(fails(prefix));
  std::vector<FsOp> shrunk = Shrink(prefix, fails, absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(fails(shrunk));
  EXPECT_LE(shrunk.size(), 4u);
  bool has_truncate = false;
  for (const FsOp& op : shrunk) has_truncate |= op.kind == FsOp::kTruncate;
  EXPECT_TRUE(has_truncate);
  // 1-minimal: every operation left is needed.
  for (size_t i = 0; i < shrunk.size(); ++i) {
    std::vector<FsOp> without = shrunk;
    without.erase(without.begin() + i);
    EXPECT_FALSE(fails(without)) << "operation " << i << " is not needed";
  }
  std::string description = DescribeRun(shrunk, good.side, bad.side);
  EXPECT_THAT(description, HasSubstr("truncate"));
  EXPECT_THAT(description, ::testing::AnyOf(HasSubstr("<-- differs"), HasSubstr("trees differ")));
}

}  // namespace
}  // namespace dfs::fault
