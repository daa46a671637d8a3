#include "datanode/chunk_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crc32c.h"
#include "common/file_util.h"
#include "common/keycoding.h"
#include "common/logging.h"
#include "common/status.h"

namespace dfs {
namespace {

constexpr uint64_t kRecordMagic = 0x3152474f4c534644ull;  // "DFSLOGR1" read as little-endian
constexpr uint32_t kPut = 1;
constexpr uint32_t kDelete = 2;
constexpr uint64_t kHeadBytes = 32;
constexpr uint64_t kBlockBytes = 64 << 10;  // as ChunkStore::kBlockBytes
// Enough to read a head and the CRCs of the largest logged chunk in one pread.
constexpr uint64_t kMaxHeadBytes = kHeadBytes + 4 * (ChunkLog::kMaxChunkBytes / kBlockBytes);

uint64_t BlockCount(uint64_t length) { return (length + kBlockBytes - 1) / kBlockBytes; }

// Reserves [offset, offset + bytes) of `fd`. 0, or the errno; a file system that cannot reserve
// space counts as done (appends grow the file there).
int Preallocate(int fd, uint64_t offset, uint64_t bytes) {
  if (::fallocate(fd, 0, static_cast<off_t>(offset), static_cast<off_t>(bytes)) == 0) return 0;
  return errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL ? 0 : errno;
}

std::string Head(uint64_t chunk_id, uint32_t kind, uint64_t length, uint32_t chunk_crc,
                 const std::vector<uint32_t>& block_crcs) {
  std::string head;
  head.reserve(kHeadBytes + 4 * block_crcs.size());
  PutFixed64LE(&head, kRecordMagic);
  PutFixed64LE(&head, chunk_id);
  PutFixed32LE(&head, static_cast<uint32_t>(length));
  PutFixed32LE(&head, kind);
  PutFixed32LE(&head, chunk_crc);
  std::string crcs;
  for (uint32_t crc : block_crcs) PutFixed32LE(&crcs, crc);
  PutFixed32LE(&head, Crc32cExtend(Crc32c(head), crcs.data(), crcs.size()));
  head += crcs;
  return head;
}

// The head at `offset` of a segment, from `buf` (what a pread there returned). Empty optional:
// no valid record starts here.
struct ParsedHead {
  bool valid = false;
  uint32_t kind = 0;
  uint64_t chunk_id = 0;
  uint64_t length = 0;
  uint32_t chunk_crc = 0;
  std::vector<uint32_t> block_crcs;
  uint64_t head_bytes = 0;
};
ParsedHead ParseHead(const char* buf, size_t size) {
  ParsedHead head;
  if (size < kHeadBytes || DecodeFixed64LE(buf) != kRecordMagic) return head;
  head.chunk_id = DecodeFixed64LE(buf + 8);
  head.length = DecodeFixed32LE(buf + 16);
  head.kind = DecodeFixed32LE(buf + 20);
  head.chunk_crc = DecodeFixed32LE(buf + 24);
  if ((head.kind != kPut && head.kind != kDelete) || head.length > ChunkLog::kMaxChunkBytes ||
      (head.kind == kDelete && head.length != 0)) {
    return head;
  }
  const uint64_t blocks = BlockCount(head.length);
  head.head_bytes = kHeadBytes + 4 * blocks;
  if (size < head.head_bytes) return head;
  uint32_t crc = Crc32c(buf, 28);
  crc = Crc32cExtend(crc, buf + kHeadBytes, 4 * blocks);
  if (crc != DecodeFixed32LE(buf + 28)) return head;
  for (uint64_t i = 0; i < blocks; ++i) {
    head.block_crcs.push_back(DecodeFixed32LE(buf + kHeadBytes + 4 * i));
  }
  head.valid = true;
  return head;
}

absl::StatusOr<std::vector<uint64_t>> ListSegments(const std::string& dir) {
  std::vector<uint64_t> segments;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    uint64_t segment = 0;
    if (name.size() == 20 && name.substr(16) == ".seg" &&
        absl::SimpleHexAtoi(name.substr(0, 16), &segment) && segment > 0) {
      segments.push_back(segment);
    } else {
      DFS_LOG(WARNING) << "ignoring unexpected file " << entry.path().string();
    }
  }
  if (ec) return ErrnoStatus(ec.value(), "list " + dir);
  std::sort(segments.begin(), segments.end());
  return segments;
}

// Reads the records of one segment into `out`; returns where its valid records end. With
// `verify_data`, a put whose data does not match its CRC ends the segment too.
absl::StatusOr<uint64_t> ScanSegment(const std::string& path, uint64_t segment, bool verify_data,
                                     std::vector<ChunkLog::Replayed>* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open " + path);
  std::string buf(kMaxHeadBytes, '\0');
  std::string data;
  uint64_t offset = 0;
  absl::Status status;
  for (;;) {
    absl::StatusOr<size_t> got = PreadUpTo(fd, buf.data(), buf.size(), offset, path);
    if (!got.ok()) {
      status = got.status();
      break;
    }
    ParsedHead head = ParseHead(buf.data(), *got);
    if (!head.valid) break;
    ChunkLog::Replayed record;
    record.put = head.kind == kPut;
    record.chunk_id = head.chunk_id;
    record.location = {segment, offset};
    record.length = head.length;
    record.chunk_crc = head.chunk_crc;
    record.record_bytes = head.head_bytes + head.length;
    if (verify_data && record.put) {
      data.resize(head.length);
      absl::StatusOr<size_t> read =
          PreadUpTo(fd, data.data(), data.size(), offset + head.head_bytes, path);
      if (!read.ok()) {
        status = read.status();
        break;
      }
      if (*read != data.size() || Crc32c(data) != head.chunk_crc) break;  // torn
    }
    out->push_back(record);
    offset += record.record_bytes;
  }
  ::close(fd);
  DFS_RETURN_IF_ERROR(status);
  return offset;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChunkLog>> ChunkLog::Open(const std::string& dir,
                                                         std::vector<Replayed>* replayed) {
  if (::mkdir(dir.c_str(), 0755) == 0) {
    DFS_RETURN_IF_ERROR(FsyncDir(std::filesystem::path(dir).parent_path().string()));
  } else if (errno != EEXIST) {
    return ErrnoStatus(errno, "mkdir " + dir);
  }
  std::unique_ptr<ChunkLog> log(new ChunkLog(dir));
  DFS_ASSIGN_OR_RETURN(std::vector<uint64_t> segments, ListSegments(dir));
  absl::MutexLock lock(&log->mu_);
  for (uint64_t segment : segments) {
    const bool newest = segment == segments.back();
    const size_t first = replayed->size();
    DFS_ASSIGN_OR_RETURN(uint64_t end,
                         ScanSegment(log->SegmentPath(segment), segment, newest, replayed));
    Segment& info = log->segments_[segment];
    info.end = end;
    info.allocated = end;
    for (size_t i = first; i < replayed->size(); ++i) {
      if ((*replayed)[i].put) info.live_bytes += (*replayed)[i].record_bytes;
    }
  }
  if (!segments.empty()) {
    // Appends continue where the newest segment's valid records end.
    const uint64_t newest = segments.back();
    const std::string path = log->SegmentPath(newest);
    log->active_fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (log->active_fd_ < 0) return ErrnoStatus(errno, "open " + path);
    log->active_ = newest;
    // What a crash left after them (a torn record) is zeroed, so that no shorter record written
    // over it later can be followed by a stale one: a hole punched (no space needed, for a full
    // disk), else zeros written.
    const size_t tail = kMaxHeadBytes + kMaxChunkBytes;
    const off_t end = static_cast<off_t>(log->segments_[newest].end);
    if (::fallocate(log->active_fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, end, tail) != 0) {
      const std::string zeros(tail, '\0');
      if (::pwrite(log->active_fd_, zeros.data(), zeros.size(), end) !=
          static_cast<ssize_t>(zeros.size())) {
        return ErrnoStatus(errno, "zero the tail of " + path);
      }
    }
    if (::fdatasync(log->active_fd_) != 0) return ErrnoStatus(errno, "fdatasync " + path);
  }
  return log;
}

absl::StatusOr<std::vector<ChunkLog::Replayed>> ChunkLog::Survey(const std::string& dir) {
  std::vector<Replayed> records;
  if (!std::filesystem::exists(dir)) return records;
  DFS_ASSIGN_OR_RETURN(std::vector<uint64_t> segments, ListSegments(dir));
  for (uint64_t segment : segments) {
    const std::string path = absl::StrFormat("%s/%016x.seg", dir, segment);
    absl::StatusOr<uint64_t> end = ScanSegment(path, segment, /*verify_data=*/false, &records);
    if (!end.ok() && !absl::IsNotFound(end.status())) return end.status();  // removed meanwhile
  }
  return records;
}

ChunkLog::~ChunkLog() {
  absl::MutexLock lock(&mu_);
  if (active_fd_ >= 0) ::close(active_fd_);
}

std::string ChunkLog::SegmentPath(uint64_t segment) const {
  return absl::StrFormat("%s/%016x.seg", dir_, segment);
}

void ChunkLog::FinishReplay() {
  absl::MutexLock lock(&mu_);
  replaying_ = false;
  std::vector<uint64_t> segments;
  for (const auto& [segment, info] : segments_) segments.push_back(segment);
  for (uint64_t segment : segments) RemoveIfDeadLocked(segment);
}

uint64_t ChunkLog::segment_count() const {
  absl::MutexLock lock(&mu_);
  return segments_.size();
}

absl::StatusOr<LogLocation> ChunkLog::AppendChunk(uint64_t chunk_id, std::string_view data,
                                                  const std::vector<uint32_t>& block_crcs,
                                                  uint32_t chunk_crc, uint64_t* record_bytes,
                                                  bool wait_durable) {
  if (data.size() > kMaxChunkBytes || block_crcs.size() != BlockCount(data.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot log a chunk of ", data.size(), " bytes"));
  }
  std::string record = Head(chunk_id, kPut, data.size(), chunk_crc, block_crcs);
  record.append(data);
  *record_bytes = record.size();
  LogLocation location;
  DFS_RETURN_IF_ERROR(Append(record, wait_durable, &location));
  return location;
}

absl::Status ChunkLog::AppendDelete(uint64_t chunk_id) {
  LogLocation location;
  return Append(Head(chunk_id, kDelete, 0, 0, {}), /*wait_durable=*/false, &location);
}

absl::Status ChunkLog::Append(const std::string& record, bool wait_durable,
                              LogLocation* location) {
  absl::MutexLock lock(&mu_);
  DFS_RETURN_IF_ERROR(failed_);
  if (active_fd_ < 0 || segments_[active_].end + record.size() > kSegmentBytes) {
    DFS_RETURN_IF_ERROR(RollLocked());
  }
  Segment& segment = segments_[active_];
  const std::string path = SegmentPath(active_);
  if (segment.end + record.size() > segment.allocated) {
    const uint64_t want = std::max<uint64_t>(kPreallocateBytes, record.size());
    const int err = Preallocate(active_fd_, segment.allocated, want);
    if (err != 0) return ErrnoStatus(err, "preallocate " + path);
    segment.allocated += want;
  }
  if (::pwrite(active_fd_, record.data(), record.size(), static_cast<off_t>(segment.end)) !=
      static_cast<ssize_t>(record.size())) {
    // Nothing acknowledged depends on these bytes: the next append writes over them (and a crash
    // leaves at most a torn last record, which the next open drops).
    return ErrnoStatus(errno == 0 ? EIO : errno, "write " + path);
  }
  *location = {active_, segment.end};
  segment.end += record.size();
  if (DecodeFixed32LE(record.data() + 20) == kPut) segment.live_bytes += record.size();
  appended_ += record.size();
  if (!wait_durable) return absl::OkStatus();
  return WaitDurableLocked(appended_);
}

absl::Status ChunkLog::Sync() {
  absl::MutexLock lock(&mu_);
  return WaitDurableLocked(appended_);
}

absl::Status ChunkLog::WaitDurableLocked(uint64_t appended) {
  while (synced_ < appended && failed_.ok()) {
    if (syncing_) {
      sync_done_.Wait(&mu_);
      continue;
    }
    syncing_ = true;
    const uint64_t target = appended_;
    const int fd = active_fd_;
    const std::string path = SegmentPath(active_);
    mu_.Unlock();
    const int rc = ::fdatasync(fd);
    const int err = errno;
    mu_.Lock();
    syncing_ = false;
    if (rc == 0) {
      synced_ = std::max(synced_, target);
    } else {
      failed_ = ErrnoStatus(err, "fdatasync " + path);
    }
    sync_done_.SignalAll();
  }
  return failed_;
}

absl::Status ChunkLog::RollLocked() {
  // The active segment's file must not be closed under a sync in progress.
  while (syncing_) sync_done_.Wait(&mu_);
  if (active_fd_ >= 0) {
    if (::fdatasync(active_fd_) != 0) {
      failed_ = ErrnoStatus(errno, "fdatasync " + SegmentPath(active_));
      return failed_;
    }
    synced_ = appended_;
    ::close(active_fd_);
    active_fd_ = -1;
    const uint64_t previous = active_;
    active_ = 0;
    RemoveIfDeadLocked(previous);
  }
  const uint64_t next = segments_.empty() ? 1 : segments_.rbegin()->first + 1;
  const std::string path = SegmentPath(next);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "create " + path);
  const int rc = Preallocate(fd, 0, kPreallocateBytes);
  if (rc != 0) {
    ::close(fd);
    ::unlink(path.c_str());
    return ErrnoStatus(rc, "preallocate " + path);
  }
  // The segment's name must be durable before a record in it is acknowledged.
  absl::Status synced = FsyncDir(dir_);
  if (synced.ok() && ::fsync(fd) != 0) synced = ErrnoStatus(errno, "fsync " + path);
  if (!synced.ok()) {
    ::close(fd);
    return synced;
  }
  segments_[next] = Segment{.allocated = kPreallocateBytes};
  active_ = next;
  active_fd_ = fd;
  return absl::OkStatus();
}

void ChunkLog::Release(const LogLocation& location, uint64_t record_bytes) {
  absl::MutexLock lock(&mu_);
  auto it = segments_.find(location.segment);
  if (it == segments_.end()) return;
  Segment& segment = it->second;
  segment.live_bytes -= std::min(segment.live_bytes, record_bytes);
  segment.last_release = absl::Now();
  if (!replaying_) RemoveIfDeadLocked(location.segment);
}

uint64_t ChunkLog::StartCompaction(absl::Duration quiet) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  for (auto& [id, segment] : segments_) {
    if (id == active_ || segment.compacting || segment.live_bytes * 4 > segment.end ||
        now - segment.last_release < quiet) {
      continue;
    }
    segment.compacting = true;
    return id;
  }
  return 0;
}

void ChunkLog::EndCompaction(uint64_t segment) {
  absl::MutexLock lock(&mu_);
  auto it = segments_.find(segment);
  if (it != segments_.end()) it->second.compacting = false;
}

void ChunkLog::RemoveIfDeadLocked(uint64_t segment) {
  auto it = segments_.find(segment);
  if (it == segments_.end() || segment == active_ || it->second.live_bytes > 0) return;
  // Its deletes go with it: a chunk they deleted from an older segment that is still here comes
  // back after a restart, and the master asks us to delete it again (as after a lost unlink).
  const std::string path = SegmentPath(segment);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    DFS_LOG(WARNING) << "cannot remove log segment " << path << ": " << std::strerror(errno);
    return;
  }
  segments_.erase(it);
}

absl::StatusOr<LogRecordHead> ChunkLog::ReadHead(int fd, const LogLocation& location,
                                                 const std::string& path) {
  std::string buf(kMaxHeadBytes, '\0');
  DFS_ASSIGN_OR_RETURN(size_t got, PreadUpTo(fd, buf.data(), buf.size(), location.offset, path));
  ParsedHead head = ParseHead(buf.data(), got);
  if (!head.valid || head.kind != kPut) {
    return absl::DataLossError(
        absl::StrCat(path, ": no valid chunk record at offset ", location.offset));
  }
  LogRecordHead out;
  out.chunk_id = head.chunk_id;
  out.length = head.length;
  out.chunk_crc = head.chunk_crc;
  out.block_crcs = std::move(head.block_crcs);
  out.data_offset = location.offset + head.head_bytes;
  out.record_bytes = head.head_bytes + head.length;
  return out;
}

}  // namespace dfs
