#include "datanode/chunk_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bitset>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crc32c.h"
#include "common/file_util.h"
#include "common/keycoding.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/status.h"

namespace dfs {
namespace {

constexpr uint64_t kFooterMagic = 0x314b4e4843534644ull;  // "DFSCHNK1" read as little-endian
constexpr uint32_t kFormatVersion = 1;
constexpr char kChunkSuffix[] = ".chunk";
// A chunk file is created without read permission and given it when sealed: after a crash, a
// file still without it is a chunk whose write never finished, not a damaged sealed chunk.
constexpr mode_t kUnsealedMode = 0200;
constexpr mode_t kSealedMode = 0644;
constexpr size_t kNodeIdChars = 32;

// The CRC32C of each 64 KiB block of `data` into `block_crcs`; returns that of all of it.
uint32_t BlockCrcs(std::string_view data, std::vector<uint32_t>* block_crcs) {
  for (size_t at = 0; at < data.size(); at += ChunkStore::kBlockBytes) {
    block_crcs->push_back(Crc32c(data.substr(at, ChunkStore::kBlockBytes)));
  }
  return Crc32c(data);
}

void CountWritten(uint64_t bytes) {
  static metrics::Counter* const written = metrics::Registry::Default()
      .Counter("dfs_datanode_written_bytes_total",
               "Bytes written into chunk files and the chunk log: client writes and copies.")
      ->Get();
  written->Increment(bytes);
}

uint64_t BlockCount(uint64_t length) {
  return (length + ChunkStore::kBlockBytes - 1) / ChunkStore::kBlockBytes;
}

uint64_t ChunkFileBytes(uint64_t length) {
  return length + 4 * BlockCount(length) + ChunkStore::kFooterBytes;
}

std::string ChunkFileName(uint64_t chunk_id) { return absl::StrFormat("%016x", chunk_id); }

// Parses "<16 lowercase hex digits><suffix>"; the exact form ChunkFileName produces, so that one
// chunk cannot appear under two names.
bool ParseChunkFileName(std::string_view name, std::string_view suffix, uint64_t* chunk_id) {
  if (name.size() != 16 + suffix.size() || name.substr(16) != suffix) return false;
  uint64_t value = 0;
  for (size_t i = 0; i < 16; ++i) {
    char c = name[i];
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return false;
    }
    value = (value << 4) | digit;
  }
  *chunk_id = value;
  return true;
}

// Reads exactly `size` bytes at `offset`; DataLoss if the file ends first (a truncated chunk).
absl::Status PreadFull(int fd, char* buf, size_t size, uint64_t offset, const std::string& path) {
  DFS_ASSIGN_OR_RETURN(size_t done, PreadUpTo(fd, buf, size, offset, path));
  if (done < size) {
    return absl::DataLossError(
        absl::StrCat(path, ": file ends at ", offset + done, ", expected ", offset + size));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return ErrnoStatus(errno, "opendir " + path);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) return ErrnoStatus(err, "readdir " + path);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ChunkWriter

ChunkWriter::ChunkWriter(ChunkStore* store, uint64_t chunk_id, std::string path, int fd,
                         int dir_fd)
    : store_(store), chunk_id_(chunk_id), path_(std::move(path)), fd_(fd), dir_fd_(dir_fd) {}

ChunkWriter::~ChunkWriter() { Abort(); }

absl::Status ChunkWriter::Append(std::string_view data) {
  if (fd_ < 0) return absl::FailedPreconditionError("chunk writer already finished");
  DFS_RETURN_IF_ERROR(error_);
  error_ = dfs::WriteAll(fd_, data, path_);
  DFS_RETURN_IF_ERROR(error_);
  CountWritten(data.size());
  length_ += data.size();
  chunk_crc_ = Crc32cExtend(chunk_crc_, data.data(), data.size());
  while (!data.empty()) {
    size_t take =
        static_cast<size_t>(std::min<uint64_t>(data.size(), ChunkStore::kBlockBytes - block_fill_));
    block_crc_ = Crc32cExtend(block_crc_, data.data(), take);
    block_fill_ += take;
    data.remove_prefix(take);
    if (block_fill_ == ChunkStore::kBlockBytes) {
      block_crcs_.push_back(block_crc_);
      block_crc_ = 0;
      block_fill_ = 0;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ChunkMeta> ChunkWriter::Commit() {
  if (fd_ < 0) return absl::FailedPreconditionError("chunk writer already finished");
  absl::StatusOr<ChunkMeta> meta = CommitInternal();
  // CommitInternal closed the descriptor; on failure the temp file may still exist.
  if (!meta.ok()) ::unlink(path_.c_str());
  store_->EndWrite(chunk_id_);
  return meta;
}

absl::StatusOr<ChunkMeta> ChunkWriter::CommitInternal() {
  absl::Status status = error_;
  if (status.ok()) {
    std::vector<uint32_t> crcs = block_crcs_;
    if (block_fill_ > 0) crcs.push_back(block_crc_);
    DFS_CHECK(crcs.size() == BlockCount(length_));

    std::string trailer;
    trailer.reserve(4 * crcs.size() + ChunkStore::kFooterBytes);
    for (uint32_t crc : crcs) PutFixed32LE(&trailer, crc);
    PutFixed64LE(&trailer, kFooterMagic);
    PutFixed32LE(&trailer, kFormatVersion);
    PutFixed32LE(&trailer, static_cast<uint32_t>(crcs.size()));
    PutFixed64LE(&trailer, chunk_id_);
    PutFixed64LE(&trailer, length_);
    PutFixed32LE(&trailer, chunk_crc_);
    PutFixed32LE(&trailer, Crc32c(trailer));
    status = dfs::WriteAll(fd_, trailer, path_);
  }
  // Sealed, then synced: a file that has its read permission after a crash went through here
  // (the fsync also makes the mode change durable, which fdatasync would not).
  if (status.ok() && ::fchmod(fd_, kSealedMode) != 0) status = ErrnoStatus(errno, "chmod " + path_);
  if (status.ok() && ::fsync(fd_) != 0) status = ErrnoStatus(errno, "fsync " + path_);
  if (::close(fd_) != 0 && status.ok()) status = ErrnoStatus(errno, "close " + path_);
  fd_ = -1;
  // The file's name is durable only once its directory is synced; until then do not
  // acknowledge. (On ext4 the file's fsync has usually committed it already, so this is cheap.)
  if (status.ok() && ::fsync(dir_fd_) != 0) {
    status = ErrnoStatus(errno, "fsync directory of " + path_);
  }
  DFS_RETURN_IF_ERROR(status);

  ChunkMeta meta;
  meta.length = length_;
  meta.crc32c = chunk_crc_;
  meta.file_bytes = ChunkFileBytes(length_);
  DFS_RETURN_IF_ERROR(store_->Install(chunk_id_, meta));
  return meta;
}

void ChunkWriter::Abort() {
  // The file is this writer's own (created with O_EXCL) and not yet in the store's map.
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
    DFS_LOG(WARNING) << "cannot remove " << path_ << ": " << std::strerror(errno);
  }
  store_->EndWrite(chunk_id_);
}

// ---------------------------------------------------------------------------------------------
// ChunkReader

ChunkReader::ChunkReader(uint64_t chunk_id, std::string path, int fd)
    : chunk_id_(chunk_id), path_(std::move(path)), fd_(fd) {}

ChunkReader::~ChunkReader() { ::close(fd_); }

absl::Status ChunkReader::LoadTrailer() {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return ErrnoStatus(errno, "stat " + path_);
  file_bytes_ = static_cast<uint64_t>(st.st_size);
  if (file_bytes_ < ChunkStore::kFooterBytes) {
    return absl::DataLossError(
        absl::StrCat(path_, ": ", file_bytes_, " bytes, too short for a chunk footer"));
  }
  char footer[ChunkStore::kFooterBytes];
  DFS_RETURN_IF_ERROR(
      PreadFull(fd_, footer, sizeof(footer), file_bytes_ - ChunkStore::kFooterBytes, path_));
  const uint64_t magic = DecodeFixed64LE(footer);
  const uint32_t version = DecodeFixed32LE(footer + 8);
  const uint32_t block_count = DecodeFixed32LE(footer + 12);
  const uint64_t chunk_id = DecodeFixed64LE(footer + 16);
  const uint64_t length = DecodeFixed64LE(footer + 24);
  const uint32_t chunk_crc = DecodeFixed32LE(footer + 32);
  const uint32_t footer_crc = DecodeFixed32LE(footer + 36);
  if (magic != kFooterMagic) return absl::DataLossError(path_ + ": bad chunk footer magic");
  if (version != kFormatVersion) {
    return absl::DataLossError(absl::StrCat(path_, ": unknown chunk format version ", version));
  }
  if (chunk_id != chunk_id_) {
    return absl::DataLossError(absl::StrFormat("%s: footer names chunk %016x", path_, chunk_id));
  }
  if (block_count != BlockCount(length) || file_bytes_ != ChunkFileBytes(length)) {
    return absl::DataLossError(absl::StrCat(path_, ": footer says ", length, " bytes in ",
                                            block_count, " blocks but the file has ", file_bytes_,
                                            " bytes"));
  }
  std::string crc_array(4 * static_cast<size_t>(block_count), '\0');
  DFS_RETURN_IF_ERROR(PreadFull(fd_, crc_array.data(), crc_array.size(), length, path_));
  uint32_t expected = Crc32c(crc_array);
  expected = Crc32cExtend(expected, footer, ChunkStore::kFooterBytes - 4);
  if (expected != footer_crc) {
    return absl::DataLossError(path_ + ": chunk trailer checksum mismatch");
  }

  length_ = length;
  chunk_crc_ = chunk_crc;
  block_crcs_.resize(block_count);
  for (uint32_t i = 0; i < block_count; ++i) block_crcs_[i] = DecodeFixed32LE(&crc_array[4 * i]);
  return absl::OkStatus();
}

absl::Status ChunkReader::LoadLogRecord(const LogLocation& location) {
  DFS_ASSIGN_OR_RETURN(LogRecordHead head, ChunkLog::ReadHead(fd_, location, path_));
  if (head.chunk_id != chunk_id_) {
    return absl::DataLossError(absl::StrFormat("%s: the record at offset %d is of chunk %016x",
                                               path_, location.offset, head.chunk_id));
  }
  length_ = head.length;
  chunk_crc_ = head.chunk_crc;
  block_crcs_ = std::move(head.block_crcs);
  data_offset_ = head.data_offset;
  file_bytes_ = head.record_bytes;
  return absl::OkStatus();
}

absl::StatusOr<std::string> ChunkReader::Read(uint64_t offset, uint64_t length) {
  if (offset > length_) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "offset %d is beyond the end of chunk %016x (%d bytes)", offset, chunk_id_, length_));
  }
  length = std::min(length, length_ - offset);
  if (length == 0) return std::string();

  const uint64_t first_block = offset / ChunkStore::kBlockBytes;
  const uint64_t last_block = (offset + length - 1) / ChunkStore::kBlockBytes;
  const uint64_t io_start = first_block * ChunkStore::kBlockBytes;
  const uint64_t io_end = std::min(length_, (last_block + 1) * ChunkStore::kBlockBytes);
  std::string buf(static_cast<size_t>(io_end - io_start), '\0');
  DFS_RETURN_IF_ERROR(PreadFull(fd_, buf.data(), buf.size(), data_offset_ + io_start, path_));
  for (uint64_t block = first_block; block <= last_block; ++block) {
    const uint64_t begin = block * ChunkStore::kBlockBytes - io_start;
    const uint64_t size = std::min<uint64_t>(ChunkStore::kBlockBytes, buf.size() - begin);
    if (Crc32c(buf.data() + begin, size) != block_crcs_[block]) {
      return absl::DataLossError(absl::StrFormat(
          "chunk %016x: checksum mismatch in block %d (bytes %d..%d) of %s", chunk_id_, block,
          block * ChunkStore::kBlockBytes, block * ChunkStore::kBlockBytes + size, path_));
    }
  }
  if (offset == io_start && length == buf.size()) return buf;
  return buf.substr(static_cast<size_t>(offset - io_start), static_cast<size_t>(length));
}

// ---------------------------------------------------------------------------------------------
// ChunkStore

ChunkStore::ChunkStore(std::string data_dir, uint64_t seed)
    : data_dir_(std::move(data_dir)), random_(seed) {
  subdir_fds_.fill(-1);
}

ChunkStore::~ChunkStore() {
  for (int fd : subdir_fds_) {
    if (fd >= 0) ::close(fd);
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

absl::StatusOr<std::unique_ptr<ChunkStore>> ChunkStore::Open(const std::string& data_dir,
                                                             uint64_t seed) {
  if (data_dir.empty()) return absl::InvalidArgumentError("empty data directory");
  std::string dir = data_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::unique_ptr<ChunkStore> store(new ChunkStore(dir, seed));
  DFS_RETURN_IF_ERROR(store->Init());
  return store;
}

absl::Status ChunkStore::Init() {
  DFS_RETURN_IF_ERROR(MakeDirs(data_dir_));
  const std::string lock_path = data_dir_ + "/LOCK";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return ErrnoStatus(errno, "open " + lock_path);
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("data directory ", data_dir_, " is in use by another datanode"));
    }
    return ErrnoStatus(errno, "flock " + lock_path);
  }

