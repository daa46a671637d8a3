#include "common/leveldb_options.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace dfs {

namespace {

// A table file read with pread (LevelDB's POSIX Env maps tables into memory instead).
class PreadFile final : public leveldb::RandomAccessFile {
 public:
  PreadFile(std::string name, int fd) : name_(std::move(name)), fd_(fd) {}
  ~PreadFile() override { ::close(fd_); }

  leveldb::Status Read(uint64_t offset, size_t n, leveldb::Slice* result,
                       char* scratch) const override {
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, scratch + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        *result = leveldb::Slice(scratch, 0);
        return leveldb::Status::IOError(name_, std::strerror(errno));
      }
      if (r == 0) break;  // end of file: a short read, as LevelDB's own files report it
      done += static_cast<size_t>(r);
    }
    *result = leveldb::Slice(scratch, done);
    return leveldb::Status::OK();
  }

 private:
  const std::string name_;
  const int fd_;
};

// The default Env but for how tables are read.
class PreadTablesEnv final : public leveldb::EnvWrapper {
 public:
  PreadTablesEnv() : leveldb::EnvWrapper(leveldb::Env::Default()) {}

  leveldb::Status NewRandomAccessFile(const std::string& name,
                                      leveldb::RandomAccessFile** result) override {
    *result = nullptr;
    int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      return err == ENOENT ? leveldb::Status::NotFound(name, std::strerror(err))
                           : leveldb::Status::IOError(name, std::strerror(err));
    }
    *result = new PreadFile(name, fd);
    return leveldb::Status::OK();
  }
};

}  // namespace

LevelDbResources::LevelDbResources(const LevelDbBudget& budget, leveldb::Env* env)
    : block_cache_(leveldb::NewLRUCache(budget.block_cache_bytes)) {
  if (env == nullptr) {
    default_env_ = std::make_unique<PreadTablesEnv>();
    env = default_env_.get();
  }
  options_.create_if_missing = true;
  options_.env = env;
  options_.block_cache = block_cache_.get();
  options_.max_open_files = budget.max_open_files;
  options_.write_buffer_size = budget.write_buffer_bytes;
}

LevelDbResources::~LevelDbResources() = default;

}  // namespace dfs
