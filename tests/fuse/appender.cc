// fuse_test_appender: one of the processes of the concurrent-append test
// (two_mounts_test.cc). Appends RECORDS records of 4096 bytes to PATH with O_APPEND, each with
// one write(2): "writer W record R" and padding that depends on W and R, so that a torn or
// interleaved record is detected. MODE says how it commits along the way:
//   plain   only at close;  fsync   fsync after every record;  reopen  close and reopen every
//   10 records.
// Exit 0 when every call succeeded.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: fuse_test_appender PATH WRITER RECORDS plain|fsync|reopen\n");
    return 2;
  }
  const char* path = argv[1];
  const int writer = std::atoi(argv[2]);
  const int records = std::atoi(argv[3]);
  const std::string mode = argv[4];
  int fd = -1;
  for (int r = 0; r < records; ++r) {
    if (fd < 0) {
      fd = ::open(path, O_WRONLY | O_APPEND);
      if (fd < 0) {
        std::fprintf(stderr, "open %s: %s\n", path, std::strerror(errno));
        return 1;
      }
    }
    std::string record(4096, static_cast<char>('a' + (writer * 7 + r) % 26));
    int n = std::snprintf(record.data(), record.size(), "writer %d record %d\n", writer, r);
    record[n] = '#';
    record.back() = '\n';
    ssize_t written = ::write(fd, record.data(), record.size());
    if (written != static_cast<ssize_t>(record.size())) {
      std::fprintf(stderr, "write: %zd: %s\n", written, std::strerror(errno));
      return 1;
    }
    if (mode == "fsync" && ::fsync(fd) != 0) {
      std::fprintf(stderr, "fsync: %s\n", std::strerror(errno));
      return 1;
    }
    if (mode == "reopen" && r % 10 == 9) {
      if (::close(fd) != 0) {
        std::fprintf(stderr, "close: %s\n", std::strerror(errno));
        return 1;
      }
      fd = -1;
    }
  }
  if (fd >= 0 && ::close(fd) != 0) {
    std::fprintf(stderr, "close: %s\n", std::strerror(errno));
    return 1;
  }
  return 0;
}