  DFS_RETURN_IF_ERROR(LoadOrCreateNodeId());
  DFS_RETURN_IF_ERROR(MakeDirs(data_dir_ + "/tmp"));
  DFS_RETURN_IF_ERROR(RemoveTempFiles());
  if (::mkdir((data_dir_ + "/chunks").c_str(), 0755) == 0) {
    DFS_RETURN_IF_ERROR(FsyncDir(data_dir_));
  } else if (errno != EEXIST) {
    return ErrnoStatus(errno, "mkdir " + data_dir_ + "/chunks");
  }
  DFS_RETURN_IF_ERROR(ScanChunks());
  return OpenLog();
}

absl::Status ChunkStore::OpenLog() {
  std::vector<ChunkLog::Replayed> records;
  DFS_ASSIGN_OR_RETURN(log_, ChunkLog::Open(data_dir_ + "/log", &records));
  absl::MutexLock lock(&mu_);
  size_t logged = 0;
  for (const ChunkLog::Replayed& record : records) {
    auto it = chunks_.find(record.chunk_id);
    const bool in_log = it != chunks_.end() && it->second.log.segment != 0;
    if (it != chunks_.end() && !in_log) {
      // A chunk file holds it; the log's records of the same (immutable) chunk are not needed.
      if (record.put) log_->Release(record.location, record.record_bytes);
      continue;
    }
    if (in_log) {
      // Superseded by a later record: a copy made by compaction, or a delete.
      log_->Release(it->second.log, it->second.file_bytes);
      used_bytes_ -= it->second.file_bytes;
      chunks_.erase(it);
    }
    if (!record.put) continue;
    ChunkMeta meta;
    meta.length = record.length;
    meta.crc32c = record.chunk_crc;
    meta.file_bytes = record.record_bytes;
    meta.log = record.location;
    chunks_[record.chunk_id] = meta;
    used_bytes_ += meta.file_bytes;
  }
  for (const auto& [id, meta] : chunks_) logged += meta.log.segment != 0;
  log_->FinishReplay();
  DFS_LOG(INFO) << "chunk log " << data_dir_ << "/log: " << logged << " chunks in "
                << log_->segment_count() << " segments";
  return absl::OkStatus();
}

