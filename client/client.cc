#include "client/client.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>

#include "absl/strings/str_cat.h"
#include "client/chunk_reader.h"
#include "client/grpc_chunk_store.h"
#include "client/path.h"
#include "common/errors.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "common/random.h"
#include "common/rpc.h"
#include "common/status.h"

namespace dfs {
namespace {

constexpr int kMaxSymlinkHops = 40;
constexpr uint32_t kReadDirPageSize = 1024;
constexpr size_t kPutReadBytes = 1 << 20;

using Stub = MasterService::Stub;

void FillContent(const WrittenData& data, google::protobuf::RepeatedPtrField<Extent>* extents,
                 google::protobuf::RepeatedPtrField<ChunkInfo>* chunks) {
  extents->Reserve(data.extents.size());
  for (const Extent& extent : data.extents) *extents->Add() = extent;
  chunks->Reserve(data.chunks.size());
  for (const ChunkInfo& chunk : data.chunks) *chunks->Add() = chunk;
}

// Hands `n` zero bytes to `sink` (a hole), a bounded piece at a time.
absl::Status SinkZeros(uint64_t n, const ByteSink& sink) {
  static const std::string* zeros = new std::string(kDataPieceBytes, '\0');
  while (n > 0) {
    size_t piece = std::min<uint64_t>(n, zeros->size());
    DFS_RETURN_IF_ERROR(sink(absl::string_view(*zeros).substr(0, piece)));
    n -= piece;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::New(const ClientOptions& options) {
  DFS_RETURN_IF_ERROR(options.Validate());
  return std::make_unique<Client>(options, SeedFromEntropy());
}

Client::Client(const ClientOptions& options, uint64_t seed)
    : options_(options),
      master_(options, seed),
      allocator_(std::make_unique<GrpcChunkAllocator>(&master_, options)) {}

std::optional<Caller> Client::CallerNow() const {
  const Caller* caller = master_.CallerForThisCall();
  return caller != nullptr ? std::optional<Caller>(*caller) : std::nullopt;
}

// ---- Inode-level operations ----

absl::StatusOr<Attr> Client::Lookup(uint64_t parent, absl::string_view name) {
  LookupRequest request;
  request.set_parent(parent);
  request.set_name(std::string(name));
  DFS_ASSIGN_OR_RETURN(AttrResponse response, master_.Call(&Stub::Lookup, request));
  return response.attr();
}

absl::StatusOr<Attr> Client::LookupPath(absl::string_view path) {
  DFS_ASSIGN_OR_RETURN(std::string canonical, NormalizePath(path));
  if (canonical == "/") return GetAttr(kRootInode);
  LookupPathRequest request;
  request.set_path(canonical);
  DFS_ASSIGN_OR_RETURN(AttrResponse response, master_.Call(&Stub::LookupPath, request));
  return response.attr();
}

absl::StatusOr<Attr> Client::GetAttr(uint64_t inode) {
  GetAttrRequest request;
  request.set_inode(inode);
  DFS_ASSIGN_OR_RETURN(AttrResponse response, master_.Call(&Stub::GetAttr, request));
  return response.attr();
}

absl::StatusOr<ReadDirResponse> Client::ReadDirPage(uint64_t inode, absl::string_view start_after,
                                                    uint32_t limit) {
  ReadDirRequest request;
  request.set_inode(inode);
  request.set_start_after(std::string(start_after));
  request.set_limit(limit);
  return master_.Call(&Stub::ReadDir, request);
}

absl::Status Client::ForEachDirEntry(uint64_t inode,
                                     const std::function<absl::Status(const DirEntry&)>& fn) {
  std::string start_after;
  for (;;) {
    DFS_ASSIGN_OR_RETURN(ReadDirResponse page, ReadDirPage(inode, start_after, kReadDirPageSize));
    for (const DirEntry& entry : page.entries()) DFS_RETURN_IF_ERROR(fn(entry));
    if (!page.has_more()) return absl::OkStatus();
    if (page.entries().empty()) {
      // Guards against a server bug turning into an endless loop.
      return absl::InternalError("ReadDir returned an empty page with has_more set");
    }
    start_after = page.entries(page.entries_size() - 1).name();
  }
}

absl::StatusOr<std::vector<DirEntry>> Client::ReadDir(uint64_t inode) {
  std::vector<DirEntry> entries;
  DFS_RETURN_IF_ERROR(ForEachDirEntry(inode, [&](const DirEntry& entry) {
    entries.push_back(entry);
    return absl::OkStatus();
  }));
  return entries;
}

namespace {

// Hands out the directory attributes the caller asked for and the master sent.
void TakeDirAttrs(AttrResponse& response, Attr* parent_attr, Attr* new_parent_attr = nullptr) {
  if (parent_attr != nullptr && response.has_parent_attr()) {
    *parent_attr = std::move(*response.mutable_parent_attr());
  }
  if (new_parent_attr != nullptr && response.has_new_parent_attr()) {
    *new_parent_attr = std::move(*response.mutable_new_parent_attr());
  }
}

Attr InodeAttr(AttrResponse& response, Attr* parent_attr) {
  TakeDirAttrs(response, parent_attr);
  return std::move(*response.mutable_attr());
}

}  // namespace

absl::StatusOr<Attr> Client::Mkdir(uint64_t parent, absl::string_view name, uint32_t mode,
                                   Attr* parent_attr) {
  MkdirRequest request;
  request.set_parent(parent);
  request.set_name(std::string(name));
  request.set_mode(mode);
  DFS_ASSIGN_OR_RETURN(AttrResponse response, master_.Call(&Stub::Mkdir, std::move(request)));
  return InodeAttr(response, parent_attr);
}

absl::StatusOr<Attr> Client::Create(uint64_t parent, absl::string_view name,
                                    const CreateOptions& options, const WrittenData& content,
                                    Attr* parent_attr) {
  CreateRequest request;
  request.set_parent(parent);
  request.set_name(std::string(name));
  request.set_mode(options.mode);
  request.set_exclusive(options.exclusive);
  request.set_replace(options.replace);
  SetContent(content, &request);
  DFS_ASSIGN_OR_RETURN(AttrResponse response, master_.Call(&Stub::Create, std::move(request)));
  return InodeAttr(response, parent_attr);
}

void Client::SetContent(const WrittenData& content, CreateRequest* request) {
  FillContent(content, request->mutable_extents(), request->mutable_new_chunks());
  request->set_size(content.length);
}

absl::StatusOr<Attr> Client::Symlink(uint64_t parent, absl::string_view name,
                                     absl::string_view target, Attr* parent_attr) {
  SymlinkRequest request;
  request.set_parent(parent);
  request.set_name(std::string(name));
  request.set_target(std::string(target));
  DFS_ASSIGN_OR_RETURN(AttrResponse response, master_.Call(&Stub::Symlink, std::move(request)));
  return InodeAttr(response, parent_attr);
}

absl::StatusOr<Attr> Client::Link(uint64_t inode, uint64_t new_parent, absl::string_view new_name,
                                  Attr* parent_attr) {
  LinkRequest request;
  request.set_inode(inode);
  request.set_new_parent(new_parent);
  request.set_new_name(std::string(new_name));
  DFS_ASSIGN_OR_RETURN(AttrResponse response, master_.Call(&Stub::Link, std::move(request)));
  return InodeAttr(response, parent_attr);
}

absl::Status Client::Unlink(uint64_t parent, absl::string_view name, bool keep_orphan,
                            Attr* parent_attr) {
  RemoveRequest request;
  request.set_parent(parent);
  request.set_name(std::string(name));
  request.set_keep_orphan(keep_orphan);
  DFS_ASSIGN_OR_RETURN(AttrResponse response, master_.Call(&Stub::Unlink, std::move(request)));
  TakeDirAttrs(response, parent_attr);
  return absl::OkStatus();
}

absl::Status Client::Rmdir(uint64_t parent, absl::string_view name, Attr* parent_attr) {
  RemoveRequest request;
  request.set_parent(parent);
  request.set_name(std::string(name));
  DFS_ASSIGN_OR_RETURN(AttrResponse response, master_.Call(&Stub::Rmdir, std::move(request)));
  TakeDirAttrs(response, parent_attr);
  return absl::OkStatus();
}

absl::Status Client::Rename(uint64_t parent, absl::string_view name, uint64_t new_parent,
                            absl::string_view new_name, bool noreplace, bool keep_orphan,
                            Attr* parent_attr, Attr* new_parent_attr) {
  RenameRequest request;
  request.set_parent(parent);
  request.set_name(std::string(name));
  request.set_new_parent(new_parent);
  request.set_new_name(std::string(new_name));
  request.set_noreplace(noreplace);
  request.set_keep_orphan(keep_orphan);
  DFS_ASSIGN_OR_RETURN(AttrResponse response, master_.Call(&Stub::Rename, std::move(request)));
  TakeDirAttrs(response, parent_attr, new_parent_attr);
  return absl::OkStatus();
}

absl::StatusOr<Client::BatchAnswer> Client::Batch(std::vector<BatchOp> ops) {
  BatchRequest request;
  const size_t count = ops.size();
  request.mutable_ops()->Reserve(static_cast<int>(count));
  for (BatchOp& op : ops) *request.add_ops() = std::move(op);
  DFS_ASSIGN_OR_RETURN(BatchResponse response, master_.Call(&Stub::Batch, std::move(request)));
  if (static_cast<size_t>(response.results_size()) != count) {
    return absl::InternalError(absl::StrCat("the master answered a batch of ", count, " ops with ",
                                            response.results_size(), " results"));
  }
  BatchAnswer answer;
  answer.results.reserve(count);
  answer.attrs.reserve(count);
  for (BatchOpResult& result : *response.mutable_results()) {
    answer.results.push_back(
        StatusFromParts(result.code(), result.message(), result.posix_errno()));
    answer.attrs.push_back(std::move(*result.mutable_attr()));
  }
  answer.index = response.index();
  answer.dir_attrs.assign(response.dir_attrs().begin(), response.dir_attrs().end());
  return answer;
}

absl::StatusOr<ReserveInodesResponse> Client::ReserveInodes(uint32_t count) {
  ReserveInodesRequest request;
  request.set_count(count);
  return master_.Call(&Stub::ReserveInodes, std::move(request));
}

absl::Status Client::ReleaseOrphan(uint64_t inode) {
  ReleaseOrphanRequest request;
  request.set_inode(inode);
  return master_.Call(&Stub::ReleaseOrphan, std::move(request)).status();
}

absl::StatusOr<Attr> Client::SetAttr(uint64_t inode, const AttrChanges& changes) {
  SetAttrRequest request;
  request.set_inode(inode);
  if (changes.mode) request.set_mode(*changes.mode);
  if (changes.uid) request.set_uid(*changes.uid);
  if (changes.gid) request.set_gid(*changes.gid);
  if (changes.size) request.set_size(*changes.size);
  if (changes.atime_ns) request.set_atime_ns(*changes.atime_ns);
  if (changes.mtime_ns) request.set_mtime_ns(*changes.mtime_ns);
  request.set_times_are_now(changes.times_are_now);
  DFS_ASSIGN_OR_RETURN(AttrResponse response, master_.Call(&Stub::SetAttr, std::move(request)));
  return response.attr();
}

absl::StatusOr<CommitWriteResponse> Client::CommitWrite(uint64_t inode, bool append,
                                                        uint64_t offset, const WrittenData& data) {
  CommitWriteRequest request;
  request.set_inode(inode);
  request.set_append(append);
  request.set_offset(offset);
  FillContent(data, request.mutable_extents(), request.mutable_new_chunks());
  request.set_length(data.length);
  static metrics::Histogram* const latency = WriteStageLatency("commit");
  metrics::ScopedTimer timer(latency);
  return master_.Call(&Stub::CommitWrite, std::move(request));
}

absl::StatusOr<GetExtentsResponse> Client::GetExtents(uint64_t inode, uint64_t offset,
                                                      uint64_t length) {
  GetExtentsRequest request;
  request.set_inode(inode);
  request.set_offset(offset);
  request.set_length(length);
  return master_.Call(&Stub::GetExtents, request);
}

absl::StatusOr<StatFsResponse> Client::StatFs() { return master_.Call(&Stub::StatFs, Empty()); }

absl::Status Client::ReportBadReplica(uint64_t chunk_id, absl::string_view datanode_id,
                                      absl::string_view reason) {
  ReportBadReplicaRequest request;
  request.set_chunk_id(chunk_id);
  request.set_datanode_id(std::string(datanode_id));
  request.set_reason(std::string(reason));
  return master_.Call(&Stub::ReportBadReplica, request).status();
}

// ---- Data ----

std::unique_ptr<ChunkWriter> Client::NewChunkWriter() {
  ChunkWriterOptions options;
  options.chunk_size_bytes = options_.chunk_size_bytes;
  options.piece_bytes = kDataPieceBytes;
  options.retry_deadline_ms = options_.write_retry_deadline_ms;
  return std::make_unique<ChunkWriter>(allocator_.get(), options);
}

absl::StatusOr<CommitWriteResponse> Client::Write(uint64_t inode, uint64_t offset,
                                                  absl::string_view data) {
  std::unique_ptr<ChunkWriter> writer = NewChunkWriter();
  DFS_RETURN_IF_ERROR(writer->Append(data));
  DFS_ASSIGN_OR_RETURN(WrittenData written, writer->Finish());
  return CommitWrite(inode, /*append=*/false, offset, written);
}

absl::StatusOr<CommitWriteResponse> Client::Append(uint64_t inode, absl::string_view data) {
  std::unique_ptr<ChunkWriter> writer = NewChunkWriter();
  DFS_RETURN_IF_ERROR(writer->Append(data));
  DFS_ASSIGN_OR_RETURN(WrittenData written, writer->Finish());
  return CommitWrite(inode, /*append=*/true, 0, written);
}

absl::StatusOr<uint64_t> Client::ReadStream(uint64_t inode, uint64_t offset, uint64_t length,
                                            const ByteSink& sink,
                                            const ProgressCallback& progress) {
  const uint64_t end = length > kToEnd - offset ? kToEnd : offset + length;
  uint64_t pos = offset;
  uint64_t delivered = 0;
  uint64_t total = 0;  // what the read will deliver at most, known after the first window
  ByteSink counting_sink = [&](absl::string_view data) -> absl::Status {
    DFS_RETURN_IF_ERROR(sink(data));
    delivered += data.size();
    if (progress) progress(delivered, total);
    return absl::OkStatus();
  };
  while (pos < end) {
    uint64_t window = std::min(end - pos, kReadWindowBytes);
    DFS_ASSIGN_OR_RETURN(GetExtentsResponse extents, GetExtents(inode, pos, window));
    const Attr& attr = extents.attr();
    if (pos == offset && attr.type() == FILE_TYPE_REGULAR) {
      total = attr.size() > offset ? std::min(end, attr.size()) - offset : 0;
      if (progress) progress(0, total);
    }
    DFS_ASSIGN_OR_RETURN(uint64_t got, ReadExtents(extents, pos, window, counting_sink));
    // Short: the file ends here (it may have shrunk since the previous window).
    if (got < window) break;
    pos += window;
  }
  return delivered;
}

absl::StatusOr<uint64_t> Client::ReadExtents(const GetExtentsResponse& extents, uint64_t offset,
                                             uint64_t length, const ByteSink& sink) {
  const Attr& attr = extents.attr();
  if (attr.type() == FILE_TYPE_DIRECTORY) return FsError(EISDIR, "is a directory");
  if (attr.type() != FILE_TYPE_REGULAR) return FsError(EINVAL, "not a regular file");
  const uint64_t stop = std::min(length > kToEnd - offset ? kToEnd : offset + length, attr.size());
  if (stop <= offset) return 0;
  auto report_bad = [this](uint64_t chunk_id, const std::string& datanode_id,
                           const std::string& reason) {
    absl::Status status = ReportBadReplica(chunk_id, datanode_id, reason);
    if (!status.ok()) {
      DFS_LOG(WARNING) << "reporting a bad replica failed: " << status;
    }
  };
  std::map<uint64_t, const ChunkLocation*> locations;
  for (const ChunkLocation& location : extents.chunks()) {
    locations[location.chunk_id()] = &location;
  }
  uint64_t cursor = offset;
  for (const Extent& extent : extents.extents()) {
    // Extents come clipped and sorted; clipping again keeps a server slip (or a caller's wider
    // cached answer) from corrupting the byte order the sink sees.
    uint64_t begin = std::max(extent.file_offset(), cursor);
    uint64_t finish = std::min(extent.file_offset() + extent.length(), stop);
    if (finish <= begin) continue;
    DFS_RETURN_IF_ERROR(SinkZeros(begin - cursor, sink));
    auto it = locations.find(extent.chunk_id());
    if (it == locations.end()) {
      return absl::DataLossError(
          absl::StrCat("master gave no location for chunk ", extent.chunk_id()));
    }
    uint64_t chunk_offset = extent.chunk_offset() + (begin - extent.file_offset());
    DFS_RETURN_IF_ERROR(
        ReadChunkRange(options_, *it->second, chunk_offset, finish - begin, sink, report_bad));
    cursor = finish;
  }
  DFS_RETURN_IF_ERROR(SinkZeros(stop - cursor, sink));
  return stop - offset;
}

absl::Status Client::Read(uint64_t inode, uint64_t offset, uint64_t length, std::string* out) {
  out->clear();
  return ReadStream(inode, offset, length,
                    [out](absl::string_view data) {
                      out->append(data.data(), data.size());
                      return absl::OkStatus();
                    })
      .status();
}

// ---- Paths ----

absl::StatusOr<Attr> Client::Stat(absl::string_view path) {
  return ResolvePath(path, /*follow_last=*/false);
}

absl::StatusOr<Attr> Client::ResolvePath(absl::string_view path, bool follow_last) {
  DFS_ASSIGN_OR_RETURN(std::string canonical, NormalizePath(path));
  return ResolveCanonical(canonical, follow_last, 0);
}

absl::StatusOr<Attr> Client::ResolveCanonical(const std::string& canonical, bool follow_last,
                                              int hops) {
  if (hops > kMaxSymlinkHops) return FsError(ELOOP, "too many levels of symbolic links");
  // Fast path: one RPC resolves the whole path when no directory on the way is a symlink.
  absl::StatusOr<Attr> attr = LookupPath(canonical);
  if (attr.ok()) {
    if (attr->type() != FILE_TYPE_SYMLINK || !follow_last) return attr;
    DFS_ASSIGN_OR_RETURN(
        std::string target,
        ResolveSymlinkTarget(SplitParent(canonical).first, attr->symlink_target()));
    return ResolveCanonical(target, follow_last, hops + 1);
  }
  if (!absl::IsNotFound(attr.status()) && !absl::IsFailedPrecondition(attr.status()) &&
      !absl::IsInvalidArgument(attr.status())) {
    return attr.status();
  }
  if (absl::IsNotFound(attr.status()) && canonical != "/") {
    // Most misses are a missing last name in a plain directory (every put of a new file asks):
    // confirm that with one more RPC instead of walking the whole path.
    absl::StatusOr<Attr> parent = LookupPath(SplitParent(canonical).first);
    if (parent.ok() && parent->type() == FILE_TYPE_DIRECTORY) return attr.status();
  }
  // Slow path: walk component by component, since a symlink on the way stops LookupPath.
  DFS_ASSIGN_OR_RETURN(std::vector<std::string> components, SplitPath(canonical));
  DFS_ASSIGN_OR_RETURN(Attr current, GetAttr(kRootInode));
  std::string current_path = "/";
  for (size_t i = 0; i < components.size(); ++i) {
    if (current.type() != FILE_TYPE_DIRECTORY) {
      return FsError(ENOTDIR, absl::StrCat(current_path, " is not a directory"));
    }
    DFS_ASSIGN_OR_RETURN(Attr child, Lookup(current.inode(), components[i]));
    bool last = i + 1 == components.size();
    if (child.type() == FILE_TYPE_SYMLINK && (!last || follow_last)) {
      DFS_ASSIGN_OR_RETURN(std::string target,
                           ResolveSymlinkTarget(current_path, child.symlink_target()));
      for (size_t j = i + 1; j < components.size(); ++j) target = JoinPath(target, components[j]);
      return ResolveCanonical(target, follow_last, hops + 1);
    }
    current = std::move(child);
    current_path = JoinPath(current_path, components[i]);
  }
  return current;
}

absl::StatusOr<ResolvedParent> Client::ResolveParent(absl::string_view path) {
  DFS_ASSIGN_OR_RETURN(std::string canonical, NormalizePath(path));
  if (canonical == "/") return FsError(EINVAL, "not allowed on the root directory");
  ResolvedParent result;
  std::tie(result.dir_path, result.name) = SplitParent(canonical);
  DFS_ASSIGN_OR_RETURN(result.dir, ResolveCanonical(result.dir_path, /*follow_last=*/true, 0));
  if (result.dir.type() != FILE_TYPE_DIRECTORY) {
    return FsError(ENOTDIR, absl::StrCat(result.dir_path, " is not a directory"));
  }
  return result;
}

absl::StatusOr<Attr> Client::MkdirAll(absl::string_view path, uint32_t mode) {
  DFS_ASSIGN_OR_RETURN(std::vector<std::string> components, SplitPath(path));
  DFS_ASSIGN_OR_RETURN(Attr current, GetAttr(kRootInode));
  std::string current_path = "/";
  for (const std::string& name : components) {
    std::string child_path = JoinPath(current_path, name);
    absl::StatusOr<Attr> child = Lookup(current.inode(), name);
    if (absl::IsNotFound(child.status())) {
      child = Mkdir(current.inode(), name, mode);
      // Someone else made it meanwhile: that is what we wanted.
      if (absl::IsAlreadyExists(child.status())) child = Lookup(current.inode(), name);
    }
    if (!child.ok()) return child.status();
    if (child->type() == FILE_TYPE_SYMLINK) {
      child = ResolveCanonical(child_path, /*follow_last=*/true, 0);
      if (!child.ok()) return child.status();
    }
    if (child->type() != FILE_TYPE_DIRECTORY) {
      return FsError(ENOTDIR, absl::StrCat(child_path, " is not a directory"));
    }
    current = *std::move(child);
    current_path = std::move(child_path);
  }
  return current;
}

absl::StatusOr<Attr> Client::Put(const ByteSource& source, absl::string_view remote,
                                 const PutOptions& options) {
  DFS_ASSIGN_OR_RETURN(ResolvedParent target, ResolveParent(remote));
  // Refuse before moving any data when the name cannot be used; Create checks again atomically.
  absl::StatusOr<Attr> existing = Lookup(target.dir.inode(), target.name);
  if (existing.ok()) {
    if (existing->type() == FILE_TYPE_DIRECTORY) return FsError(EISDIR, "is a directory");
    if (!options.overwrite) return FsError(EEXIST, "file exists");
  } else if (!absl::IsNotFound(existing.status())) {
    return existing.status();
  }
  std::unique_ptr<ChunkWriter> writer = NewChunkWriter();
  std::string buffer(kPutReadBytes, '\0');
  if (options.progress) options.progress(0, options.expected_size);
  for (;;) {
    DFS_ASSIGN_OR_RETURN(size_t n, source(buffer.data(), buffer.size()));
    if (n == 0) break;
    DFS_RETURN_IF_ERROR(writer->Append(absl::string_view(buffer.data(), n)));
    if (options.progress) options.progress(writer->bytes_appended(), options.expected_size);
  }
  DFS_ASSIGN_OR_RETURN(WrittenData written, writer->Finish());
  CreateOptions create;
  create.mode = options.mode;
  create.exclusive = !options.overwrite;
  create.replace = options.overwrite;
  return Create(target.dir.inode(), target.name, create, written);
}

absl::StatusOr<Attr> Client::Put(std::istream& in, absl::string_view remote,
                                 const PutOptions& options) {
  ByteSource source = [&in](char* buffer, size_t size) -> absl::StatusOr<size_t> {
    in.read(buffer, static_cast<std::streamsize>(size));
    if (in.bad()) return absl::DataLossError("error reading the input stream");
    return static_cast<size_t>(in.gcount());
  };
  return Put(source, remote, options);
}

absl::StatusOr<Attr> Client::Put(int fd, absl::string_view remote, const PutOptions& options) {
  ByteSource source = [fd](char* buffer, size_t size) -> absl::StatusOr<size_t> {
    // Fill the buffer as far as the input allows, so pipes do not produce tiny appends.
    size_t filled = 0;
    while (filled < size) {
      ssize_t n = ::read(fd, buffer + filled, size - filled);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "read");
      }
      if (n == 0) break;
      filled += n;
    }
    return filled;
  };
  return Put(source, remote, options);
}

absl::StatusOr<Attr> Client::Get(absl::string_view remote, const ByteSink& sink,
                                 const ProgressCallback& progress) {
  // A concurrent `put -f` may replace the inode between the lookup and the read: the name still
  // exists, so look it up again (only while nothing has reached the sink).
  constexpr int kAttempts = 5;
  for (int attempt = 1;; ++attempt) {
    DFS_ASSIGN_OR_RETURN(Attr attr, ResolvePath(remote, /*follow_last=*/true));
    if (attr.type() == FILE_TYPE_DIRECTORY) return FsError(EISDIR, "is a directory");
    if (attr.type() != FILE_TYPE_REGULAR) return FsError(EINVAL, "not a regular file");
    bool wrote = false;
    auto tracking_sink = [&](absl::string_view data) {
      wrote = true;
      return sink(data);
    };
    absl::Status read = ReadStream(attr.inode(), 0, kToEnd, tracking_sink, progress).status();
    if (read.ok()) return attr;
    if (!absl::IsNotFound(read) || wrote || attempt == kAttempts) return read;
  }
}

absl::Status Client::Remove(absl::string_view path, bool recursive) {
  DFS_ASSIGN_OR_RETURN(ResolvedParent target, ResolveParent(path));
  DFS_ASSIGN_OR_RETURN(Attr attr, Lookup(target.dir.inode(), target.name));
  if (attr.type() != FILE_TYPE_DIRECTORY) return Unlink(target.dir.inode(), target.name);
  if (!recursive) return FsError(EISDIR, "is a directory");
  DFS_RETURN_IF_ERROR(RemoveTree(attr.inode()));
  return Rmdir(target.dir.inode(), target.name);
}

absl::Status Client::RemoveTree(uint64_t dir) {
  // Page by page: every entry of a page is removed before the next page is asked for, so the
  // listing restarts from the beginning each time and never holds a whole directory.
  for (;;) {
    DFS_ASSIGN_OR_RETURN(ReadDirResponse page, ReadDirPage(dir, "", kReadDirPageSize));
    if (page.entries().empty()) return absl::OkStatus();
    for (const DirEntry& entry : page.entries()) {
      if (entry.attr().type() == FILE_TYPE_DIRECTORY) {
        DFS_RETURN_IF_ERROR(RemoveTree(entry.attr().inode()));
        DFS_RETURN_IF_ERROR(Rmdir(dir, entry.name()));
      } else {
        DFS_RETURN_IF_ERROR(Unlink(dir, entry.name()));
      }
    }
  }
}

absl::Status Client::Move(absl::string_view src, absl::string_view dst) {
  DFS_ASSIGN_OR_RETURN(ResolvedParent from, ResolveParent(src));
  DFS_ASSIGN_OR_RETURN(ResolvedParent to, ResolveParent(dst));
  return Rename(from.dir.inode(), from.name, to.dir.inode(), to.name);
}

}  // namespace dfs
