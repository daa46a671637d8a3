#include "client/config.h"

#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "common/file_util.h"
#include "gtest/gtest.h"

namespace dfs {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/dfs_config_test.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& relative, const std::string& text) {
    std::string full = path_ + "/" + relative;
    EXPECT_TRUE(MakeDirs(full.substr(0, full.rfind('/'))).ok());
    EXPECT_TRUE(WriteFileAtomic(full, text).ok());
    return full;
  }

 private:
  std::string path_;
};

std::vector<std::string> Masters(const MasterSources& sources) {
  absl::StatusOr<DiscoveredConfig> config = DiscoverConfig(sources);
  if (!config.ok()) return {"ERROR: " + std::string(config.status().message())};
  return config->config.masters;
}

TEST(ConfigTest, ParseMasterList) {
  auto masters = ParseMasterList(" a:1, b:2 ,,[::1]:3 ");
  ASSERT_TRUE(masters.ok()) << masters.status();
  EXPECT_EQ(*masters, (std::vector<std::string>{"a:1", "b:2", "[::1]:3"}));
  EXPECT_FALSE(ParseMasterList("").ok());
  EXPECT_FALSE(ParseMasterList(",").ok());
  EXPECT_FALSE(ParseMasterList("a").ok());
  EXPECT_FALSE(ParseMasterList("a:0").ok());
  EXPECT_FALSE(ParseMasterList("a:70000").ok());
  EXPECT_FALSE(ParseMasterList("a:x").ok());
  EXPECT_FALSE(ParseMasterList(":5").ok());
  EXPECT_FALSE(ParseMasterList("::1:5").ok());
}

