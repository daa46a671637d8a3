// POSIX permissions against real processes: an unprivileged user (uid/gid 65534, by setpriv)
// runs the `dfs` CLI and uses a dfs-fuse mount. It cannot create in a root-owned 0755 directory
// (EACCES, nothing created), can in a sticky 01777 one, where it cannot remove another user's
// file but can remove its own; a chmod by a non-owner is EPERM. With --root_squash a root CLI
// caller with the client key acts as nobody, one with the admin key stays root.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/grpc_status.h"
#include "common/rpc.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/master.grpc.pb.h"
#include "tests/testutil/cluster.h"
#include "tests/testutil/files.h"
#include "tests/testutil/mount.h"
#include "tests/testutil/temp_dir.h"

namespace dfs::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint32_t kNobody = 65534;
constexpr uint32_t kOtherUser = 65533;

// The in-process stub (a node credential, no caller: unchecked), for setting the stage.
absl::StatusOr<Attr> Stat(TestCluster& cluster, const std::string& path) {
  grpc::ClientContext context;
  SetTimeout(&context, 10000);
  LookupPathRequest request;
  request.set_path(path);
  AttrResponse response;
  grpc::Status status = cluster.master()->LookupPath(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.attr();
}

// SetAttr of `path` as `caller` (none: unchecked).
absl::StatusOr<Attr> SetAttr(TestCluster& cluster, const std::string& path,
                             SetAttrRequest request, std::optional<Caller> caller = {}) {
  absl::StatusOr<Attr> attr = Stat(cluster, path);
  if (!attr.ok()) return attr.status();
  request.set_inode(attr->inode());
  if (caller) *request.mutable_caller() = *caller;
  grpc::ClientContext context;
  SetTimeout(&context, 10000);
  AttrResponse response;
  grpc::Status status = cluster.master()->SetAttr(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.attr();
}

SetAttrRequest Chmod(uint32_t mode) {
  SetAttrRequest request;
  request.set_mode(mode);
  return request;
}

SetAttrRequest Chown(uint32_t uid, uint32_t gid) {
  SetAttrRequest request;
  request.set_uid(uid);
  request.set_gid(gid);
  return request;
}

class PermissionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (FindProgram("setpriv").empty()) GTEST_SKIP() << "setpriv (util-linux) is not installed";
    ASSERT_TRUE(cluster_.Start().ok());
    // A copy of the client key that nobody can read, in a directory it can reach.
    ASSERT_EQ(::chmod(user_dir_.path().c_str(), 0755), 0);
    nobody_key_ = user_dir_.path() + "/client.key";
    std::filesystem::copy_file(cluster_.client_key_file(), nobody_key_);
    ASSERT_EQ(::chown(nobody_key_.c_str(), kNobody, kNobody), 0);
    ASSERT_EQ(::chmod(nobody_key_.c_str(), 0600), 0);
    content_ = user_dir_.path() + "/content";
    std::ofstream(content_) << "some bytes\n";

    ASSERT_EQ(cluster_.Dfs({"mkdir", "/shared", "/tmp1"}).exit_code, 0);
    ASSERT_TRUE(SetAttr(cluster_, "/shared", Chmod(0755)).ok());
    ASSERT_TRUE(SetAttr(cluster_, "/tmp1", Chmod(01777)).ok());
    // A file of another user in the sticky directory: made by root, then given away.
    ASSERT_EQ(cluster_.Dfs({"put", "-", "/tmp1/others"}, 60000, content_).exit_code, 0);
    ASSERT_TRUE(SetAttr(cluster_, "/tmp1/others", Chown(kOtherUser, kOtherUser)).ok());
  }

  // The command line run as uid/gid 65534 without supplementary groups, with none of root's
  // configuration (the cluster's client.conf names the admin key, which nobody cannot read).
  std::vector<std::string> AsNobody(std::vector<std::string> argv) {
    std::vector<std::string> full = {"/usr/bin/env", "-u", "DFS_CONFIG", "HOME=/nonexistent",
                                     FindProgram("setpriv"), "--reuid=65534", "--regid=65534",
                                     "--clear-groups", "--"};
    full.insert(full.end(), argv.begin(), argv.end());
    return full;
  }

  // `dfs ARGS` as nobody, with the client key.
  CommandResult NobodyDfs(const std::vector<std::string>& args, const std::string& stdin_path = "") {
    std::vector<std::string> argv = {BinDir() + "/dfs", "--masters=" + cluster_.master_address(),
                                     "--secret_file=" + nobody_key_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(AsNobody(argv), 60000, stdin_path);
  }

  TestCluster cluster_;
  TempDir user_dir_;
  std::string nobody_key_;
  std::string content_;
};

TEST_F(PermissionsTest, CliIsChecked) {
  // No write permission on /shared: refused, nothing created.
  CommandResult refused = NobodyDfs({"put", "-", "/shared/x"}, content_);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.err, HasSubstr("Permission denied")) << refused.err;
  EXPECT_TRUE(absl::IsNotFound(Stat(cluster_, "/shared/x").status()));
  CommandResult mkdir = NobodyDfs({"mkdir", "/shared/d"});
  EXPECT_NE(mkdir.exit_code, 0);
  EXPECT_THAT(mkdir.err, HasSubstr("Permission denied")) << mkdir.err;
  EXPECT_TRUE(absl::IsNotFound(Stat(cluster_, "/shared/d").status()));

  // The sticky, world-writable /tmp1: nobody creates, and owns what it created.
  CommandResult put = NobodyDfs({"put", "-", "/tmp1/mine"}, content_);
  ASSERT_EQ(put.exit_code, 0) << put.err;
  absl::StatusOr<Attr> mine = Stat(cluster_, "/tmp1/mine");
  ASSERT_TRUE(mine.ok()) << mine.status();
  EXPECT_EQ(mine->uid(), kNobody);
  EXPECT_EQ(mine->gid(), kNobody);

  // Someone else's file in a sticky directory stays; its own goes.
  CommandResult rm_others = NobodyDfs({"rm", "--skip-trash", "/tmp1/others"});
  EXPECT_NE(rm_others.exit_code, 0);
  EXPECT_THAT(rm_others.err, HasSubstr("Operation not permitted")) << rm_others.err;
  EXPECT_TRUE(Stat(cluster_, "/tmp1/others").ok());
  CommandResult mv_others = NobodyDfs({"mv", "/tmp1/others", "/tmp1/taken"});
  EXPECT_NE(mv_others.exit_code, 0);
  EXPECT_TRUE(Stat(cluster_, "/tmp1/others").ok());
  // Its own goes into a trash checkpoint of its own, beside root's, which it cannot see.
  ASSERT_EQ(cluster_.Dfs({"put", "-", "/tmp1/roots"}, 60000, content_).exit_code, 0);
  ASSERT_EQ(cluster_.Dfs({"rm", "/tmp1/roots"}).exit_code, 0);
  CommandResult rm_mine = NobodyDfs({"rm", "/tmp1/mine"});
  EXPECT_EQ(rm_mine.exit_code, 0) << rm_mine.err;
  EXPECT_TRUE(absl::IsNotFound(Stat(cluster_, "/tmp1/mine").status()));
  CommandResult trash = NobodyDfs({"trash", "ls"});
  EXPECT_EQ(trash.exit_code, 0) << trash.err;
  EXPECT_THAT(trash.out, HasSubstr("-65534  /tmp1/mine")) << trash.out;
  EXPECT_THAT(trash.out, Not(HasSubstr("/tmp1/roots"))) << trash.out;
  CommandResult restore = NobodyDfs({"trash", "restore", "/tmp1/mine"});
  EXPECT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_TRUE(Stat(cluster_, "/tmp1/mine").ok());
  EXPECT_EQ(NobodyDfs({"rm", "/tmp1/mine"}).exit_code, 0);
  EXPECT_EQ(NobodyDfs({"trash", "purge"}).exit_code, 0);
  EXPECT_THAT(NobodyDfs({"trash", "ls"}).out, Not(HasSubstr("/tmp1/mine")));
  EXPECT_THAT(cluster_.Dfs({"trash", "ls"}).out, HasSubstr("/tmp1/roots"));

  // chmod by a non-owner: EPERM; by the owner: fine.
  Caller nobody;
  nobody.set_uid(kNobody);
  nobody.set_gid(kNobody);
  absl::StatusOr<Attr> chmod = SetAttr(cluster_, "/tmp1/others", Chmod(0666), nobody);
  EXPECT_EQ(ErrnoOf(chmod.status()), EPERM) << chmod.status();
  EXPECT_EQ(Stat(cluster_, "/tmp1/others")->mode(), 0644u);
  Caller owner = nobody;
  owner.set_uid(kOtherUser);
  EXPECT_TRUE(SetAttr(cluster_, "/tmp1/others", Chmod(0600), owner).ok());
}

