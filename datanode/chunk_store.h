// ChunkStore: the datanode's local storage of immutable chunks: a file per chunk, and small chunks
// stored whole at once (Put) in the chunk log (datanode/chunk_log.h).
//
// Layout under the data directory:
//   chunks/<xx>/<id>.chunk   a chunk; <id> is the chunk id as 16 lowercase hex digits and <xx>
//                            its last two digits (up to 256 subdirectories, created on first
//                            use, keep directories small). A chunk is written under this name
//                            with mode 0200 and gets 0644 when sealed: a file without the
//                            owner's read bit is an unfinished write, removed on abort and at
//                            startup; it is never listed or served.
//   log/<seq>.seg            the chunk log's segments
//   tmp/                     unused; files in it (left by older versions) are removed at startup
//   corrupt/                 chunk files whose trailer did not verify at startup (kept for
//                            inspection, no longer served)
//   DATANODE_ID              this node's stable id: 32 random hex characters
//   LOCK                     flock()ed while a store is open, so two processes never share a dir
//
// A chunk file is the chunk's data at offsets [0, length), then one CRC32C (uint32 LE) per 64 KiB
// block of data (the last block may be short), then a fixed 40-byte footer:
//   magic u64 | format version u32 | block count u32 | chunk id u64 | data length u64 |
//   CRC32C of the whole chunk's data u32 | CRC32C of (CRC array + the preceding footer fields) u32
// All integers little-endian. Keeping the data at offset 0 lets tools (and fault-injection tests)
// address a chunk's bytes directly; the trailer is written last, so a file without a valid trailer
// is never a sealed chunk.
//
// Every read verifies the CRC of each block it touches and fails with DataLoss on a mismatch, so
// a corrupt replica is never served. A chunk id is only ever formatted as a number into a path,
// so no request can name a file outside the data directory.
//
// Thread-safety: ChunkStore is thread-safe. A ChunkWriter or ChunkReader is used by one thread at
// a time; both must not outlive the store that made them.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/random.h"
#include "datanode/chunk_log.h"

namespace dfs {

class ChunkStore;

// What the store knows about a sealed chunk without reading its data.
struct ChunkMeta {
  uint64_t length = 0;      // data bytes
  uint32_t crc32c = 0;      // CRC32C of the whole chunk's data
  uint64_t file_bytes = 0;  // bytes on disk: its file (data + CRCs + footer) or its log record
  LogLocation log;          // segment 0: the chunk has a file of its own
};

// Where a chunk's data lies on disk, as found by ChunkStore::Survey.
struct StoredChunk {
  std::string path;  // its chunk file or log segment
  uint64_t data_offset = 0;
  uint64_t length = 0;
};

// Streams one new chunk into its (unsealed) file. Append any number of times, then Commit() to
// seal it, or Abort(). Destroying an uncommitted writer aborts it, so an error return path never
// leaves a half-written chunk behind.
class ChunkWriter {
 public:
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;
  ~ChunkWriter();

  // Appends `data` to the chunk. Only the current 64 KiB block's running CRC and the CRC list are
  // kept in memory, never the data.
  absl::Status Append(std::string_view data);

  // Writes the trailer, seals the file (its mode), fsyncs it and its directory: on success the
  // chunk is durable under its name and visible to readers. On failure the file is removed. The
  // writer is finished after Commit, whatever the outcome.
  absl::StatusOr<ChunkMeta> Commit();

  // Removes the unsealed file. Idempotent; a no-op after Commit.
  void Abort();

  uint64_t chunk_id() const { return chunk_id_; }
  uint64_t length() const { return length_; }

 private:
  friend class ChunkStore;
  // `dir_fd` is the chunk's directory, owned by the store.
  ChunkWriter(ChunkStore* store, uint64_t chunk_id, std::string path, int fd, int dir_fd);

  absl::StatusOr<ChunkMeta> CommitInternal();

  ChunkStore* const store_;
  const uint64_t chunk_id_;
  const std::string path_;
  int fd_;  // -1 once finished
  const int dir_fd_;
  uint64_t length_ = 0;
  uint32_t chunk_crc_ = 0;
  uint32_t block_crc_ = 0;            // CRC of the bytes of the current, unfinished block
  uint64_t block_fill_ = 0;           // bytes in the current block
  std::vector<uint32_t> block_crcs_;  // of the finished blocks
  absl::Status error_;                // the first failure; a writer that failed cannot commit
};

// Reads verified byte ranges of one sealed chunk. Opening checks the trailer (footer CRC, sizes,
// chunk id); each Read then checks the CRC of every block it touches. The open file descriptor
// keeps the data readable even if the chunk is deleted meanwhile.
class ChunkReader {
 public:
  ChunkReader(const ChunkReader&) = delete;
  ChunkReader& operator=(const ChunkReader&) = delete;
  ~ChunkReader();

  uint64_t chunk_id() const { return chunk_id_; }
  uint64_t length() const { return length_; }
  uint32_t crc32c() const { return chunk_crc_; }

  // Up to `length` bytes from `offset` (fewer if the chunk ends first). InvalidArgument if
  // offset > length(); DataLoss if a covered block does not match its CRC or the file is short.
  // Reads whole blocks, so the I/O is at most 128 KiB larger than the range.
  absl::StatusOr<std::string> Read(uint64_t offset, uint64_t length);

 private:
  friend class ChunkStore;
  ChunkReader(uint64_t chunk_id, std::string path, int fd);

  // Reads and verifies the trailer; fills length_, chunk_crc_ and block_crcs_.
  absl::Status LoadTrailer();
  // The same for a chunk logged at `location` of the segment file this reader opened.
  absl::Status LoadLogRecord(const LogLocation& location);

