// Differential test of a dfs-fuse mount against a local directory: one seeded stream of file
// operations (differential.h) runs against both; every result and, every few operations, both
// trees must agree. A mismatch is shrunk to a short reproducer and printed with the seed.
//
//   DFS_DIFF_SEED=N   replay the one stream of seed N (default: 10 streams from a fresh seed,
//                     printed)
//   DFS_DIFF_OPS=N    operations per stream (default 500)
#include "tests/fault/differential.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/random.h"
#include "gtest/gtest.h"
#include "tests/testutil/cluster.h"
#include "tests/testutil/mount.h"
#include "tests/testutil/temp_dir.h"

namespace dfs::fault {
namespace {

uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* value = std::getenv(name);
  uint64_t number;
  return value != nullptr && absl::SimpleAtoi(value, &number) ? number : fallback;
}

// Fresh roots are new directories under `parent`, one per run.
FsSide SideUnder(std::string name, std::string parent, int* runs) {
  FsSide side;
  side.name = std::move(name);
  side.fresh_root = [parent, runs]() -> absl::StatusOr<std::string> {
    std::string root = absl::StrCat(parent, "/run-", (*runs)++);
    if (::mkdir(root.c_str(), 0755) != 0) {
      return absl::InternalError(absl::StrCat("mkdir ", root, ": ", strerror(errno)));
    }
    return root;
  };
  return side;
}

// Reproducers of bugs found before, replayed every run (ahead of the random streams).
std::vector<std::vector<FsOp>> Regressions() {
  auto op = [](FsOp::Kind kind, std::string path, int64_t offset = 0, int64_t length = 0) {
    FsOp o;
    o.kind = kind;
    o.path = std::move(path);
    o.offset = offset;
    o.length = length;
    o.seed = 843271;
    return o;
  };
  return {
      // A write that filled the buffer (1 MiB here) committed by itself, and reads through
      // the same descriptor kept using extents cached at open: zeros or nothing came back.
      {op(FsOp::kMkdir, "e"), op(FsOp::kCreate, "e/a"),
       op(FsOp::kUnlinkedWrite, "e/a", 2853, 1556877)},
  };
}

// Shrinks a stream's mismatch and says it all: the first difference, then a short reproducer.
std::string Report(uint64_t seed, const std::vector<FsOp>& ops, const Mismatch& mismatch,
                   const FsSide& local, const FsSide& dfs, absl::Time deadline) {
  std::vector<FsOp> prefix(ops.begin(), ops.begin() + std::min(mismatch.op_index + 1, ops.size()));
  auto fails = [&](const std::vector<FsOp>& candidate) {
    return RunBoth(candidate, local, dfs, /*check_every=*/1).has_value();
  };
  std::string report = absl::StrCat("dfs differs from a local directory (seed ", seed,
                                    "): ", mismatch.description, "\n");
  if (!fails(prefix)) {
    absl::StrAppend(&report,
                    "it did not happen again on a fresh directory (timing?); the "
                    "operations up to it:\n",
                    DescribeRun(prefix, local, dfs));
    return report;
  }
  std::vector<FsOp> shrunk = Shrink(prefix, fails, deadline);
  absl::StrAppend(&report, "reproducer (", shrunk.size(), " of ", prefix.size(), " operations",
                  absl::Now() >= deadline ? ", shrinking ran out of time" : "",
                  "; DFS_DIFF_SEED=", seed, " DFS_DIFF_OPS=", prefix.size(),
                  " replays the stream):\n", DescribeRun(shrunk, local, dfs));
  return report;
}

TEST(DifferentialTest, RandomOperationsMatchALocalDirectory) {
  const absl::Time start = absl::Now();
  // Several short streams rather than one long one: a mismatch shrinks fast.
  const char* replay = std::getenv("DFS_DIFF_SEED");
  const uint64_t base_seed = EnvNumber("DFS_DIFF_SEED", SeedFromEntropy() % 1000000000);
  const int streams = replay != nullptr ? 1 : 10;
  const int count = static_cast<int>(EnvNumber("DFS_DIFF_OPS", 500));
  std::cerr << "differential: seeds " << base_seed << ".." << base_seed + streams - 1 << ", "
            << count << " operations each (DFS_DIFF_SEED=N replays one, DFS_DIFF_OPS)\n";

  testing::ClusterOptions options;
  options.masters = 1;
  options.datanodes = 3;
  testing::TestCluster cluster(options);
  absl::Status status = cluster.Start();
  ASSERT_TRUE(status.ok()) << status;
  testing::FuseMount mount;
  // A small write buffer, so that big writes commit in the middle of a write call too.
  status = mount.Mount(cluster.master_address(), {"--chunk_size_bytes=1048576"});
  ASSERT_TRUE(status.ok()) << status;
  // Trees are read through a second client with no kernel caches: what one mount closed must
  // be what another sees (close-to-open), not only what the writer's own caches say.
  testing::FuseMount viewer;
  status = viewer.Mount(cluster.master_address(), {"--attr_timeout_s=0", "--entry_timeout_s=0"});
  ASSERT_TRUE(status.ok()) << status;

  TempDir local_parent;
  int local_runs = 0;
  int dfs_runs = 0;
  FsSide local = SideUnder("local", local_parent.path(), &local_runs);
  FsSide dfs = SideUnder("dfs", mount.path(), &dfs_runs);
  dfs.tree_root = [&](const std::string& root) {
    return viewer.path() + root.substr(mount.path().size());
  };

  for (const std::vector<FsOp>& ops : Regressions()) {
    std::optional<Mismatch> mismatch = RunBoth(ops, local, dfs, /*check_every=*/1);
    EXPECT_FALSE(mismatch.has_value()) << "a known bug is back: " << mismatch->description << "\n"
                                       << DescribeRun(ops, local, dfs);
  }

  std::map<std::string, int> results;
  for (int i = 0; i < streams; ++i) {
    const uint64_t seed = base_seed + i;
    std::vector<FsOp> ops = GenerateOps(seed, count);
    std::optional<Mismatch> mismatch = RunBoth(ops, local, dfs, /*check_every=*/25, &results);
    if (mismatch.has_value()) {
      // Leave time to shrink and unmount within the test's limit (240 s).
      absl::Time deadline = std::min(absl::Now() + absl::Seconds(120), start + absl::Seconds(200));
      ADD_FAILURE() << Report(seed, ops, *mismatch, local, dfs, deadline) << "dfs-fuse log:\n"
                    << mount.Log() << "viewer's dfs-fuse log:\n"
                    << viewer.Log();
      break;
    }
  }
  std::cerr << "differential: done in " << absl::FormatDuration(absl::Now() - start) << "\n";

  // The streams did what they are for: mostly successes, and the usual failures too.
  int ok = 0, total = 0;
  std::set<std::string> errors;
  for (const auto& [what, n] : results) {
    total += n;
    if (absl::EndsWith(what, " ok"))
      ok += n;
    else
      errors.insert(what.substr(what.find(' ') + 1));
  }
  std::cerr << "differential: " << ok << " of " << total
            << " operations succeeded; errors seen: " << absl::StrJoin(errors, " ") << "\n";
  if (!HasFailure() && count >= 200) {
    EXPECT_GT(ok, total / 3);
    for (const char* expected : {"ENOENT", "EEXIST", "ENOTDIR", "EISDIR", "ENOTEMPTY"}) {
      EXPECT_EQ(errors.count(expected), 1u) << expected << " never seen";
    }
  }
  status = mount.Unmount();
  EXPECT_TRUE(status.ok()) << status << "\n" << mount.Log();
  status = viewer.Unmount();
  EXPECT_TRUE(status.ok()) << status << "\n" << viewer.Log();
}

}  // namespace
}  // namespace dfs::fault
