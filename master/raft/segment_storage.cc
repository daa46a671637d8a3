#include "master/raft/segment_storage.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/crc32c.h"
#include "common/file_util.h"
#include "common/keycoding.h"
#include "common/logging.h"
#include "common/status.h"
#include "common/thread_name.h"
#include "leveldb/db.h"
#include "master/raft/leveldb_storage.h"

namespace dfs::raft {

namespace {

constexpr char kSegmentPrefix[] = "segment-";
constexpr char kTempSuffix[] = ".tmp";
constexpr size_t kFrameBytes = 8;  // length + CRC32C
constexpr size_t kZeroChunkBytes = 1 << 20;
constexpr size_t kPageBytes = 4096;

enum RecordFlags : uint8_t {
  kHasHardState = 1,
  kHasSnapshot = 2,
  kSnapshotReplacesLog = 4,
};

void AppendMessage(const google::protobuf::MessageLite& message, std::string* out) {
  PutFixed32BE(out, static_cast<uint32_t>(message.ByteSizeLong()));
  message.AppendToString(out);
}

// Appends one framed record to `out`: the parts of one Save (or a checkpoint).
void AppendRecord(const HardState* hard_state, const SegmentStorage::SnapshotRecord* snapshot,
                  bool snapshot_replaces_log, const std::vector<Entry>& entries,
                  std::string* out) {
  const size_t start = out->size();
  out->append(kFrameBytes, '\0');
  uint8_t flags = 0;
  if (hard_state != nullptr) flags |= kHasHardState;
  if (snapshot != nullptr) flags |= kHasSnapshot | (snapshot_replaces_log ? kSnapshotReplacesLog : 0);
  out->push_back(static_cast<char>(flags));
  if (hard_state != nullptr) AppendMessage(*hard_state, out);
  if (snapshot != nullptr) {
    AppendMessage(snapshot->metadata, out);
    PutFixed64BE(out, snapshot->bytes);
    PutFixed32BE(out, snapshot->crc);
  }
  PutFixed32BE(out, static_cast<uint32_t>(entries.size()));
  for (const Entry& e : entries) AppendMessage(e, out);
  // Frame: the CRC covers the length too, so a run of zeros (preallocated space) never checks.
  std::string length;
  PutFixed32BE(&length, static_cast<uint32_t>(out->size() - start - kFrameBytes));
  uint32_t crc = Crc32c(length);
  crc = Crc32cExtend(crc, out->data() + start + kFrameBytes, out->size() - start - kFrameBytes);
  std::string frame = length;
  PutFixed32BE(&frame, crc);
  out->replace(start, kFrameBytes, frame);
}

// One record's parts, as read back.
struct Record {
  std::optional<HardState> hard_state;
  std::optional<SegmentStorage::SnapshotRecord> snapshot;
  bool snapshot_replaces_log = false;
  std::vector<Entry> entries;
};

// Reads a length-prefixed message at the front of `in` and consumes it.
bool ConsumeMessage(absl::string_view* in, google::protobuf::MessageLite* message) {
  if (in->size() < 4) return false;
  const uint32_t length = DecodeFixed32BE(*in);
  if (in->size() - 4 < length) return false;
  if (!message->ParseFromArray(in->data() + 4, static_cast<int>(length))) return false;
  in->remove_prefix(4 + length);
  return true;
}

// A payload whose CRC checked but that does not parse is a bug or damage, never a torn write.
absl::StatusOr<Record> DecodeRecord(absl::string_view in, const std::string& where) {
  const absl::Status bad = absl::DataLossError("raft log: bad record at " + where);
  Record r;
  if (in.empty()) return bad;
  const uint8_t flags = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);
  if (flags & kHasHardState) {
    r.hard_state.emplace();
    if (!ConsumeMessage(&in, &*r.hard_state)) return bad;
  }
  if (flags & kHasSnapshot) {
    r.snapshot.emplace();
    if (!ConsumeMessage(&in, &r.snapshot->metadata) || in.size() < 12) return bad;
    r.snapshot->bytes = DecodeFixed64BE(in);
    r.snapshot->crc = DecodeFixed32BE(in.substr(8));
    in.remove_prefix(12);
    r.snapshot_replaces_log = (flags & kSnapshotReplacesLog) != 0;
  }
  if (in.size() < 4) return bad;
  const uint32_t count = DecodeFixed32BE(in);
  in.remove_prefix(4);
  r.entries.resize(count);
  for (Entry& e : r.entries) {
    if (!ConsumeMessage(&in, &e)) return bad;
  }
  if (!in.empty()) return bad;
  return r;
}

// The records of one segment file: payloads up to the first frame that does not check.
struct SegmentScan {
  std::vector<absl::string_view> payloads;
  uint64_t end = 0;         // where the records end
  bool clean_tail = true;   // only zeros after `end`
};

SegmentScan ScanRecords(absl::string_view file) {
  SegmentScan scan;
  size_t pos = 0;
  while (file.size() - pos >= kFrameBytes) {
    const uint32_t length = DecodeFixed32BE(file.substr(pos));
    const uint32_t crc = DecodeFixed32BE(file.substr(pos + 4));
    if (length == 0 || file.size() - pos - kFrameBytes < length) break;
    uint32_t actual = Crc32c(file.data() + pos, 4);
    actual = Crc32cExtend(actual, file.data() + pos + kFrameBytes, length);
    if (actual != crc) break;
    scan.payloads.push_back(file.substr(pos + kFrameBytes, length));
    pos += kFrameBytes + length;
  }
  scan.end = pos;
  scan.clean_tail = std::all_of(file.begin() + pos, file.end(), [](char c) { return c == 0; });
  return scan;
}

// The log's state while its records are replayed in order (see the header).
struct Replay {
  HardState hard_state;
  SegmentStorage::SnapshotRecord snapshot;
  std::deque<Entry> entries;
  std::vector<SegmentStorage::Segment> segments;

