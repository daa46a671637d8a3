// The trash (client/trash.h): name encoding, and rm / trash ls / restore / purge through the dfs
// commands against the in-process fake cluster.
#include "client/trash.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include "common/file_util.h"
#include "gtest/gtest.h"
#include "tests/unit/client/fake_cluster.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"

namespace dfs {
namespace {

TEST(TrashNameTest, EncodesPathsReversibly) {
  EXPECT_EQ(EncodeTrashName("/data/logs"), "data%2Flogs");
  EXPECT_EQ(EncodeTrashName("/a%b/c"), "a%25b%2Fc");
  EXPECT_EQ(*DecodeTrashName("data%2Flogs"), "/data/logs");
  EXPECT_EQ(*DecodeTrashName("a%25b%2Fc"), "/a%b/c");
  EXPECT_EQ(*DecodeTrashName("data%2Flogs%~3"), "/data/logs");  // a second copy in a checkpoint
  EXPECT_EQ(*DecodeTrashName("x%~1"), "/x");
  EXPECT_FALSE(DecodeTrashName("bad%zz").ok());
  EXPECT_FALSE(DecodeTrashName("x%~y").ok());
  EXPECT_EQ(TrashCheckpointName(0, 0), "19700101T000000Z");
  EXPECT_EQ(TrashCheckpointName(0, 1000), "19700101T000000Z-1000");
  EXPECT_TRUE(IsInTrash("/.Trash"));
  EXPECT_TRUE(IsInTrash("/.Trash/x"));
  EXPECT_FALSE(IsInTrash("/.Trashy"));
}

class TrashCommandsTest : public ::testing::Test {
 protected:
  TrashCommandsTest() : cluster_(3) {
    ClientOptions options;
    options.masters = {cluster_.master->address()};
    options.rpc_timeout_ms = 2000;
    options.op_timeout_ms = 5000;
    client_ = *Client::New(options);
    char tmpl[] = "/tmp/dfs_trash_test.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  ~TrashCommandsTest() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  struct Result {
    int code;
    std::string out;
    std::string err;
  };
  Result Run(std::vector<std::string> args, int64_t now_ns = 1'700'000'000'000'000'000) {
    absl::StatusOr<cli::Invocation> invocation = cli::ParseArgs(args);
    EXPECT_TRUE(invocation.ok()) << invocation.status();
    if (!invocation.ok()) return {2, "", ""};
    std::string out_path = dir_ + "/.out", err_path = dir_ + "/.err";
    cli::CommandEnv env;
    env.out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    env.err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    env.use_trash = true;
    env.now_ns = now_ns;
    int code = cli::RunCommand(*invocation, *client_, env);
    ::close(env.out_fd);
    ::close(env.err_fd);
    return {code, *ReadFile(out_path), *ReadFile(err_path)};
  }
  void PutText(const std::string& path, const std::string& text) {
    std::istringstream in(text);
    ASSERT_TRUE(client_->Put(in, path, PutOptions()).ok());
  }
  std::string Cat(const std::string& path) { return Run({"cat", path}).out; }

  testing::FakeCluster cluster_;
  std::unique_ptr<Client> client_;
  std::string dir_;
};

TEST_F(TrashCommandsTest, RmMovesToTheTrashAndRestorePutsItBack) {
  ASSERT_TRUE(client_->MkdirAll("/d/e").ok());
  PutText("/d/e/f", "hello");
  PutText("/g", "world");
  Result r = Run({"rm", "/d"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "dfs: rm: /d: Is a directory\n");
  EXPECT_EQ(Run({"rm", "-r", "/d"}).code, 0);
  EXPECT_EQ(Run({"rm", "/g"}).code, 0);
  EXPECT_NE(Run({"stat", "/d"}).code, 0);
  EXPECT_EQ(Run({"ls", "/.Trash/20231114T221320Z"}).out, "d\ng\n");
  EXPECT_EQ(Run({"trash", "ls"}).out,
            "20231114T221320Z  /d/  dir  /.Trash/20231114T221320Z/d\n"
            "20231114T221320Z  /g  5  /.Trash/20231114T221320Z/g\n");
  // The same path removed again in the same second gets a suffix.
  PutText("/g", "again");
  EXPECT_EQ(Run({"rm", "/g"}).code, 0);
  EXPECT_EQ(Cat("/.Trash/20231114T221320Z/g%~1"), "again");

  // Restore something inside a trashed directory, by its original path.
  r = Run({"trash", "restore", "/d/e/f"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "restored /d/e/f\n");
  EXPECT_EQ(Cat("/d/e/f"), "hello");
  // By trash path; the newest copy of /g is the one restored by original path.
  EXPECT_EQ(Run({"trash", "restore", "/g"}).code, 0);
  EXPECT_EQ(Cat("/g"), "again");
  r = Run({"trash", "restore", "/.Trash/20231114T221320Z/g"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("exists"), std::string::npos) << r.err;
  EXPECT_EQ(Cat("/g"), "again");
  EXPECT_EQ(Run({"trash", "restore", "/nothing"}).code, 1);

  // --skip-trash and rm inside the trash delete for good; purge empties it.
  PutText("/h", "x");
  EXPECT_EQ(Run({"rm", "--skip-trash", "/h"}).code, 0);
  EXPECT_EQ(Run({"trash", "ls"}).out.find("/h"), std::string::npos);
  EXPECT_EQ(Run({"rm", "/.Trash/20231114T221320Z/g"}).code, 0);
  EXPECT_EQ(Run({"trash", "ls"}).out.find("  /g  "), std::string::npos);
  EXPECT_EQ(Run({"trash", "purge"}).code, 0);
  EXPECT_EQ(Run({"trash", "ls"}).out, "");
  EXPECT_EQ(Cat("/d/e/f"), "hello");
}

}  // namespace
}  // namespace dfs