TEST(ConfigTest, ParseConfigFile) {
  auto config = ParseClientConfig(
      "# a comment\n"
      "\n"
      "  masters = h1:7000,h2:7000   # trailing comment\n"
      "chunk_size_bytes=1048576\n"
      "future_key=whatever\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->masters, (std::vector<std::string>{"h1:7000", "h2:7000"}));
  EXPECT_EQ(config->chunk_size_bytes, 1048576u);
  EXPECT_FALSE(config->rpc_timeout_ms.has_value());

  auto bad = ParseClientConfig("masters=h1:7000\nno equals sign\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("line 2"), absl::string_view::npos);
  EXPECT_FALSE(ParseClientConfig("masters=nope").ok());
  EXPECT_FALSE(ParseClientConfig("rpc_timeout_ms=-5").ok());
}

TEST(ConfigTest, Precedence) {
  TempDir dir;
  std::string explicit_file = dir.Write("explicit.conf", "masters=file:1\n");
  dir.Write("home/.config/dfs/client.conf", "masters=home:1\n");
  std::string home = dir.path() + "/home";

  MasterSources all{"flag:1", "env:1", explicit_file, home};
  EXPECT_EQ(Masters(all), std::vector<std::string>{"flag:1"});
  all.flag.reset();
  EXPECT_EQ(Masters(all), std::vector<std::string>{"env:1"});
  all.env_masters = "";  // set but empty counts as unset
  EXPECT_EQ(Masters(all), std::vector<std::string>{"file:1"});
  all.env_masters.reset();
  EXPECT_EQ(Masters(all), std::vector<std::string>{"file:1"});
  all.env_config.reset();
  EXPECT_EQ(Masters(all), std::vector<std::string>{"home:1"});
  all.home = dir.path() + "/nobody";
  absl::StatusOr<DiscoveredConfig> none = DiscoverConfig(all);
  EXPECT_TRUE(absl::IsNotFound(none.status())) << none.status();
  EXPECT_TRUE(absl::IsNotFound(DiscoverConfig(MasterSources{}).status()));
}

TEST(ConfigTest, SourceIsReported) {
  TempDir dir;
  std::string file = dir.Write("c.conf", "masters=file:1\nop_timeout_ms=1234\n");
  absl::StatusOr<DiscoveredConfig> config = DiscoverConfig(MasterSources{{}, {}, file, {}});
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->source, file);
  ClientOptions options;
  ApplyConfig(config->config, &options);
  EXPECT_EQ(options.masters, std::vector<std::string>{"file:1"});
  EXPECT_EQ(options.op_timeout_ms, 1234);
  EXPECT_EQ(options.rpc_timeout_ms, 10000);
}

TEST(ConfigTest, ExplicitButBrokenSourcesAreErrors) {
  TempDir dir;
  // DFS_CONFIG naming a missing file does not silently fall through to ~/.config.
  std::string home = dir.path() + "/home";
  dir.Write("home/.config/dfs/client.conf", "masters=home:1\n");
  auto missing = DiscoverConfig(MasterSources{{}, {}, dir.path() + "/missing.conf", home});
  EXPECT_TRUE(absl::IsInvalidArgument(missing.status())) << missing.status();
  std::string empty = dir.Write("empty.conf", "# nothing\n");
  EXPECT_TRUE(absl::IsInvalidArgument(DiscoverConfig(MasterSources{{}, {}, empty, {}}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(DiscoverConfig(MasterSources{"bad", {}, {}, {}}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(DiscoverConfig(MasterSources{{}, "x:y", {}, {}}).status()));
  // A default-location file without masters is no configuration at all.
  std::string home2 = dir.path() + "/home2";
  dir.Write("home2/.config/dfs/client.conf", "# nothing yet\n");
  EXPECT_TRUE(absl::IsNotFound(DiscoverConfig(MasterSources{{}, {}, {}, home2}).status()));
}

TEST(ConfigTest, ReadsTheRealEnvironment) {
  TempDir dir;
  std::string file = dir.Write("env.conf", "masters=fromfile:9\n");
  ::unsetenv("DFS_MASTERS");
  ::setenv("DFS_CONFIG", file.c_str(), 1);
  EXPECT_EQ(Masters(MasterSourcesFromEnvironment(std::nullopt)),
            std::vector<std::string>{"fromfile:9"});
  ::setenv("DFS_MASTERS", "fromenv:9", 1);
  EXPECT_EQ(Masters(MasterSourcesFromEnvironment(std::nullopt)),
            std::vector<std::string>{"fromenv:9"});
  EXPECT_EQ(Masters(MasterSourcesFromEnvironment(std::string("fromflag:9"))),
            std::vector<std::string>{"fromflag:9"});
  ::unsetenv("DFS_MASTERS");
  ::unsetenv("DFS_CONFIG");
}

TEST(ConfigTest, CredentialAndCaAreFoundWhateverNamedTheMasters) {
  TempDir dir;
  dir.Write("home/.config/dfs/client.conf",
            "masters=home:1\nsecret_file=keys/client.key\ntls_ca=/abs/ca.crt\n");
  MasterSources sources{"flag:1", {}, {}, dir.path() + "/home"};
  // Masters from the flag; credential and CA still from the config file, relative to it.
  absl::StatusOr<DiscoveredConfig> config = DiscoverConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->config.secret_file, dir.path() + "/home/.config/dfs/keys/client.key");
  EXPECT_EQ(config->config.tls_ca, "/abs/ca.crt");
  // The environment beats the file, a flag beats both.
  sources.env_secret_file = "/env.key";
  sources.env_tls_ca = "/env-ca.crt";
  config = DiscoverConfig(sources);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->config.secret_file, "/env.key");
  EXPECT_EQ(config->config.tls_ca, "/env-ca.crt");
  sources.secret_file_flag = "/flag.key";
  config = DiscoverConfig(sources);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->config.secret_file, "/flag.key");
  EXPECT_EQ(config->config.tls_ca, "/env-ca.crt");
  // Nothing anywhere: no credential, plaintext.
  config = DiscoverConfig(MasterSources{"flag:1", {}, {}, dir.path() + "/nobody"});
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->config.secret_file, "");
  EXPECT_EQ(config->config.tls_ca, "");
  EXPECT_FALSE(ParseClientConfig("secret_file=\n").ok());
}

TEST(ClientOptionsTest, Validate) {
  ClientOptions options;
  EXPECT_FALSE(options.Validate().ok());  // no masters
  options.masters = {"localhost:7000"};
  EXPECT_TRUE(options.Validate().ok());
  options.rpc_timeout_ms = 0;
  EXPECT_FALSE(options.Validate().ok());
  options.rpc_timeout_ms = 100;
  options.chunk_size_bytes = 100;
  EXPECT_FALSE(options.Validate().ok());
  options.chunk_size_bytes = 1 << 20;
  options.masters.push_back("bad");
  EXPECT_FALSE(options.Validate().ok());
}

}  // namespace
}  // namespace dfs