  void Apply(Record r) {
    SegmentStorage::Segment& segment = segments.back();
    if (r.snapshot.has_value()) {
      const uint64_t index = r.snapshot->metadata.index();
      if (r.snapshot_replaces_log) {
        entries.clear();
        for (SegmentStorage::Segment& s : segments) s.live_max = 0;
        snapshot = *r.snapshot;
      } else if (index > snapshot.metadata.index()) {
        snapshot = *r.snapshot;
      }
      DropCovered();
    }
    if (!r.entries.empty()) {
      const uint64_t from = r.entries.front().index();
      while (!entries.empty() && entries.back().index() >= from) entries.pop_back();
      // Entries before `from` that are missing were in a segment deleted as covered.
      if (!entries.empty() && entries.back().index() + 1 != from) entries.clear();
      segment.live_max = std::max(segment.live_max, r.entries.back().index());
      for (Entry& e : r.entries) entries.push_back(std::move(e));
    }
    if (r.hard_state.has_value()) hard_state = std::move(*r.hard_state);
  }

  void DropCovered() {
    while (!entries.empty() && entries.front().index() <= snapshot.metadata.index()) {
      entries.pop_front();
    }
  }

  // The entries must run from the snapshot's index + 1 without a gap.
  absl::Status Check() {
    DropCovered();
    uint64_t expected = snapshot.metadata.index() + 1;
    for (const Entry& e : entries) {
      if (e.index() != expected) {
        return absl::DataLossError(
            absl::StrCat("raft log: gap: expected entry ", expected, ", found ", e.index()));
      }
      ++expected;
    }
    return absl::OkStatus();
  }
};

// What opening found in the last segment that holds records, and after it.
struct ReplayEnd {
  uint64_t end = 0;         // where its records end
  bool clean_tail = true;   // only zeros after them
  std::vector<uint64_t> unused;
};

}  // namespace

