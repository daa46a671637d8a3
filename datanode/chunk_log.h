// ChunkLog: small chunks appended to preallocated segment files, one fdatasync shared by the
// appends that wait together, instead of a file, two fsyncs and an inode allocation per chunk.
//
// On disk, <data_dir>/log/<16 hex digits>.seg, numbered from 1, each up to kSegmentBytes,
// preallocated kPreallocateBytes at a time and filled from the front with records:
//
//   magic u64 | chunk_id u64 | length u32 | kind u32 | chunk_crc u32 | head_crc u32
//   | block CRCs (u32 per 64 KiB block of data) | data
//
// little-endian; kind 1 puts a chunk, kind 2 deletes it (no CRCs, no data); head_crc covers the
// 28 bytes before it and the block CRCs. The first record whose head does not verify ends a
// segment (the rest is preallocated zeros or a write a crash cut short). Only the newest segment
// can end in a torn record: a segment is synced before the next one is started. So when the log is
// opened, the newest segment's records are read whole and the first whose data does not match its
// CRC ends it too: it was never acknowledged, since an append is acknowledged only after an
// fdatasync that covered it and every earlier record.
//
// The log keeps no index: ChunkStore replays the records into its map and tells the log which
// records stopped being live (Release); a segment with nothing live left is removed, and one
// mostly dead and left alone for a while is worth compacting (its live chunks appended again,
// see ChunkStore::CompactLog).
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace dfs {

// Where a record starts. segment 0: not in the log.
struct LogLocation {
  uint64_t segment = 0;
  uint64_t offset = 0;
  bool operator==(const LogLocation& other) const {
    return segment == other.segment && offset == other.offset;
  }
};

// A put record's head, as read back.
struct LogRecordHead {
  uint64_t chunk_id = 0;
  uint64_t length = 0;       // data bytes
  uint32_t chunk_crc = 0;    // of the whole data
  std::vector<uint32_t> block_crcs;
  uint64_t data_offset = 0;  // in the segment file
  uint64_t record_bytes = 0;
};

class ChunkLog {
 public:
  static constexpr uint64_t kSegmentBytes = 32 << 20;
  // Space is reserved ahead of the appends in steps of this much, so that an append's fdatasync
  // need not grow the file, without taking a whole segment's space from a small disk at once.
  static constexpr uint64_t kPreallocateBytes = 4 << 20;
  // Larger chunks are not logged (they get a file of their own).
  static constexpr uint64_t kMaxChunkBytes = 1 << 20;

  // One record found when the log is opened, in log order.
  struct Replayed {
    bool put = true;  // false: a delete
    uint64_t chunk_id = 0;
    LogLocation location;  // of a put
    uint64_t length = 0;
    uint32_t chunk_crc = 0;
    uint64_t record_bytes = 0;
  };

  // Opens (creating) the log in `dir` and reads every record into `replayed`. Every put counts as
  // live until Released; call FinishReplay once the caller has released the superseded ones.
  static absl::StatusOr<std::unique_ptr<ChunkLog>> Open(const std::string& dir,
                                                        std::vector<Replayed>* replayed);
  // Read-only: the records of the log in `dir` as they are now (the log may be in use).
  static absl::StatusOr<std::vector<Replayed>> Survey(const std::string& dir);
  ~ChunkLog();

  ChunkLog(const ChunkLog&) = delete;
  ChunkLog& operator=(const ChunkLog&) = delete;

  // Removes the segments that hold nothing live (but the newest).
  void FinishReplay();

  // Appends a put of `data` (at most kMaxChunkBytes, with its per-block CRCs) and returns once it
  // is durable. The record counts as live. A failed write (a full disk) fails only its append;
  // after a failed sync every later append fails: what the kernel dropped cannot be told apart
  // from what it wrote.
  // With `wait_durable` false it returns at once (compaction: see Sync).
  absl::StatusOr<LogLocation> AppendChunk(uint64_t chunk_id, std::string_view data,
                                          const std::vector<uint32_t>& block_crcs,
                                          uint32_t chunk_crc, uint64_t* record_bytes,
                                          bool wait_durable = true);
  // Returns once every record appended so far is durable.
  absl::Status Sync();
  // Appends a delete of `chunk_id` without waiting for it to be durable: a delete lost in a crash
  // only brings back a chunk the master asks us to delete again.
  absl::Status AppendDelete(uint64_t chunk_id);

  // The record at `location` (`record_bytes` long) is no longer live.
  void Release(const LogLocation& location, uint64_t record_bytes);
  // A segment worth compacting, marked as being compacted, or 0: not the newest, at most a
  // quarter of it live, and nothing in it released for `quiet` (a mass delete that is still
  // emptying a segment would make a copy of chunks about to go).
  uint64_t StartCompaction(absl::Duration quiet);
  // Compaction of `segment` is over (whatever it managed to move).
  void EndCompaction(uint64_t segment);

  std::string SegmentPath(uint64_t segment) const;
  // Reads and verifies the head of the put record at `location` from `fd` (the segment's file).
  static absl::StatusOr<LogRecordHead> ReadHead(int fd, const LogLocation& location,
                                                const std::string& path);

  uint64_t segment_count() const;

 private:
  struct Segment {
    uint64_t live_bytes = 0;
    uint64_t end = 0;        // bytes of records written
    uint64_t allocated = 0;  // bytes reserved (the newest segment's)
    bool compacting = false;
    absl::Time last_release = absl::InfinitePast();
  };

  explicit ChunkLog(std::string dir) : dir_(std::move(dir)) {}
  absl::Status Append(const std::string& record, bool wait_durable, LogLocation* location);
  // Group commit: one fdatasync covers every record appended before it started.
  absl::Status WaitDurableLocked(uint64_t appended) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Syncs and closes the active segment and starts the next one.
  absl::Status RollLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveIfDeadLocked(uint64_t segment) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  mutable absl::Mutex mu_;
  std::map<uint64_t, Segment> segments_ ABSL_GUARDED_BY(mu_);
  uint64_t active_ ABSL_GUARDED_BY(mu_) = 0;  // newest segment, appended to
  int active_fd_ ABSL_GUARDED_BY(mu_) = -1;
  bool replaying_ ABSL_GUARDED_BY(mu_) = true;
  // Bytes appended and bytes known durable, counted across segments (group commit).
  uint64_t appended_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t synced_ ABSL_GUARDED_BY(mu_) = 0;
  bool syncing_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar sync_done_;
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dfs