absl::Status ChunkStore::LoadOrCreateNodeId() {
  const std::string path = data_dir_ + "/DATANODE_ID";
  absl::StatusOr<std::string> existing = ReadFile(path);
  if (existing.ok()) {
    std::string id(absl::StripAsciiWhitespace(*existing));
    bool valid = id.size() == kNodeIdChars &&
                 std::all_of(id.begin(), id.end(), [](char c) { return absl::ascii_isxdigit(c); });
    if (!valid) {
      return absl::DataLossError(
          absl::StrCat(path, " does not hold a ", kNodeIdChars, "-character hex node id"));
    }
    node_id_ = absl::AsciiStrToLower(id);
    return absl::OkStatus();
  }
  if (!absl::IsNotFound(existing.status())) return existing.status();
  std::string id;
  {
    absl::MutexLock lock(&mu_);
    id = absl::StrFormat("%016x%016x", random_.Next(), random_.Next());
  }
  DFS_RETURN_IF_ERROR(WriteFileAtomic(path, id + "\n"));
  node_id_ = id;
  DFS_LOG(INFO) << "new datanode id " << node_id_ << " in " << data_dir_;
  return absl::OkStatus();
}

absl::Status ChunkStore::RemoveTempFiles() {
  // Chunks are written under their final names now; tmp/ only holds what older versions left.
  const std::string tmp_dir = data_dir_ + "/tmp";
  DFS_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(tmp_dir));
  for (const std::string& name : names) {
    std::string path = tmp_dir + "/" + name;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus(errno, "unlink " + path);
    DFS_LOG(INFO) << "removed leftover temp file " << path;
  }
  return absl::OkStatus();
}