SegmentStorage::SegmentStorage(std::string dir, const SegmentStorageOptions& options)
    : dir_(std::move(dir)), options_(options), files_(dir_) {}

SegmentStorage::~SegmentStorage() {
  StopHelper();
  if (ready_fd_ >= 0) ::close(ready_fd_);  // stays as the next segment, ready for use
  if (fd_ >= 0) ::close(fd_);
}

std::string SegmentStorage::SegmentPath(uint64_t seq) const {
  return absl::StrFormat("%s/%s%020d", dir_, kSegmentPrefix, seq);
}

namespace {

// The segments in `dir` by seq; temporary ones are deleted (a crash while preallocating).
absl::StatusOr<std::vector<uint64_t>> ListSegments(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus(errno, "opendir " + dir);
  std::vector<uint64_t> seqs;
  std::vector<std::string> temporary;
  while (const dirent* e = ::readdir(d)) {
    absl::string_view name = e->d_name;
    if (!absl::ConsumePrefix(&name, kSegmentPrefix)) continue;
    uint64_t seq = 0;
    if (absl::EndsWith(name, kTempSuffix)) {
      temporary.push_back(dir + "/" + e->d_name);
    } else if (absl::SimpleAtoi(name, &seq)) {
      seqs.push_back(seq);
    }
  }
  ::closedir(d);
  for (const std::string& path : temporary) ::unlink(path.c_str());
  std::sort(seqs.begin(), seqs.end());
  return seqs;
}

// Replays the segments `seqs` of `dir` into `replay`. The segments that hold records must come
// first; `end` (if set) learns about the last of them and the unused ones after it.
absl::Status ReplaySegments(const std::string& dir, const std::vector<uint64_t>& seqs,
                            Replay* replay, ReplayEnd* end) {
  bool torn = false;  // the last segment with records ended in a record that does not check
  for (uint64_t seq : seqs) {
    const std::string path = absl::StrFormat("%s/%s%020d", dir, kSegmentPrefix, seq);
    DFS_ASSIGN_OR_RETURN(std::string file, ReadFile(path));
    SegmentScan scan = ScanRecords(file);
    if (scan.payloads.empty()) {
      if (end == nullptr) return absl::DataLossError("raft log: no records in " + path);
      end->unused.push_back(seq);
      continue;
    }
    if (end != nullptr && !end->unused.empty()) {
      return absl::DataLossError(absl::StrCat("raft log: segment ", end->unused.front(),
                                              " holds no record, but ", path, " does"));
    }
    if (torn) {
      return absl::DataLossError(
          absl::StrCat("raft log: a record that does not check before ", path));
    }
    torn = !scan.clean_tail;
    replay->segments.push_back(SegmentStorage::Segment{seq, 0});
    for (size_t i = 0; i < scan.payloads.size(); ++i) {
      DFS_ASSIGN_OR_RETURN(Record r, DecodeRecord(scan.payloads[i],
                                                  absl::StrCat(path, " record ", i)));
      replay->Apply(std::move(r));
    }
    if (end != nullptr) {
      end->end = scan.end;
      end->clean_tail = scan.clean_tail;
    }
  }
  return replay->Check();
}

// A torn write at the end of the log: zeroes what follows the last good record at `end`, so that
// the segment holds nothing but records and zeros.
absl::Status ZeroTornTail(const std::string& path, uint64_t end) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open " + path);
  struct stat st;
  absl::Status status;
  if (::fstat(fd, &st) != 0) status = ErrnoStatus(errno, "stat " + path);
  const std::string zeros(kZeroChunkBytes, '\0');
  for (uint64_t pos = end; status.ok() && pos < static_cast<uint64_t>(st.st_size);) {
    const size_t n = std::min<uint64_t>(zeros.size(), st.st_size - pos);
    if (::pwrite(fd, zeros.data(), n, static_cast<off_t>(pos)) != static_cast<ssize_t>(n)) {
      status = ErrnoStatus(errno, "zero the torn tail of " + path);
    }
    pos += n;
  }
  if (status.ok() && ::fdatasync(fd) != 0) status = ErrnoStatus(errno, "fdatasync " + path);
  ::close(fd);
  if (status.ok()) {
    DFS_LOG(WARNING) << "raft log: " << path << " ended in a torn record at offset " << end
                     << "; zeroed the rest";
  }
  return status;
}