  const uint64_t chunk_id_;
  const std::string path_;
  const int fd_;
  uint64_t length_ = 0;
  uint64_t file_bytes_ = 0;
  uint64_t data_offset_ = 0;  // where the data starts in the file: 0, or in a log record
  uint32_t chunk_crc_ = 0;
  std::vector<uint32_t> block_crcs_;
};

class ChunkStore {
 public:
  // Bytes covered by one CRC.
  static constexpr uint64_t kBlockBytes = 64 << 10;
  // Size of the fixed footer at the end of every chunk file.
  static constexpr uint64_t kFooterBytes = 40;

  // Opens (creating if needed) the store in `data_dir`: takes the directory lock, creates or reads
  // DATANODE_ID, removes leftover temp files and unsealed chunk files, scans the chunk files into
  // memory (sealed chunks whose trailer does not verify are moved to corrupt/) and replays the
  // chunk log. `seed` drives temp-file names and, on first start, the node id: pass a fresh seed
  // per process (SeedFromEntropy) so ids differ.
  static absl::StatusOr<std::unique_ptr<ChunkStore>> Open(const std::string& data_dir,
                                                          uint64_t seed);
  ~ChunkStore();

  ChunkStore(const ChunkStore&) = delete;
  ChunkStore& operator=(const ChunkStore&) = delete;

  // This node's stable id (from DATANODE_ID).
  const std::string& node_id() const { return node_id_; }
  const std::string& data_dir() const { return data_dir_; }

  // Starts writing chunk `chunk_id`. AlreadyExists if it is already stored or being written.
  absl::StatusOr<std::unique_ptr<ChunkWriter>> OpenWriter(uint64_t chunk_id);

  // Stores a whole chunk at once and returns when it is durable: a small one (at most
  // ChunkLog::kMaxChunkBytes) appended to the chunk log, a larger one in a file of its own.
  // AlreadyExists if it is already stored or being written.
  absl::StatusOr<ChunkMeta> Put(uint64_t chunk_id, std::string_view data);

  // Opens a sealed chunk for reading. NotFound for an unknown chunk; DataLoss if its file is
  // missing or its trailer is damaged.
  absl::StatusOr<std::unique_ptr<ChunkReader>> OpenReader(uint64_t chunk_id);

  // Convenience: OpenReader + ChunkReader::Read.
  absl::StatusOr<std::string> Read(uint64_t chunk_id, uint64_t offset, uint64_t length);

  // Removes a chunk. NotFound if it is not stored. Readers that already opened it keep reading.
  absl::Status Delete(uint64_t chunk_id);

  // Every stored chunk id, ascending.
  std::vector<uint64_t> List() const;
  bool Contains(uint64_t chunk_id) const;
  absl::StatusOr<ChunkMeta> Info(uint64_t chunk_id) const;
  uint64_t chunk_count() const;
  // Bytes of all chunk files (data + checksums + footers).
  uint64_t used_bytes() const;

  // Where chunk `chunk_id`'s file would be (a logged chunk has none).
  std::string ChunkPath(uint64_t chunk_id) const;
  uint64_t log_segment_count() const;
  // Compacts one chunk log segment that is at most a quarter live and had nothing deleted for
  // `quiet` (ChunkLog::StartCompaction), if there is one; the heartbeat thread calls it between
  // rounds, so a round waits for at most one segment's copy. A compaction that could not append
  // (a full disk) leaves the rest for a later round.
  bool CompactLog(absl::Duration quiet = absl::Seconds(10));

  // Read-only, for tests and tools: every chunk stored in `data_dir` now and where its data lies
  // (the store may be in use).
  static absl::StatusOr<std::map<uint64_t, StoredChunk>> Survey(const std::string& data_dir);

 private:
  friend class ChunkWriter;

  explicit ChunkStore(std::string data_dir, uint64_t seed);

  absl::Status Init();
  absl::Status LoadOrCreateNodeId();
  absl::Status RemoveTempFiles();
  absl::Status ScanChunks();
  // Opens the chunk log and adds the chunks it holds (a chunk file wins over a record).
  absl::Status OpenLog();
  // Copies the live chunks of a mostly dead log segment to the log's end; the segment goes once
  // nothing in it is live.
  void CompactLogSegment(uint64_t segment);
  // Claims `chunk_id` for a writer: AlreadyExists if it is stored or being written.
  absl::Status BeginWrite(uint64_t chunk_id);
  void EndWrite(uint64_t chunk_id);
  std::string SubdirPath(uint64_t chunk_id) const;
  // A descriptor of the chunk's subdirectory, created (durably) if it does not exist yet.
  absl::StatusOr<int> SubdirFd(uint64_t chunk_id);

  // Called by ChunkWriter::Commit once the chunk's file is sealed and durable.
  absl::Status Install(uint64_t chunk_id, const ChunkMeta& meta);

  const std::string data_dir_;
  std::string node_id_;
  int lock_fd_ = -1;

  mutable absl::Mutex mu_;
  std::map<uint64_t, ChunkMeta> chunks_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> writing_ ABSL_GUARDED_BY(mu_);  // claimed by a writer, not yet stored
  std::unique_ptr<ChunkLog> log_;  // set once by Init
  uint64_t used_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::bitset<256> subdirs_ ABSL_GUARDED_BY(mu_);  // chunks/<xx> known to exist
  // Open descriptors of chunks/<xx> (-1 until first used), closed with the store.
  std::array<int, 256> subdir_fds_ ABSL_GUARDED_BY(mu_);
  Random random_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dfs