absl::Status ChunkStore::ScanChunks() {
  std::map<uint64_t, ChunkMeta> found;
  std::bitset<256> subdirs;
  uint64_t used = 0;
  const std::string chunks_dir = data_dir_ + "/chunks";
  DFS_ASSIGN_OR_RETURN(std::vector<std::string> subdir_names, ListDir(chunks_dir));
  for (const std::string& subdir_name : subdir_names) {
    const std::string subdir = chunks_dir + "/" + subdir_name;
    int index = -1;
    if (subdir_name.size() != 2 || !absl::SimpleHexAtoi(subdir_name, &index) ||
        absl::StrFormat("%02x", index) != subdir_name) {
      DFS_LOG(WARNING) << "ignoring unexpected entry " << subdir;
      continue;
    }
    subdirs.set(index);
    DFS_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(subdir));
    for (const std::string& name : names) {
      const std::string path = subdir + "/" + name;
      uint64_t chunk_id = 0;
      if (!ParseChunkFileName(name, kChunkSuffix, &chunk_id) || SubdirPath(chunk_id) != subdir) {
        DFS_LOG(WARNING) << "ignoring unexpected file " << path;
        continue;
      }
      struct stat st;
      if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat " + path);
      if ((st.st_mode & S_IRUSR) == 0) {
        // Never sealed, so never acknowledged: a write cut short by a crash. Garbage.
        if (::unlink(path.c_str()) != 0) return ErrnoStatus(errno, "unlink " + path);
        DFS_LOG(INFO) << "removed unsealed chunk file " << path << " (" << st.st_size
                      << " bytes)";
        continue;
      }
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return ErrnoStatus(errno, "open " + path);
      ChunkReader reader(chunk_id, path, fd);
      absl::Status status = reader.LoadTrailer();
      if (!status.ok()) {
        if (!absl::IsDataLoss(status)) return status;
        // Quarantine rather than delete: the bytes may still help a human, and the chunk must not
        // be reported, so the master re-replicates it from a good copy.
        DFS_RETURN_IF_ERROR(MakeDirs(data_dir_ + "/corrupt"));
        const std::string target = data_dir_ + "/corrupt/" + name;
        if (::rename(path.c_str(), target.c_str()) != 0) {
          return ErrnoStatus(errno, "rename " + path);
        }
        DFS_LOG(ERROR) << "moved damaged chunk file to " << target << ": " << status;
        continue;
      }
      ChunkMeta meta;
      meta.length = reader.length();
      meta.crc32c = reader.crc32c();
      meta.file_bytes = reader.file_bytes_;
      found[chunk_id] = meta;
      used += meta.file_bytes;
    }
  }
  absl::MutexLock lock(&mu_);
  chunks_ = std::move(found);
  used_bytes_ = used;
  subdirs_ = subdirs;
  DFS_LOG(INFO) << "chunk store " << data_dir_ << ": " << chunks_.size() << " chunks, "
                << used_bytes_ << " bytes, node id " << node_id_;
  return absl::OkStatus();
}

