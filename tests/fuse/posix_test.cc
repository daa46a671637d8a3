// POSIX behaviour of a real dfs-fuse mount, through real system calls: files, directories,
// names, links, attributes, the error codes of each failure, open-unlinked files, renameat2
// flags, durability at fsync and close-to-open consistency against another client.
//
// One cluster and one mount serve the whole suite; every test works in a directory of its own.
// The mount commits write buffers at 2 MiB (--chunk_size_bytes) so that buffer-size commits
// happen with small files.
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "common/random.h"
#include "gtest/gtest.h"
#include "tests/testutil/files.h"
#include "tests/testutil/http.h"
#include "tests/fuse/fuse_test_util.h"

namespace dfs::testing {
namespace {

class PosixTest : public MountedClusterTest {
 protected:
  static void SetUpTestSuite() { StartCluster({"--chunk_size_bytes=2097152"}); }
  static void TearDownTestSuite() { StopCluster(); }

  void SetUp() override {
    MountedClusterTest::SetUp();
    dir_ = M(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(::mkdir(dir_.c_str(), 0755), 0) << strerror(errno);
  }

  std::string P(const std::string& name) const { return dir_ + "/" + name; }

  struct stat Stat(const std::string& path) { return StatOf(path); }

  // A client of the same cluster that is not the mount (another machine, in effect).
  std::unique_ptr<Client> OtherClient() {
    ClientOptions options;
    options.masters = {cluster_->master_address()};
    absl::StatusOr<std::unique_ptr<Client>> client = Client::New(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  // Waits until the master no longer has `inode` (an orphan is freed after the last release,
  // which the kernel sends asynchronously after close).
  ::testing::AssertionResult InodeGoneSoon(uint64_t inode) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      grpc::ClientContext context;
      GetAttrRequest request;
      request.set_inode(inode);
      AttrResponse response;
      grpc::Status status = cluster_->master()->GetAttr(&context, request, &response);
      if (status.error_code() == grpc::StatusCode::NOT_FOUND) return ::testing::AssertionSuccess();
      if (std::chrono::steady_clock::now() > deadline) {
        return ::testing::AssertionFailure()
               << "inode " << inode << " still exists: " << status.error_message() << " nlink "
               << response.attr().nlink();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  std::string dir_;
};

TEST_F(PosixTest, CreateWriteReadBackManySizes) {
  int seed = 0;
  for (size_t size : {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, size_t{(1 << 20) + 3},
                      size_t{(5 << 20) + 7}}) {
    for (size_t piece : {size_t{4096}, size_t{128 << 10}, size_t{1 << 20}}) {
      std::string name = absl::StrCat("f", size, "_", piece);
      std::string data = RandomBytes(size, ++seed);
      ASSERT_TRUE(WriteFile(P(name), data, piece));
      EXPECT_EQ(Stat(P(name)).st_size, static_cast<off_t>(size)) << name;
      EXPECT_TRUE(ReadFile(P(name), piece) == data) << name;
    }
  }
}

TEST_F(PosixTest, ReadsOwnWritesBeforeClose) {
  int fd = ::open(P("f").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  std::string data = RandomBytes(3000, 1);
  ASSERT_EQ(::write(fd, data.data(), data.size()), 3000);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 3000);
  std::string buffer(4000, '\0');
  ASSERT_EQ(::pread(fd, buffer.data(), 4000, 0), 3000);
  EXPECT_TRUE(buffer.substr(0, 3000) == data);
  // Another descriptor of this mount sees it too.
  EXPECT_TRUE(ReadFile(P("f")) == data);
  // And buffered bytes past a commit: write more, read at once.
  ASSERT_EQ(::write(fd, "tail", 4), 4);
  ASSERT_EQ(::pread(fd, buffer.data(), 10, 2998), 6);
  EXPECT_EQ(buffer.substr(0, 6), data.substr(2998) + "tail");
  EXPECT_EQ(::close(fd), 0);
}

TEST_F(PosixTest, AppendAndOverwrite) {
  ASSERT_TRUE(WriteFile(P("f"), "hello world"));
  int fd = ::open(P("f").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, " again", 6), 6);
  // O_APPEND writes go to the end whatever the offset.
  ASSERT_EQ(::lseek(fd, 0, SEEK_SET), 0);
  ASSERT_EQ(::write(fd, "!", 1), 1);
  ASSERT_EQ(::close(fd), 0);
  fd = ::open(P("f").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "HELLO", 5, 0), 5);
  ASSERT_EQ(::pwrite(fd, "W", 1, 6), 1);
  ASSERT_EQ(::close(fd), 0);
  EXPECT_EQ(ReadFile(P("f")), "HELLO World again!");
  // Appends from two descriptors of one process, interleaved.
  int a = ::open(P("f").c_str(), O_WRONLY | O_APPEND);
  int b = ::open(P("f").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_EQ(::write(a, "1", 1), 1);
  ASSERT_EQ(::write(b, "2", 1), 1);
  ASSERT_EQ(::write(a, "3", 1), 1);
  ASSERT_EQ(::close(a), 0);
  ASSERT_EQ(::close(b), 0);
  EXPECT_EQ(ReadFile(P("f")), "HELLO World again!123");
}

TEST_F(PosixTest, WritePastTheEndLeavesAHoleOfZeros) {
  int fd = ::open(P("f").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "x", 1, 1 << 20), 1);
  ASSERT_EQ(::pwrite(fd, "ab", 2, 10), 2);
  ASSERT_EQ(::close(fd), 0);
  std::string expected((1 << 20) + 1, '\0');
  expected[10] = 'a';
  expected[11] = 'b';
  expected[1 << 20] = 'x';
  EXPECT_EQ(Stat(P("f")).st_size, (1 << 20) + 1);
  EXPECT_TRUE(ReadFile(P("f")) == expected);
}

TEST_F(PosixTest, Truncate) {
  std::string data = RandomBytes(100000, 2);
  ASSERT_TRUE(WriteFile(P("f"), data));
  ASSERT_EQ(::truncate(P("f").c_str(), 5000), 0);
  EXPECT_EQ(Stat(P("f")).st_size, 5000);
  EXPECT_TRUE(ReadFile(P("f")) == data.substr(0, 5000));
  ASSERT_EQ(::truncate(P("f").c_str(), 8000), 0);
  EXPECT_TRUE(ReadFile(P("f")) == data.substr(0, 5000) + std::string(3000, '\0'));
  // ftruncate of a file with buffered writes: the writes come first.
  int fd = ::open(P("f").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "zzzz", 4, 7998), 4);
  ASSERT_EQ(::ftruncate(fd, 8001), 0);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, 8001);
  ASSERT_EQ(::close(fd), 0);
  EXPECT_TRUE(ReadFile(P("f")) == data.substr(0, 5000) + std::string(2998, '\0') + "zzz");
  // O_TRUNC.
  fd = ::open(P("f").c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "new", 3), 3);
  ASSERT_EQ(::close(fd), 0);
  EXPECT_EQ(ReadFile(P("f")), "new");
  EXPECT_EQ(ErrnoIf(::truncate(P("missing").c_str(), 0)), ENOENT);
  EXPECT_EQ(ErrnoIf(::truncate(dir_.c_str(), 0)), EISDIR);
}

TEST_F(PosixTest, Rename) {
  ASSERT_TRUE(WriteFile(P("a"), "A"));
  ASSERT_TRUE(WriteFile(P("b"), "B"));
  ASSERT_EQ(::mkdir(P("d").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(P("e").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(P("full").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(P("full/x"), "x"));

  // Within a directory, then across directories.
  ASSERT_EQ(::rename(P("a").c_str(), P("a2").c_str()), 0);
  EXPECT_EQ(ErrnoIf(::access(P("a").c_str(), F_OK)), ENOENT);
  ASSERT_EQ(::rename(P("a2").c_str(), P("d/a3").c_str()), 0);
  EXPECT_EQ(ReadFile(P("d/a3")), "A");
  // Over an existing file: replaced.
  ASSERT_EQ(::rename(P("d/a3").c_str(), P("b").c_str()), 0);
  EXPECT_EQ(ReadFile(P("b")), "A");
  // A directory over an empty directory, with its contents.
  ASSERT_TRUE(WriteFile(P("d/inner"), "in"));
  ASSERT_EQ(::rename(P("d").c_str(), P("e").c_str()), 0);
  EXPECT_EQ(ReadFile(P("e/inner")), "in");
  EXPECT_EQ(ErrnoIf(::access(P("d").c_str(), F_OK)), ENOENT);

  EXPECT_EQ(ErrnoIf(::rename(P("e").c_str(), P("full").c_str())), ENOTEMPTY);
  EXPECT_EQ(ErrnoIf(::rename(P("b").c_str(), P("e").c_str())), EISDIR);
  EXPECT_EQ(ErrnoIf(::rename(P("e").c_str(), P("b").c_str())), ENOTDIR);
  EXPECT_EQ(ErrnoIf(::rename(P("missing").c_str(), P("x").c_str())), ENOENT);
  EXPECT_EQ(ErrnoIf(::rename(P("e").c_str(), P("e/sub").c_str())), EINVAL);

  // renameat2 flags.
  ASSERT_TRUE(WriteFile(P("c"), "C"));
  EXPECT_EQ(ErrnoIf(::renameat2(AT_FDCWD, P("c").c_str(), AT_FDCWD, P("b").c_str(),
                                RENAME_NOREPLACE)),
            EEXIST);
  EXPECT_EQ(ReadFile(P("b")), "A");
  EXPECT_EQ(ErrnoIf(::renameat2(AT_FDCWD, P("c").c_str(), AT_FDCWD, P("b").c_str(),
                                RENAME_EXCHANGE)),
            EINVAL);
  EXPECT_EQ(ReadFile(P("b")), "A");
  EXPECT_EQ(ReadFile(P("c")), "C");
  ASSERT_EQ(::renameat2(AT_FDCWD, P("c").c_str(), AT_FDCWD, P("c2").c_str(), RENAME_NOREPLACE),
            0);
  EXPECT_EQ(ReadFile(P("c2")), "C");
}

// The kernel asks for a directory's attributes right after every change it sees in it, and
// dfs-fuse answers from what the change's own reply carried (fuse/dir_attr_cache.h), or for a
// change it answered before the master applied it (fuse/write_behind.h) from its own guess until
// the master's answer replaces it: what stat shows once the change is durable (fsyncdir) must be
// the master's attributes after the change, for both directories of a rename, and for unlink,
// rmdir and link as for mkdir and create.
TEST_F(PosixTest, ParentAttributesAfterEachChangeAreTheMasters) {
  ASSERT_EQ(::mkdir(P("src").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(P("dst").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(P("src/sub").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(P("src/moving").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(P("src/f"), "f"));
  ASSERT_TRUE(WriteFile(P("src/g"), "g"));

  // Stats `dir` through the mount, checks it against the master and against `before` (its
  // stat before the change), and returns it.
  auto changed = [&](const std::string& dir, const struct stat& before, const std::string& what) {
    SCOPED_TRACE(what + ", directory " + dir);
    EXPECT_EQ(SyncDir(P(dir)), 0);
    // The kernel is told to drop a guess once the master's attributes replaced it; it may ask
    // again only a moment later (at the latest after its 1 s attribute timeout).
    struct stat st;
    AttrResponse truth;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    do {
      st = Stat(P(dir));
      grpc::ClientContext context;
      GetAttrRequest request;
      request.set_inode(st.st_ino);
      grpc::Status status = cluster_->master()->GetAttr(&context, request, &truth);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (Nanos(st.st_mtim) == truth.attr().mtime_ns()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < deadline);
    EXPECT_EQ(Nanos(st.st_mtim), truth.attr().mtime_ns());
    EXPECT_EQ(Nanos(st.st_ctim), truth.attr().ctime_ns());
    EXPECT_EQ(st.st_nlink, truth.attr().nlink());
    EXPECT_GT(Nanos(st.st_mtim), Nanos(before.st_mtim)) << "the time before the change";
    return st;
  };

  struct stat src = Stat(P("src"));
  struct stat dst = Stat(P("dst"));
  ASSERT_EQ(::rename(P("src/f").c_str(), P("dst/f").c_str()), 0);
  src = changed("src", src, "rename across directories");
  dst = changed("dst", dst, "rename across directories");

  ASSERT_EQ(::rename(P("dst/f").c_str(), P("dst/f2").c_str()), 0);
  dst = changed("dst", dst, "rename within a directory");

  ASSERT_EQ(::link(P("src/g").c_str(), P("dst/h").c_str()), 0);
  dst = changed("dst", dst, "link");

  ASSERT_EQ(::unlink(P("dst/f2").c_str()), 0);
  dst = changed("dst", dst, "unlink");

  ASSERT_EQ(::rmdir(P("src/sub").c_str()), 0);
  const nlink_t src_links = src.st_nlink;
  src = changed("src", src, "rmdir");
  EXPECT_EQ(src.st_nlink, src_links - 1) << "rmdir";

  // A directory moving carries its ".." link from one parent to the other.
  ASSERT_EQ(::rename(P("src/moving").c_str(), P("dst/moving").c_str()), 0);
  const nlink_t dst_links = dst.st_nlink;
  src = changed("src", src, "rename of a directory");
  dst = changed("dst", dst, "rename of a directory");
  EXPECT_EQ(src.st_nlink, src_links - 2);
  EXPECT_EQ(dst.st_nlink, dst_links + 1);
}

// A lookup of a directory this mount has just changed behind the master's back must give the
// kernel the changed attributes, not the metadata cache's (the feed has not brought the change
// yet). The kernel looks a name up afresh for an exclusive create: a mkdir of an existing name
// (EEXIST) replaced the parent's attributes with the lookup's. (The differential test found a
// link count one short after a mkdir in the directory.)
TEST_F(PosixTest, LookupOfADirectoryChangedBehindShowsTheChange) {
  ASSERT_EQ(::mkdir(P("parent").c_str(), 0755), 0);
  ASSERT_EQ(SyncDir(dir_), 0);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(::mkdir(P(absl::StrCat("parent/sub", i)).c_str(), 0755), 0) << i;
    ASSERT_EQ(ErrnoIf(::mkdir(P("parent").c_str(), 0755)), EEXIST);
    EXPECT_EQ(Stat(P("parent")).st_nlink, static_cast<nlink_t>(3 + i)) << "after mkdir " << i;
  }
}

// Creates, mkdirs, unlinks, rmdirs and renames whose outcome the mount knows are answered before
// the master applies them (fuse/write_behind.h); the mount sees them at once, and fsyncdir
// returns once the master has them all.
TEST_F(PosixTest, ChangesAnsweredBehindReachTheMasterByFsyncdir) {
  auto metric = [](const char* name) {
    return SumMetric(ScrapeMetrics(mount_->http_address()), name);
  };
  const double behind_before = metric("dfs_fuse_write_behind_ops_total");
  constexpr int kEach = 20;
  for (int i = 0; i < kEach; ++i) {
    ASSERT_EQ(::mkdir(P(absl::StrCat("d", i)).c_str(), 0755), 0) << i;
    ASSERT_TRUE(WriteFile(P(absl::StrCat("f", i)), "x"));
  }
  for (int i = 0; i < kEach; ++i) {
    ASSERT_EQ(::rename(P(absl::StrCat("f", i)).c_str(), P(absl::StrCat("g", i)).c_str()), 0);
  }
  for (int i = 0; i < kEach / 2; ++i) {
    ASSERT_EQ(::unlink(P(absl::StrCat("g", i)).c_str()), 0);
    ASSERT_EQ(::rmdir(P(absl::StrCat("d", i)).c_str()), 0);
  }
  // This mount sees its changes at once.
  EXPECT_EQ(ErrnoIf(::access(P("f0").c_str(), F_OK)), ENOENT);
  EXPECT_EQ(ErrnoIf(::access(P("g0").c_str(), F_OK)), ENOENT);
  EXPECT_EQ(ReadFile(P(absl::StrCat("g", kEach - 1))), "x");
  EXPECT_TRUE(S_ISDIR(Stat(P(absl::StrCat("d", kEach - 1))).st_mode));

  ASSERT_EQ(SyncDir(dir_), 0);
  std::unique_ptr<Client> other = OtherClient();
  absl::StatusOr<Attr> dir = other->LookupPath(dir_.substr(mount_->path().size()));
  ASSERT_TRUE(dir.ok()) << dir.status();
  for (int i = 0; i < kEach; ++i) {
    const bool kept = i >= kEach / 2;
    EXPECT_EQ(other->Lookup(dir->inode(), absl::StrCat("d", i)).ok(), kept) << "d" << i;
    EXPECT_EQ(other->Lookup(dir->inode(), absl::StrCat("g", i)).ok(), kept) << "g" << i;
    EXPECT_TRUE(absl::IsNotFound(other->Lookup(dir->inode(), absl::StrCat("f", i)).status()));
  }
  // All of them went behind (the mount's metadata cache knew every outcome), and none failed.
  // (kEach mkdirs, creates and renames, kEach / 2 unlinks and rmdirs.)
  EXPECT_GE(metric("dfs_fuse_write_behind_ops_total") - behind_before, 4 * kEach);
  EXPECT_EQ(metric("dfs_fuse_write_behind_failed_total"), 0);
}

// A directory this mount did not create, too large for the short listing a first miss makes:
// after a few names missed in it, it is listed whole, and new names in it are known absent
// (answered here, their mkdirs sent behind) instead of each asking the master first.
TEST_F(PosixTest, ALargeDirectoryMadeElsewhereIsListedWholeAfterAFewMisses) {
  auto metric = [](const char* name) {
    return SumMetric(ScrapeMetrics(mount_->http_address()), name);
  };
  ASSERT_EQ(SyncDir(dir_), 0);  // the test's directory was made behind: the master has it now
  std::unique_ptr<Client> other = OtherClient();
  absl::StatusOr<Attr> dir = other->LookupPath(dir_.substr(mount_->path().size()));
  ASSERT_TRUE(dir.ok()) << dir.status();
  absl::StatusOr<Attr> big = other->Mkdir(dir->inode(), "big", 0755);
  ASSERT_TRUE(big.ok()) << big.status();
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(other->Mkdir(big->inode(), absl::StrCat("old", i), 0755).ok()) << i;
  }
  const double misses_before = metric("dfs_fuse_meta_cache_misses_total");
  const double behind_before = metric("dfs_fuse_write_behind_ops_total");
  constexpr int kNew = 100;
  for (int i = 0; i < kNew; ++i) {
    ASSERT_EQ(::mkdir(P(absl::StrCat("big/new", i)).c_str(), 0755), 0) << i;
  }
  // MetaCacheOptions::list_after_misses (16) names and a few more (the kernel looks up a new
  // name more than once); the rest were answered from the listing.
  EXPECT_LT(metric("dfs_fuse_meta_cache_misses_total") - misses_before, kNew / 2);
  EXPECT_GT(metric("dfs_fuse_write_behind_ops_total") - behind_before, kNew / 2);
  ASSERT_EQ(SyncDir(P("big")), 0);
  absl::StatusOr<std::vector<DirEntry>> listed = other->ReadDir(big->inode());
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 200u + kNew);
  EXPECT_EQ(ErrnoIf(::mkdir(P("big/old7").c_str(), 0755)), EEXIST);
}

// A small file written and closed at once reaches the master as one op: its create, held back,
// carries the content. Close-to-open holds for it as for any file: another client reads it at
// once, whole, without this mount's fsyncdir.
TEST_F(PosixTest, ASmallNewFileReachesTheMasterWithItsCreate) {
  auto metric = [](const char* name) {
    return SumMetric(ScrapeMetrics(mount_->http_address()), name);
  };
  const double before = metric("dfs_fuse_write_behind_creates_with_content_total");
  ASSERT_EQ(SyncDir(dir_), 0);  // the test's directory was made behind: the master has it now
  std::unique_ptr<Client> other = OtherClient();
  absl::StatusOr<Attr> dir = other->LookupPath(dir_.substr(mount_->path().size()));
  ASSERT_TRUE(dir.ok()) << dir.status();
  constexpr int kFiles = 10;
  for (int i = 0; i < kFiles; ++i) {
    const std::string content = absl::StrCat("content of file ", i, std::string(4000, 'x'));
    ASSERT_TRUE(WriteFile(P(absl::StrCat("s", i)), content)) << i;
    absl::StatusOr<Attr> file = other->Lookup(dir->inode(), absl::StrCat("s", i));
    ASSERT_TRUE(file.ok()) << i << ": " << file.status();
    EXPECT_EQ(file->size(), content.size());
    std::string read;
    ASSERT_TRUE(other->Read(file->inode(), 0, content.size(), &read).ok()) << i;
    EXPECT_EQ(read, content) << i;
    EXPECT_EQ(ReadFile(P(absl::StrCat("s", i))), content);  // and here
  }
  // Each one's close normally comes within the hold (100 ms): on a starved machine a create may
  // go alone, which costs speed, not correctness.
  EXPECT_GE(metric("dfs_fuse_write_behind_creates_with_content_total") - before, kFiles / 2);
  EXPECT_EQ(metric("dfs_fuse_write_behind_failed_total"), 0);
}

// The getattrs after each change (see ParentAttributesAfterEachChangeAreTheMasters) cost no
// master round trip.
TEST_F(PosixTest, ParentAttributesAfterChangesNeedNoGetAttrAtTheMaster) {
  auto master_getattrs = [] {
    return SumMetric(ScrapeMetrics(cluster_->master_http_address(0)),
                     "dfs_grpc_server_handled_total", {"method=\"GetAttr\""});
  };
  constexpr int kRounds = 10;
  const double before = master_getattrs();
  for (int i = 0; i < kRounds; ++i) {
    const std::string name = absl::StrCat("f", i);
    ASSERT_TRUE(WriteFile(P(name), "x"));
    Stat(dir_);
    ASSERT_EQ(::rename(P(name).c_str(), P(name + "r").c_str()), 0);
    Stat(dir_);
    ASSERT_EQ(::unlink(P(name + "r").c_str()), 0);
    Stat(dir_);
    ASSERT_EQ(::mkdir(P(name).c_str(), 0755), 0);
    Stat(dir_);
    ASSERT_EQ(::rmdir(P(name).c_str()), 0);
    Stat(dir_);
  }
  // Every stat above would be one GetAttr without the replies' attributes (5 per round); a
  // few may still go to the master if the machine is slow enough to outlast the reuse window.
  const double after = master_getattrs();
  EXPECT_LT(after - before, kRounds);
  // The counter does count GetAttr calls.
  grpc::ClientContext context;
  GetAttrRequest request;
  request.set_inode(Stat(dir_).st_ino);
  AttrResponse response;
  ASSERT_TRUE(cluster_->master()->GetAttr(&context, request, &response).ok());
  EXPECT_EQ(master_getattrs() - after, 1);
}

TEST_F(PosixTest, ErrorCodes) {
  ASSERT_TRUE(WriteFile(P("file"), "x"));
  ASSERT_EQ(::mkdir(P("dir").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(P("dir/x"), "x"));

  EXPECT_EQ(ErrnoIf(::open(P("missing").c_str(), O_RDONLY)), ENOENT);
  EXPECT_EQ(ErrnoIf(::unlink(P("missing").c_str())), ENOENT);
  EXPECT_EQ(ErrnoIf(::rmdir(P("missing").c_str())), ENOENT);
  EXPECT_EQ(ErrnoIf(::mkdir(P("missing/sub").c_str(), 0755)), ENOENT);
  EXPECT_EQ(ErrnoIf(::mkdir(P("file").c_str(), 0755)), EEXIST);
  EXPECT_EQ(ErrnoIf(::mkdir(P("dir").c_str(), 0755)), EEXIST);
  EXPECT_EQ(ErrnoIf(::open(P("file").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644)), EEXIST);
  EXPECT_EQ(ErrnoIf(::symlink("t", P("file").c_str())), EEXIST);
  EXPECT_EQ(ErrnoIf(::link(P("file").c_str(), P("dir/x").c_str())), EEXIST);
  EXPECT_EQ(ErrnoIf(::rmdir(P("dir").c_str())), ENOTEMPTY);
  EXPECT_EQ(ErrnoIf(::unlink(P("dir").c_str())), EISDIR);
  EXPECT_EQ(ErrnoIf(::open(P("dir").c_str(), O_WRONLY)), EISDIR);
  EXPECT_EQ(ErrnoIf(::rmdir(P("file").c_str())), ENOTDIR);
  EXPECT_EQ(ErrnoIf(::open(P("file/x").c_str(), O_RDONLY)), ENOTDIR);
  EXPECT_EQ(ErrnoIf(::mkdir(P("file/x").c_str(), 0755)), ENOTDIR);
  EXPECT_EQ(ErrnoIf(::opendir(P("file").c_str()) == nullptr ? -1 : 0), ENOTDIR);
  EXPECT_EQ(ErrnoIf(::link(P("dir").c_str(), P("dirlink").c_str())), EPERM);

  const std::string longest(255, 'n');
  const std::string too_long(256, 'n');
  EXPECT_TRUE(WriteFile(P(longest), "ok"));
  EXPECT_EQ(ReadFile(P(longest)), "ok");
  EXPECT_EQ(ErrnoIf(::open(P(too_long).c_str(), O_CREAT | O_WRONLY, 0644)), ENAMETOOLONG);
  EXPECT_EQ(ErrnoIf(::mkdir(P(too_long).c_str(), 0755)), ENAMETOOLONG);
  struct stat st;
  EXPECT_EQ(ErrnoIf(::stat(P(too_long).c_str(), &st)), ENAMETOOLONG);
  EXPECT_EQ(ErrnoIf(::rename(P("file").c_str(), P(too_long).c_str())), ENAMETOOLONG);
  EXPECT_EQ(ErrnoIf(::symlink("t", P(too_long).c_str())), ENAMETOOLONG);
}

TEST_F(PosixTest, ReaddirListsEveryEntryAcrossPages) {
  // More entries than one page of the master's ReadDir (1024).
  std::set<std::string> expected = {".", ".."};
  for (int i = 0; i < 1500; ++i) {
    std::string name = absl::StrCat("entry-", i);
    int fd = ::open(P(name).c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0) << name << ": " << strerror(errno);
    ASSERT_EQ(::close(fd), 0);
    expected.insert(name);
  }
  ASSERT_EQ(::mkdir(P("subdir").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("entry-1", P("link").c_str()), 0);
  expected.insert("subdir");
  expected.insert("link");
  auto list = [&]() {
    std::map<std::string, unsigned char> seen;
    DIR* d = ::opendir(dir_.c_str());
    EXPECT_NE(d, nullptr);
    if (d == nullptr) return seen;
    while (dirent* entry = ::readdir(d)) {
      EXPECT_TRUE(seen.emplace(entry->d_name, entry->d_type).second)
          << "listed twice: " << entry->d_name;
    }
    ::closedir(d);
    return seen;
  };
  std::map<std::string, unsigned char> seen = list();
  std::set<std::string> names;
  for (const auto& [name, type] : seen) names.insert(name);
  EXPECT_EQ(names, expected);
  EXPECT_EQ(seen["subdir"], DT_DIR);
  EXPECT_EQ(seen["link"], DT_LNK);
  EXPECT_EQ(seen["entry-7"], DT_REG);
  // Changes show in the next listing.
  for (int i = 0; i < 1500; i += 2) {
    ASSERT_EQ(::unlink(P(absl::StrCat("entry-", i)).c_str()), 0);
    expected.erase(absl::StrCat("entry-", i));
  }
  names.clear();
  for (const auto& [name, type] : list()) names.insert(name);
  EXPECT_EQ(names, expected);
  // A directory's link count counts its subdirectories.
  EXPECT_EQ(Stat(dir_).st_nlink, 3u);
}

TEST_F(PosixTest, Symlinks) {
  ASSERT_TRUE(WriteFile(P("target"), "through the link"));
  ASSERT_EQ(::mkdir(P("d").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(P("d/inner"), "inner"));
  ASSERT_EQ(::symlink("target", P("link").c_str()), 0);
  ASSERT_EQ(::symlink("d", P("dirlink").c_str()), 0);
  ASSERT_EQ(::symlink("nowhere", P("dangling").c_str()), 0);
  ASSERT_EQ(::symlink("loop2", P("loop1").c_str()), 0);
  ASSERT_EQ(::symlink("loop1", P("loop2").c_str()), 0);

  char buffer[256];
  ssize_t n = ::readlink(P("link").c_str(), buffer, sizeof(buffer));
  ASSERT_EQ(n, 6);
  EXPECT_EQ(std::string(buffer, n), "target");
  struct stat st;
  ASSERT_EQ(::lstat(P("link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_size, 6);
  EXPECT_TRUE(S_ISREG(Stat(P("link")).st_mode));
  EXPECT_EQ(ReadFile(P("link")), "through the link");
  EXPECT_EQ(ReadFile(P("dirlink/inner")), "inner");
  EXPECT_EQ(ErrnoIf(::open(P("dangling").c_str(), O_RDONLY)), ENOENT);
  EXPECT_EQ(ErrnoIf(::open(P("loop1").c_str(), O_RDONLY)), ELOOP);
  EXPECT_EQ(ErrnoIf(::readlink(P("target").c_str(), buffer, sizeof(buffer))), EINVAL);
  // Removing the link leaves the target.
  ASSERT_EQ(::unlink(P("link").c_str()), 0);
  EXPECT_EQ(ReadFile(P("target")), "through the link");
}

TEST_F(PosixTest, HardLinks) {
  ASSERT_TRUE(WriteFile(P("a"), "shared"));
  ASSERT_EQ(::link(P("a").c_str(), P("b").c_str()), 0);
  struct stat a = Stat(P("a"));
  struct stat b = Stat(P("b"));
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  EXPECT_EQ(b.st_nlink, 2u);
  int fd = ::open(P("b").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, " content", 8), 8);
  ASSERT_EQ(::close(fd), 0);
  EXPECT_EQ(ReadFile(P("a")), "shared content");
  ASSERT_EQ(::unlink(P("a").c_str()), 0);
  EXPECT_EQ(Stat(P("b")).st_nlink, 1u);
  EXPECT_EQ(ReadFile(P("b")), "shared content");
}

TEST_F(PosixTest, ChmodChownUtimens) {
  ASSERT_TRUE(WriteFile(P("f"), "x"));
  ASSERT_EQ(::chmod(P("f").c_str(), 0640), 0);
  EXPECT_EQ(Stat(P("f")).st_mode & 07777, 0640u);
  ASSERT_EQ(::chmod(P("f").c_str(), 04755), 0);
  EXPECT_EQ(Stat(P("f")).st_mode & 07777, 04755u);
  ASSERT_EQ(::chown(P("f").c_str(), 1234, 5678), 0);
  struct stat st = Stat(P("f"));
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);

  timespec times[2] = {{1000000000, 123456789}, {1200000000, 987654321}};
  ASSERT_EQ(::utimensat(AT_FDCWD, P("f").c_str(), times, 0), 0);
  st = Stat(P("f"));
  EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
  EXPECT_EQ(st.st_atim.tv_nsec, 123456789);
  EXPECT_EQ(st.st_mtim.tv_sec, 1200000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 987654321);
  // UTIME_NOW for mtime, UTIME_OMIT keeps atime.
  timespec now_omit[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
  ASSERT_EQ(::utimensat(AT_FDCWD, P("f").c_str(), now_omit, 0), 0);
  st = Stat(P("f"));
  EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
  EXPECT_NEAR(static_cast<double>(st.st_mtim.tv_sec), static_cast<double>(::time(nullptr)), 5);
  // Directories and times on them.
  ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);
  EXPECT_EQ(Stat(dir_).st_mode & 07777, 0700u);
  ASSERT_EQ(::utimensat(AT_FDCWD, dir_.c_str(), times, 0), 0);
  EXPECT_EQ(Stat(dir_).st_mtim.tv_sec, 1200000000);
  EXPECT_EQ(ErrnoIf(::chmod(P("missing").c_str(), 0600)), ENOENT);
}

TEST_F(PosixTest, OpenUnlinkedFileStaysUsableUntilLastClose) {
  int fd = ::open(P("f").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "abc", 3), 3);
  int second = ::open(P("f").c_str(), O_RDONLY);
  ASSERT_GE(second, 0);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  const uint64_t inode = st.st_ino;
  ASSERT_EQ(::unlink(P("f").c_str()), 0);
  EXPECT_EQ(ErrnoIf(::access(P("f").c_str(), F_OK)), ENOENT);
  // Still readable and writable through both descriptors.
  ASSERT_EQ(::write(fd, "def", 3), 3);
  char buffer[16];
  ASSERT_EQ(::pread(second, buffer, sizeof(buffer), 0), 6);
  EXPECT_EQ(std::string(buffer, 6), "abcdef");
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(st.st_nlink, 0u);
  EXPECT_EQ(st.st_size, 6);
  ASSERT_EQ(::close(fd), 0);
  ASSERT_EQ(::pread(second, buffer, sizeof(buffer), 0), 6);
  EXPECT_EQ(std::string(buffer, 6), "abcdef");
  // A new file under the old name is another file.
  ASSERT_TRUE(WriteFile(P("f"), "new"));
  ASSERT_EQ(::pread(second, buffer, sizeof(buffer), 0), 6);
  EXPECT_EQ(std::string(buffer, 6), "abcdef");
  ASSERT_EQ(::close(second), 0);
  // The last close frees it at the master.
  EXPECT_TRUE(InodeGoneSoon(inode));
  EXPECT_EQ(ReadFile(P("f")), "new");
}

TEST_F(PosixTest, RenameOverAnOpenFileKeepsItUntilClose) {
  ASSERT_TRUE(WriteFile(P("target"), "old content"));
  ASSERT_TRUE(WriteFile(P("source"), "new content"));
  int fd = ::open(P("target").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  ASSERT_EQ(::rename(P("source").c_str(), P("target").c_str()), 0);
  EXPECT_EQ(ReadFile(P("target")), "new content");
  char buffer[32];
  ASSERT_EQ(::pread(fd, buffer, sizeof(buffer), 0), 11);
  EXPECT_EQ(std::string(buffer, 11), "old content");
  ASSERT_EQ(::close(fd), 0);
  EXPECT_TRUE(InodeGoneSoon(st.st_ino));
}

TEST_F(PosixTest, UnlinkedFilesThatAreNotOpenGoAtOnce) {
  ASSERT_TRUE(WriteFile(P("f"), "x"));
  struct stat st = Stat(P("f"));
  ASSERT_EQ(::unlink(P("f").c_str()), 0);
  EXPECT_TRUE(InodeGoneSoon(st.st_ino));
}

TEST_F(PosixTest, FsyncMakesDataDurableAndVisibleToOtherClients) {
  int fd = ::open(P("f").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  std::string data = RandomBytes(300000, 3);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ASSERT_EQ(::fsync(fd), 0);
  // Before close: another client reads it (it is committed), from every replica.
  std::unique_ptr<Client> other = OtherClient();
  absl::StatusOr<Attr> attr = other->Stat(absl::StrCat("/", ::testing::UnitTest::GetInstance()
                                                                    ->current_test_info()
                                                                    ->name(),
                                                         "/f"));
  ASSERT_TRUE(attr.ok()) << attr.status();
  std::string got;
  ASSERT_TRUE(other->Read(attr->inode(), 0, data.size() + 10, &got).ok());
  EXPECT_TRUE(got == data);
  absl::StatusOr<GetExtentsResponse> extents = other->GetExtents(attr->inode(), 0, 0);
  ASSERT_TRUE(extents.ok());
  for (const ChunkLocation& chunk : extents->chunks()) EXPECT_EQ(chunk.replicas_size(), 3);
  ASSERT_EQ(::fdatasync(fd), 0);
  ASSERT_EQ(::close(fd), 0);
}

TEST_F(PosixTest, OpenSeesWhatOtherClientsClosed) {
  const std::string remote =
      absl::StrCat("/", ::testing::UnitTest::GetInstance()->current_test_info()->name(), "/f");
  ASSERT_TRUE(WriteFile(P("f"), "version one"));
  // Read it, so the kernel caches pages and attributes.
  ASSERT_EQ(ReadFile(P("f")), "version one");
  std::unique_ptr<Client> other = OtherClient();
  absl::StatusOr<Attr> attr = other->Stat(remote);
  ASSERT_TRUE(attr.ok());
  // Another client changes the same inode: longer, and different bytes.
  ASSERT_TRUE(other->Write(attr->inode(), 0, "VERSION TWO, longer").ok());
  EXPECT_EQ(ReadFile(P("f")), "VERSION TWO, longer");
  // Another client replaces the file by a new inode (as `dfs put -f` does).
  std::istringstream in("version three");
  PutOptions put;
  put.overwrite = true;
  ASSERT_TRUE(other->Put(in, remote, put).ok());
  EXPECT_EQ(ReadFile(P("f")), "version three");
  // And removes it.
  ASSERT_TRUE(other->Remove(remote, false).ok());
  EXPECT_EQ(ReadFile(P("f")).substr(0, 13), "<error: open:");
}

TEST_F(PosixTest, MetricsCountOperations) {
  auto lookups_and_getattrs = [] {
    const std::map<std::string, double> samples = ScrapeMetrics(mount_->http_address());
    return SumMetric(samples, "dfs_fuse_op_duration_seconds_count", {"op=\"lookup\""}) +
           SumMetric(samples, "dfs_fuse_op_duration_seconds_count", {"op=\"getattr\""});
  };
  const double before = lookups_and_getattrs();
  ASSERT_TRUE(WriteFile(P("f"), "x"));
  // A name the kernel has not seen: stat must ask dfs-fuse.
  ASSERT_EQ(::link(P("f").c_str(), P("g").c_str()), 0) << strerror(errno);
  Stat(P("g"));
  struct stat st;
  EXPECT_NE(::stat(P("missing").c_str(), &st), 0);  // misses are not cached: a lookup
  EXPECT_GT(lookups_and_getattrs(), before);
}

TEST_F(PosixTest, StatFsReportsClusterCapacity) {
  struct statvfs st;
  ASSERT_EQ(::statvfs(dir_.c_str(), &st), 0);
  EXPECT_GT(st.f_blocks, 0u);
  EXPECT_LE(st.f_bfree, st.f_blocks);
  EXPECT_LE(st.f_bavail, st.f_blocks);
  EXPECT_EQ(st.f_namemax, 255u);
  EXPECT_GT(st.f_ffree, 0u);
}

TEST_F(PosixTest, ConcurrentWritersAndReaders) {
  std::vector<std::string> datas;
  for (int i = 0; i < 4; ++i) datas.push_back(RandomBytes((3 << 20) + i * 1000, 10 + i));
  std::vector<std::thread> threads;
  std::vector<std::string> errors(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      std::string path = P(absl::StrCat("f", i));
      if (!WriteFile(path, datas[i], 64 << 10)) errors[i] = "write failed";
      else if (ReadFile(path, 100000) != datas[i]) errors[i] = "read back differs";
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(errors[i], "") << "file " << i;
}

TEST_F(PosixTest, LargeFileSequentialAndRandomReads) {
  std::string data = RandomBytes(24 << 20, 20);
  ASSERT_TRUE(WriteFile(P("big"), data, 128 << 10));
  EXPECT_TRUE(ReadFile(P("big"), 1 << 20) == data);
  int fd = ::open(P("big").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  Random random(21);
  std::string buffer(70000, '\0');
  for (int i = 0; i < 100; ++i) {
    uint64_t offset = random.Uniform(data.size());
    ssize_t n = ::pread(fd, buffer.data(), buffer.size(), offset);
    size_t expected = std::min<size_t>(buffer.size(), data.size() - offset);
    ASSERT_EQ(n, static_cast<ssize_t>(expected)) << offset;
    ASSERT_TRUE(buffer.compare(0, expected, data, offset, expected) == 0) << offset;
  }
  ::close(fd);
}

}  // namespace
}  // namespace dfs::testing
