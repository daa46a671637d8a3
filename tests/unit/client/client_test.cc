// Client against the in-process fake cluster (tests/unit/client/fake_cluster.h): the retry and
// session policy, leader hints, the write pipeline with failures, reads with failover and
// bad-replica reports, and the path helpers.
#include "client/client.h"

#include <cerrno>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/random.h"
#include "gtest/gtest.h"
#include "tests/unit/client/fake_cluster.h"

namespace dfs {
namespace {

using testing::FakeCluster;
using testing::FakeMaster;

std::string RandomBytes(size_t n, uint64_t seed) {
  Random random(seed);
  std::string data(n, '\0');
  for (char& c : data) c = static_cast<char>(random.Next());
  return data;
}

ClientOptions Options(std::vector<std::string> masters) {
  ClientOptions options;
  options.masters = std::move(masters);
  options.rpc_timeout_ms = 2000;
  options.op_timeout_ms = 5000;
  options.chunk_size_bytes = 1536 << 10;  // 1.5 MiB: chunks of one and a half pieces
  // Root (every check passes) in group 100: new files show both.
  options.caller = Caller();
  options.caller->set_uid(0);
  options.caller->set_gid(100);
  return options;
}

std::unique_ptr<Client> NewClient(const ClientOptions& options) {
  absl::StatusOr<std::unique_ptr<Client>> client = Client::New(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return *std::move(client);
}

absl::StatusOr<Attr> PutString(Client& client, const std::string& path, const std::string& data,
                               bool overwrite = false) {
  std::istringstream in(data);
  PutOptions options;
  options.overwrite = overwrite;
  return client.Put(in, path, options);
}

absl::StatusOr<std::string> GetString(Client& client, const std::string& path) {
  std::string out;
  absl::Status status = client
                            .Get(path,
                                 [&out](absl::string_view data) {
                                   out.append(data.data(), data.size());
                                   return absl::OkStatus();
                                 })
                            .status();
  if (!status.ok()) return status;
  return out;
}

class ClientTest : public ::testing::Test {
 protected:
  ClientTest() : cluster_(3) { client_ = NewClient(Options({cluster_.master->address()})); }
  FakeCluster cluster_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClientTest, PutGetRoundTripAcrossChunks) {
  std::string data = RandomBytes(4 * 1024 * 1024 + 12345, 1);
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  std::istringstream in(data);
  PutOptions options;
  options.expected_size = data.size();
  options.progress = [&](uint64_t done, uint64_t total) { progress.emplace_back(done, total); };
  absl::StatusOr<Attr> attr = client_->Put(in, "/big.bin", options);
  ASSERT_TRUE(attr.ok()) << attr.status();
  EXPECT_EQ(attr->size(), data.size());
  EXPECT_EQ(attr->uid(), 0u);
  EXPECT_EQ(attr->gid(), 100u);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().first, data.size());
  EXPECT_EQ(progress.back().second, data.size());
  // Every replica got every chunk: 3 chunks of 1.5 MiB, each on the 3 datanodes.
  for (auto& node : cluster_.datanodes) EXPECT_EQ(node->chunk_count(), 3u);

  absl::StatusOr<std::string> got = GetString(*client_, "/big.bin");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got == data);

  std::string range;
  ASSERT_TRUE(client_->Read(attr->inode(), 1500000, 200000, &range).ok());
  EXPECT_TRUE(range == data.substr(1500000, 200000));
  ASSERT_TRUE(client_->Read(attr->inode(), data.size() - 10, 100, &range).ok());
  EXPECT_EQ(range, data.substr(data.size() - 10));
  ASSERT_TRUE(client_->Read(attr->inode(), data.size() + 10, 100, &range).ok());
  EXPECT_EQ(range, "");
}

TEST_F(ClientTest, BigChunksAreReadInBoundedRequests) {
  ClientOptions options = Options({cluster_.master->address()});
  options.chunk_size_bytes = 6 << 20;
  std::unique_ptr<Client> client = NewClient(options);
  std::string data = RandomBytes(6 << 20, 4);
  ASSERT_TRUE(PutString(*client, "/six", data).ok());
  absl::StatusOr<std::string> got = GetString(*client, "/six");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got == data);
  // 4 MiB + 2 MiB, both from the first replica.
  EXPECT_EQ(cluster_.datanodes[0]->reads.load(), 2);
  EXPECT_EQ(cluster_.datanodes[1]->reads.load(), 0);
}

