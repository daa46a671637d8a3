// Two dfs-fuse mounts of one cluster, as two machines would have: close-to-open consistency
// between them, name changes in one seen by the other, and concurrent O_APPEND writers in four
// processes through both mounts, whose 4 KiB records must all arrive whole, once each, in each
// writer's order.
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/random.h"
#include "gtest/gtest.h"
#include "tests/testutil/files.h"
#include "tests/testutil/http.h"
#include "tests/fuse/fuse_test_util.h"

namespace dfs::testing {
namespace {

class TwoMountsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new TestCluster();
    absl::Status status = cluster_->Start();
    ASSERT_TRUE(status.ok()) << status;
    for (FuseMount** mount : {&a_, &b_}) {
      *mount = new FuseMount();
      status = (*mount)->Mount(cluster_->master_address());
      ASSERT_TRUE(status.ok()) << status;
    }
  }
  static void TearDownTestSuite() {
    for (FuseMount** mount : {&a_, &b_}) {
      if (*mount == nullptr) continue;
      absl::Status status = (*mount)->Unmount();
      EXPECT_TRUE(status.ok()) << status;
      delete *mount;
      *mount = nullptr;
    }
    delete cluster_;
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "mount A log:\n" << a_->Log() << "\nmount B log:\n" << b_->Log();
  }

  static inline TestCluster* cluster_ = nullptr;
  static inline FuseMount* a_ = nullptr;
  static inline FuseMount* b_ = nullptr;
};

// The content of a file another mount created, read once its name shows here. A new name shows
// when the change feed delivers it: at once normally, but a mount whose feed thread is starved
// (a loaded machine) answers "no such name" from its cache for up to --meta_cache_grace_ms
// (0.5 s), and its kernel may keep that answer for the entry timeout (1 s). What close-to-open
// promises is the content: the first open that finds the name reads exactly what was closed.
std::string ReadOnceNamed(const std::string& path) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (::access(path.c_str(), F_OK) != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ReadFile(path);
}

TEST_F(TwoMountsTest, WrittenAndClosedInOneReadsBackInTheOther) {
  ASSERT_EQ(::mkdir(a_->Path("c2o").c_str(), 0755), 0);
  int seed = 0;
  for (size_t size : {size_t{0}, size_t{10}, size_t{(1 << 20) + 1}, size_t{9 << 20}}) {
    std::string name = absl::StrCat("c2o/f", size);
    std::string data = RandomBytes(size, ++seed);
    ASSERT_TRUE(WriteFile(a_->Path(name), data));
    const std::string got = ReadOnceNamed(b_->Path(name));
    EXPECT_TRUE(got == data) << name << ": " << got.size() << " bytes: " << got.substr(0, 60);
  }
  // B has the file cached now; A rewrites it in place (same inode, another length), then
  // appends: each time B's next open sees exactly what A closed.
  const std::string name = "c2o/changing";
  ASSERT_TRUE(WriteFile(a_->Path(name), std::string(5000, 'x')));
  ASSERT_EQ(ReadOnceNamed(b_->Path(name)), std::string(5000, 'x'));
  std::string second = RandomBytes(7000, 99);
  ASSERT_TRUE(WriteFile(a_->Path(name), second));
  EXPECT_TRUE(ReadFile(b_->Path(name)) == second);
  ASSERT_TRUE(WriteFile(a_->Path(name), "tail", 4096, O_APPEND));
  // (WriteFile opens with O_TRUNC too: the file is now just "tail".)
  EXPECT_EQ(ReadFile(b_->Path(name)), "tail");
  int fd = ::open(a_->Path(name).c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "+more", 5), 5);
  ASSERT_EQ(::close(fd), 0);
  EXPECT_EQ(ReadFile(b_->Path(name)), "tail+more");
  // Names too: created in A, listed and removed in B, gone in A.
  ASSERT_TRUE(WriteFile(a_->Path("c2o/new"), "n"));
  EXPECT_EQ(ReadOnceNamed(b_->Path("c2o/new")), "n");
  ASSERT_EQ(::unlink(b_->Path("c2o/new").c_str()), 0);
  // (An unlink B answered before the master applied it is there once B's fsyncdir returns.)
  ASSERT_EQ(SyncDir(b_->Path("c2o")), 0);
  EXPECT_EQ(ReadFile(a_->Path("c2o/new")).substr(0, 7), "<error:");
}