bool LevelDbLogExists(const std::string& dir) {
  return ::access((dir + "/CURRENT").c_str(), F_OK) == 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SegmentStorage>> SegmentStorage::Open(
    const std::string& dir, const SegmentStorageOptions& options) {
  if (options.segment_bytes < 4096) return absl::InvalidArgumentError("segment_bytes < 4096");
  DFS_RETURN_IF_ERROR(MakeDirs(dir));
  std::unique_ptr<SegmentStorage> storage(new SegmentStorage(dir, options));
  DFS_RETURN_IF_ERROR(storage->Init());
  return storage;
}

absl::Status SegmentStorage::Init() {
  DFS_ASSIGN_OR_RETURN(std::vector<uint64_t> seqs, ListSegments(dir_));
  Replay replay;
  ReplayEnd end;
  DFS_RETURN_IF_ERROR(ReplaySegments(dir_, seqs, &replay, &end));
  if (LevelDbLogExists(dir_)) {
    if (replay.segments.empty()) {
      // Segments without records are a migration that did not finish: start it over.
      for (uint64_t seq : seqs) ::unlink(SegmentPath(seq).c_str());
      DFS_RETURN_IF_ERROR(MigrateFromLevelDb());
      return Init();
    }
    // Migrated, but the process stopped before the old files were deleted.
    leveldb::Status s = leveldb::DestroyDB(dir_, leveldb::Options());
    if (!s.ok()) {
      DFS_LOG(WARNING) << "raft log: deleting the old LevelDB log: " << s.ToString();
    }
  }
  hard_state_ = replay.hard_state;
  snapshot_ = replay.snapshot;
  last_index_ = replay.entries.empty() ? snapshot_.metadata.index() : replay.entries.back().index();
  segments_ = std::move(replay.segments);

  // Unused segments go: having been read, their pages may sit in the page cache as large folios
  // (see CreateSegment).
  bool removed = false;
  for (uint64_t seq : end.unused) removed |= ::unlink(SegmentPath(seq).c_str()) == 0;
  if (removed) DFS_RETURN_IF_ERROR(FsyncDir(dir_));
  if (!segments_.empty() && !end.clean_tail) {
    DFS_RETURN_IF_ERROR(ZeroTornTail(SegmentPath(segments_.back().seq), end.end));
  }
  // Writing always continues in a new segment, for the same reason; the last one (if any) is now
  // whole, and a restart costs one segment until compaction deletes it.
  const uint64_t next = segments_.empty() ? 1 : segments_.back().seq + 1;
  DFS_ASSIGN_OR_RETURN(int fd, CreateSegment(next));
  DFS_RETURN_IF_ERROR(StartSegment(next, fd, "", /*sync=*/true));
  // The new segment's checkpoint holds the hard state and snapshot: what the snapshot covers goes.
  DFS_RETURN_IF_ERROR(DropCoveredSegments());
  files_.DeleteOthers(snapshot_.metadata.index(), /*temporary=*/true);

  {
    std::lock_guard<std::mutex> lock(mu_);
    wanted_ = next + 1;
  }
  helper_ = std::thread([this] {
    NameThisThread("raft-prealloc");
    HelperLoop();
  });
  return absl::OkStatus();
}

absl::Status SegmentStorage::MigrateFromLevelDb() {
  PersistentState state;
  {
    DFS_ASSIGN_OR_RETURN(std::unique_ptr<LevelDbStorage> old, LevelDbStorage::Open(dir_));
    DFS_ASSIGN_OR_RETURN(state, old->Load());
  }  // closed: DestroyDB needs its lock
  SnapshotRecord snapshot{state.snapshot, 0, 0};
  if (state.snapshot.index() > 0) {
    DFS_ASSIGN_OR_RETURN(auto size_crc, files_.SizeAndChecksum(state.snapshot.index()));
    snapshot.bytes = size_crc.first;
    snapshot.crc = size_crc.second;
  }
  DFS_ASSIGN_OR_RETURN(int fd, CreateSegment(1));
  std::string record;
  AppendRecord(&state.hard_state, state.snapshot.index() > 0 ? &snapshot : nullptr,
               /*snapshot_replaces_log=*/false, state.entries, &record);
  absl::Status status = WriteAll(fd, record, SegmentPath(1));
  if (status.ok() && ::fdatasync(fd) != 0) status = ErrnoStatus(errno, "fdatasync " + SegmentPath(1));
  ::close(fd);
  DFS_RETURN_IF_ERROR(status);
  leveldb::Status s = leveldb::DestroyDB(dir_, leveldb::Options());
  if (!s.ok()) return absl::InternalError("raft log: deleting the old LevelDB log: " + s.ToString());
  DFS_RETURN_IF_ERROR(FsyncDir(dir_));
  DFS_LOG(INFO) << "raft log: moved " << state.entries.size() << " entries (snapshot at "
                << state.snapshot.index() << ") from LevelDB to " << SegmentPath(1);
  return absl::OkStatus();
}

absl::StatusOr<int> SegmentStorage::CreateSegment(uint64_t seq) const {
  const std::string path = SegmentPath(seq);
  const std::string tmp = path + kTempSuffix;
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "open " + tmp);
  auto fail = [&](absl::Status status) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return status;
  };
  // Written, not fallocated: an unwritten extent would still need a metadata update on the
  // first write into it, which is what preallocation is for avoiding. Written a page at a time:
  // the page cache sizes a folio after the write that creates it (Linux 6.x, ext4 large
  // folios), and a small record later written into a 2 MiB folio dirties all of it, so that each
  // fdatasync wrote 2 MiB (measured: /proc/PID/io write_bytes per sync).
  const std::string zeros(kPageBytes, '\0');
  for (uint64_t done = 0; done < options_.segment_bytes;) {
    const size_t n = std::min<uint64_t>(zeros.size(), options_.segment_bytes - done);
    if (absl::Status s = WriteAll(fd, std::string_view(zeros).substr(0, n), tmp); !s.ok()) {
      return fail(s);
    }
    done += n;
  }
  if (::fsync(fd) != 0) return fail(ErrnoStatus(errno, "fsync " + tmp));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(ErrnoStatus(errno, "rename " + tmp));
  if (absl::Status s = FsyncDir(dir_); !s.ok()) return fail(s);
  if (::lseek(fd, 0, SEEK_SET) < 0) return fail(ErrnoStatus(errno, "seek " + path));
  return fd;
}