std::string ChunkStore::SubdirPath(uint64_t chunk_id) const {
  return absl::StrFormat("%s/chunks/%02x", data_dir_, chunk_id & 0xff);
}

std::string ChunkStore::ChunkPath(uint64_t chunk_id) const {
  return absl::StrCat(SubdirPath(chunk_id), "/", ChunkFileName(chunk_id), kChunkSuffix);
}

absl::Status ChunkStore::BeginWrite(uint64_t chunk_id) {
  absl::MutexLock lock(&mu_);
  if (chunks_.count(chunk_id) > 0) {
    return absl::AlreadyExistsError(absl::StrFormat("chunk %016x already stored", chunk_id));
  }
  if (!writing_.insert(chunk_id).second) {
    return absl::AlreadyExistsError(
        absl::StrFormat("chunk %016x is already being written", chunk_id));
  }
  return absl::OkStatus();
}

void ChunkStore::EndWrite(uint64_t chunk_id) {
  absl::MutexLock lock(&mu_);
  writing_.erase(chunk_id);
}

absl::StatusOr<ChunkMeta> ChunkStore::Put(uint64_t chunk_id, std::string_view data) {
  if (data.size() > ChunkLog::kMaxChunkBytes) {
    DFS_ASSIGN_OR_RETURN(std::unique_ptr<ChunkWriter> writer, OpenWriter(chunk_id));
    DFS_RETURN_IF_ERROR(writer->Append(data));
    return writer->Commit();
  }
  DFS_RETURN_IF_ERROR(BeginWrite(chunk_id));
  ChunkMeta meta;
  std::vector<uint32_t> block_crcs;
  meta.length = data.size();
  meta.crc32c = BlockCrcs(data, &block_crcs);
  absl::StatusOr<LogLocation> location =
      log_->AppendChunk(chunk_id, data, block_crcs, meta.crc32c, &meta.file_bytes);
  absl::MutexLock lock(&mu_);
  writing_.erase(chunk_id);
  DFS_RETURN_IF_ERROR(location.status());
  meta.log = *location;
  chunks_[chunk_id] = meta;
  used_bytes_ += meta.file_bytes;
  CountWritten(data.size());
  return meta;
}