// A answers its kernel's getattr after its own rename, unlink and rmdir itself (from the
// changes' replies, or its own guess for changes it answered before the master applied them);
// B, which saw the directories before, must see what A sees once both kernels' caches (1 s for
// attributes and names) run out.
TEST_F(TwoMountsTest, NameChangesInOneShowInTheOtherAfterTheAttributeTimeout) {
  for (const char* dir : {"names", "names/src", "names/dst", "names/src/sub"}) {
    ASSERT_EQ(::mkdir(a_->Path(dir).c_str(), 0755), 0) << dir;
  }
  ASSERT_TRUE(WriteFile(a_->Path("names/src/f"), "f"));
  ASSERT_TRUE(WriteFile(a_->Path("names/src/g"), "g"));
  // B's kernel learns the old state (the names made last first: the feed delivers in order).
  EXPECT_EQ(ReadOnceNamed(b_->Path("names/src/g")), "g");
  EXPECT_EQ(ReadOnceNamed(b_->Path("names/src/f")), "f");
  const struct stat b_src_before = StatOf(b_->Path("names/src"));
  const struct stat b_dst_before = StatOf(b_->Path("names/dst"));
  EXPECT_EQ(ErrnoIf(::access(b_->Path("names/src/sub").c_str(), F_OK)), 0);

  ASSERT_EQ(::rename(a_->Path("names/src/f").c_str(), a_->Path("names/dst/f").c_str()), 0);
  ASSERT_EQ(::rename(a_->Path("names/dst/f").c_str(), a_->Path("names/dst/f2").c_str()), 0);
  ASSERT_EQ(::unlink(a_->Path("names/src/g").c_str()), 0);
  ASSERT_EQ(::rmdir(a_->Path("names/src/sub").c_str()), 0);
  const struct stat a_src = StatOf(a_->Path("names/src"));
  const struct stat a_dst = StatOf(a_->Path("names/dst"));
  EXPECT_EQ(a_src.st_nlink, b_src_before.st_nlink - 1);
  EXPECT_GT(Nanos(a_src.st_mtim), Nanos(b_src_before.st_mtim));
  EXPECT_GT(Nanos(a_dst.st_mtim), Nanos(b_dst_before.st_mtim));

  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const struct stat b_src = StatOf(b_->Path("names/src"));
  const struct stat b_dst = StatOf(b_->Path("names/dst"));
  const struct stat a_src_later = StatOf(a_->Path("names/src"));
  const struct stat a_dst_later = StatOf(a_->Path("names/dst"));
  EXPECT_EQ(Nanos(b_src.st_mtim), Nanos(a_src_later.st_mtim));
  EXPECT_EQ(b_src.st_nlink, a_src.st_nlink);
  EXPECT_EQ(a_src_later.st_nlink, a_src.st_nlink);
  EXPECT_EQ(Nanos(b_dst.st_mtim), Nanos(a_dst_later.st_mtim));
  EXPECT_EQ(b_dst.st_nlink, a_dst.st_nlink);
  EXPECT_EQ(ErrnoIf(::access(b_->Path("names/src/f").c_str(), F_OK)), ENOENT);
  EXPECT_EQ(ErrnoIf(::access(b_->Path("names/src/g").c_str(), F_OK)), ENOENT);
  EXPECT_EQ(ErrnoIf(::access(b_->Path("names/src/sub").c_str(), F_OK)), ENOENT);
  EXPECT_EQ(ReadFile(b_->Path("names/dst/f2")), "f");
}