TEST_F(ClientTest, EmptyFile) {
  absl::StatusOr<Attr> attr = PutString(*client_, "/empty", "");
  ASSERT_TRUE(attr.ok()) << attr.status();
  EXPECT_EQ(attr->size(), 0u);
  absl::StatusOr<std::string> got = GetString(*client_, "/empty");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "");
}

TEST_F(ClientTest, PutRefusesExistingUnlessOverwrite) {
  ASSERT_TRUE(PutString(*client_, "/f", "one").ok());
  absl::StatusOr<Attr> again = PutString(*client_, "/f", "two");
  EXPECT_EQ(ErrnoOf(again.status()), EEXIST) << again.status();
  ASSERT_TRUE(PutString(*client_, "/f", "three", /*overwrite=*/true).ok());
  EXPECT_EQ(*GetString(*client_, "/f"), "three");
  ASSERT_TRUE(client_->MkdirAll("/d").ok());
  EXPECT_EQ(ErrnoOf(PutString(*client_, "/d", "x", true).status()), EISDIR);
  EXPECT_EQ(ErrnoOf(PutString(*client_, "/missing/f", "x").status()), ENOENT);
  EXPECT_EQ(ErrnoOf(PutString(*client_, "/f/g", "x").status()), ENOTDIR);
  EXPECT_EQ(ErrnoOf(GetString(*client_, "/d").status()), EISDIR);
  EXPECT_EQ(ErrnoOf(GetString(*client_, "/nope").status()), ENOENT);
}

TEST_F(ClientTest, WritesAtOffsetsAndHoles) {
  absl::StatusOr<Attr> attr = PutString(*client_, "/h", "");
  ASSERT_TRUE(attr.ok());
  auto written = client_->Write(attr->inode(), 5, "abc");
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->write_offset(), 5u);
  auto appended = client_->Append(attr->inode(), "XY");
  ASSERT_TRUE(appended.ok());
  EXPECT_EQ(appended->write_offset(), 8u);
  ASSERT_TRUE(client_->Write(attr->inode(), 6, "Q").ok());
  EXPECT_EQ(*GetString(*client_, "/h"), std::string("\0\0\0\0\0aQcXY", 10));
}

TEST_F(ClientTest, ReadFailsOverFromACorruptReplicaAndReportsIt) {
  std::string data = RandomBytes(300000, 2);
  ASSERT_TRUE(PutString(*client_, "/c", data).ok());
  cluster_.datanodes[0]->corrupt_reads = true;
  absl::StatusOr<std::string> got = GetString(*client_, "/c");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got == data);
  auto reports = cluster_.master->bad_reports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(std::get<1>(reports[0]), "dn0");
  EXPECT_GT(cluster_.datanodes[1]->reads.load(), 0);
}

TEST_F(ClientTest, ReadFailsOverFromAMissingReplica) {
  ASSERT_TRUE(PutString(*client_, "/m", "hello").ok());
  cluster_.datanodes[0]->lose_chunks = true;
  EXPECT_EQ(*GetString(*client_, "/m"), "hello");
  ASSERT_EQ(cluster_.master->bad_reports().size(), 1u);
}

TEST_F(ClientTest, ReadFailsOverFromADeadReplicaWithoutReportingIt) {
  ASSERT_TRUE(PutString(*client_, "/u", "hello").ok());
  cluster_.datanodes[0]->Stop();
  EXPECT_EQ(*GetString(*client_, "/u"), "hello");
  EXPECT_TRUE(cluster_.master->bad_reports().empty());
}

TEST_F(ClientTest, ReadFailsWhenEveryReplicaIsBad) {
  ASSERT_TRUE(PutString(*client_, "/x", "hello").ok());
  for (auto& node : cluster_.datanodes) node->corrupt_reads = true;
  absl::StatusOr<std::string> got = GetString(*client_, "/x");
  EXPECT_TRUE(absl::IsDataLoss(got.status())) << got.status();
  EXPECT_EQ(cluster_.master->bad_reports().size(), 3u);
}