absl::StatusOr<std::unique_ptr<ChunkWriter>> ChunkStore::OpenWriter(uint64_t chunk_id) {
  DFS_RETURN_IF_ERROR(BeginWrite(chunk_id));
  absl::StatusOr<int> dir_fd = SubdirFd(chunk_id);
  if (!dir_fd.ok()) {
    EndWrite(chunk_id);
    return dir_fd.status();
  }
  // The final name, without read permission until sealed. O_EXCL makes a second writer of the
  // same chunk (or a leftover file) fail here instead of racing the first.
  const std::string path = ChunkPath(chunk_id);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kUnsealedMode);
  if (fd < 0) {
    const int err = errno;
    EndWrite(chunk_id);
    errno = err;
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(
          absl::StrFormat("chunk %016x is already stored or being written", chunk_id));
    }
    return ErrnoStatus(errno, "create " + path);
  }
  return std::unique_ptr<ChunkWriter>(new ChunkWriter(this, chunk_id, path, fd, *dir_fd));
}

absl::Status ChunkStore::Install(uint64_t chunk_id, const ChunkMeta& meta) {
  absl::MutexLock lock(&mu_);
  // The file was created with O_EXCL and is not in the map until now: nobody else can have
  // installed this chunk meanwhile.
  DFS_CHECK(chunks_.count(chunk_id) == 0);
  chunks_[chunk_id] = meta;
  used_bytes_ += meta.file_bytes;
  return absl::OkStatus();
}

absl::StatusOr<int> ChunkStore::SubdirFd(uint64_t chunk_id) {
  const int index = static_cast<int>(chunk_id & 0xff);
  {
    absl::MutexLock lock(&mu_);
    if (subdir_fds_[index] >= 0) return subdir_fds_[index];
  }
  // Created on first use rather than all 256 up front: mkdir is slow on some file systems and
  // most small clusters never fill them all.
  const std::string subdir = SubdirPath(chunk_id);
  bool known;
  {
    absl::MutexLock lock(&mu_);
    known = subdirs_.test(index);
  }
  if (!known) {
    if (::mkdir(subdir.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "mkdir " + subdir);
    }
    // Whether we or a racing writer created it, its entry must be durable before a chunk in it
    // is acknowledged.
    DFS_RETURN_IF_ERROR(FsyncDir(data_dir_ + "/chunks"));
  }
  // Kept open for the store's lifetime: every chunk written into it syncs it.
  int fd = ::open(subdir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open " + subdir);
  absl::MutexLock lock(&mu_);
  subdirs_.set(index);
  if (subdir_fds_[index] >= 0) {
    ::close(fd);  // a racing writer opened it first
  } else {
    subdir_fds_[index] = fd;
  }
  return subdir_fds_[index];
}

absl::StatusOr<std::unique_ptr<ChunkReader>> ChunkStore::OpenReader(uint64_t chunk_id) {
  auto not_found = [chunk_id] {
    return absl::NotFoundError(absl::StrFormat("chunk %016x not stored here", chunk_id));
  };
  // A logged chunk that compaction moves between the lookup and the open is looked up again.
  for (int attempt = 0;; ++attempt) {
    ChunkMeta meta;
    {
      absl::MutexLock lock(&mu_);
      auto it = chunks_.find(chunk_id);
      if (it == chunks_.end()) return not_found();
      meta = it->second;
    }
    const std::string path =
        meta.log.segment != 0 ? log_->SegmentPath(meta.log.segment) : ChunkPath(chunk_id);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == ENOENT && meta.log.segment != 0 && attempt < 3) continue;
      // Deleted between the lookup and the open: an ordinary NotFound. Otherwise the file
      // vanished behind our back, which is lost data.
      if (err == ENOENT && !Contains(chunk_id)) return not_found();
      if (err == ENOENT) return absl::DataLossError(path + ": chunk file is missing");
      return ErrnoStatus(err, "open " + path);
    }
    std::unique_ptr<ChunkReader> reader(new ChunkReader(chunk_id, path, fd));
    if (meta.log.segment != 0) {
      DFS_RETURN_IF_ERROR(reader->LoadLogRecord(meta.log));
    } else {
      DFS_RETURN_IF_ERROR(reader->LoadTrailer());
    }
    return reader;
  }
}

