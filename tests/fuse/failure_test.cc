// dfs-fuse as a program: its usage errors, and what a mount does when the cluster goes away —
// system calls fail with ETIMEDOUT or EIO after the configured deadline instead of hanging,
// the mount works again once the cluster is back, and `fusermount3 -u` unmounts cleanly while
// the cluster is unreachable.
#include <signal.h>
#include <sys/stat.h>

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/fuse/fuse_test_util.h"

namespace dfs::testing {
namespace {

std::string FuseBinary() { return BinDir() + "/dfs-fuse"; }

TEST(FuseBinaryTest, HelpDocumentsTheFlags) {
  CommandResult r = RunCommand({FuseBinary(), "--help"}, 10000);
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--masters", "--timeout_ms", "--log_file", "-o OPT", "-f,"}) {
    EXPECT_TRUE(absl::StrContains(r.out, flag)) << flag << "\n" << r.out;
  }
}

TEST(FuseBinaryTest, UsageErrorsExitWithTwo) {
  TempDir dir;
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--bogus", dir.path()},
           {},
           {"--timeout_ms=-5", dir.path()},
           {"--masters=127.0.0.1:1", "-f", "-o", "no_such_fuse_option", dir.path()},
           {"--masters=not-an-address", "-f", dir.path()},
       }) {
    std::vector<std::string> argv = {FuseBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult r = RunCommand(argv, 10000);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(args) << ": " << r.err;
    // (libfuse names a bad -o option itself first.)
    EXPECT_TRUE(absl::StrContains(r.err, "dfs-fuse: ")) << r.err;
    EXPECT_FALSE(IsFuseMounted(dir.path()));
  }
  // No cluster configured anywhere.
  CommandResult r = RunCommand(
      {FindProgram("env"), "-i", "HOME=" + dir.path(), FuseBinary(), "-f", dir.path()}, 10000);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "no cluster configured")) << r.err;
}

TEST(FuseBinaryTest, RunsInTheBackgroundWithALogFile) {
  TestCluster cluster;
  ASSERT_TRUE(cluster.Start().ok());
  TempDir dir;
  const std::string mnt = dir.path() + "/mnt";
  const std::string log = dir.path() + "/fuse.log";
  ASSERT_EQ(::mkdir(mnt.c_str(), 0755), 0);
  CommandResult r = RunCommand(
      {FuseBinary(), "--masters=" + cluster.master_address(), "--log_file=" + log, mnt}, 20000);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The parent returns once the mount is up.
  EXPECT_TRUE(IsFuseMounted(mnt));
  EXPECT_TRUE(WriteFile(mnt + "/f", "background"));
  EXPECT_EQ(ReadFile(mnt + "/f"), "background");
  CommandResult unmount = RunCommand({FindProgram("fusermount3"), "-u", mnt}, 20000);
  EXPECT_EQ(unmount.exit_code, 0) << unmount.err;
  if (IsFuseMounted(mnt)) RunCommand({FindProgram("fusermount3"), "-u", "-z", mnt}, 20000);
  EXPECT_TRUE(absl::StrContains(ReadFile(log), "serving " + mnt)) << ReadFile(log);
}

class UnreachableClusterTest : public MountedClusterTest {
 protected:
  static constexpr int kTimeoutMs = 3000;
  static void SetUpTestSuite() {
    StartCluster({absl::StrCat("--timeout_ms=", kTimeoutMs), "--attr_timeout_s=0",
                  "--entry_timeout_s=0"});
  }
  static void TearDownTestSuite() { StopCluster(); }

  // Stops the master with SIGSTOP and waits until it no longer answers (the signal is
  // asynchronous: a request arriving at once could still be served).
  static void FreezeMaster() {
    cluster_->StopMaster(SIGSTOP);
    for (int i = 0; i < 100; ++i) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
      GetAttrRequest request;
      request.set_inode(1);
      AttrResponse response;
      if (cluster_->master()->GetAttr(&context, request, &response).error_code() ==
          grpc::StatusCode::DEADLINE_EXCEEDED) {
        return;
      }
    }
    ADD_FAILURE() << "the master still answers after SIGSTOP";
  }

  // Runs `call` and checks that it fails with ETIMEDOUT or EIO within about the deadline.
  template <typename Call>
  void ExpectFailsInTime(const char* what, Call call) {
    auto start = std::chrono::steady_clock::now();
    int err = call();
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_TRUE(err == ETIMEDOUT || err == EIO) << what << ": " << strerror(err);
    EXPECT_LT(seconds, 4.0 * kTimeoutMs / 1000 + 2) << what;
  }
};

TEST_F(UnreachableClusterTest, FailsAfterTheDeadlineRecoversAndUnmounts) {
  ASSERT_TRUE(WriteFile(M("existing"), "before"));
  int fd = ::open(M("pending").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "buffered", 8), 8);

  // A master that hangs: requests time out.
  FreezeMaster();
  struct stat st;
  ExpectFailsInTime("stat", [&] { return ErrnoIf(::stat(M("new").c_str(), &st)); });
  ExpectFailsInTime("open", [&] { return ErrnoIf(::open(M("existing").c_str(), O_RDONLY)); });
  ExpectFailsInTime("mkdir", [&] { return ErrnoIf(::mkdir(M("d").c_str(), 0755)); });
  // The buffered write cannot be committed: close says so.
  ExpectFailsInTime("close", [&] { return ErrnoIf(::close(fd)); });
  cluster_->StopMaster(SIGCONT);
  EXPECT_EQ(ReadFile(M("existing")), "before");
  ASSERT_TRUE(WriteFile(M("after"), "works again"));
  EXPECT_EQ(ReadFile(M("after")), "works again");

  // A master that is gone: connections are refused until the deadline.
  cluster_->StopMaster(SIGKILL);
  ExpectFailsInTime("stat", [&] { return ErrnoIf(::stat(M("new").c_str(), &st)); });
  ExpectFailsInTime("create", [&] {
    int created = ::open(M("new").c_str(), O_WRONLY | O_CREAT, 0644);
    return created >= 0 ? (::close(created), 0) : errno;
  });
  ASSERT_TRUE(cluster_->StartMaster().ok());
  ASSERT_TRUE(cluster_->WaitForLiveDatanodes(4).ok());
  EXPECT_EQ(ReadFile(M("after")), "works again");

  // Unmounting while the cluster is unreachable is clean and quick.
  FreezeMaster();
  ExpectFailsInTime("stat", [&] { return ErrnoIf(::stat(M("new").c_str(), &st)); });
  auto start = std::chrono::steady_clock::now();
  absl::Status unmounted = mount_->Unmount();
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(unmounted.ok()) << unmounted;
  EXPECT_LT(seconds, 5.0);
  EXPECT_FALSE(mount_->mounted());
  cluster_->StopMaster(SIGCONT);
}

}  // namespace
}  // namespace dfs::testing
