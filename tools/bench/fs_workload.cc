// dfs-fs-workload: the file-system workload of issue 9, one phase per invocation, for
// tools/bench/fuse_bench.sh. Plain POSIX calls on any directory (local, passthrough_ll, dfs-fuse):
// one system-call sequence per operation, timed with the monotonic clock.
//
//   dfs-fs-workload write FILE MIB       1 MiB writes, then fsync and close     -> "write MB/s"
//   dfs-fs-workload read FILE            1 MiB reads to EOF, content verified   -> "read MB/s"
//   dfs-fs-workload small DIR N          N files of 4 KiB in DIR (created):
//                                        create+write+close, stat, open+read+close, rename,
//                                        unlink                                 -> one line each
//   dfs-fs-workload dirs DIR N           mkdir of N dirs in DIR, then rmdir      -> two lines
//   dfs-fs-workload fsync-create DIR N   create+write 4 KiB+fsync+close          -> one line
//
// Each output line is "<figure> <value>" (MB/s = 10^6 bytes per second, or operations per second).
// Phases that change names (create, rename, unlink, mkdir, rmdir) end with an fsync of the
// directory, inside the timing: a file system may answer such changes before they are durable
// (dfs-fuse's write-behind, a local file system's journal), and the figure counts until they are.
// The written content is a function of the block index, so `read` verifies what `write` wrote
// without keeping a copy. Exit status 1 and a message on the first failed call.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {

constexpr size_t kBlockBytes = 1 << 20;
constexpr size_t kSmallBytes = 4096;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "dfs-fs-workload: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The big file's content: one fixed pseudo-random MiB, with the block index stamped into every
// 4 KiB of each block. Stamp() rewrites only those stamps, so producing a block costs nothing
// beside the file system under test.
std::vector<char> Pattern(size_t bytes) {
  std::vector<char> block(bytes);
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (size_t i = 0; i + 8 <= block.size(); i += 8) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    std::memcpy(block.data() + i, &x, 8);
  }
  return block;
}

void Stamp(uint64_t index, std::vector<char>* block) {
  for (size_t i = 0; i + 8 <= block->size(); i += 4096) std::memcpy(block->data() + i, &index, 8);
}

void WriteAll(int fd, const char* data, size_t n, const std::string& what) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) Die(what);
    data += w;
    n -= static_cast<size_t>(w);
  }
}

size_t ReadFull(int fd, char* data, size_t n, const std::string& what) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, data + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) Die(what);
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

int SeqWrite(const std::string& path, uint64_t mib) {
  std::vector<char> block = Pattern(kBlockBytes);
  auto start = std::chrono::steady_clock::now();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) Die("open " + path);
  for (uint64_t i = 0; i < mib; ++i) {
    Stamp(i, &block);
    WriteAll(fd, block.data(), block.size(), "write " + path);
  }
  if (::fsync(fd) != 0) Die("fsync " + path);
  if (::close(fd) != 0) Die("close " + path);
  std::printf("write %.2f\n", static_cast<double>(mib * kBlockBytes) / 1e6 / Seconds(start));
  return 0;
}

int SeqRead(const std::string& path) {
  std::vector<char> block(kBlockBytes), expected = Pattern(kBlockBytes);
  auto start = std::chrono::steady_clock::now();
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) Die("open " + path);
  uint64_t total = 0;
  for (uint64_t i = 0;; ++i) {
    size_t got = ReadFull(fd, block.data(), block.size(), "read " + path);
    if (got == 0) break;
    Stamp(i, &expected);
    if (got != kBlockBytes || std::memcmp(block.data(), expected.data(), got) != 0) {
      std::fprintf(stderr, "dfs-fs-workload: %s: block %llu differs from what was written\n",
                   path.c_str(), static_cast<unsigned long long>(i));
      return 1;
    }
    total += got;
  }
  ::close(fd);
  std::printf("read %.2f\n", static_cast<double>(total) / 1e6 / Seconds(start));
  return 0;
}

// Makes the directory's changes durable (fsync on it), as a program that needs them to be
// does; a file system may answer namespace changes before they are durable.
void SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) Die("open " + dir);
  if (::fsync(fd) != 0) Die("fsync " + dir);
  ::close(fd);
}

