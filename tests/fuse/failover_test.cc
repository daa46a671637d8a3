// A master failover during I/O through the mount: the application sees only latency. A writer
// streams a file into the mount of a 3-master cluster while the Raft leader is SIGKILLed; the
// write, the close and later metadata calls all succeed and the data reads back identical.
#include <signal.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "common/random.h"
#include "gtest/gtest.h"
#include "tests/testutil/files.h"
#include "tests/fuse/fuse_test_util.h"

namespace dfs::testing {
namespace {

TEST(FuseFailoverTest, LeaderKilledDuringWritesIsInvisibleToTheApplication) {
  ClusterOptions options;
  options.masters = 3;
  TestCluster cluster(options);
  absl::Status status = cluster.Start();
  ASSERT_TRUE(status.ok()) << status;
  FuseMount mount;
  status = mount.Mount(cluster.master_address());
  ASSERT_TRUE(status.ok()) << status;

  const std::string data = RandomBytes(96 << 20, 7);
  std::atomic<bool> started{false};
  std::string write_error;
  std::thread writer([&] {
    // Several files, each written and closed, so that creates and commits straddle the failover.
    for (int f = 0; f < 4 && write_error.empty(); ++f) {
      started = true;
      ::testing::AssertionResult r =
          WriteFile(mount.Path("f" + std::to_string(f)), data.substr(f * (24 << 20), 24 << 20));
      if (!r) write_error = r.message();
    }
  });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int leader = cluster.FindLeader();
  ASSERT_GE(leader, 0);
  cluster.StopMasterAt(leader, SIGKILL);
  writer.join();
  EXPECT_EQ(write_error, "") << mount.Log();
  // Metadata calls after the failover work too.
  EXPECT_EQ(::mkdir(mount.Path("after").c_str(), 0755), 0) << std::strerror(errno);
  EXPECT_EQ(::rename(mount.Path("f0").c_str(), mount.Path("after/f0").c_str()), 0);
  for (int f = 0; f < 4; ++f) {
    std::string name = f == 0 ? "after/f0" : "f" + std::to_string(f);
    EXPECT_TRUE(ReadFile(mount.Path(name)) == data.substr(f * (24 << 20), 24 << 20)) << name;
  }
  status = mount.Unmount();
  EXPECT_TRUE(status.ok()) << status;
}

}  // namespace
}  // namespace dfs::testing