// Past the kernel's timeouts, lookups and stats are answered by dfs-fuse's metadata cache (no
// master round trip), which the master's change feed keeps current: what B changes, A's cache
// shows.
TEST_F(TwoMountsTest, TheMetadataCacheAnswersLookupsAndFollowsTheOtherMountsChanges) {
  auto cache_hits = [](FuseMount* mount) {
    return SumMetric(ScrapeMetrics(mount->http_address()), "dfs_fuse_meta_cache_hits_total");
  };
  constexpr int kFiles = 10;
  ASSERT_EQ(::mkdir(a_->Path("mc").c_str(), 0755), 0);
  for (int i = 0; i < kFiles; ++i) {
    ASSERT_TRUE(WriteFile(a_->Path(absl::StrCat("mc/f", i)), "x"));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // the kernel forgets
  const double before = cache_hits(a_);
  for (int i = 0; i < kFiles; ++i) {
    EXPECT_EQ(StatOf(a_->Path(absl::StrCat("mc/f", i))).st_size, 1);
  }
  EXPECT_GE(cache_hits(a_) - before, kFiles);

  ASSERT_EQ(::unlink(b_->Path("mc/f0").c_str()), 0);
  ASSERT_EQ(::chmod(b_->Path("mc/f1").c_str(), 0600), 0);
  ASSERT_TRUE(WriteFile(b_->Path("mc/fresh"), "fresh"));
  ASSERT_TRUE(WriteFile(b_->Path("mc/f2"), "longer"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  const double middle = cache_hits(a_);
  EXPECT_EQ(ErrnoIf(::access(a_->Path("mc/f0").c_str(), F_OK)), ENOENT);
  EXPECT_EQ(StatOf(a_->Path("mc/f1")).st_mode & 07777, 0600u);
  EXPECT_EQ(StatOf(a_->Path("mc/f2")).st_size, 6);
  EXPECT_EQ(StatOf(a_->Path("mc/fresh")).st_size, 5);
  EXPECT_GE(cache_hits(a_) - middle, 4);
  EXPECT_EQ(ReadFile(a_->Path("mc/fresh")), "fresh");
}

TEST_F(TwoMountsTest, ConcurrentAppendsFromFourProcessesNeverInterleave) {
  constexpr int kRecords = 150;
  constexpr size_t kRecordBytes = 4096;
  ASSERT_TRUE(WriteFile(a_->Path("log"), ""));
  const char* modes[] = {"plain", "fsync", "reopen", "plain"};
  std::vector<std::unique_ptr<Process>> writers;
  for (int w = 0; w < 4; ++w) {
    FuseMount* mount = w % 2 == 0 ? a_ : b_;
    auto process = std::make_unique<Process>();
    absl::Status status =
        process->Start({BinDir() + "/fuse_test_appender", mount->Path("log"), absl::StrCat(w),
                        absl::StrCat(kRecords), modes[w]},
                       cluster_->dir() + absl::StrCat("/appender", w, ".log"));
    ASSERT_TRUE(status.ok()) << status;
    writers.push_back(std::move(process));
  }
  for (int w = 0; w < 4; ++w) {
    absl::StatusOr<int> code = writers[w]->Wait(120000);
    ASSERT_TRUE(code.ok()) << "writer " << w << " did not finish";
    EXPECT_EQ(*code, 0) << "writer " << w;
  }
  const std::string from_a = ReadFile(a_->Path("log"));
  const std::string from_b = ReadFile(b_->Path("log"));
  ASSERT_EQ(from_a.size(), 4 * kRecords * kRecordBytes);
  ASSERT_TRUE(from_a == from_b);
  std::set<std::pair<int, int>> seen;
  std::vector<int> last(4, -1);
  for (size_t offset = 0; offset < from_a.size(); offset += kRecordBytes) {
    absl::string_view record(from_a.data() + offset, kRecordBytes);
    int writer = -1;
    int index = -1;
    size_t newline = record.find('\n');
    std::vector<std::string> words = absl::StrSplit(record.substr(0, newline), ' ');
    ASSERT_EQ(words.size(), 4u) << "torn record at " << offset;
    ASSERT_TRUE(absl::SimpleAtoi(words[1], &writer) && absl::SimpleAtoi(words[3], &index))
        << "torn record at " << offset;
    ASSERT_TRUE(writer >= 0 && writer < 4 && index >= 0 && index < kRecords) << offset;
    // The padding is all one letter, fixed by (writer, record): a record from another write
    // mixed in would show.
    const char fill = static_cast<char>('a' + (writer * 7 + index) % 26);
    for (size_t i = newline + 2; i + 1 < kRecordBytes; ++i) {
      ASSERT_EQ(record[i], fill) << "record " << writer << "/" << index << " at " << offset;
    }
    EXPECT_TRUE(seen.emplace(writer, index).second) << "duplicate " << writer << "/" << index;
    EXPECT_GT(index, last[writer]) << "writer " << writer << " out of order";
    last[writer] = index;
  }
  EXPECT_EQ(seen.size(), 4u * kRecords);
}

}  // namespace
}  // namespace dfs::testing
