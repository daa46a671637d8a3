// Helpers shared by the tests of a real dfs-fuse mount: whole-file I/O with system calls, and
// a cluster with one mount for a whole test suite.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testutil/cluster.h"
#include "tests/testutil/files.h"
#include "tests/testutil/mount.h"

namespace dfs::testing {

// Writes `data` to `path` (created or truncated) with write(2) in pieces of `piece` bytes.
inline ::testing::AssertionResult WriteFile(const std::string& path, const std::string& data,
                                            size_t piece = 1 << 20, int extra_flags = 0) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | extra_flags, 0644);
  if (fd < 0) return ::testing::AssertionFailure() << "open " << path << ": " << strerror(errno);
  for (size_t done = 0; done < data.size();) {
    ssize_t n = ::write(fd, data.data() + done, std::min(piece, data.size() - done));
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      return ::testing::AssertionFailure() << "write " << path << ": " << strerror(err);
    }
    done += n;
  }
  if (::close(fd) != 0) {
    return ::testing::AssertionFailure() << "close " << path << ": " << strerror(errno);
  }
  return ::testing::AssertionSuccess();
}

// The whole content of `path`, read with read(2) in pieces of `piece` bytes; "<error: ...>"
// if it cannot be read.
inline std::string ReadFile(const std::string& path, size_t piece = 1 << 20) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return absl::StrCat("<error: open: ", strerror(errno), ">");
  std::string out;
  std::string buffer(piece, '\0');
  for (;;) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return absl::StrCat("<error: read: ", strerror(err), ">");
    }
    if (n == 0) break;
    out.append(buffer.data(), n);
  }
  ::close(fd);
  return out;
}

// errno of a failed call, or 0 if `result` is not -1.
inline int ErrnoIf(long result) { return result == -1 ? errno : 0; }

// stat(2) of `path`, all zeros (and a test failure) if it fails.
inline struct stat StatOf(const std::string& path) {
  struct stat st;
  std::memset(&st, 0, sizeof(st));
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path << ": " << strerror(errno);
  return st;
}

inline int64_t Nanos(const timespec& t) { return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec; }

// One cluster and one mount for a whole suite (cluster start-up is the slow part).
class MountedClusterTest : public ::testing::Test {
 protected:
  static void StartCluster(const std::vector<std::string>& fuse_flags = {}) {
    cluster_ = new TestCluster();
    absl::Status status = cluster_->Start();
    ASSERT_TRUE(status.ok()) << status;
    mount_ = new FuseMount();
    status = mount_->Mount(cluster_->master_address(), fuse_flags);
    ASSERT_TRUE(status.ok()) << status;
  }
  static void StopCluster() {
    if (mount_ != nullptr) {
      absl::Status status = mount_->Unmount();
      EXPECT_TRUE(status.ok()) << status << "\n" << mount_->Log();
      delete mount_;
      mount_ = nullptr;
    }
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(mount_, nullptr);
    ASSERT_TRUE(mount_->mounted()) << mount_->Log();
  }
  void TearDown() override {
    if (HasFailure() && mount_ != nullptr) std::cerr << "dfs-fuse log:\n" << mount_->Log();
  }

  // A path in the mount.
  static std::string M(const std::string& relative) { return mount_->Path(relative); }

  static inline TestCluster* cluster_ = nullptr;
  static inline FuseMount* mount_ = nullptr;
};

}  // namespace dfs::testing
