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

// A LevelDB log file (its WAL) that writes whole buffers: Flush, which LevelDB calls after every
// record, only buffers; Sync and Close write the buffer out first.
class BufferedLogFile final : public leveldb::WritableFile {
 public:
  BufferedLogFile(leveldb::WritableFile* file, size_t buffer_bytes)
      : file_(file), buffer_bytes_(buffer_bytes) {}
  // LevelDB deletes its last log without closing it when the database closes.
  ~BufferedLogFile() override { WriteOut(); }

  leveldb::Status Append(const leveldb::Slice& data) override {
    buffer_.append(data.data(), data.size());
    return buffer_.size() >= buffer_bytes_ ? WriteOut() : leveldb::Status::OK();
  }
  leveldb::Status Flush() override { return leveldb::Status::OK(); }
  leveldb::Status Sync() override {
    leveldb::Status s = WriteOut();
    return s.ok() ? file_->Sync() : s;
  }
  leveldb::Status Close() override {
    leveldb::Status s = WriteOut();
    leveldb::Status closed = file_->Close();
    return s.ok() ? closed : s;
  }

 private:
  leveldb::Status WriteOut() {
    if (buffer_.empty()) return leveldb::Status::OK();
    leveldb::Status s = file_->Append(buffer_);
    if (s.ok()) s = file_->Flush();
    buffer_.clear();
    return s;
  }

  const std::unique_ptr<leveldb::WritableFile> file_;
  const size_t buffer_bytes_;
  std::string buffer_;
};

// LevelDB's log files are <number>.log (its info log is LOG, its manifest MANIFEST-<number>).
bool IsLevelDbLog(const std::string& name) {
  return name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0;
}

// The default Env but for how tables are read, and optionally how LevelDB's log is written.
class PreadTablesEnv final : public leveldb::EnvWrapper {
 public:
  explicit PreadTablesEnv(size_t log_buffer_bytes)
      : leveldb::EnvWrapper(leveldb::Env::Default()), log_buffer_bytes_(log_buffer_bytes) {}

  leveldb::Status NewWritableFile(const std::string& name,
                                  leveldb::WritableFile** result) override {
    leveldb::Status s = target()->NewWritableFile(name, result);
    if (s.ok() && log_buffer_bytes_ > 0 && IsLevelDbLog(name)) {
      *result = new BufferedLogFile(*result, log_buffer_bytes_);
    }
    return s;
  }

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

 private:
  const size_t log_buffer_bytes_;
};

}  // namespace

LevelDbResources::LevelDbResources(const LevelDbBudget& budget, leveldb::Env* env)
    : block_cache_(leveldb::NewLRUCache(budget.block_cache_bytes)) {
  if (env == nullptr) {
    default_env_ = std::make_unique<PreadTablesEnv>(budget.log_buffer_bytes);
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
