// dfs-fuse's command line (fuse/options.h): defaults, every option, and usage errors.
#include "fuse/options.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace dfs::fuse {
namespace {

absl::StatusOr<FuseOptions> Parse(std::vector<std::string> args) { return ParseFuseArgs(args); }

TEST(FuseOptionsTest, MountPointAloneGivesDefaults) {
  absl::StatusOr<FuseOptions> options = Parse({"/mnt/dfs"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->mountpoint, "/mnt/dfs");
  EXPECT_FALSE(options->masters.has_value());
  EXPECT_FALSE(options->timeout_ms.has_value());
  EXPECT_EQ(options->attr_timeout_s, 1.0);
  EXPECT_EQ(options->entry_timeout_s, 1.0);
  EXPECT_EQ(options->negative_timeout_s, 0.0);
  EXPECT_FALSE(options->foreground);
  EXPECT_TRUE(options->fuse_options.empty());
}

TEST(FuseOptionsTest, EveryOption) {
  absl::StatusOr<FuseOptions> options = Parse(
      {"-f", "--masters", "a:1,b:2", "--timeout_ms=5000", "--chunk-size-bytes", "8388608",
       "--attr_timeout_s=2.5", "--entry-timeout-s", "0", "--negative_timeout_s=3",
       "--kernel_readahead_kb=0", "--readahead_bytes=0", "--prefetch_threads=3", "--threads=4",
       "--log_file=/tmp/x.log", "--log_level", "debug", "-o", "allow_other,ro",
       "-odefault_permissions", "-s", "/mnt/x"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_TRUE(options->foreground);
  EXPECT_EQ(*options->masters, "a:1,b:2");
  EXPECT_EQ(*options->timeout_ms, 5000);
  EXPECT_EQ(*options->chunk_size_bytes, 8388608u);
  EXPECT_EQ(options->attr_timeout_s, 2.5);
  EXPECT_EQ(options->entry_timeout_s, 0.0);
  EXPECT_EQ(options->negative_timeout_s, 3.0);
  EXPECT_EQ(options->kernel_readahead_kb, 0u);
  EXPECT_EQ(options->readahead_bytes, 0u);
  EXPECT_EQ(options->prefetch_threads, 3);
  EXPECT_EQ(options->max_threads, 4);
  EXPECT_EQ(options->log_file, "/tmp/x.log");
  EXPECT_EQ(options->log_level, "debug");
  EXPECT_TRUE(options->single_thread);
  EXPECT_EQ(options->fuse_options,
            (std::vector<std::string>{"allow_other", "ro", "default_permissions"}));
  EXPECT_EQ(options->mountpoint, "/mnt/x");
}

TEST(FuseOptionsTest, DebugImpliesForeground) {
  absl::StatusOr<FuseOptions> options = Parse({"-d", "/m"});
  ASSERT_TRUE(options.ok());
  EXPECT_TRUE(options->debug);
  EXPECT_TRUE(options->foreground);
}

TEST(FuseOptionsTest, HelpAndVersionNeedNoMountPoint) {
  EXPECT_TRUE(Parse({"--help"})->help);
  EXPECT_TRUE(Parse({"-h"})->help);
  EXPECT_TRUE(Parse({"-V"})->version);
}

TEST(FuseOptionsTest, UsageErrors) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"--bogus", "/m"},
           {"-x", "/m"},
           {"/m", "/n"},
           {"--masters"},
           {"--masters=", "/m"},
           {"--timeout_ms=0", "/m"},
           {"--timeout_ms=abc", "/m"},
           {"--attr_timeout_s=-1", "/m"},
           {"--threads=0", "/m"},
           {"--log_level=loud", "/m"},
           {"-o"},
       }) {
    absl::StatusOr<FuseOptions> options = Parse(args);
    EXPECT_TRUE(absl::IsInvalidArgument(options.status()))
        << "args: " << testing::PrintToString(args) << " -> " << options.status();
  }
}

TEST(FuseOptionsTest, UsageDocumentsEveryOption) {
  std::string usage = FuseUsage();
  for (const char* flag :
       {"--masters", "--timeout_ms", "--chunk_size_bytes", "--attr_timeout_s", "--entry_timeout_s",
        "--negative_timeout_s", "--kernel_readahead_kb", "--readahead_bytes", "--prefetch_threads",
        "--threads", "--log_file", "--log_level", "-f", "-d", "-s", "-o", "--help", "--version"}) {
    EXPECT_TRUE(absl::StrContains(usage, flag)) << flag;
  }
}

}  // namespace
}  // namespace dfs::fuse
