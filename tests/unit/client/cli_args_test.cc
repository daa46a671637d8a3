#include "tools/cli/args.h"

#include "gtest/gtest.h"

namespace dfs::cli {
namespace {

absl::StatusOr<Invocation> Parse(std::vector<std::string> args) { return ParseArgs(args); }

void ExpectUsageError(std::vector<std::string> args, const std::string& fragment) {
  absl::StatusOr<Invocation> result = ParseArgs(args);
  ASSERT_FALSE(result.ok()) << "parsed: " << (args.empty() ? "" : args[0]);
  EXPECT_TRUE(absl::IsInvalidArgument(result.status()));
  EXPECT_NE(result.status().message().find(fragment), absl::string_view::npos)
      << result.status().message();
}

TEST(CliArgsTest, GlobalOptions) {
  auto inv = Parse({"--masters", "a:1,b:2", "--timeout=2.5", "--chunk-size", "4096", "-v", "ls"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->global.masters, "a:1,b:2");
  EXPECT_EQ(inv->global.timeout_ms, 2500);
  EXPECT_EQ(inv->global.chunk_size_bytes, 4096u);
  EXPECT_TRUE(inv->global.verbose);
  EXPECT_EQ(inv->command, "ls");
  EXPECT_TRUE(inv->operands.empty());

  inv = Parse({"--masters=x:9", "--timeout", "3", "cat", "/f"});
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->global.masters, "x:9");
  EXPECT_EQ(inv->global.timeout_ms, 3000);
}

TEST(CliArgsTest, BadGlobalOptions) {
  ExpectUsageError({}, "missing command");
  ExpectUsageError({"--masters"}, "needs a value");
  ExpectUsageError({"--masters="}, "--masters");
  ExpectUsageError({"--timeout", "soon", "ls"}, "--timeout");
  ExpectUsageError({"--timeout", "-1", "ls"}, "--timeout");
  ExpectUsageError({"--timeout", "0", "ls"}, "--timeout");
  ExpectUsageError({"--chunk-size", "0", "ls"}, "--chunk-size");
  ExpectUsageError({"--bogus", "ls"}, "unknown option '--bogus'");
  ExpectUsageError({"--masters", "a:1"}, "missing command");
  ExpectUsageError({"frobnicate"}, "unknown command 'frobnicate'");
}

TEST(CliArgsTest, Help) {
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"help"}, {"--help"}, {"-h"}, {"--masters", "a:1", "--help"}}) {
    auto inv = Parse(args);
    ASSERT_TRUE(inv.ok());
    EXPECT_EQ(inv->command, "help");
    EXPECT_TRUE(inv->operands.empty());
  }
  auto inv = Parse({"ls", "--help"});
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->command, "help");
  EXPECT_EQ(inv->operands, std::vector<std::string>{"ls"});
  inv = Parse({"help", "put"});
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->operands, std::vector<std::string>{"put"});
  ExpectUsageError({"help", "nope"}, "unknown command");
  EXPECT_NE(UsageText().find("put [-f] LOCAL|- REMOTE"), std::string::npos);
  EXPECT_NE(UsageText().find("tools/dfs-cluster up"), std::string::npos);
  EXPECT_NE(CommandUsage("rm").find("rm [-r]"), std::string::npos);
}

TEST(CliArgsTest, Put) {
  auto inv = Parse({"put", "-f", "local.txt", "/remote"});
  ASSERT_TRUE(inv.ok());
  EXPECT_TRUE(inv->flag('f'));
  EXPECT_EQ(inv->operands, (std::vector<std::string>{"local.txt", "/remote"}));
  inv = Parse({"put", "-", "/x"});  // "-" is stdin, not an option
  ASSERT_TRUE(inv.ok());
  EXPECT_FALSE(inv->flag('f'));
  EXPECT_EQ(inv->operands, (std::vector<std::string>{"-", "/x"}));
  inv = Parse({"put", "a", "/b", "-f"});  // options may follow operands
  ASSERT_TRUE(inv.ok());
  EXPECT_TRUE(inv->flag('f'));
  ExpectUsageError({"put"}, "put: missing operand");
  ExpectUsageError({"put", "a"}, "missing operand");
  ExpectUsageError({"put", "a", "b", "c"}, "too many operands");
  ExpectUsageError({"put", "-r", "a", "b"}, "put: unknown option '-r'");
  ExpectUsageError({"put", "--force", "a", "b"}, "unknown option '--force'");
}

TEST(CliArgsTest, Get) {
  auto inv = Parse({"get", "/r", "-"});
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->operands, (std::vector<std::string>{"/r", "-"}));
  ExpectUsageError({"get", "/r"}, "missing operand");
  ExpectUsageError({"get", "-f", "/r", "l"}, "unknown option");
}

TEST(CliArgsTest, Ls) {
  auto inv = Parse({"ls"});
  ASSERT_TRUE(inv.ok());
  EXPECT_TRUE(inv->operands.empty());
  inv = Parse({"ls", "-l", "/a", "/b"});
  ASSERT_TRUE(inv.ok());
  EXPECT_TRUE(inv->flag('l'));
  EXPECT_EQ(inv->operands.size(), 2u);
  ExpectUsageError({"ls", "-a"}, "unknown option '-a'");
}

TEST(CliArgsTest, CatMkdirRm) {
  ExpectUsageError({"cat"}, "missing operand");
  auto inv = Parse({"cat", "/a", "/b"});
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->operands.size(), 2u);

  ExpectUsageError({"mkdir"}, "missing operand");
  ExpectUsageError({"mkdir", "-p"}, "missing operand");
  inv = Parse({"mkdir", "-p", "/a/b", "/c"});
  ASSERT_TRUE(inv.ok());
  EXPECT_TRUE(inv->flag('p'));

  ExpectUsageError({"rm"}, "missing operand");
  inv = Parse({"rm", "-rf", "/a"});  // combined flags
  ASSERT_TRUE(inv.ok());
  EXPECT_TRUE(inv->flag('r'));
  EXPECT_TRUE(inv->flag('f'));
  inv = Parse({"rm", "--", "-weird-name"});
  ASSERT_TRUE(inv.ok());
  EXPECT_TRUE(inv->flags.empty());
  EXPECT_EQ(inv->operands, std::vector<std::string>{"-weird-name"});
  ExpectUsageError({"rm", "-x", "/a"}, "unknown option '-x'");
}

TEST(CliArgsTest, MvStatDu) {
  ExpectUsageError({"mv", "/a"}, "missing operand");
  ExpectUsageError({"mv", "/a", "/b", "/c"}, "too many operands");
  ASSERT_TRUE(Parse({"mv", "/a", "/b"}).ok());
  ExpectUsageError({"stat"}, "missing operand");
  ASSERT_TRUE(Parse({"stat", "/a"}).ok());
  auto inv = Parse({"du", "-s"});
  ASSERT_TRUE(inv.ok());
  EXPECT_TRUE(inv->flag('s'));
  EXPECT_TRUE(inv->operands.empty());
  inv = Parse({"du", "-h"});  // -h is help, not "human readable"
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->command, "help");
}

}  // namespace
}  // namespace dfs::cli
