// Malformed commands reaching StateMachine::Apply from the log: each must come back as an error
// result that advances the applied index and leaves a consistent store (CheckConsistency), never
// abort the replica. Several of these were crashes or undefined behaviour before (see
// tests/fuzz/corpus/state_machine_fuzz/ for the same inputs as fuzz seeds).
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/validation.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "master/consistency_check.h"
#include "master/state_machine.h"
#include "tests/testutil/temp_dir.h"

namespace dfs {
namespace {

Command Parse(const std::string& text) {
  Command command;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &command)) << text;
  return command;
}

class HostileCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<StateMachine>> opened = StateMachine::Open(dir_.path() + "/m");
    ASSERT_TRUE(opened.ok()) << opened.status();
    sm_ = std::move(opened).value();
    // Inodes 2..65 and chunks 1..64 reserved; /f (inode 2) holds chunk 1, /g (inode 3) chunk 2.
    ASSERT_EQ(Apply("reserve_ids { kind: KIND_INODE count: 64 }").code(), 0);
    ASSERT_EQ(Apply("reserve_ids { kind: KIND_CHUNK count: 64 }").code(), 0);
    ASSERT_EQ(Apply(R"(create { parent: 1 name: "f" inode: 2 size: 100
        extents { file_offset: 0 chunk_id: 1 chunk_offset: 0 length: 100 }
        new_chunks { chunk_id: 1 length: 100 replicas: "dn1" } })")
                  .code(),
              0);
    ASSERT_EQ(Apply(R"(create { parent: 1 name: "g" inode: 3 size: 200
        extents { file_offset: 0 chunk_id: 2 chunk_offset: 0 length: 200 }
        new_chunks { chunk_id: 2 length: 200 replicas: "dn1" } })")
                  .code(),
              0);
  }

  CommandResult Apply(const std::string& text) {
    return ApplyEncoded(Parse(text).SerializeAsString());
  }

  CommandResult ApplyEncoded(const std::string& bytes) {
    const uint64_t index = sm_->applied_index() + 1;
    CommandResult result = sm_->ApplyEncoded(index, bytes);
    EXPECT_EQ(sm_->applied_index(), index);
    EXPECT_TRUE(CheckConsistency(sm_->store()).ok()) << CheckConsistency(sm_->store());
    return result;
  }

  TempDir dir_;
  std::unique_ptr<StateMachine> sm_;
};

TEST_F(HostileCommandsTest, UndecodableEntryIsAResult) {
  CommandResult result = ApplyEncoded("\xff\xff\xff\x07 not a command");
  EXPECT_EQ(result.code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Apply("mkdir { parent: 1 name: \"after\" inode: 10 }").code(), 0);
}

TEST_F(HostileCommandsTest, EmptyCommandIsAResult) {
  EXPECT_EQ(ApplyEncoded("").code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
}

// Was a DFS_CHECK abort: file 2 moved off chunk 1 (its only user, which then became garbage)
// and file 3 moved onto chunk 1 in the same command.
TEST_F(HostileCommandsTest, MergeOntoAChunkAnotherFileLeaves) {
  CommandResult result = Apply(R"(merge_swap {
      files { inode: 2 generation: 0 file_offset: 0 length: 100
              extents { file_offset: 0 chunk_id: 2 chunk_offset: 0 length: 100 } }
      files { inode: 3 generation: 0 file_offset: 0 length: 200
              extents { file_offset: 0 chunk_id: 1 chunk_offset: 0 length: 100 }
              extents { file_offset: 100 chunk_id: 1 chunk_offset: 0 length: 100 } } })");
  EXPECT_EQ(ErrnoOf(ResultStatus(result)), EINVAL) << result.message();
}

// Was signed overflow (undefined behaviour) in the monotonic-timestamp rule.
TEST_F(HostileCommandsTest, TimestampAtInt64Max) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  Command command = Parse("set_safe_mode { on: true }");
  command.set_timestamp_ns(kMax);
  EXPECT_EQ(ApplyEncoded(command.SerializeAsString()).code(), 0);
  EXPECT_EQ(Apply("set_safe_mode { on: false }").code(), 0);
  CommandResult made = Apply("timestamp_ns: 5 mkdir { parent: 1 name: \"late\" inode: 11 }");
  ASSERT_EQ(made.code(), 0);
  EXPECT_EQ(made.attr().mtime_ns(), kMax);  // never backwards, never wrapped
}

// The write's end wrapped past 2^64 before; it must be refused with EFBIG, as must anything
// ending past kMaxFileBytes.
TEST_F(HostileCommandsTest, WritesPastTheLargestFile) {
  for (const char* offset :
       {"18446744073709551000", "9223372036854775808", "1152921504606846900"}) {
    CommandResult result = Apply(
        absl::StrCat("commit_write { inode: 2 length: 100 offset: ", offset,
                     " extents { file_offset: 0 chunk_id: 1 chunk_offset: 0 length: 100 } }"));
    EXPECT_EQ(ErrnoOf(ResultStatus(result)), EFBIG) << offset;
  }
  EXPECT_EQ(ErrnoOf(ResultStatus(
                Apply("set_attr { inode: 2 set_size: true size: 1152921504606846977 }"))),
            EFBIG);
  EXPECT_EQ(ErrnoOf(ResultStatus(Apply("create { parent: 1 name: \"h\" inode: 12 "
                                       "size: 18446744073709551615 }"))),
            EFBIG);
  // Appending to a file already at the largest size cannot go further.
  ASSERT_EQ(Apply("set_attr { inode: 2 set_size: true size: 1152921504606846976 }").code(), 0);
  EXPECT_EQ(ErrnoOf(ResultStatus(
                Apply("commit_write { inode: 2 append: true length: 1 "
                      "extents { file_offset: 0 chunk_id: 1 chunk_offset: 0 length: 1 } }"))),
            EFBIG);
}

TEST_F(HostileCommandsTest, BadNamesAndTargets) {
  for (const char* text : {
           "mkdir { parent: 1 name: \"a/b\" inode: 13 }",
           "mkdir { parent: 1 name: \"..\" inode: 13 }",
           "symlink { parent: 1 name: \"s\" inode: 13 target: \"a\\000b\" }",
           "rename { parent: 1 name: \"f\" new_parent: 1 new_name: \"\" }",
           "link { inode: 2 new_parent: 1 new_name: \".\" }",
       }) {
    EXPECT_EQ(Apply(text).code(), static_cast<int>(absl::StatusCode::kInvalidArgument)) << text;
  }
}

}  // namespace
}  // namespace dfs
