// Random writes at random offsets of a big sparse file on the mount, mirrored into a local model
// file; after every batch both are read whole and compared byte for byte. Batches also truncate
// (shrink, then grow back) and mix lone writes with runs of contiguous ones, so that buffer
// commits, overwrites of earlier extents, holes and truncation all meet.
//
// The file is $DFS_FUSE_RANDOM_FILE_MIB MiB big (default 1024 = 1 GiB), with
// $DFS_FUSE_RANDOM_BATCHES batches (default 6) of 48 writes each. The file is sparse, so even at
// 1 GiB a batch and its comparison take a few seconds.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>

#include "absl/strings/numbers.h"
#include "common/random.h"
#include "gtest/gtest.h"
#include "tests/fuse/fuse_test_util.h"

namespace dfs::testing {
namespace {

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* value = std::getenv(name);
  uint64_t parsed;
  if (value != nullptr && absl::SimpleAtoi(value, &parsed) && parsed > 0) return parsed;
  return fallback;
}

class RandomWriteTest : public MountedClusterTest {
 protected:
  static void SetUpTestSuite() { StartCluster({"--chunk_size_bytes=8388608"}); }
  static void TearDownTestSuite() { StopCluster(); }
};

// Compares the two files whole; "" if identical, else where they first differ.
std::string Compare(const std::string& a, const std::string& b) {
  int fa = ::open(a.c_str(), O_RDONLY);
  int fb = ::open(b.c_str(), O_RDONLY);
  if (fa < 0 || fb < 0) return "cannot open";
  constexpr size_t kPiece = 4 << 20;
  std::string ba(kPiece, '\0');
  std::string bb(kPiece, '\0');
  std::string result;
  for (uint64_t offset = 0;; offset += kPiece) {
    ssize_t na = ::pread(fa, ba.data(), kPiece, offset);
    ssize_t nb = ::pread(fb, bb.data(), kPiece, offset);
    if (na < 0 || nb < 0) {
      result = absl::StrCat("read error at ", offset, ": ", strerror(errno));
      break;
    }
    if (na != nb) {
      result = absl::StrCat("sizes differ near ", offset, ": ", na, " vs ", nb);
      break;
    }
    if (std::memcmp(ba.data(), bb.data(), na) != 0) {
      size_t i = 0;
      while (ba[i] == bb[i]) ++i;
      result = absl::StrCat("first difference at byte ", offset + i);
      break;
    }
    if (na == 0) break;
  }
  ::close(fa);
  ::close(fb);
  return result;
}

TEST_F(RandomWriteTest, RandomWritesMatchALocalModel) {
  const uint64_t size = EnvOr("DFS_FUSE_RANDOM_FILE_MIB", 1024) << 20;
  const int batches = static_cast<int>(EnvOr("DFS_FUSE_RANDOM_BATCHES", 6));
  const uint64_t seed = EnvOr("DFS_FUSE_RANDOM_SEED", 20240601);
  std::cerr << "file " << (size >> 20) << " MiB, " << batches << " batches, seed " << seed
            << " (DFS_FUSE_RANDOM_SEED replays)\n";
  Random random(seed);
  const std::string model = cluster_->dir() + "/model";
  const std::string file = M("random");
  for (const std::string& path : {model, file}) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0) << path;
    ASSERT_EQ(::ftruncate(fd, size), 0) << path;
    ASSERT_EQ(::close(fd), 0);
  }
  std::string data;
  for (int batch = 0; batch < batches; ++batch) {
    auto start = std::chrono::steady_clock::now();
    int fm = ::open(model.c_str(), O_RDWR);
    int ff = ::open(file.c_str(), O_RDWR);
    ASSERT_GE(fm, 0);
    ASSERT_GE(ff, 0);
    for (int write = 0; write < 48; ++write) {
      // Mostly small writes; some large; some runs of contiguous writes.
      uint64_t length = random.Chance(0.2) ? random.Range(256 << 10, 3 << 20)
                                           : random.Range(1, 64 << 10);
      int run = random.Chance(0.25) ? static_cast<int>(random.Range(2, 12)) : 1;
      uint64_t offset = random.Uniform(size - length * run);
      for (int k = 0; k < run; ++k, offset += length) {
        data.resize(length);
        for (size_t i = 0; i < length; i += 8) {
          uint64_t word = random.Next();
          std::memcpy(&data[i], &word, std::min<size_t>(8, length - i));
        }
        ASSERT_EQ(::pwrite(fm, data.data(), length, offset), static_cast<ssize_t>(length));
        ASSERT_EQ(::pwrite(ff, data.data(), length, offset), static_cast<ssize_t>(length))
            << strerror(errno);
      }
      if (write == 24) {
        // Shrink and grow back: the cut-off range must read as zeros afterwards.
        uint64_t cut = size / 2 + random.Uniform(size / 2);
        for (int fd : {fm, ff}) {
          ASSERT_EQ(::ftruncate(fd, cut), 0);
          ASSERT_EQ(::ftruncate(fd, size), 0);
        }
      }
    }
    ASSERT_EQ(::close(fm), 0);
    ASSERT_EQ(::close(ff), 0) << strerror(errno);
    double write_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    start = std::chrono::steady_clock::now();
    std::string difference = Compare(model, file);
    double compare_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cerr << "batch " << batch << ": writes " << write_s << " s, compare " << compare_s
              << " s\n";
    ASSERT_EQ(difference, "") << "after batch " << batch << " (seed " << seed << ")";
  }
}

}  // namespace
}  // namespace dfs::testing
