// dfs-lossyfs (tests/fault/lossyfs.cc) keeps exactly what a power cut keeps: file data after
// fsync(file), names after fsync(dir) (strict) or after any fsync (journal). The crash tests
// trust it, so its rules are pinned down here through real system calls on a real mount.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "tests/fault/lossyfs_mount.h"
#include "tests/testutil/temp_dir.h"

namespace dfs::fault {
namespace {

class LossyFsTest : public ::testing::TestWithParam<LossyNames> {
 protected:
  void SetUp() override {
    ASSERT_EQ(::access("/dev/fuse", R_OK | W_OK), 0) << "dfs-lossyfs needs /dev/fuse (and root)";
    absl::Status s = mount_.Mount(dir_.path() + "/backing", dir_.path() + "/mnt", GetParam());
    ASSERT_TRUE(s.ok()) << s;
  }
  void TearDown() override {
    absl::Status s = mount_.Unmount();
    EXPECT_TRUE(s.ok()) << s << "\n" << mount_.Log();
  }

  std::string P(const std::string& name) const { return mount_.path() + "/" + name; }
  bool strict() const { return GetParam() == LossyNames::kStrict; }

  // Writes `data` at the end of `name` (created if missing); fsyncs the file if `sync`.
  void Append(const std::string& name, const std::string& data, bool sync) {
    int fd = ::open(P(name).c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ASSERT_GE(fd, 0) << name << ": " << std::strerror(errno);
    ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    if (sync) {
      ASSERT_EQ(::fsync(fd), 0);
    }
    ASSERT_EQ(::close(fd), 0);
  }
  void SyncDir(const std::string& name) {
    int fd = ::open(name.empty() ? mount_.path().c_str() : P(name).c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(fd, 0) << name;
    ASSERT_EQ(::fsync(fd), 0) << name;
    ::close(fd);
  }
  // The content of `name`, or "<missing>".
  std::string Read(const std::string& name) {
    int fd = ::open(P(name).c_str(), O_RDONLY);
    if (fd < 0) return "<missing>";
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
    ::close(fd);
    return out;
  }
  void Crash() {
    absl::StatusOr<std::string> stats = mount_.Crash();
    ASSERT_TRUE(stats.ok()) << stats.status();
  }

  TempDir dir_;
  LossyMount mount_;
};

TEST_P(LossyFsTest, KeepsDataUpToTheLastFsyncOnly) {
  Append("f", "durable", /*sync=*/true);
  Append("f", "+lost", /*sync=*/false);
  SyncDir("");
  ASSERT_EQ(Read("f"), "durable+lost");  // until the crash, everything reads back
  Crash();
  EXPECT_EQ(Read("f"), "durable");
  absl::StatusOr<std::string> stats = mount_.Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(LossyStat(*stats, "crashes"), 1);
  EXPECT_EQ(LossyStat(*stats, "dropped_bytes"), 5);
}

TEST_P(LossyFsTest, NamesNeedTheirDirectorySynced) {
  Append("synced-name", "a", true);
  SyncDir("");
  Append("unsynced-name", "b", true);  // data synced, name not (strict) or by the fsync (journal)
  ASSERT_EQ(::mkdir(P("dir").c_str(), 0755), 0);
  Append("dir/inner", "c", true);
  SyncDir("dir");  // dir's entries are durable, dir itself only in journal mode
  Crash();
  EXPECT_EQ(Read("synced-name"), "a");
  EXPECT_EQ(Read("unsynced-name"), strict() ? "<missing>" : "b");
  EXPECT_EQ(Read("dir/inner"), strict() ? "<missing>" : "c");
}

TEST_P(LossyFsTest, RenamesAndUnlinksRevertUntilSynced) {
  Append("old", "x", true);
  Append("victim", "v", true);
  SyncDir("");
  ASSERT_EQ(::rename(P("old").c_str(), P("new").c_str()), 0);
  ASSERT_EQ(::unlink(P("victim").c_str()), 0);
  Append("other", "o", true);  // in journal mode this fsync commits the rename and the unlink
  Crash();
  EXPECT_EQ(Read("old"), strict() ? "x" : "<missing>");
  EXPECT_EQ(Read("new"), strict() ? "<missing>" : "x");
  EXPECT_EQ(Read("victim"), strict() ? "v" : "<missing>");
}

TEST_P(LossyFsTest, SyncedRenameOverwritesAtomically) {
  Append("current", "old version", true);
  SyncDir("");
  Append("current.tmp", "new version", true);
  ASSERT_EQ(::rename(P("current.tmp").c_str(), P("current").c_str()), 0);
  SyncDir("");
  Crash();
  EXPECT_EQ(Read("current"), "new version");
  EXPECT_EQ(Read("current.tmp"), "<missing>");
}

TEST_P(LossyFsTest, ShrinkThenGrowReadsZerosAfterACrash) {
  Append("f", std::string(100, 'a'), true);
  SyncDir("");
  ASSERT_EQ(::truncate(P("f").c_str(), 10), 0);
  int fd = ::open(P("f").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "zz", 2, 50), 2);
  ASSERT_EQ(::fsync(fd), 0);
  ::close(fd);
  Crash();
  EXPECT_EQ(Read("f"), std::string(10, 'a') + std::string(40, '\0') + "zz");
}

TEST_P(LossyFsTest, HardLinksShareDurableContent) {
  Append("a", "shared", true);
  ASSERT_EQ(::link(P("a").c_str(), P("b").c_str()), 0);
  SyncDir("");
  Append("a", "+more", true);
  Crash();
  EXPECT_EQ(Read("a"), "shared+more");
  EXPECT_EQ(Read("b"), "shared+more");
  struct stat st;
  ASSERT_EQ(::stat(P("b").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);
}

TEST_P(LossyFsTest, HandlesFromBeforeACrashFail) {
  Append("f", "data", true);
  SyncDir("");
  int fd = ::open(P("f").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  Crash();
  EXPECT_EQ(::write(fd, "x", 1), -1);
  EXPECT_EQ(errno, EIO);
  ::close(fd);
  EXPECT_EQ(Read("f"), "data");
}

INSTANTIATE_TEST_SUITE_P(Names, LossyFsTest,
                         ::testing::Values(LossyNames::kStrict, LossyNames::kJournal),
                         [](const auto& info) {
                           return info.param == LossyNames::kStrict ? "Strict" : "Journal";
                         });

}  // namespace
}  // namespace dfs::fault
