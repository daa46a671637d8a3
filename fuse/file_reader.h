// FileReader: the read side of one open file in dfs-fuse — sequential readahead with parallel
// block fetches, and plain pass-through for random reads.
//
// A reader that keeps reading where it stopped (give or take a block, since the kernel sends
// readahead requests in parallel and they may arrive out of order) is *sequential*. For it the
// file is cut into fixed-size blocks: the blocks a request needs are fetched on the calling
// thread, and a window of blocks ahead of it is fetched on a thread pool, so several chunk
// reads are in flight while the application consumes earlier ones. The window doubles with every
// sequential request up to the configured readahead, and collapses at the first random read.
// Random reads go straight to the source for exactly the bytes asked (a database reading 4 KiB
// pages must not pull megabytes each time), unless cached blocks already hold them.
//
// Cached blocks belong to one *version* of the file as this client knows it (the caller bumps
// the version whenever this client changes the file's content); a read with another version
// drops them. Changes by other clients are not seen by an open reader — close-to-open
// consistency, as NFS has; the caller revalidates on open.
//
// Thread-safe: the kernel may send several reads of one file at once.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "fuse/thread_pool.h"

namespace dfs::fuse {

// Where the bytes come from. Thread-safe.
class RangeSource {
 public:
  virtual ~RangeSource() = default;
  // Bytes [offset, offset + length) of the file; fewer (possibly none) at the end of the file.
  virtual absl::StatusOr<std::string> ReadRange(uint64_t offset, uint64_t length) = 0;
};

struct ReaderOptions {
  uint64_t block_bytes = 1 << 20;
  // 0 turns readahead off: every read goes to the source as asked.
  uint64_t readahead_bytes = 32 << 20;
};

class FileReader {
 public:
  // `pool` must outlive the reader; the source is shared with fetches still running after the
  // reader is gone.
  FileReader(std::shared_ptr<RangeSource> source, ThreadPool* pool, const ReaderOptions& options);
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  // Up to `size` bytes at `offset` (short only at the end of the file).
  absl::StatusOr<std::string> Read(uint64_t offset, uint64_t size, uint64_t version);

  // For tests: blocks currently cached or in flight.
  size_t cached_blocks();

 private:
  struct Block {
    absl::Mutex mu;
    bool started ABSL_GUARDED_BY(mu) = false;
    bool done ABSL_GUARDED_BY(mu) = false;
    absl::Status status ABSL_GUARDED_BY(mu);
    std::string data ABSL_GUARDED_BY(mu);
  };

  static void Fetch(RangeSource* source, Block* block, uint64_t offset, uint64_t length);

  const std::shared_ptr<RangeSource> source_;
  ThreadPool* const pool_;
  const ReaderOptions options_;
  const uint64_t max_window_blocks_;

  absl::Mutex mu_;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, std::shared_ptr<Block>> blocks_ ABSL_GUARDED_BY(mu_);  // by block index
  uint64_t next_offset_ ABSL_GUARDED_BY(mu_) = 0;  // where a sequential reader goes on
  uint64_t window_blocks_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace dfs::fuse
