// `cp -a` of a real directory tree into a dfs-fuse mount and back out, compared with
// `diff -r` and with every entry's type, mode, size, modification time and link target.
//
// The tree is $DFS_FUSE_COPY_SOURCE, by default /usr/include/linux (about 800 entries, a few
// seconds) so that CI stays fast; run with DFS_FUSE_COPY_SOURCE=/usr/include for the whole of
// it (about 10,000 entries).
#include <chrono>
#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/fuse/fuse_test_util.h"

namespace dfs::testing {
namespace {

std::string CopySource() {
  const char* env = std::getenv("DFS_FUSE_COPY_SOURCE");
  return env != nullptr && *env != '\0' ? env : "/usr/include/linux";
}

// One line per entry: relative path, type and mode, size (files only), mtime, link target.
std::string Listing(const std::string& root) {
  CommandResult listing = RunCommand(
      {FindProgram("sh"), "-c",
       absl::StrCat("cd '", root,
                    "' && find . -printf '%p %y %m %T@ %l\\n' -type f -printf '%p size %s\\n'"
                    " | LC_ALL=C sort")},
      120000);
  EXPECT_EQ(listing.exit_code, 0) << listing.err;
  return listing.out;
}

// The first lines where two listings differ, for a readable failure.
std::string FirstDifferences(const std::string& a, const std::string& b) {
  std::vector<std::string> la = absl::StrSplit(a, '\n');
  std::vector<std::string> lb = absl::StrSplit(b, '\n');
  std::string out;
  int shown = 0;
  for (size_t i = 0; i < std::max(la.size(), lb.size()) && shown < 10; ++i) {
    std::string x = i < la.size() ? la[i] : "<none>";
    std::string y = i < lb.size() ? lb[i] : "<none>";
    if (x == y) continue;
    absl::StrAppend(&out, "  copy:   ", x, "\n  source: ", y, "\n");
    ++shown;
  }
  return out;
}

class CopyTreeTest : public MountedClusterTest {
 protected:
  static void SetUpTestSuite() { StartCluster(); }
  static void TearDownTestSuite() { StopCluster(); }
};

TEST_F(CopyTreeTest, CopyInAndOutIsIdentical) {
  const std::string source = CopySource();
  ASSERT_EQ(::access(source.c_str(), R_OK), 0) << source;
  const std::string base = source.substr(source.rfind('/') + 1);
  const std::string into = M("copy");
  ASSERT_EQ(::mkdir(into.c_str(), 0755), 0);

  auto start = std::chrono::steady_clock::now();
  CommandResult cp = RunCommand({FindProgram("cp"), "-a", source, into + "/"}, 600000);
  ASSERT_EQ(cp.exit_code, 0) << cp.err << mount_->Log();
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cerr << "cp -a " << source << ": " << seconds << " s\n";

  const std::string copy = into + "/" + base;
  CommandResult diff =
      RunCommand({FindProgram("diff"), "-r", "--no-dereference", source, copy}, 600000);
  EXPECT_EQ(diff.exit_code, 0) << diff.out.substr(0, 4000) << diff.err;
  const std::string source_listing = Listing(source);
  std::string listing = Listing(copy);
  EXPECT_TRUE(listing == source_listing) << FirstDifferences(listing, source_listing);

  // And back out: reads through the mount, written to a local disk.
  const std::string out = cluster_->dir() + "/out";
  ASSERT_EQ(::mkdir(out.c_str(), 0755), 0);
  cp = RunCommand({FindProgram("cp"), "-a", copy, out + "/"}, 600000);
  ASSERT_EQ(cp.exit_code, 0) << cp.err;
  diff = RunCommand({FindProgram("diff"), "-r", "--no-dereference", source, out + "/" + base},
                    600000);
  EXPECT_EQ(diff.exit_code, 0) << diff.out.substr(0, 4000) << diff.err;
  listing = Listing(out + "/" + base);
  EXPECT_TRUE(listing == source_listing) << FirstDifferences(listing, source_listing);

  // Removing the tree through the mount empties the directory.
  CommandResult rm = RunCommand({FindProgram("rm"), "-rf", copy}, 600000);
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(ErrnoIf(::rmdir(into.c_str())), 0);
}

}  // namespace
}  // namespace dfs::testing