absl::StatusOr<std::string> ChunkStore::Read(uint64_t chunk_id, uint64_t offset, uint64_t length) {
  DFS_ASSIGN_OR_RETURN(std::unique_ptr<ChunkReader> reader, OpenReader(chunk_id));
  return reader->Read(offset, length);
}

absl::Status ChunkStore::Delete(uint64_t chunk_id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = chunks_.find(chunk_id);
    if (it == chunks_.end()) {
      return absl::NotFoundError(absl::StrFormat("chunk %016x not stored here", chunk_id));
    }
    if (it->second.log.segment != 0) {
      // Appended under the lock, so a later Put of the same chunk lands after this delete. Not
      // synced, as an unlink is not: a delete lost in a crash only brings back a chunk the master
      // will ask us to delete again.
      absl::Status logged = log_->AppendDelete(chunk_id);
      if (!logged.ok()) DFS_LOG(WARNING) << "chunk log: " << logged;
      log_->Release(it->second.log, it->second.file_bytes);
    } else {
      const std::string path = ChunkPath(chunk_id);
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return ErrnoStatus(errno, "unlink " + path);
      }
      // No directory fsync, for the same reason.
    }
    used_bytes_ -= it->second.file_bytes;
    chunks_.erase(it);
  }
  return absl::OkStatus();
}

bool ChunkStore::CompactLog(absl::Duration quiet) {
  const uint64_t segment = log_->StartCompaction(quiet);
  if (segment == 0) return false;
  CompactLogSegment(segment);
  return true;
}

void ChunkStore::CompactLogSegment(uint64_t segment) {
  struct Copy {
    uint64_t id;
    ChunkMeta old;
    LogLocation location;
    uint64_t bytes = 0;
  };
  std::vector<Copy> copies;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, meta] : chunks_) {
      if (meta.log.segment == segment) copies.push_back(Copy{id, meta, {}, 0});
    }
  }
  const size_t live = copies.size();
  // Copied without a sync each, then one sync for all: the old records stay in use until then.
  for (auto it = copies.begin(); it != copies.end();) {
    // Read back verified: a damaged record stays where it is (the scrubber reports it, and the
    // segment goes once it is deleted).
    absl::StatusOr<std::string> data = Read(it->id, 0, it->old.length);
    if (!data.ok()) {
      if (!absl::IsNotFound(data.status())) DFS_LOG(WARNING) << "compaction: " << data.status();
      it = copies.erase(it);
      continue;
    }
    std::vector<uint32_t> block_crcs;
    const uint32_t crc = BlockCrcs(*data, &block_crcs);
    absl::StatusOr<LogLocation> location = log_->AppendChunk(
        it->id, *data, block_crcs, crc, &it->bytes, /*wait_durable=*/false);
    if (!location.ok()) {
      // A full disk: what is copied so far is kept, the rest waits for a later round.
      DFS_LOG(WARNING) << "compaction of log segment " << segment << ": " << location.status();
      copies.erase(it, copies.end());
      break;
    }
    it->location = *location;
    ++it;
  }
  absl::Status synced = log_->Sync();
  size_t moved = 0;
  {
    absl::MutexLock lock(&mu_);
    for (const Copy& copy : copies) {
      auto it = chunks_.find(copy.id);
      if (synced.ok() && it != chunks_.end() && it->second.log == copy.old.log) {
        it->second.log = copy.location;
        used_bytes_ += copy.bytes - it->second.file_bytes;
        it->second.file_bytes = copy.bytes;
        log_->Release(copy.old.log, copy.old.file_bytes);
        ++moved;
        continue;
      }
      // Deleted while being copied: the copy must not bring it back after a restart (unless it
      // is being stored again, whose record may come after this one).
      if (it == chunks_.end() && writing_.count(copy.id) == 0) {
        absl::Status logged = log_->AppendDelete(copy.id);
        if (!logged.ok()) DFS_LOG(WARNING) << "chunk log: " << logged;
      }
      log_->Release(copy.location, copy.bytes);
    }
  }
  log_->EndCompaction(segment);
  DFS_LOG(INFO) << "chunk log: compacted segment " << segment << ", " << moved << " of " << live
                << " chunks moved" << (synced.ok() ? "" : ": " + synced.ToString());
}

