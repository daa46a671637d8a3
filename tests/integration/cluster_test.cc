// End-to-end tests of a real cluster (one master, four datanodes in two racks) through the `dfs`
// CLI, the way a user drives it, with the admin and master APIs to look inside.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/client.h"
#include "common/rpc.h"
#include "gtest/gtest.h"
#include "tests/testutil/cluster.h"
#include "tests/testutil/files.h"

namespace dfs::testing {
namespace {

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<TestCluster>();
    absl::Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }

  std::string Local(const std::string& name) { return cluster_->dir() + "/" + name; }

  void Put(const std::string& local, const std::string& remote) {
    CommandResult r = cluster_->Dfs({"put", local, remote});
    ASSERT_EQ(r.exit_code, 0) << r.err << cluster_->MasterLog();
  }
  void ExpectGetMatches(const std::string& remote, const std::string& original) {
    std::string out = Local("got-" + std::to_string(gets_++));
    CommandResult r = cluster_->Dfs({"get", remote, out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(Sha256(out), Sha256(original)) << remote;
    ::unlink(out.c_str());
  }

  GetExtentsResponse Extents(const std::string& path) {
    grpc::ClientContext c1, c2;
    LookupPathRequest lookup;
    lookup.set_path(path);
    AttrResponse attr;
    EXPECT_TRUE(cluster_->master()->LookupPath(&c1, lookup, &attr).ok());
    GetExtentsRequest request;
    request.set_inode(attr.attr().inode());
    GetExtentsResponse response;
    EXPECT_TRUE(cluster_->master()->GetExtents(&c2, request, &response).ok());
    return response;
  }

  // Every chunk of `extents` has 3 distinct replicas, each stored on its (running) datanode.
  void ExpectThreeReplicasOnDisk(const GetExtentsResponse& extents) {
    for (const ChunkLocation& chunk : extents.chunks()) {
      std::set<std::string> ids;
      for (const DatanodeInfo& replica : chunk.replicas()) {
        ids.insert(replica.id());
        int dn = cluster_->FindDatanodeById(replica.id());
        ASSERT_GE(dn, 0);
        EXPECT_TRUE(cluster_->DatanodeRunning(dn)) << "replica on stopped dn" << dn;
        EXPECT_TRUE(ChunkStored(cluster_->datanode_dir(dn), chunk.chunk_id()))
            << "chunk " << chunk.chunk_id() << " missing on dn" << dn;
      }
      EXPECT_EQ(ids.size(), 3u) << "chunk " << chunk.chunk_id() << " needs 3 distinct replicas";
    }
  }

  std::unique_ptr<TestCluster> cluster_;
  int gets_ = 0;
};

TEST_F(ClusterTest, Put200MiBGetBackIdenticalWithThreeDistinctReplicas) {
  std::string local = Local("big");
  WriteRandomFile(local, 200 << 20, /*seed=*/42);
  Put(local, "/big");
  ExpectGetMatches("/big", local);

  GetExtentsResponse extents = Extents("/big");
  EXPECT_EQ(extents.attr().size(), 200u << 20);
  ASSERT_GE(extents.chunks_size(), 4) << "200 MiB must span several 64 MiB chunks";
  ExpectThreeReplicasOnDisk(extents);
}

// A small file's chunk is written to its three datanodes at once (ClientOptions::
// fan_out_max_bytes); with one of them dead the write moves to a new chunk on live nodes.
TEST_F(ClusterTest, SmallFilesGetThreeReplicasEvenWithADatanodeDown) {
  std::string local = Local("small");
  WriteRandomFile(local, 100 << 10, /*seed=*/3);
  Put(local, "/small-1");
  ExpectGetMatches("/small-1", local);
  GetExtentsResponse extents = Extents("/small-1");
  ASSERT_EQ(extents.chunks_size(), 1);
  ExpectThreeReplicasOnDisk(extents);

  // The master still counts the killed node live for a while, so it is placed on; each file
  // must still end with three live replicas.
  cluster_->StopDatanode(0, SIGKILL);
  for (int i = 2; i <= 5; ++i) {
    const std::string remote = absl::StrCat("/small-", i);
    Put(local, remote);
    ExpectGetMatches(remote, local);
    ExpectThreeReplicasOnDisk(Extents(remote));
  }
}

TEST_F(ClusterTest, ReadSucceedsAfterDatanodeKilled) {
  std::string local = Local("f");
  WriteRandomFile(local, 20 << 20, 7);
  Put(local, "/f");
  GetExtentsResponse extents = Extents("/f");
  ASSERT_GT(extents.chunks_size(), 0);
  // Kill the replica a reader would try first.
  int victim = cluster_->FindDatanodeById(extents.chunks(0).replicas(0).id());
  ASSERT_GE(victim, 0);
  cluster_->StopDatanode(victim, SIGKILL);
  ExpectGetMatches("/f", local);
}

TEST_F(ClusterTest, FlippedByteIsReadAroundAndReported) {
  std::string local = Local("f");
  WriteRandomFile(local, 3 << 20, 9);
  Put(local, "/f");
  GetExtentsResponse extents = Extents("/f");
  ASSERT_EQ(extents.chunks_size(), 1);
  const ChunkLocation& chunk = extents.chunks(0);
  std::string bad_id = chunk.replicas(0).id();
  int dn = cluster_->FindDatanodeById(bad_id);
  DamageChunk(cluster_->datanode_dir(dn), chunk.chunk_id(), 123456);

  // Every read is correct; the reader that meets the bad copy reports it.
  bool reported = false;
  for (int attempt = 0; attempt < 20 && !reported; ++attempt) {
    ExpectGetMatches("/f", local);
    grpc::ClientContext context;
    ChunkReplicasRequest request;
    request.set_chunk_id(chunk.chunk_id());
    ChunkReplicasResponse response;
    ASSERT_TRUE(cluster_->admin()->ChunkReplicas(&context, request, &response).ok());
    for (const auto& id : response.corrupt_replicas()) reported |= id == bad_id;
    if (reported) {
      for (const auto& id : response.chunk().replicas()) EXPECT_NE(id, bad_id) << "bad copy kept";
    }
  }
  EXPECT_TRUE(reported) << "corruption on " << bad_id << " never reported";
}

TEST_F(ClusterTest, MasterRestartKeepsNamespace) {
  std::string local = Local("f");
  WriteRandomFile(local, 5 << 20, 11);
  ASSERT_EQ(cluster_->Dfs({"mkdir", "-p", "/a/b/c"}).exit_code, 0);
  Put(local, "/a/b/c/f");
  Put(local, "/a/g");
  ASSERT_EQ(cluster_->Dfs({"mv", "/a/g", "/a/b/h"}).exit_code, 0);
  cluster_->StopMaster(SIGKILL);
  ASSERT_TRUE(cluster_->StartMaster().ok());
  ASSERT_TRUE(cluster_->WaitForLiveDatanodes(4).ok());
  CommandResult ls = cluster_->Dfs({"ls", "/a/b"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find("c"), std::string::npos);
  EXPECT_NE(ls.out.find("h"), std::string::npos);
  ExpectGetMatches("/a/b/c/f", local);
  ExpectGetMatches("/a/b/h", local);
  EXPECT_NE(cluster_->Dfs({"stat", "/a/g"}).exit_code, 0);
}

TEST_F(ClusterTest, InterruptedPutLeavesNoVisibleFile) {
  std::string local = Local("big");
  WriteRandomFile(local, 256 << 20, 5);
  Process put;
  ASSERT_TRUE(put.Start({BinDir() + "/dfs", "--masters=" + cluster_->master_address(), "put",
                         local, "/partial"},
                        Local("put.log"))
                  .ok());
  // Let it get well into the upload (a whole chunk durable on the datanodes), then kill it.
  auto chunk_written = [&] {
    for (int dn = 0; dn < 4; ++dn) {
      std::error_code ec;
      std::filesystem::recursive_directory_iterator it(cluster_->datanode_dir(dn) + "/chunks", ec);
      for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (it->path().extension() == ".chunk") return true;
      }
    }
    return false;
  };
  for (int i = 0; i < 600 && !chunk_written(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(chunk_written()) << "the put never wrote a chunk";
  put.Signal(SIGKILL);
  CommandResult stat = cluster_->Dfs({"stat", "/partial"});
  EXPECT_NE(stat.exit_code, 0);
  EXPECT_NE(stat.err.find("No such file"), std::string::npos) << stat.err;
  CommandResult ls = cluster_->Dfs({"ls", "/"});
  EXPECT_EQ(ls.exit_code, 0);
  EXPECT_EQ(ls.out.find("partial"), std::string::npos) << ls.out;
}

TEST_F(ClusterTest, GetWhileTheFileIsReplacedSeesOneWholeVersion) {
  // `put -f` replaces the inode behind the name; a get racing with it must still find the file.
  ClientOptions options;
  options.masters = cluster_->master_addresses();
  auto writer = Client::New(options);
  auto reader = Client::New(options);
  ASSERT_TRUE(writer.ok() && reader.ok());
  auto version = [](int v) { return std::string(4096 + v, static_cast<char>('a' + v % 26)); };
  auto put = [&](int v) {
    std::string data = version(v);
    size_t offset = 0;
    ByteSource source = [&](char* buffer, size_t size) -> absl::StatusOr<size_t> {
      size_t n = std::min(size, data.size() - offset);
      std::memcpy(buffer, data.data() + offset, n);
      offset += n;
      return n;
    };
    return (*writer)->Put(source, "/replaced", PutOptions{.overwrite = true}).status();
  };
  ASSERT_TRUE(put(0).ok());
  std::atomic<bool> done{false};
  std::thread replacer([&] {
    for (int v = 1; v <= 60; ++v) EXPECT_TRUE(put(v).ok());
    done = true;
  });
  int gets = 0;
  while (!done.load()) {
    std::string got;
    absl::StatusOr<Attr> attr = (*reader)->Get("/replaced", [&](absl::string_view data) {
      got.append(data.data(), data.size());
      return absl::OkStatus();
    });
    ASSERT_TRUE(attr.ok()) << "get " << gets << ": " << attr.status();
    int v = static_cast<int>(got.size()) - 4096;
    ASSERT_TRUE(v >= 0 && got == version(v)) << "a torn or unknown version of " << got.size();
    ++gets;
  }
  replacer.join();
  EXPECT_GT(gets, 0);
}

TEST_F(ClusterTest, CliReportsErrorsClearly) {
  std::string local = Local("small");
  WriteRandomFile(local, 1000, 1);
  Put(local, "/x");
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"get", "/missing", Local("out")}, "No such file or directory"},
      {{"put", local, "/x"}, "File exists"},
      {{"mkdir", "/x/y"}, "Not a directory"},
      {{"cat", "/"}, "Is a directory"},
      {{"ls", "/missing"}, "No such file or directory"},
  };
  ASSERT_EQ(cluster_->Dfs({"mkdir", "/d"}).exit_code, 0);
  Put(local, "/d/f");
  cases.push_back({{"rm", "/d"}, "Is a directory"});
  cases.push_back({{"mkdir", "/d"}, "File exists"});
  for (const Case& c : cases) {
    CommandResult r = cluster_->Dfs(c.args);
    EXPECT_NE(r.exit_code, 0) << absl::StrJoin(c.args, " ");
    EXPECT_NE(r.err.find(c.message), std::string::npos)
        << absl::StrJoin(c.args, " ") << " said: " << r.err;
  }
  EXPECT_EQ(cluster_->Dfs({"rm", "-r", "/d"}).exit_code, 0);
  EXPECT_NE(cluster_->Dfs({"stat", "/d"}).exit_code, 0);
  // Put and cat through stdin/stdout.
  CommandResult put = cluster_->Dfs({"put", "-", "/stdin"}, 60000, local);
  ASSERT_EQ(put.exit_code, 0) << put.err;
  CommandResult cat = cluster_->Dfs({"cat", "/stdin"});
  ASSERT_EQ(cat.exit_code, 0);
  std::ifstream in(local, std::ios::binary);
  std::string expected((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(cat.out, expected);
  // A cluster that is not there: a clear message and a non-zero exit, within the deadline.
  cluster_->StopMaster(SIGKILL);
  CommandResult down = cluster_->Dfs({"--timeout=3", "ls", "/"}, 60000);
  EXPECT_NE(down.exit_code, 0);
  EXPECT_NE(down.err.find("unreachable"), std::string::npos) << down.err;
}

}  // namespace
}  // namespace dfs::testing
