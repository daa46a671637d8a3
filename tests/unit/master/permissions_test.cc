// The permission rules (common/permissions.h); state_machine_test covers their use in Apply.
#include "common/permissions.h"

#include <string>

#include "common/errors.h"
#include "gtest/gtest.h"

namespace dfs {
namespace {

Caller User(uint32_t uid, uint32_t gid, std::vector<uint32_t> groups = {}) {
  Caller caller;
  caller.set_uid(uid);
  caller.set_gid(gid);
  for (uint32_t g : groups) caller.add_groups(g);
  return caller;
}

Attr Inode(FileType type, uint32_t mode, uint32_t uid, uint32_t gid) {
  Attr attr;
  attr.set_inode(7);
  attr.set_type(type);
  attr.set_mode(mode);
  attr.set_uid(uid);
  attr.set_gid(gid);
  return attr;
}

SetAttrCmd ChmodCmd(uint32_t mode) {
  SetAttrCmd cmd;
  cmd.set_set_mode(true);
  cmd.set_mode(mode);
  return cmd;
}

const Caller kRoot = User(0, 0);
const Caller kAlice = User(1000, 1000, {50});
const Caller kBob = User(1001, 1001);

TEST(CheckAccessTest, NoCallerIsNotChecked) {
  EXPECT_TRUE(CheckAccess(Inode(FILE_TYPE_REGULAR, 0, 5, 5), nullptr, kMayWrite).ok());
}

TEST(CheckAccessTest, OwnerGroupOtherBits) {
  const Attr file = Inode(FILE_TYPE_REGULAR, 0640, 1000, 50);
  EXPECT_TRUE(CheckAccess(file, &kAlice, kMayRead | kMayWrite).ok());
  const Caller group_member = User(1002, 1002, {50});
  EXPECT_TRUE(CheckAccess(file, &group_member, kMayRead).ok());
  EXPECT_EQ(ErrnoOf(CheckAccess(file, &group_member, kMayWrite)), EACCES);
  EXPECT_EQ(ErrnoOf(CheckAccess(file, &kBob, kMayRead)), EACCES);
  // The owner's class decides even when the group's or others' bits would allow more.
  const Attr owner_locked = Inode(FILE_TYPE_REGULAR, 0077, 1000, 1000);
  EXPECT_EQ(ErrnoOf(CheckAccess(owner_locked, &kAlice, kMayRead)), EACCES);
  EXPECT_TRUE(CheckAccess(owner_locked, &kBob, kMayRead).ok());
}

TEST(CheckAccessTest, RootBypassesAllButExecuteOfAFileWithoutXBits) {
  EXPECT_TRUE(CheckAccess(Inode(FILE_TYPE_DIRECTORY, 0, 5, 5), &kRoot, kMayWrite | kMayExec).ok());
  EXPECT_TRUE(CheckAccess(Inode(FILE_TYPE_REGULAR, 0, 5, 5), &kRoot, kMayRead | kMayWrite).ok());
  EXPECT_EQ(ErrnoOf(CheckAccess(Inode(FILE_TYPE_REGULAR, 0644, 5, 5), &kRoot, kMayExec)), EACCES);
  EXPECT_TRUE(CheckAccess(Inode(FILE_TYPE_REGULAR, 0010, 5, 5), &kRoot, kMayExec).ok());
}

TEST(CheckRemoveEntryTest, StickyDirectory) {
  const Attr tmp = Inode(FILE_TYPE_DIRECTORY, 01777, 0, 0);
  const Attr bobs = Inode(FILE_TYPE_REGULAR, 0644, 1001, 1001);
  EXPECT_EQ(ErrnoOf(CheckRemoveEntry(tmp, bobs, &kAlice)), EPERM);
  EXPECT_TRUE(CheckRemoveEntry(tmp, bobs, &kBob).ok());
  EXPECT_TRUE(CheckRemoveEntry(tmp, bobs, &kRoot).ok());
  // The directory's owner may remove anything in it.
  const Attr alices_tmp = Inode(FILE_TYPE_DIRECTORY, 01777, 1000, 1000);
  EXPECT_TRUE(CheckRemoveEntry(alices_tmp, bobs, &kAlice).ok());
  // Without the sticky bit, write permission on the directory is enough.
  EXPECT_TRUE(CheckRemoveEntry(Inode(FILE_TYPE_DIRECTORY, 0777, 0, 0), bobs, &kAlice).ok());
  EXPECT_EQ(ErrnoOf(CheckRemoveEntry(Inode(FILE_TYPE_DIRECTORY, 0755, 0, 0), bobs, &kBob)),
            EACCES);
}

TEST(CheckSetAttrTest, ChmodNeedsOwnerOrRoot) {
  const Attr file = Inode(FILE_TYPE_REGULAR, 0644, 1000, 1000);
  SetAttrCmd cmd = ChmodCmd(0600);
  EXPECT_EQ(ErrnoOf(CheckSetAttr(file, &kBob, &cmd)), EPERM);
  EXPECT_TRUE(CheckSetAttr(file, &kAlice, &cmd).ok());
  EXPECT_TRUE(CheckSetAttr(file, &kRoot, &cmd).ok());
}

TEST(CheckSetAttrTest, ChmodOutsideTheGroupDropsSetgid) {
  const Attr file = Inode(FILE_TYPE_REGULAR, 0644, 1000, 77);
  SetAttrCmd cmd = ChmodCmd(02755);
  ASSERT_TRUE(CheckSetAttr(file, &kAlice, &cmd).ok());
  EXPECT_EQ(cmd.mode(), 0755u);
  cmd.set_mode(02755);
  ASSERT_TRUE(CheckSetAttr(file, &kRoot, &cmd).ok());
  EXPECT_EQ(cmd.mode(), 02755u);
}

TEST(CheckSetAttrTest, ChownRules) {
  const Attr file = Inode(FILE_TYPE_REGULAR, 04755, 1000, 1000);
  SetAttrCmd give_away;
  give_away.set_set_uid(true);
  give_away.set_uid(1001);
  EXPECT_EQ(ErrnoOf(CheckSetAttr(file, &kAlice, &give_away)), EPERM);
  ASSERT_TRUE(CheckSetAttr(file, &kRoot, &give_away).ok());
  EXPECT_TRUE(give_away.set_mode());  // the setuid bit goes with the owner
  EXPECT_EQ(give_away.mode(), 0755u);

  SetAttrCmd to_my_group;
  to_my_group.set_set_gid(true);
  to_my_group.set_gid(50);
  EXPECT_TRUE(CheckSetAttr(file, &kAlice, &to_my_group).ok());
  SetAttrCmd to_other_group;
  to_other_group.set_set_gid(true);
  to_other_group.set_gid(51);
  EXPECT_EQ(ErrnoOf(CheckSetAttr(file, &kAlice, &to_other_group)), EPERM);
  EXPECT_EQ(ErrnoOf(CheckSetAttr(file, &kBob, &to_my_group)), EPERM);
}

TEST(CheckSetAttrTest, TruncateAndTimes) {
  const Attr file = Inode(FILE_TYPE_REGULAR, 0666, 1000, 1000);
  SetAttrCmd truncate;
  truncate.set_set_size(true);
  EXPECT_TRUE(CheckSetAttr(file, &kBob, &truncate).ok());
  EXPECT_EQ(ErrnoOf(CheckSetAttr(Inode(FILE_TYPE_REGULAR, 0644, 1000, 1000), &kBob, &truncate)),
            EACCES);

  SetAttrCmd explicit_times;
  explicit_times.set_set_mtime(true);
  explicit_times.set_mtime_ns(5);
  EXPECT_EQ(ErrnoOf(CheckSetAttr(file, &kBob, &explicit_times)), EPERM);
  EXPECT_TRUE(CheckSetAttr(file, &kAlice, &explicit_times).ok());
  SetAttrCmd touch = explicit_times;
  touch.set_times_are_now(true);
  EXPECT_TRUE(CheckSetAttr(file, &kBob, &touch).ok());  // write permission suffices for "now"
  EXPECT_EQ(ErrnoOf(CheckSetAttr(Inode(FILE_TYPE_REGULAR, 0644, 1000, 1000), &kBob, &touch)),
            EACCES);
}

TEST(SetNewOwnerTest, CallerOrSetgidParent) {
  Attr dir = Inode(FILE_TYPE_DIRECTORY, 0755, 0, 0);
  Attr child = Inode(FILE_TYPE_DIRECTORY, 0755, 0, 0);
  SetNewOwner(dir, &kAlice, 1, 2, &child);
  EXPECT_EQ(child.uid(), 1000u);
  EXPECT_EQ(child.gid(), 1000u);
  SetNewOwner(dir, nullptr, 1, 2, &child);  // an old client: what it asked for
  EXPECT_EQ(child.uid(), 1u);
  EXPECT_EQ(child.gid(), 2u);
  dir.set_mode(02775);
  dir.set_gid(60);
  SetNewOwner(dir, &kAlice, 1, 2, &child);
  EXPECT_EQ(child.gid(), 60u);
  EXPECT_EQ(child.mode(), 02755u);  // a subdirectory inherits setgid
  Attr file = Inode(FILE_TYPE_REGULAR, 0644, 0, 0);
  SetNewOwner(dir, &kAlice, 1, 2, &file);
  EXPECT_EQ(file.gid(), 60u);
  EXPECT_EQ(file.mode(), 0644u);
}

TEST(SquashRootTest, OnlyRoot) {
  Caller squashed = SquashRoot(User(0, 0, {1, 2}));
  EXPECT_EQ(squashed.uid(), kSquashedId);
  EXPECT_EQ(squashed.gid(), kSquashedId);
  EXPECT_EQ(squashed.groups_size(), 0);
  EXPECT_EQ(SquashRoot(kAlice).uid(), 1000u);
  EXPECT_EQ(SquashRoot(kAlice).groups_size(), 1);
}

}  // namespace
}  // namespace dfs