TEST_F(PermissionsTest, RootSquash) {
  cluster_.StopMasterAt(0);
  ASSERT_TRUE(cluster_.StartMasterAt(0, {"--root_squash"}).ok());
  ASSERT_TRUE(cluster_.WaitForLeader().ok());
  // Root with the client key acts as nobody: /shared (root's, 0755) is closed to it, and what
  // it creates in /tmp1 belongs to nobody.
  CommandResult squashed = cluster_.Dfs({"put", "-", "/shared/by-root"}, 60000, content_);
  EXPECT_NE(squashed.exit_code, 0);
  EXPECT_THAT(squashed.err, HasSubstr("Permission denied")) << squashed.err;
  EXPECT_TRUE(absl::IsNotFound(Stat(cluster_, "/shared/by-root").status()));
  ASSERT_EQ(cluster_.Dfs({"put", "-", "/tmp1/by-root"}, 60000, content_).exit_code, 0);
  EXPECT_EQ(Stat(cluster_, "/tmp1/by-root")->uid(), kNobody);
  // The admin key is not squashed.
  CommandResult admin = cluster_.Dfs(
      {"--secret_file=" + cluster_.admin_key_file(), "put", "-", "/shared/by-admin"}, 60000,
      content_);
  EXPECT_EQ(admin.exit_code, 0) << admin.err;
  EXPECT_EQ(Stat(cluster_, "/shared/by-admin")->uid(), 0u);

  // Through FUSE: root's kernel allows what the master, squashing root, refuses. The mount,
  // which answers some changes before the master applies them (fuse/write_behind.h), must check
  // them as the master will and refuse them at once.
  if (!std::filesystem::exists("/dev/fuse")) return;
  FuseMount mount;
  ASSERT_TRUE(
      mount.Mount(cluster_.master_address(), {"--secret_file=" + cluster_.client_key_file()})
          .ok())
      << mount.Log();
  struct stat st;
  ASSERT_EQ(::stat(mount.Path("shared/by-admin").c_str(), &st), 0) << mount.Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the metadata cache is usable
  EXPECT_EQ(::unlink(mount.Path("shared/by-admin").c_str()) == 0 ? 0 : errno, EACCES);
  EXPECT_EQ(::mkdir(mount.Path("shared/d").c_str(), 0755) == 0 ? 0 : errno, EACCES);
  EXPECT_EQ(SyncDir(mount.Path("shared")), 0);  // nothing failed behind
  EXPECT_TRUE(Stat(cluster_, "/shared/by-admin").ok());
  EXPECT_TRUE(absl::IsNotFound(Stat(cluster_, "/shared/d").status()));
  EXPECT_TRUE(mount.Unmount().ok()) << mount.Log();
}

