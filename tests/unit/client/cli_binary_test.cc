// The dfs binary itself (tools/cli/main.cc) against the in-process fake cluster: finding the
// cluster, exit codes, stdin/stdout, and that an interrupted get leaves no file behind.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "common/file_util.h"
#include "gtest/gtest.h"
#include "tests/unit/client/fake_cluster.h"

namespace dfs {
namespace {

using dfs::testing::FakeCluster;

std::string DfsBinary() {
  const char* dir = std::getenv("DFS_BIN_DIR");
  if (dir != nullptr) return std::string(dir) + "/dfs";
  return std::filesystem::read_symlink("/proc/self/exe").parent_path().string() + "/dfs";
}

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

class CliBinaryTest : public ::testing::Test {
 protected:
  CliBinaryTest() : cluster_(3) {
    char tmpl[] = "/tmp/dfs_cli_binary_test.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  ~CliBinaryTest() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  // Starts dfs with `args`, stdin from `stdin_path` (or /dev/null), a clean environment plus
  // `env`. Returns the pid; output goes to files in dir_.
  pid_t Start(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
              const std::string& stdin_path = "/dev/null") {
    pid_t pid = ::fork();
    if (pid == 0) {
      int in = ::open(stdin_path.c_str(), O_RDONLY);
      int out = ::open((dir_ + "/.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = ::open((dir_ + "/.err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::clearenv();
      ::setenv("HOME", (dir_ + "/home").c_str(), 1);
      for (const auto& [key, value] : env) ::setenv(key.c_str(), value.c_str(), 1);
      std::string binary = DfsBinary();
      std::vector<char*> argv = {binary.data()};
      std::vector<std::string> copy = args;
      for (std::string& arg : copy) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    return pid;
  }

  Result Wait(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    Result result;
    result.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = ReadFile(dir_ + "/.out").value_or("");
    result.err = ReadFile(dir_ + "/.err").value_or("");
    return result;
  }

  Result Run(const std::vector<std::string>& args,
             const std::map<std::string, std::string>& env = {},
             const std::string& stdin_path = "/dev/null") {
    return Wait(Start(args, env, stdin_path));
  }

  std::vector<std::string> WithMasters(std::vector<std::string> args) {
    args.insert(args.begin(), {"--masters", cluster_.master->address(), "--timeout", "5"});
    return args;
  }

  FakeCluster cluster_;
  std::string dir_;
};

TEST_F(CliBinaryTest, UsageErrorsExitTwo) {
  Result r = Run({});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("dfs: missing command"), std::string::npos) << r.err;
  r = Run({"put", "onlyone"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("dfs: put: missing operand"), std::string::npos) << r.err;
  r = Run({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("usage: dfs"), std::string::npos);
  EXPECT_EQ(Run({"ls", "--help"}).code, 0);
}

TEST_F(CliBinaryTest, NoClusterConfigured) {
  Result r = Run({"ls"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("tools/dfs-cluster up"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--masters"), std::string::npos) << r.err;
  r = Run({"ls"}, {{"DFS_CONFIG", dir_ + "/missing.conf"}});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("missing.conf"), std::string::npos) << r.err;
}

TEST_F(CliBinaryTest, FindsTheClusterEveryWay) {
  ASSERT_EQ(Run(WithMasters({"mkdir", "/found"})).code, 0);
  Result r = Run({"ls"}, {{"DFS_MASTERS", cluster_.master->address()}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "found\n");
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/c.conf",
                              "# test\nmasters=" + cluster_.master->address() + "\n")
                  .ok());
  r = Run({"ls"}, {{"DFS_CONFIG", dir_ + "/c.conf"}});
  EXPECT_EQ(r.out, "found\n") << r.err;
  ASSERT_TRUE(MakeDirs(dir_ + "/home/.config/dfs").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/home/.config/dfs/client.conf",
                              "masters=" + cluster_.master->address() + "\n")
                  .ok());
  r = Run({"ls"});
  EXPECT_EQ(r.out, "found\n") << r.err;
  // --masters wins over everything else.
  r = Run({"--masters", "127.0.0.1:1", "--timeout", "0.3", "ls"},
          {{"DFS_MASTERS", cluster_.master->address()}});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("dfs: ls: /: cluster unreachable (masters: 127.0.0.1:1)"),
            std::string::npos)
      << r.err;
}

TEST_F(CliBinaryTest, StdinAndStdout) {
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/in", "from stdin\n").ok());
  Result r = Run(WithMasters({"put", "-", "/s"}), {}, dir_ + "/in");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  r = Run(WithMasters({"get", "/s", "-"}));
  EXPECT_EQ(r.out, "from stdin\n");
  r = Run(WithMasters({"mkdir", "/dir"}));
  r = Run(WithMasters({"put", "-", "/dir"}), {}, dir_ + "/in");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "dfs: put: /dir: Is a directory\n");
}

TEST_F(CliBinaryTest, InterruptedGetLeavesNoFile) {
  std::string data(6 << 20, 'z');
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/big", data).ok());
  ASSERT_EQ(Run(WithMasters({"put", dir_ + "/big", "/big"})).code, 0);
  for (auto& node : cluster_.datanodes) node->piece_delay_ms = 50;
  ASSERT_TRUE(MakeDirs(dir_ + "/dest").ok());
  pid_t pid = Start(WithMasters({"get", "/big", dir_ + "/dest/big"}), {});
  // Wait for the temp file to appear, then interrupt.
  bool seen = false;
  for (int i = 0; i < 200 && !seen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/dest")) {
      seen |= entry.path().filename().string().find(".dfs-get-") != std::string::npos;
    }
  }
  ASSERT_TRUE(seen);
  ::kill(pid, SIGINT);
  Result r = Wait(pid);
  EXPECT_EQ(r.code, 128 + SIGINT);
  EXPECT_TRUE(std::filesystem::is_empty(dir_ + "/dest"));

  for (auto& node : cluster_.datanodes) node->piece_delay_ms = 0;
  r = Run(WithMasters({"get", "/big", dir_ + "/dest/big"}));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(ReadFile(dir_ + "/dest/big").value_or("") == data);
}

}  // namespace
}  // namespace dfs
