#include "client/path.h"

#include <cerrno>

#include "common/errors.h"
#include "gtest/gtest.h"

namespace dfs {
namespace {

std::string Norm(const std::string& path) {
  absl::StatusOr<std::string> result = NormalizePath(path);
  return result.ok() ? *result : "ERROR:" + std::string(result.status().message());
}

TEST(PathTest, NormalizesSlashesAndDots) {
  EXPECT_EQ(Norm("/"), "/");
  EXPECT_EQ(Norm("//"), "/");
  EXPECT_EQ(Norm("/a//b/"), "/a/b");
  EXPECT_EQ(Norm("/a/./b/."), "/a/b");
  EXPECT_EQ(Norm("./a"), "/a");
  EXPECT_EQ(Norm("."), "/");
}

TEST(PathTest, RelativePathsAreFromTheRoot) {
  EXPECT_EQ(Norm("a/b"), "/a/b");
  EXPECT_EQ(Norm("a"), "/a");
}

TEST(PathTest, DotDotIsRejected) {
  for (const char* path : {"/a/..", "..", "/a/../b", "a/b/../../c"}) {
    absl::StatusOr<std::string> result = NormalizePath(path);
    ASSERT_FALSE(result.ok()) << path;
    EXPECT_TRUE(absl::IsInvalidArgument(result.status()));
    EXPECT_EQ(ErrnoOf(result.status()), EINVAL);
  }
  // Names that merely contain dots are ordinary.
  EXPECT_EQ(Norm("/a/..b/...c/.d"), "/a/..b/...c/.d");
}

TEST(PathTest, EmptyAndBadPaths) {
  EXPECT_EQ(ErrnoOf(NormalizePath("").status()), ENOENT);
  EXPECT_EQ(ErrnoOf(NormalizePath(std::string("/a\0b", 4)).status()), EINVAL);
  EXPECT_EQ(ErrnoOf(NormalizePath("/" + std::string(256, 'x')).status()), ENAMETOOLONG);
  EXPECT_TRUE(NormalizePath("/" + std::string(255, 'x')).ok());
}

TEST(PathTest, SplitPath) {
  auto parts = SplitPath("/a//b/c/");
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(*parts, (std::vector<std::string>{"a", "b", "c"}));
  parts = SplitPath("/");
  ASSERT_TRUE(parts.ok());
  EXPECT_TRUE(parts->empty());
}

TEST(PathTest, SplitParentAndJoin) {
  EXPECT_EQ(SplitParent("/a/b"), std::make_pair(std::string("/a"), std::string("b")));
  EXPECT_EQ(SplitParent("/a"), std::make_pair(std::string("/"), std::string("a")));
  EXPECT_EQ(SplitParent("/"), std::make_pair(std::string("/"), std::string("")));
  EXPECT_EQ(JoinPath("/", "a"), "/a");
  EXPECT_EQ(JoinPath("/a", "b"), "/a/b");
  EXPECT_EQ(JoinComponents({}), "/");
  EXPECT_EQ(JoinComponents({"x", "y"}), "/x/y");
}

TEST(PathTest, Basename) {
  EXPECT_EQ(Basename("/a/b"), "b");
  EXPECT_EQ(Basename("a/b/"), "b");
  EXPECT_EQ(Basename("file.txt"), "file.txt");
  EXPECT_EQ(Basename("/"), "");
  EXPECT_EQ(Basename(""), "");
}

TEST(PathTest, SymlinkTargetsResolveDotDotLexically) {
  auto resolve = [](const char* dir, const char* target) {
    absl::StatusOr<std::string> result = ResolveSymlinkTarget(dir, target);
    return result.ok() ? *result : "ERROR";
  };
  EXPECT_EQ(resolve("/a/b", "c"), "/a/b/c");
  EXPECT_EQ(resolve("/a/b", "../c"), "/a/c");
  EXPECT_EQ(resolve("/a/b", "../../../c"), "/c");
  EXPECT_EQ(resolve("/a/b", "/x/./y/"), "/x/y");
  EXPECT_EQ(resolve("/", "."), "/");
  EXPECT_EQ(resolve("/a", ""), "ERROR");
}

TEST(PathTest, ValidateName) {
  EXPECT_TRUE(ValidateName("a.txt").ok());
  EXPECT_FALSE(ValidateName("").ok());
  EXPECT_FALSE(ValidateName(".").ok());
  EXPECT_FALSE(ValidateName("..").ok());
  EXPECT_FALSE(ValidateName("a/b").ok());
  EXPECT_EQ(ErrnoOf(ValidateName(std::string(256, 'n'))), ENAMETOOLONG);
}

}  // namespace
}  // namespace dfs