TEST_F(ClientTest, SinkErrorsStopTheRead) {
  ASSERT_TRUE(PutString(*client_, "/s", "hello").ok());
  absl::Status status =
      client_->Get("/s", [](absl::string_view) { return absl::CancelledError("stop"); }).status();
  EXPECT_TRUE(absl::IsCancelled(status)) << status;
  EXPECT_TRUE(cluster_.master->bad_reports().empty());
}

TEST_F(ClientTest, DirectoriesAndPaging) {
  ASSERT_TRUE(client_->MkdirAll("/a/b/c").ok());
  ASSERT_TRUE(client_->MkdirAll("/a/b/c").ok());  // idempotent
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(PutString(*client_, absl::StrCat("/a/f", i), "x").ok());
  absl::StatusOr<Attr> a = client_->Stat("/a/");
  ASSERT_TRUE(a.ok());
  absl::StatusOr<std::vector<DirEntry>> entries = client_->ReadDir(a->inode());
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 6u);  // pages of 2 from the fake
  EXPECT_EQ((*entries)[0].name(), "b");
  EXPECT_EQ((*entries)[5].name(), "f4");

  EXPECT_EQ(ErrnoOf(client_->Remove("/a", /*recursive=*/false)), EISDIR);
  ASSERT_TRUE(client_->Remove("/a", /*recursive=*/true).ok());
  EXPECT_EQ(ErrnoOf(client_->Stat("/a").status()), ENOENT);
  EXPECT_EQ(ErrnoOf(client_->MkdirAll("/").status()), 0);
}

TEST_F(ClientTest, SymlinksAreFollowedOnTheWay) {
  ASSERT_TRUE(client_->MkdirAll("/real/sub").ok());
  absl::StatusOr<Attr> root = client_->Stat("/");
  ASSERT_TRUE(root.ok());
  ASSERT_TRUE(client_->Symlink(root->inode(), "abs", "/real").ok());
  absl::StatusOr<Attr> real = client_->Stat("/real");
  ASSERT_TRUE(client_->Symlink(real->inode(), "rel", "../real/sub").ok());
  ASSERT_TRUE(client_->Symlink(root->inode(), "loop", "/loop").ok());

  ASSERT_TRUE(PutString(*client_, "/abs/sub/file", "via link").ok());
  EXPECT_EQ(*GetString(*client_, "/real/sub/file"), "via link");
  EXPECT_EQ(*GetString(*client_, "/abs/rel/file"), "via link");
  absl::StatusOr<Attr> link = client_->Stat("/abs");
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->type(), FILE_TYPE_SYMLINK);
  absl::StatusOr<Attr> followed = client_->ResolvePath("/abs", true);
  ASSERT_TRUE(followed.ok());
  EXPECT_EQ(followed->inode(), real->inode());
  EXPECT_EQ(ErrnoOf(client_->ResolvePath("/loop", true).status()), ELOOP);
  EXPECT_EQ(ErrnoOf(client_->Stat("/abs/nope").status()), ENOENT);
  // Removing a symlink removes the link, not what it points to.
  ASSERT_TRUE(client_->Remove("/abs", true).ok());
  EXPECT_TRUE(client_->Stat("/real/sub/file").ok());
}

TEST_F(ClientTest, MoveAndLink) {
  ASSERT_TRUE(PutString(*client_, "/one", "1").ok());
  ASSERT_TRUE(client_->MkdirAll("/dir").ok());
  ASSERT_TRUE(client_->Move("/one", "/dir/two").ok());
  EXPECT_EQ(*GetString(*client_, "/dir/two"), "1");
  EXPECT_EQ(ErrnoOf(client_->Stat("/one").status()), ENOENT);
  EXPECT_EQ(ErrnoOf(client_->Move("/nope", "/x")), ENOENT);
}