void SegmentStorage::HelperLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || (wanted_ != 0 && ready_seq_ != wanted_); });
    if (stopping_) return;
    const uint64_t seq = wanted_;
    lock.unlock();
    absl::StatusOr<int> fd = CreateSegment(seq);
    lock.lock();
    if (fd.ok()) {
      ready_seq_ = seq;
      ready_fd_ = *fd;
    } else {
      helper_error_ = fd.status();
      wanted_ = 0;
    }
    cv_.notify_all();
  }
}

void SegmentStorage::StopHelper() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (helper_.joinable()) helper_.join();
}

absl::Status SegmentStorage::StartSegment(uint64_t seq, int fd, const std::string& tail,
                                          bool sync) {
  std::string bytes;
  AppendRecord(&hard_state_, snapshot_.metadata.index() > 0 ? &snapshot_ : nullptr,
               /*snapshot_replaces_log=*/false, {}, &bytes);
  const uint64_t checkpoint = bytes.size();
  bytes += tail;
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  offset_ = 0;
  checkpoint_end_ = checkpoint;
  segments_.push_back(Segment{seq, 0});
  return WriteActive(bytes, sync);
}

absl::Status SegmentStorage::Append(const std::string& record, bool sync) {
  if (offset_ + record.size() <= options_.segment_bytes || offset_ <= checkpoint_end_) {
    return WriteActive(record, sync);
  }
  // The active segment is full. It must be durable before a later one holds records: at load,
  // a record that does not check is the end of the log only in the last segment.
  if (unsynced_ && ::fdatasync(fd_) != 0) {
    return ErrnoStatus(errno, "fdatasync " + SegmentPath(segments_.back().seq));
  }
  unsynced_ = false;
  const uint64_t seq = segments_.back().seq + 1;
  int fd = -1;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (ready_seq_ != seq) {
      DFS_LOG(INFO) << "raft log: waiting for segment " << seq << " to be preallocated";
    }
    cv_.wait(lock, [&] { return ready_seq_ == seq || !helper_error_.ok(); });
    if (ready_seq_ != seq) return helper_error_;
    fd = ready_fd_;
    ready_fd_ = -1;
    ready_seq_ = 0;
    wanted_ = seq + 1;
  }
  cv_.notify_all();
  return StartSegment(seq, fd, record, sync);
}

