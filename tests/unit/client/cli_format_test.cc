#include <cerrno>

#include "common/errors.h"
#include "gtest/gtest.h"
#include "tools/cli/format.h"
#include "tools/cli/progress.h"

namespace dfs::cli {
namespace {

Attr MakeAttr(FileType type, uint32_t mode, uint64_t size) {
  Attr attr;
  attr.set_type(type);
  attr.set_mode(mode);
  attr.set_size(size);
  attr.set_nlink(1);
  attr.set_uid(1000);
  attr.set_gid(100);
  return attr;
}

TEST(CliFormatTest, ErrorText) {
  EXPECT_EQ(ErrorText(FsError(ENOENT, "whatever")), "No such file or directory");
  EXPECT_EQ(ErrorText(absl::NotFoundError("no such inode")), "No such file or directory");
  EXPECT_EQ(ErrorText(FsError(EEXIST, "x")), "File exists");
  EXPECT_EQ(ErrorText(FsError(ENOTDIR, "x")), "Not a directory");
  EXPECT_EQ(ErrorText(FsError(ENOTEMPTY, "x")), "Directory not empty");
  EXPECT_EQ(ErrorText(FsError(EISDIR, "x")), "Is a directory");
  EXPECT_EQ(ErrorText(FsError(EINVAL, "'..' is not supported")), "'..' is not supported");
  EXPECT_EQ(ErrorText(FsError(EROFS, "cluster is in safe mode (read-only)")),
            "cluster is in safe mode (read-only)");
  EXPECT_EQ(ErrorText(FsError(EROFS, "")), "Read-only file system");
  EXPECT_EQ(ErrorText(absl::UnavailableError("cluster unreachable (masters: a:1)")),
            "cluster unreachable (masters: a:1)");
  EXPECT_EQ(ErrorText(absl::DeadlineExceededError("cluster unreachable (masters: a:1)")),
            "cluster unreachable (masters: a:1)");
  EXPECT_EQ(ErrorText(absl::InvalidArgumentError("refusing")), "refusing");
  EXPECT_NE(ErrorText(absl::DataLossError("chunk 5")).find("chunk 5"), std::string::npos);
}

TEST(CliFormatTest, ModeString) {
  EXPECT_EQ(ModeString(MakeAttr(FILE_TYPE_DIRECTORY, 0755, 0)), "drwxr-xr-x");
  EXPECT_EQ(ModeString(MakeAttr(FILE_TYPE_REGULAR, 0644, 0)), "-rw-r--r--");
  EXPECT_EQ(ModeString(MakeAttr(FILE_TYPE_SYMLINK, 0777, 0)), "lrwxrwxrwx");
  EXPECT_EQ(ModeString(MakeAttr(FILE_TYPE_REGULAR, 04755, 0)), "-rwsr-xr-x");
  EXPECT_EQ(ModeString(MakeAttr(FILE_TYPE_DIRECTORY, 01777, 0)), "drwxrwxrwt");
  EXPECT_EQ(ModeString(MakeAttr(FILE_TYPE_REGULAR, 02600, 0)), "-rw---S---");
}

TEST(CliFormatTest, LongListingAlignsColumns) {
  Attr big = MakeAttr(FILE_TYPE_REGULAR, 0644, 123456);
  Attr link = MakeAttr(FILE_TYPE_SYMLINK, 0777, 4);
  link.set_symlink_target("/target");
  std::string out = FormatLong({{"big", big}, {"ln", link}});
  std::string first = out.substr(0, out.find('\n'));
  std::string second = out.substr(out.find('\n') + 1);
  EXPECT_EQ(first.substr(0, 10), "-rw-r--r--");
  EXPECT_NE(first.find(" 123456 "), std::string::npos);
  EXPECT_NE(second.find("      4 "), std::string::npos);  // right-aligned under 123456
  EXPECT_NE(second.find("ln -> /target\n"), std::string::npos);
  EXPECT_EQ(first.size() - 3, second.find(" -> ") - 2);  // names start in the same column
}

TEST(CliFormatTest, StatShowsEverything) {
  Attr attr = MakeAttr(FILE_TYPE_REGULAR, 0640, 42);
  attr.set_inode(77);
  attr.set_generation(5);
  std::string out = FormatStat("/f", attr);
  for (const char* want : {"File: /f", "regular file", "Size: 42", "Inode: 77", "Links: 1",
                           "0640/-rw-r-----", "Uid: 1000", "Gid: 100", "Modify: ",
                           "Generation: 5"}) {
    EXPECT_NE(out.find(want), std::string::npos) << want << " in\n" << out;
  }
}

TEST(CliFormatTest, HumanBytes) {
  EXPECT_EQ(HumanBytes(999), "999 B");
  EXPECT_EQ(HumanBytes(1500), "1.5 kB");
  EXPECT_EQ(HumanBytes(64000000), "64.0 MB");
}

TEST(ProgressTest, OnlyOnTerminalsAndBigTransfers) {
  EXPECT_FALSE(ProgressWorthShowing(false, 0, 100 << 20));
  EXPECT_TRUE(ProgressWorthShowing(true, 0, 100 << 20));
  EXPECT_FALSE(ProgressWorthShowing(true, 0, 8 << 20));
  EXPECT_FALSE(ProgressWorthShowing(true, 1 << 20, 0));
  EXPECT_TRUE(ProgressWorthShowing(true, 9 << 20, 0));
}

TEST(ProgressTest, Line) {
  std::string line = ProgressLine("file.bin", 50000000, 100000000, 2.0);
  EXPECT_NE(line.find(" 50%"), std::string::npos) << line;
  EXPECT_NE(line.find("25.0 MB/s"), std::string::npos) << line;
  EXPECT_NE(line.find("50.0 MB/100.0 MB"), std::string::npos) << line;
  line = ProgressLine("stdin", 10000000, 0, 1.0);
  EXPECT_EQ(line.find('%'), std::string::npos) << line;
  EXPECT_NE(line.find("10.0 MB/s"), std::string::npos) << line;
}

}  // namespace
}  // namespace dfs::cli
