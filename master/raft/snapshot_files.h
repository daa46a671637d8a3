// SnapshotFiles: the data files of Raft snapshots in a log directory, shared by the durable
// storages (LevelDbStorage, SegmentStorage).
//
// A snapshot's data (the whole namespace, so it grows with the number of files) is a file of its
// own, "snapshot-<index>.data", never held in memory whole. A local snapshot is streamed into a
// temporary file "snapshot-<index>.data.tmp-<n>" (NewWriter: bounded buffer, size and CRC32C
// computed as it goes, fsynced by Finish); the storage gives it its name (Name: rename, then
// directory fsync) and then records index, size and CRC32C durably in its own log, which is what
// makes it the stored snapshot. A file that the log does not name (a crash before naming, or while
// writing) is deleted at open (DeleteOthers with `temporary`); older ones once the new one is
// named.
// Thread safety: not thread-safe (the storage's thread); a writer it returns may be filled on
// another thread until it is handed back to Name.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "master/raft/storage.h"

namespace dfs::raft {

class SnapshotFiles {
 public:
  explicit SnapshotFiles(std::string dir) : dir_(std::move(dir)) {}

  std::string Path(uint64_t index) const;

  // A writer into a new temporary file for the snapshot at `index`; the file is removed unless
  // Name adopts it.
  absl::StatusOr<std::unique_ptr<SnapshotWriter>> NewWriter(uint64_t index);
  // A finished writer holding `data` whole (a snapshot received from the leader).
  absl::StatusOr<std::unique_ptr<SnapshotWriter>> WriteWhole(uint64_t index,
                                                             absl::string_view data);
  // Renames the finished file of `data` (from NewWriter/WriteWhole) to Path(index) and fsyncs the
  // directory. The caller then names it in its log.
  absl::Status Name(uint64_t index, SnapshotWriter& data);

  // DataLoss unless the file at `index` has exactly `size` bytes with CRC32C `crc`.
  absl::Status Verify(uint64_t index, uint64_t size, uint32_t crc) const;
  // Size and CRC32C of the file at `index`, read piece by piece.
  absl::StatusOr<std::pair<uint64_t, uint32_t>> SizeAndChecksum(uint64_t index) const;

  // Storage::ReadSnapshotData for a storage whose stored snapshot is `stored_index`,
  // `stored_bytes` long.
  absl::StatusOr<std::string> Read(uint64_t stored_index, uint64_t stored_bytes, uint64_t index,
                                   uint64_t offset, uint64_t length) const;

  // Deletes the data files of snapshots other than the one at `keep_index`; with `temporary`
  // also unfinished ones (only at open: later, one may be being written). Best effort.
  void DeleteOthers(uint64_t keep_index, bool temporary) const;

 private:
  const std::string dir_;
  uint64_t next_temp_ = 0;  // distinguishes the temporary files of snapshots being written
};

}  // namespace dfs::raft