// The same through FUSE: with the kernel's checks (default_permissions, the default) and with
// only the master's (no_default_permissions), the results are the same.
TEST_F(PermissionsTest, FuseIsChecked) {
  if (!std::filesystem::exists("/dev/fuse")) GTEST_SKIP() << "no /dev/fuse";
  for (const char* checks : {"", "no_default_permissions"}) {
    SCOPED_TRACE(checks[0] == '\0' ? "default_permissions" : checks);
    FuseMount mount;
    std::vector<std::string> flags;
    if (checks[0] != '\0') flags = {"-o", checks};
    ASSERT_TRUE(mount.Mount(cluster_.master_address(), flags).ok()) << mount.Log();
    // The mount point's directory is root's 0700 temporary directory.
    ASSERT_EQ(::chmod(std::filesystem::path(mount.path()).parent_path().c_str(), 0755), 0);
    auto as_nobody = [&](std::vector<std::string> argv) {
      return RunCommand(AsNobody(std::move(argv)), 60000);
    };
    CommandResult touch_shared = as_nobody({"/usr/bin/touch", mount.Path("shared/x")});
    EXPECT_NE(touch_shared.exit_code, 0);
    EXPECT_THAT(touch_shared.err, HasSubstr("Permission denied")) << touch_shared.err;
    EXPECT_TRUE(absl::IsNotFound(Stat(cluster_, "/shared/x").status()));

    CommandResult touch_tmp = as_nobody({"/usr/bin/touch", mount.Path("tmp1/fuse-mine")});
    EXPECT_EQ(touch_tmp.exit_code, 0) << touch_tmp.err << mount.Log();
    absl::StatusOr<Attr> mine = Stat(cluster_, "/tmp1/fuse-mine");
    ASSERT_TRUE(mine.ok()) << mine.status();
    EXPECT_EQ(mine->uid(), kNobody);

    CommandResult rm_others = as_nobody({"/bin/rm", "-f", mount.Path("tmp1/others")});
    EXPECT_NE(rm_others.exit_code, 0);
    EXPECT_THAT(rm_others.err, HasSubstr("Operation not permitted")) << rm_others.err;
    EXPECT_TRUE(Stat(cluster_, "/tmp1/others").ok());
    CommandResult chmod = as_nobody({"/bin/chmod", "666", mount.Path("tmp1/others")});
    EXPECT_NE(chmod.exit_code, 0);
    EXPECT_THAT(chmod.err, HasSubstr("Operation not permitted")) << chmod.err;

    CommandResult rm_mine = as_nobody({"/bin/rm", mount.Path("tmp1/fuse-mine")});
    EXPECT_EQ(rm_mine.exit_code, 0) << rm_mine.err;
    // (The mount may answer an unlink before the master applied it: fsyncdir waits for that.)
    EXPECT_EQ(SyncDir(mount.Path("tmp1")), 0);
    EXPECT_TRUE(absl::IsNotFound(Stat(cluster_, "/tmp1/fuse-mine").status()));
    EXPECT_TRUE(mount.Unmount().ok()) << mount.Log();
  }
}

}  // namespace
}  // namespace dfs::testing