// Runs op(i) for i in [0, n) and prints "<name> <ops per second>". With `changed_dir`, the
// phase ends (and is timed) once that directory's changes are durable.
void Phase(const char* name, int n, const std::function<void(int)>& op,
           const std::string& changed_dir = "") {
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) op(i);
  if (!changed_dir.empty()) SyncDir(changed_dir);
  std::printf("%s %.1f\n", name, n / Seconds(start));
  std::fflush(stdout);
}

std::vector<std::string> Names(const std::string& dir, int n, const char* prefix) {
  std::vector<std::string> names;
  names.reserve(n);
  char buf[32];
  for (int i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "/%s%06d", prefix, i);
    names.push_back(dir + buf);
  }
  return names;
}

void CreateSmall(const std::string& path, const std::vector<char>& data, bool fsync) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) Die("create " + path);
  WriteAll(fd, data.data(), data.size(), "write " + path);
  if (fsync && ::fsync(fd) != 0) Die("fsync " + path);
  if (::close(fd) != 0) Die("close " + path);
}

int SmallFiles(const std::string& dir, int n) {
  if (::mkdir(dir.c_str(), 0755) != 0) Die("mkdir " + dir);
  std::vector<char> data = Pattern(kSmallBytes);
  std::vector<std::string> names = Names(dir, n, "f"), renamed = Names(dir, n, "r");
  Phase("create", n, [&](int i) { CreateSmall(names[i], data, false); }, dir);
  Phase("stat", n, [&](int i) {
    struct stat st;
    if (::stat(names[i].c_str(), &st) != 0) Die("stat " + names[i]);
    if (st.st_size != static_cast<off_t>(kSmallBytes)) {
      errno = EIO;
      Die("size of " + names[i]);
    }
  });
  std::vector<char> buf(2 * kSmallBytes);
  Phase("readsmall", n, [&](int i) {
    int fd = ::open(names[i].c_str(), O_RDONLY);
    if (fd < 0) Die("open " + names[i]);
    size_t got = ReadFull(fd, buf.data(), buf.size(), "read " + names[i]);
    if (got != kSmallBytes || std::memcmp(buf.data(), data.data(), got) != 0) {
      errno = EIO;
      Die("content of " + names[i]);
    }
    ::close(fd);
  });
  Phase("rename", n, [&](int i) {
    if (::rename(names[i].c_str(), renamed[i].c_str()) != 0) Die("rename " + names[i]);
  }, dir);
  Phase("unlink", n, [&](int i) {
    if (::unlink(renamed[i].c_str()) != 0) Die("unlink " + renamed[i]);
  }, dir);
  if (::rmdir(dir.c_str()) != 0) Die("rmdir " + dir);
  return 0;
}

int Dirs(const std::string& dir, int n) {
  if (::mkdir(dir.c_str(), 0755) != 0) Die("mkdir " + dir);
  std::vector<std::string> names = Names(dir, n, "d");
  Phase("mkdir", n, [&](int i) {
    if (::mkdir(names[i].c_str(), 0755) != 0) Die("mkdir " + names[i]);
  }, dir);
  Phase("rmdir", n, [&](int i) {
    if (::rmdir(names[i].c_str()) != 0) Die("rmdir " + names[i]);
  }, dir);
  if (::rmdir(dir.c_str()) != 0) Die("rmdir " + dir);
  return 0;
}

int FsyncCreates(const std::string& dir, int n) {
  if (::mkdir(dir.c_str(), 0755) != 0) Die("mkdir " + dir);
  std::vector<char> data = Pattern(kSmallBytes);
  std::vector<std::string> names = Names(dir, n, "s");
  Phase("fsynccreate", n, [&](int i) { CreateSmall(names[i], data, true); });
  // Cleanup is not timed.
  for (const std::string& name : names) ::unlink(name.c_str());
  ::rmdir(dir.c_str());
  return 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: dfs-fs-workload write FILE MIB | read FILE | small DIR N | dirs DIR N |"
               " fsync-create DIR N\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return Usage();
  std::string phase = argv[1], path = argv[2];
  long count = argc > 3 ? std::strtol(argv[3], nullptr, 10) : 0;
  if (phase == "read" && argc == 3) return SeqRead(path);
  if (argc != 4 || count <= 0) return Usage();
  if (phase == "write") return SeqWrite(path, static_cast<uint64_t>(count));
  if (phase == "small") return SmallFiles(path, static_cast<int>(count));
  if (phase == "dirs") return Dirs(path, static_cast<int>(count));
  if (phase == "fsync-create") return FsyncCreates(path, static_cast<int>(count));
  return Usage();
}