TEST_F(ClientTest, UnlinkAndRenameCanKeepAnOpenFileAsAnOrphan) {
  absl::StatusOr<Attr> kept = PutString(*client_, "/kept", "still here");
  ASSERT_TRUE(kept.ok()) << kept.status();
  ASSERT_TRUE(client_->Unlink(kRootInode, "kept", /*keep_orphan=*/true).ok());
  EXPECT_EQ(ErrnoOf(client_->Lookup(kRootInode, "kept").status()), ENOENT);
  absl::StatusOr<Attr> orphan = client_->GetAttr(kept->inode());
  ASSERT_TRUE(orphan.ok()) << orphan.status();
  EXPECT_EQ(orphan->nlink(), 0u);
  std::string data;
  ASSERT_TRUE(client_->Read(kept->inode(), 0, 100, &data).ok());
  EXPECT_EQ(data, "still here");
  ASSERT_TRUE(client_->ReleaseOrphan(kept->inode()).ok());
  EXPECT_EQ(ErrnoOf(client_->GetAttr(kept->inode()).status()), ENOENT);
  // Releasing again (or a file that never was an orphan) is harmless.
  EXPECT_TRUE(client_->ReleaseOrphan(kept->inode()).ok());

  absl::StatusOr<Attr> target = PutString(*client_, "/target", "old");
  ASSERT_TRUE(target.ok());
  ASSERT_TRUE(PutString(*client_, "/source", "new").ok());
  ASSERT_TRUE(client_->Rename(kRootInode, "source", kRootInode, "target", /*noreplace=*/false,
                              /*keep_orphan=*/true)
                  .ok());
  ASSERT_TRUE(client_->Read(target->inode(), 0, 100, &data).ok());
  EXPECT_EQ(data, "old");
  EXPECT_EQ(*GetString(*client_, "/target"), "new");
  ASSERT_TRUE(client_->ReleaseOrphan(target->inode()).ok());
  EXPECT_EQ(ErrnoOf(client_->GetAttr(target->inode()).status()), ENOENT);

  // Without keep_orphan the inode goes at once.
  absl::StatusOr<Attr> gone = PutString(*client_, "/gone", "x");
  ASSERT_TRUE(gone.ok());
  ASSERT_TRUE(client_->Unlink(kRootInode, "gone").ok());
  EXPECT_EQ(ErrnoOf(client_->GetAttr(gone->inode()).status()), ENOENT);
}

TEST_F(ClientTest, ReadExtentsServesRangesFromOneExtentAnswer) {
  std::string data = RandomBytes(3 << 20, 9);
  absl::StatusOr<Attr> attr = PutString(*client_, "/ext", data);
  ASSERT_TRUE(attr.ok());
  ASSERT_TRUE(client_->Write(attr->inode(), (3 << 20) + 1000, "tail").ok());
  data.append(1000, '\0');
  data.append("tail");
  absl::StatusOr<GetExtentsResponse> extents = client_->GetExtents(attr->inode(), 0, 0);
  ASSERT_TRUE(extents.ok());
  const int calls_before = cluster_.master->calls.load();
  auto read = [&](uint64_t offset, uint64_t length) {
    std::string out;
    absl::StatusOr<uint64_t> n =
        client_->ReadExtents(*extents, offset, length, [&](absl::string_view piece) {
          out.append(piece.data(), piece.size());
          return absl::OkStatus();
        });
    EXPECT_TRUE(n.ok()) << n.status();
    if (n.ok()) {
      EXPECT_EQ(*n, out.size());
    }
    return out;
  };
  EXPECT_TRUE(read(0, data.size()) == data);
  EXPECT_TRUE(read(1500000, 100) == data.substr(1500000, 100));
  // Across the hole, and past the end: cut at the size the answer gives.
  EXPECT_TRUE(read((3 << 20) - 10, 5000) == data.substr((3 << 20) - 10));
  EXPECT_EQ(read(data.size() + 1, 10), "");
  // No master call: everything came from the answer.
  EXPECT_EQ(cluster_.master->calls.load(), calls_before);
}

TEST_F(ClientTest, WritePipelineAvoidsADeadDatanode) {
  // A fourth datanode; the first one in the master's order dies before the write.
  FakeCluster cluster(4);
  std::unique_ptr<Client> client = NewClient(Options({cluster.master->address()}));
  cluster.datanodes[0]->Stop();
  std::string data = RandomBytes(2 << 20, 3);
  ASSERT_TRUE(PutString(*client, "/p", data).ok());
  EXPECT_EQ(cluster.datanodes[3]->chunk_count(), 2u);
  EXPECT_TRUE(*GetString(*client, "/p") == data);
}

