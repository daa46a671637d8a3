// The LevelDB options of every database a dfs process opens, with their memory stated in one
// place (issue 9: a master's memory must not grow with the number of files).
//
// LevelDB's memory per open database is bounded by these options, not by the data it holds:
//   - block_cache_bytes: data blocks kept after reads (LRU; LevelDB's own default is 8 MiB);
//   - max_open_files: each open table keeps its index block (and filter block, none here) in the
//     table cache, so this bounds index memory (LevelDB reserves 10 of them for its own files);
//   - write_buffer_bytes: the memtable; up to two exist at once (one being flushed);
// plus a compaction's buffers (a few blocks) while one runs.
//
// On the default Env, table files are read with pread rather than LevelDB's default mmap: a
// mapped table's pages count in the process's RSS for as long as the table is open, so RSS grew
// with the database (12 MiB of mapped tables at 300k files, all in the metadata store), outside
// any budget. Read with pread, a block lives in the block cache (bounded above) and the kernel's
// page cache (shared, reclaimable, not ours).
//
// Thread safety: a LevelDbResources is built before its database opens and must outlive it;
// LevelDB uses the cache from any thread.
#pragma once

#include <cstddef>
#include <memory>

#include "leveldb/cache.h"
#include "leveldb/env.h"
#include "leveldb/options.h"

namespace dfs {

struct LevelDbBudget {
  size_t block_cache_bytes;
  int max_open_files;
  size_t write_buffer_bytes;
  // Keep LevelDB's own log (its WAL) in a buffer of this size, written out when full, at a sync
  // and at close, instead of one write() per batch. Only for a database whose every write can be
  // redone from elsewhere: a crash loses the buffered tail of its log.
  size_t log_buffer_bytes = 0;
};

// The master's namespace and chunk map (master/meta_store.h): point reads (lookups, getattr) and
// short scans (readdir) want a cache of hot blocks, but a small one does: a block that misses it
// is one pread from the kernel's page cache and a decompression, microseconds beside a request's
// fraction of a millisecond. 2 MiB, not LevelDB's default 8: the larger cache filled as the
// namespace grew and was most of a master's growth in memory (many_files, 100k -> 1M files: RSS
// +23 % with 8 MiB, +7 % with 2 MiB; random path lookups at 1M files 4,673/s vs 5,201/s).
// Its writes are applied Raft entries, which the Raft log holds durably: after a crash the master
// applies again what the store lost (StateMachine::Open and the log agree on the applied index),
// so its LevelDB log is buffered (64 KiB) rather than written per applied entry.
inline constexpr LevelDbBudget kMetaDbBudget{2 << 20, 256, 4 << 20, 64 << 10};
// The master's Raft log of old (master/raft/leveldb_storage.h), now opened only to move it into
// segment files (segment_storage.h): read once, so its cache stays small.
inline constexpr LevelDbBudget kRaftLogDbBudget{1 << 20, 64, 4 << 20};

// Options for a database within `budget`, and the cache they point to (LevelDB does not own it).
class LevelDbResources {
 public:
  // `env`: as leveldb::Options::env (not owned; used as it is, e.g. an in-memory Env in tests);
  // null for the default Env with pread-based table reads.
  explicit LevelDbResources(const LevelDbBudget& budget, leveldb::Env* env = nullptr);
  ~LevelDbResources();
  LevelDbResources(const LevelDbResources&) = delete;
  LevelDbResources& operator=(const LevelDbResources&) = delete;

  const leveldb::Options& options() const { return options_; }

 private:
  std::unique_ptr<leveldb::Env> default_env_;  // set when no Env was given
  std::unique_ptr<leveldb::Cache> block_cache_;
  leveldb::Options options_;
};

}  // namespace dfs