absl::Status SegmentStorage::WriteActive(const std::string& bytes, bool sync) {
  const std::string path = SegmentPath(segments_.back().seq);
  if (fail_next_write_) {
    fail_next_write_ = false;
    return ErrnoStatus(EIO, "write " + path + " (injected)");
  }
  unsynced_ = true;
  DFS_RETURN_IF_ERROR(WriteAll(fd_, bytes, path));
  offset_ += bytes.size();
  if (sync) {
    if (::fdatasync(fd_) != 0) return ErrnoStatus(errno, "fdatasync " + path);
    unsynced_ = false;
  }
  return absl::OkStatus();
}

size_t SegmentStorage::SegmentsCoveredBy(uint64_t index) const {
  size_t n = 0;
  while (n + 1 < segments_.size() && segments_[n].live_max <= index) ++n;
  return n;
}

bool SegmentStorage::CompactionWorthwhile(uint64_t index) const {
  return SegmentsCoveredBy(index) >= kSegmentsWorthCompaction;
}

absl::Status SegmentStorage::DropCoveredSegments() {
  const size_t n = SegmentsCoveredBy(snapshot_.metadata.index());
  if (n == 0) return absl::OkStatus();
  // The record that made them redundant must be durable before they go.
  if (unsynced_) {
    if (::fdatasync(fd_) != 0) return ErrnoStatus(errno, "fdatasync " + SegmentPath(segments_.back().seq));
    unsynced_ = false;
  }
  for (size_t i = 0; i < n; ++i) {
    // Best effort: a segment left behind is replayed at load and dropped again.
    if (::unlink(SegmentPath(segments_[i].seq).c_str()) != 0) {
      DFS_LOG(WARNING) << ErrnoStatus(errno, "unlink " + SegmentPath(segments_[i].seq));
    }
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<ptrdiff_t>(n));
  if (absl::Status s = FsyncDir(dir_); !s.ok()) {
    DFS_LOG(WARNING) << s;
  }
  return absl::OkStatus();
}