TEST_F(ClientTest, WriteFailsCleanlyWhenNoPipelineWorks) {
  for (auto& node : cluster_.datanodes) node->fail_writes = true;
  absl::StatusOr<Attr> attr = PutString(*client_, "/w", "data");
  EXPECT_FALSE(attr.ok());
  // Nothing visible: put commits only after every chunk is written.
  EXPECT_EQ(ErrnoOf(client_->Stat("/w").status()), ENOENT);
}

TEST(MasterClientTest, FollowsTheLeaderHint) {
  FakeCluster leader(3);
  FakeMaster follower;
  follower.Start();
  follower.SetNotLeader(true, leader.master->address());
  std::unique_ptr<Client> client = NewClient(Options({follower.address(), leader.master->address()}));
  ASSERT_TRUE(client->MkdirAll("/x").ok());
  EXPECT_EQ(follower.calls.load(), 1);  // asked once, then the leader is remembered
  EXPECT_GE(leader.master->calls.load(), 2);
}

TEST(MasterClientTest, RotatesWithoutAHint) {
  FakeCluster leader(3);
  FakeMaster follower;
  follower.Start();
  follower.SetNotLeader(true, "");
  std::unique_ptr<Client> client = NewClient(Options({follower.address(), leader.master->address()}));
  ASSERT_TRUE(client->Stat("/").ok());
  EXPECT_EQ(follower.calls.load(), 1);
}

TEST(MasterClientTest, DeadMastersAreSkipped) {
  FakeCluster leader(3);
  FakeMaster dead;
  dead.Start();
  std::string dead_address = dead.address();
  dead.Stop();
  std::unique_ptr<Client> client = NewClient(Options({dead_address, leader.master->address()}));
  ASSERT_TRUE(client->Stat("/").ok());
}

TEST(MasterClientTest, UnreachableClusterGivesUpAtTheDeadline) {
  FakeMaster dead;
  dead.Start();
  std::string dead_address = dead.address();
  dead.Stop();
  ClientOptions options = Options({dead_address});
  options.op_timeout_ms = 700;
  std::unique_ptr<Client> client = NewClient(options);
  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<Attr> attr = client->Stat("/");
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(absl::IsUnavailable(attr.status()) || absl::IsDeadlineExceeded(attr.status()))
      << attr.status();
  EXPECT_NE(attr.status().message().find("cluster unreachable (masters: " + dead_address + ")"),
            absl::string_view::npos)
      << attr.status();
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST(MasterClientTest, RetryReusesTheSessionSeq) {
  FakeCluster cluster(3);
  std::unique_ptr<Client> client = NewClient(Options({cluster.master->address()}));
  cluster.master->DropResponsesAfterApply(1);
  absl::StatusOr<Attr> root = client->Stat("/");
  ASSERT_TRUE(root.ok());
  // Applied, answer lost, retried: the retry gets the recorded answer, not EEXIST.
  absl::StatusOr<Attr> dir = client->Mkdir(root->inode(), "once", 0755);
  ASSERT_TRUE(dir.ok()) << dir.status();
  ASSERT_TRUE(client->Mkdir(root->inode(), "twice", 0755).ok());
  auto sessions = cluster.master->sessions();
  ASSERT_EQ(sessions.size(), 3u);
  EXPECT_NE(sessions[0].first, 0u);
  EXPECT_EQ(sessions[0], sessions[1]);  // the retry
  EXPECT_EQ(sessions[2].first, sessions[0].first);
  EXPECT_EQ(sessions[2].second, sessions[0].second + 1);
  EXPECT_EQ(cluster.master->applied.load(), 2);
}

TEST(MasterClientTest, ConcurrentMutationsNeverShareASession) {
  FakeCluster cluster(3);
  std::unique_ptr<Client> client = NewClient(Options({cluster.master->address()}));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t]() {
      for (int i = 0; i < 10; ++i) {
        if (!client->Mkdir(kRootInode, absl::StrCat("d", t, "_", i), 0755).ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  // Per client id, seqs arrive in order 1, 2, 3... with no gaps or repeats.
  std::map<uint64_t, uint64_t> last;
  for (auto [client_id, seq] : cluster.master->sessions()) {
    EXPECT_EQ(seq, last[client_id] + 1) << "client " << client_id;
    last[client_id] = seq;
  }
  EXPECT_LE(last.size(), 8u);
}

}  // namespace
}  // namespace dfs
