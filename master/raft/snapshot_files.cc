#include "master/raft/snapshot_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crc32c.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "common/status.h"

namespace dfs::raft {

namespace {

constexpr char kSnapshotFilePrefix[] = "snapshot-";
constexpr char kSnapshotFileSuffix[] = ".data";

// Snapshot files are written and read in pieces of this size: memory for a snapshot stays
// bounded whatever the namespace's size.
constexpr size_t kSnapshotIoBytes = 1 << 20;

// Up to `length` bytes at `offset` of `path` (fewer at its end).
absl::StatusOr<std::string> ReadAt(const std::string& path, uint64_t offset, uint64_t length) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open " + path);
  std::string out(length, '\0');
  absl::StatusOr<size_t> n = PreadUpTo(fd, out.data(), length, offset, path);
  ::close(fd);
  if (!n.ok()) return n.status();
  out.resize(*n);
  return out;
}

// A snapshot's data streamed into a temporary file through a bounded buffer. Removed unless
// SnapshotFiles::Name gave it its name.
class FileSnapshotWriter : public SnapshotWriter {
 public:
  FileSnapshotWriter(std::string path, int fd) : path_(std::move(path)), fd_(fd) {
    buffer_.reserve(kSnapshotIoBytes);
  }
  ~FileSnapshotWriter() override {
    if (fd_ >= 0) ::close(fd_);
    if (!adopted_) ::unlink(path_.c_str());
  }

  absl::Status Finish() override {
    DFS_RETURN_IF_ERROR(Flush());
    if (::fsync(fd_) != 0) return ErrnoStatus(errno, "fsync " + path_);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return ErrnoStatus(errno, "close " + path_);
    finished_ = true;
    return absl::OkStatus();
  }

  const std::string& path() const { return path_; }
  void Adopt() { adopted_ = true; }

 protected:
  absl::Status Write(absl::string_view data) override {
    if (buffer_.size() + data.size() > kSnapshotIoBytes) DFS_RETURN_IF_ERROR(Flush());
    if (data.size() >= kSnapshotIoBytes) {
      return WriteAll(fd_, std::string_view(data.data(), data.size()), path_);
    }
    buffer_.append(data.data(), data.size());
    return absl::OkStatus();
  }

 private:
  absl::Status Flush() {
    absl::Status status = WriteAll(fd_, buffer_, path_);
    buffer_.clear();
    return status;
  }

  const std::string path_;
  int fd_;
  std::string buffer_;
  bool adopted_ = false;
};

}  // namespace

std::string SnapshotFiles::Path(uint64_t index) const {
  return absl::StrFormat("%s/%s%020d%s", dir_, kSnapshotFilePrefix, index, kSnapshotFileSuffix);
}

absl::StatusOr<std::unique_ptr<SnapshotWriter>> SnapshotFiles::NewWriter(uint64_t index) {
  const std::string path = absl::StrCat(Path(index), ".tmp-", next_temp_++);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "open " + path);
  return std::make_unique<FileSnapshotWriter>(path, fd);
}

absl::StatusOr<std::unique_ptr<SnapshotWriter>> SnapshotFiles::WriteWhole(uint64_t index,
                                                                          absl::string_view data) {
  DFS_ASSIGN_OR_RETURN(std::unique_ptr<SnapshotWriter> writer, NewWriter(index));
  DFS_RETURN_IF_ERROR(writer->Append(data));
  DFS_RETURN_IF_ERROR(writer->Finish());
  return writer;
}

absl::Status SnapshotFiles::Name(uint64_t index, SnapshotWriter& data) {
  DFS_CHECK(data.finished());
  auto& file = static_cast<FileSnapshotWriter&>(data);
  // Named on disk only now that it is whole and durable; in the log by the caller.
  const std::string path = Path(index);
  if (::rename(file.path().c_str(), path.c_str()) != 0) {
    return ErrnoStatus(errno, "rename " + file.path());
  }
  file.Adopt();
  return FsyncDir(dir_);
}

absl::StatusOr<std::pair<uint64_t, uint32_t>> SnapshotFiles::SizeAndChecksum(
    uint64_t index) const {
  const std::string path = Path(index);
  uint32_t crc = 0;
  uint64_t offset = 0;
  for (;;) {
    DFS_ASSIGN_OR_RETURN(std::string piece, ReadAt(path, offset, kSnapshotIoBytes));
    if (piece.empty()) break;
    crc = Crc32cExtend(crc, piece.data(), piece.size());
    offset += piece.size();
  }
  return std::make_pair(offset, crc);
}

absl::Status SnapshotFiles::Verify(uint64_t index, uint64_t size, uint32_t crc) const {
  DFS_ASSIGN_OR_RETURN(auto actual, SizeAndChecksum(index));
  if (actual.first != size || actual.second != crc) {
    return absl::DataLossError(
        absl::StrCat("raft log: ", Path(index), " does not match its size and checksum"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SnapshotFiles::Read(uint64_t stored_index, uint64_t stored_bytes,
                                                uint64_t index, uint64_t offset,
                                                uint64_t length) const {
  if (index != stored_index || index == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot ", index, " replaced by ", stored_index));
  }
  if (offset > stored_bytes) return absl::OutOfRangeError("offset past the snapshot's end");
  return ReadAt(Path(index), offset, std::min(length, stored_bytes - offset));
}

void SnapshotFiles::DeleteOthers(uint64_t keep_index, bool temporary) const {
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return;
  std::vector<std::string> stale;
  const std::string keep = Path(keep_index);
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (!absl::StartsWith(name, kSnapshotFilePrefix) || dir_ + "/" + name == keep) continue;
    if (temporary || absl::EndsWith(name, kSnapshotFileSuffix)) stale.push_back(dir_ + "/" + name);
  }
  ::closedir(d);
  // Best effort: a file left behind costs disk until the next snapshot or restart, nothing else.
  for (const std::string& path : stale) {
    if (::unlink(path.c_str()) != 0) {
      DFS_LOG(WARNING) << ErrnoStatus(errno, "unlink " + path);
    }
  }
}

}  // namespace dfs::raft