absl::StatusOr<PersistentState> SegmentStorage::Load() {
  std::vector<uint64_t> seqs;
  for (const Segment& s : segments_) seqs.push_back(s.seq);
  Replay replay;
  DFS_RETURN_IF_ERROR(ReplaySegments(dir_, seqs, &replay, nullptr));
  PersistentState state;
  state.hard_state = std::move(replay.hard_state);
  state.snapshot = replay.snapshot.metadata;
  state.snapshot_bytes = replay.snapshot.bytes;
  if (state.snapshot.index() > 0) {
    DFS_RETURN_IF_ERROR(
        files_.Verify(state.snapshot.index(), replay.snapshot.bytes, replay.snapshot.crc));
  }
  state.entries.reserve(replay.entries.size());
  for (Entry& e : replay.entries) state.entries.push_back(std::move(e));
  return state;
}

absl::Status SegmentStorage::Save(const std::optional<HardState>& hard_state,
                                  const std::optional<Snapshot>& snapshot,
                                  const std::vector<Entry>& entries, bool sync) {
  DFS_RETURN_IF_ERROR(failed_);
  if (!hard_state && !snapshot && entries.empty()) return absl::OkStatus();
  uint64_t snap_index = snapshot_.metadata.index(), last = last_index_;
  if (snapshot.has_value()) {
    snap_index = snapshot->metadata().index();
    last = snap_index;
  }
  DFS_RETURN_IF_ERROR(CheckEntriesFollow(snap_index, last, entries));
  if (!entries.empty()) last = entries.back().index();
  std::optional<SnapshotRecord> snap_record;
  if (snapshot.has_value()) {
    // The data file first, named before the record that names it.
    DFS_ASSIGN_OR_RETURN(std::unique_ptr<SnapshotWriter> data,
                         files_.WriteWhole(snap_index, snapshot->data()));
    DFS_RETURN_IF_ERROR(files_.Name(snap_index, *data));
    snap_record = SnapshotRecord{snapshot->metadata(), data->size(), data->crc32c()};
  }
  std::string record;
  AppendRecord(hard_state ? &*hard_state : nullptr, snap_record ? &*snap_record : nullptr,
               /*snapshot_replaces_log=*/true, entries, &record);
  if (absl::Status s = Append(record, sync); !s.ok()) {
    failed_ = s;
    return s;
  }
  if (snap_record.has_value()) {
    snapshot_ = *snap_record;
    for (Segment& s : segments_) s.live_max = 0;  // every stored entry was dropped
  }
  if (!entries.empty()) {
    segments_.back().live_max = std::max(segments_.back().live_max, entries.back().index());
  }
  last_index_ = last;
  if (hard_state.has_value()) hard_state_ = *hard_state;
  if (snap_record.has_value()) {
    files_.DeleteOthers(snap_index, /*temporary=*/false);
    if (absl::Status s = DropCoveredSegments(); !s.ok()) {
      failed_ = s;
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SnapshotWriter>> SegmentStorage::NewSnapshotWriter(uint64_t index) {
  return files_.NewWriter(index);
}

absl::Status SegmentStorage::Compact(const SnapshotMetadata& metadata, SnapshotWriter& data) {
  DFS_RETURN_IF_ERROR(failed_);
  const uint64_t index = metadata.index();
  if (index <= snapshot_.metadata.index()) return absl::OkStatus();  // `data` removes its file
  DFS_RETURN_IF_ERROR(files_.Name(index, data));
  SnapshotRecord snapshot{metadata, data.size(), data.crc32c()};
  std::string record;
  AppendRecord(nullptr, &snapshot, /*snapshot_replaces_log=*/false, {}, &record);
  absl::Status status = Append(record, /*sync=*/true);
  if (status.ok()) {
    snapshot_ = snapshot;
    last_index_ = std::max(last_index_, index);
    files_.DeleteOthers(index, /*temporary=*/false);
    status = DropCoveredSegments();
  }
  if (!status.ok()) failed_ = status;
  return status;
}

absl::StatusOr<std::string> SegmentStorage::ReadSnapshotData(uint64_t index, uint64_t offset,
                                                             uint64_t length) {
  return files_.Read(snapshot_.metadata.index(), snapshot_.bytes, index, offset, length);
}

}  // namespace dfs::raft
