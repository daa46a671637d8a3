// WriteBuffer: the writes of one file that this mount has accepted but not yet committed to the
// master, and how they are committed.
//
// Two shapes of writing are buffered differently:
//   - a *run*: bytes that continue one another (sequential writing, or appends) are streamed
//     into a ChunkWriter as they come, so they are on their way to the datanodes while the
//     application still writes, and committed with one CommitWrite — with append=true for an
//     O_APPEND run, so that the master puts it at the file's end when it applies the command;
//   - *ranges*: positional writes that do not continue the run (a database updating pages) are
//     kept in memory, merged where they touch or overlap (the newer bytes win). At commit they
//     travel through one chunk pipeline together and are committed with one CommitWrite per
//     disjoint range, since a CommitWrite covers one contiguous range.
// The run is committed before the ranges, and run bytes that land on a range cut it, so that
// the later of two writes to the same byte always wins. Appends and positional writes do not
// mix: switching commits what is buffered first.
//
// Reads need not commit ranges: Overlay() lays the buffered bytes over what the cluster
// returned. A read that touches the run (whose bytes are in the ChunkWriter, not here) must
// commit first; NeedsCommitToRead() says when.
//
// Not thread-safe: the owner serialises access (FileSystem holds the inode's mutex).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "client/chunk_writer.h"

namespace dfs::fuse {

// Where a WriteBuffer's bytes go: new chunk writers, and the commit of written chunks into the
// file (an inode's CommitWrite).
class WriteTarget {
 public:
  virtual ~WriteTarget() = default;
  virtual std::unique_ptr<ChunkWriter> NewWriter() = 0;
  virtual absl::Status Commit(bool append, uint64_t offset, const WrittenData& data) = 0;
};

// The part of `data` (extents relative to its first byte) covering [begin, end), rebased to
// start at 0. Chunks whose id is in `committed` are referenced as existing ones; the others
// the slice uses are listed as new chunks and added to `committed`.
WrittenData SliceWritten(const WrittenData& data, uint64_t begin, uint64_t end,
                         std::set<uint64_t>* committed);

// Buffered bytes copied out of a WriteBuffer for one read, to be laid over the bytes the
// cluster returned once the buffer's lock is dropped.
class Overlay {
 public:
  bool empty() const { return ranges_.empty() && end_ == 0; }
  // `data` holds what a read of `length` bytes at `offset` got from the cluster (short at the
  // committed end of the file). Lays the buffered bytes over it and grows it where they extend
  // the file (the gap before them reads as zeros).
  void Apply(uint64_t offset, uint64_t length, std::string* data) const;

 private:
  friend class WriteBuffer;
  std::vector<std::pair<uint64_t, std::string>> ranges_;  // clipped to the read
  uint64_t end_ = 0;  // where the buffered bytes end: the file is at least this long
};

class WriteBuffer {
 public:
  explicit WriteBuffer(WriteTarget* target) : target_(target) {}
  WriteBuffer(const WriteBuffer&) = delete;
  WriteBuffer& operator=(const WriteBuffer&) = delete;

  bool empty() const { return run_length_ == 0 && ranges_.empty(); }
  // Bytes buffered (the run plus the ranges).
  uint64_t bytes() const { return run_length_ + range_bytes_; }

  // Buffers a write (`offset` is ignored for appends). Commits first when the write does not
  // fit the buffered shape (append after positional writes or the reverse), and afterwards
  // when the buffer holds `commit_bytes` or more. On an error the buffered writes are lost;
  // the caller reports it.
  absl::Status Write(bool append, uint64_t offset, absl::string_view data, uint64_t commit_bytes);

  // Commits everything; the buffer is empty afterwards whatever happened. Returns the first
  // error.
  absl::Status Commit();

  // True if a read of [offset, offset + length) must commit first: it touches the run, or the
  // buffer holds appends (whose place in the file is not known until committed).
  bool NeedsCommitToRead(uint64_t offset, uint64_t length) const;

  // The file size once the buffer is committed, given the size committed so far (for appends:
  // a guess, as another client may append meanwhile).
  uint64_t SizeWith(uint64_t committed_size) const;

  // What a read of [offset, offset + length) must lay over the committed bytes. Call only
  // when !NeedsCommitToRead(offset, length).
  Overlay OverlayFor(uint64_t offset, uint64_t length) const;

 private:
  void AddRange(uint64_t offset, absl::string_view data);
  // Drops buffered range bytes in [offset, offset + length) (the run overwrote them).
  void CutRanges(uint64_t offset, uint64_t length);

  WriteTarget* const target_;
  // The run.
  std::unique_ptr<ChunkWriter> run_;
  bool run_append_ = false;
  uint64_t run_offset_ = 0;
  uint64_t run_length_ = 0;
  // The ranges: offset -> bytes; disjoint and not touching.
  std::map<uint64_t, std::string> ranges_;
  uint64_t range_bytes_ = 0;
};

}  // namespace dfs::fuse