std::vector<uint64_t> ChunkStore::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<uint64_t> ids;
  ids.reserve(chunks_.size());
  for (const auto& [id, meta] : chunks_) ids.push_back(id);
  return ids;
}

bool ChunkStore::Contains(uint64_t chunk_id) const {
  absl::MutexLock lock(&mu_);
  return chunks_.count(chunk_id) > 0;
}

absl::StatusOr<ChunkMeta> ChunkStore::Info(uint64_t chunk_id) const {
  absl::MutexLock lock(&mu_);
  auto it = chunks_.find(chunk_id);
  if (it == chunks_.end()) {
    return absl::NotFoundError(absl::StrFormat("chunk %016x not stored here", chunk_id));
  }
  return it->second;
}

uint64_t ChunkStore::chunk_count() const {
  absl::MutexLock lock(&mu_);
  return chunks_.size();
}

uint64_t ChunkStore::log_segment_count() const { return log_->segment_count(); }

absl::StatusOr<std::map<uint64_t, StoredChunk>> ChunkStore::Survey(const std::string& data_dir) {
  std::map<uint64_t, StoredChunk> found;
  const std::string chunks_dir = data_dir + "/chunks";
  if (std::filesystem::exists(chunks_dir)) {
    DFS_ASSIGN_OR_RETURN(std::vector<std::string> subdirs, ListDir(chunks_dir));
    for (const std::string& subdir : subdirs) {
      absl::StatusOr<std::vector<std::string>> names = ListDir(chunks_dir + "/" + subdir);
      if (!names.ok()) continue;
      for (const std::string& name : *names) {
        const std::string path = chunks_dir + "/" + subdir + "/" + name;
        uint64_t chunk_id = 0;
        struct stat st;
        if (!ParseChunkFileName(name, kChunkSuffix, &chunk_id) || ::stat(path.c_str(), &st) != 0 ||
            (st.st_mode & S_IRUSR) == 0 || static_cast<uint64_t>(st.st_size) < kFooterBytes) {
          continue;  // not a sealed chunk
        }
        found[chunk_id] = StoredChunk{path, 0, 0};
      }
    }
  }
  DFS_ASSIGN_OR_RETURN(std::vector<ChunkLog::Replayed> records,
                       ChunkLog::Survey(data_dir + "/log"));
  std::set<uint64_t> in_files;
  for (const auto& [id, chunk] : found) in_files.insert(id);
  for (const ChunkLog::Replayed& record : records) {
    if (in_files.count(record.chunk_id) > 0) continue;
    if (!record.put) {
      found.erase(record.chunk_id);
      continue;
    }
    const std::string path = absl::StrFormat("%s/log/%016x.seg", data_dir, record.location.segment);
    found[record.chunk_id] = StoredChunk{
        path, record.location.offset + record.record_bytes - record.length, record.length};
  }
  return found;
}

uint64_t ChunkStore::used_bytes() const {
  absl::MutexLock lock(&mu_);
  return used_bytes_;
}

}  // namespace dfs
