// The dfs commands (tools/cli/commands.h) against the in-process fake cluster: output, error
// lines and exit codes.
#include "tools/cli/commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/file_util.h"
#include "gtest/gtest.h"
#include "tests/unit/client/fake_cluster.h"
#include "tools/cli/args.h"

namespace dfs::cli {
namespace {

using dfs::testing::FakeCluster;

class CliCommandsTest : public ::testing::Test {
 protected:
  CliCommandsTest() : cluster_(3) {
    ClientOptions options;
    options.masters = {cluster_.master->address()};
    options.rpc_timeout_ms = 2000;
    options.op_timeout_ms = 5000;
    options.chunk_size_bytes = 1 << 20;
    client_ = *Client::New(options);
    char tmpl[] = "/tmp/dfs_cli_test.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  ~CliCommandsTest() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  struct Result {
    int code;
    std::string out;
    std::string err;
  };

  Result Run(std::vector<std::string> args) {
    absl::StatusOr<Invocation> invocation = ParseArgs(args);
    EXPECT_TRUE(invocation.ok()) << invocation.status();
    if (!invocation.ok()) return {2, "", ""};
    std::string out_path = dir_ + "/.out", err_path = dir_ + "/.err";
    CommandEnv env;
    env.out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    env.err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    env.umask = 022;
    int code = RunCommand(*invocation, *client_, env);
    ::close(env.out_fd);
    ::close(env.err_fd);
    return {code, *ReadFile(out_path), *ReadFile(err_path)};
  }

  std::string Local(const std::string& name) { return dir_ + "/" + name; }

  FakeCluster cluster_;
  std::unique_ptr<Client> client_;
  std::string dir_;
};

TEST_F(CliCommandsTest, PutGetCat) {
  ASSERT_TRUE(WriteFileAtomic(Local("in.txt"), "hello world\n").ok());
  ::chmod(Local("in.txt").c_str(), 0640);
  Result r = Run({"put", Local("in.txt"), "/a.txt"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  r = Run({"cat", "/a.txt"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "hello world\n");

  r = Run({"put", Local("in.txt"), "/a.txt"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "dfs: put: /a.txt: File exists\n");
  EXPECT_EQ(Run({"put", "-f", Local("in.txt"), "/a.txt"}).code, 0);

  // Into an existing directory, under the local basename, with the local mode.
  ASSERT_EQ(Run({"mkdir", "/d"}).code, 0);
  EXPECT_EQ(Run({"put", Local("in.txt"), "/d"}).code, 0);
  r = Run({"ls", "-l", "/d"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.substr(0, 10), "-rw-r-----");
  EXPECT_NE(r.out.find(" 12 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" in.txt\n"), std::string::npos) << r.out;

  r = Run({"get", "/d/in.txt", Local("out.txt")});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(*ReadFile(Local("out.txt")), "hello world\n");
  // Into a local directory; no temp files left behind.
  ASSERT_TRUE(MakeDirs(Local("sub")).ok());
  EXPECT_EQ(Run({"get", "/a.txt", Local("sub")}).code, 0);
  EXPECT_EQ(*ReadFile(Local("sub/a.txt")), "hello world\n");
  r = Run({"get", "/nope", Local("sub/nope")});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "dfs: get: /nope: No such file or directory\n");
  EXPECT_EQ(std::system(("test -z \"$(ls -A '" + Local("sub") + "' | grep -v '^a.txt$')\"").c_str()),
            0);

  r = Run({"get", "/a.txt", "-"});
  EXPECT_EQ(r.out, "hello world\n");
  r = Run({"cat", "/d"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "dfs: cat: /d: Is a directory\n");
  r = Run({"put", Local("in.txt"), "/nodir/"});
  EXPECT_EQ(r.err, "dfs: put: /nodir/: Not a directory\n");
  r = Run({"put", Local("missing"), "/m"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "dfs: put: " + Local("missing") + ": No such file or directory\n");
}

TEST_F(CliCommandsTest, MkdirRmMv) {
  Result r = Run({"mkdir", "/x/y"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "dfs: mkdir: /x/y: No such file or directory\n");
  EXPECT_EQ(Run({"mkdir", "-p", "/x/y"}).code, 0);
  r = Run({"mkdir", "/x"});
  EXPECT_EQ(r.err, "dfs: mkdir: /x: File exists\n");
  r = Run({"rm", "/x"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "dfs: rm: /x: Is a directory\n");
  r = Run({"rm", "/"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "dfs: rm: /: refusing to remove the root directory\n");
  r = Run({"rm", "/nope", "/x/y/.."});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("dfs: rm: /nope: No such file or directory\n"), std::string::npos);
  EXPECT_NE(r.err.find("dfs: rm: /x/y/..: '..' is not supported"), std::string::npos);
  EXPECT_EQ(Run({"rm", "-f", "/nope"}).code, 0);

  EXPECT_EQ(Run({"mkdir", "/target"}).code, 0);
  EXPECT_EQ(Run({"mv", "/x", "/target"}).code, 0);  // into the directory
  EXPECT_EQ(Run({"ls", "/target"}).out, "x\n");
  EXPECT_EQ(Run({"mv", "/target/x", "/renamed"}).code, 0);
  EXPECT_EQ(Run({"ls", "/renamed"}).out, "y\n");
  r = Run({"mv", "/nope", "/z"});
  EXPECT_EQ(r.err, "dfs: mv: /nope: No such file or directory\n");

  EXPECT_EQ(Run({"rm", "-r", "/renamed", "/target"}).code, 0);
  EXPECT_EQ(Run({"ls"}).out, "");
}

TEST_F(CliCommandsTest, LsStatDu) {
  ASSERT_TRUE(client_->MkdirAll("/p/q").ok());
  std::istringstream five("12345"), three("abc");
  ASSERT_TRUE(client_->Put(five, "/p/five", {}).ok());
  ASSERT_TRUE(client_->Put(three, "/p/q/three", {}).ok());
  ASSERT_TRUE(client_->Symlink(client_->Stat("/p")->inode(), "ln", "q/three").ok());

  Result r = Run({"ls", "/p"});
  EXPECT_EQ(r.out, "five\nln\nq\n");
  r = Run({"ls", "-l", "/p"});
  EXPECT_NE(r.out.find("ln -> q/three\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("drwxr-xr-x"), std::string::npos) << r.out;
  r = Run({"ls", "/p/five", "/p/q"});
  EXPECT_EQ(r.out, "/p/five\n\n/p/q:\nthree\n");
  r = Run({"ls", "/nope"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "dfs: ls: /nope: No such file or directory\n");

  r = Run({"stat", "/p/ln"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("File: /p/ln -> q/three"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("symbolic link"), std::string::npos) << r.out;

  r = Run({"du", "-s", "/p"});
  // 5 + 3 + the symlink's size (its target's length, 7).
  EXPECT_EQ(r.out, "15\t/p\n");
  r = Run({"du", "/p"});
  EXPECT_EQ(r.out, "5\t/p/five\n7\t/p/ln\n3\t/p/q\n15\t/p\n");
  r = Run({"cat", "/p/ln"});
  EXPECT_EQ(r.out, "abc");
}

TEST_F(CliCommandsTest, ClusterUnreachable) {
  cluster_.master->Stop();
  ClientOptions options;
  options.masters = {cluster_.master->address()};
  options.op_timeout_ms = 300;
  client_ = *Client::New(options);
  Result r = Run({"ls", "/"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("dfs: ls: /: cluster unreachable (masters: " +
                            cluster_.master->address() + ")", 0),
            0u)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
}

}  // namespace
}  // namespace dfs::cli
