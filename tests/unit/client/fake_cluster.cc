#include "tests/unit/client/fake_cluster.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "common/grpc_status.h"
#include "common/rpc.h"
#include "common/status.h"

namespace dfs::testing {
namespace {

// Who owns a new inode: the caller, as the real master decides (else the request's own fields).
template <typename Request>
Caller OwnerOf(const Request& request) {
  if (request.has_caller()) return request.caller();
  Caller owner;
  owner.set_uid(request.uid());
  owner.set_gid(request.gid());
  return owner;
}

constexpr uint64_t kRoot = 1;
constexpr size_t kReadPieceBytes = 64 << 10;

grpc::Status Err(int err, const std::string& message) {
  return ToGrpcStatus(FsError(err, message));
}

void StartOrDie(grpc::Service* service, std::unique_ptr<grpc::Server>* server,
                std::string* address) {
  grpc::ServerBuilder builder;
  builder.RegisterService(service);
  absl::StatusOr<std::unique_ptr<grpc::Server>> started =
      StartServer(&builder, "127.0.0.1:0", address);
  DFS_CHECK_OK(started.status());
  *server = *std::move(started);
}

void StopServer(std::unique_ptr<grpc::Server>* server) {
  if (*server) {
    (*server)->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
    (*server)->Wait();
    server->reset();
  }
}

}  // namespace

// ---------------------------------------------------------------- FakeDatanode

FakeDatanode::FakeDatanode(std::string id) : id_(std::move(id)) {}
FakeDatanode::~FakeDatanode() { Stop(); }

void FakeDatanode::Start() { StartOrDie(this, &server_, &address_); }
void FakeDatanode::Stop() { StopServer(&server_); }

DatanodeInfo FakeDatanode::info() const {
  DatanodeInfo info;
  info.set_id(id_);
  info.set_address(address_);
  info.set_rack("rack-" + id_);
  return info;
}

bool FakeDatanode::HasChunk(uint64_t chunk_id) {
  absl::MutexLock lock(&mu_);
  return chunks_.count(chunk_id) > 0;
}

size_t FakeDatanode::chunk_count() {
  absl::MutexLock lock(&mu_);
  return chunks_.size();
}

grpc::Status FakeDatanode::WriteChunk(grpc::ServerContext* context,
                                      grpc::ServerReader<WriteChunkRequest>* reader,
                                      WriteChunkResponse* response) {
  WriteChunkRequest request;
  if (!reader->Read(&request) || !request.has_header()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "first message must be a header");
  }
  if (fail_writes) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "refusing writes");
  const WriteChunkHeader header = request.header();
  std::unique_ptr<DatanodeService::Stub> stub;
  grpc::ClientContext downstream_context;
  WriteChunkResponse downstream_response;
  std::unique_ptr<grpc::ClientWriter<WriteChunkRequest>> downstream;
  if (!header.downstream().empty()) {
    stub = DatanodeService::NewStub(GetChannel(header.downstream(0)));
    SetTimeout(&downstream_context, 10000);
    downstream = stub->WriteChunk(&downstream_context, &downstream_response);
    WriteChunkRequest next;
    next.mutable_header()->set_chunk_id(header.chunk_id());
    for (int i = 1; i < header.downstream_size(); ++i) {
      next.mutable_header()->add_downstream(header.downstream(i));
    }
    if (!downstream->Write(next)) {
      grpc::Status status = downstream->Finish();
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "downstream " + header.downstream(0) + ": " + status.error_message());
    }
  }
  std::string data;
  auto take = [&](const WriteChunkRequest& piece) -> grpc::Status {
    if (piece.data().empty()) return grpc::Status::OK;
    if (Crc32c(piece.data()) != piece.data_crc32c()) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS, "piece checksum mismatch");
    }
    data += piece.data();
    if (downstream && !downstream->Write(piece)) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "downstream broke");
    }
    return grpc::Status::OK;
  };
  grpc::Status status = take(request);
  while (status.ok() && reader->Read(&request)) status = take(request);
  if (!status.ok()) {
    if (downstream) {
      downstream_context.TryCancel();
      (void)downstream->Finish();
    }
    return status;
  }
  if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
  response->add_stored_on(id_);
  if (downstream) {
    downstream->WritesDone();
    grpc::Status down = downstream->Finish();
    if (!down.ok()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "downstream: " + down.error_message());
    }
    for (const std::string& id : downstream_response.stored_on()) response->add_stored_on(id);
  }
  Store(header.chunk_id(), data, response);
  return grpc::Status::OK;
}

grpc::Status FakeDatanode::PutChunk(grpc::ServerContext* context, const PutChunkRequest* request,
                                    WriteChunkResponse* response) {
  if (fail_writes) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "refusing writes");
  if (Crc32c(request->data()) != request->data_crc32c()) {
    return grpc::Status(grpc::StatusCode::DATA_LOSS, "chunk checksum mismatch");
  }
  response->add_stored_on(id_);
  Store(request->chunk_id(), request->data(), response);
  return grpc::Status::OK;
}

void FakeDatanode::Store(uint64_t chunk_id, const std::string& data,
                         WriteChunkResponse* response) {
  {
    absl::MutexLock lock(&mu_);
    chunks_[chunk_id] = data;
  }
  response->set_length(data.size());
  response->set_crc32c(Crc32c(data));
}

grpc::Status FakeDatanode::ReadChunk(grpc::ServerContext* context, const ReadChunkRequest* request,
                                     grpc::ServerWriter<ReadChunkResponse>* writer) {
  ++reads;
  if (lose_chunks) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such chunk");
  std::string data;
  {
    absl::MutexLock lock(&mu_);
    auto it = chunks_.find(request->chunk_id());
    if (it == chunks_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such chunk");
    data = it->second;
  }
  if (request->offset() > data.size()) {
    return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "offset past the chunk's end");
  }
  uint64_t length = request->length() == 0 ? data.size() - request->offset()
                                           : std::min<uint64_t>(request->length(),
                                                                data.size() - request->offset());
  for (uint64_t pos = 0; pos < length; pos += kReadPieceBytes) {
    ReadChunkResponse piece;
    piece.set_data(data.substr(request->offset() + pos, std::min<uint64_t>(kReadPieceBytes,
                                                                           length - pos)));
    piece.set_data_crc32c(Crc32c(piece.data()));
    if (corrupt_reads) (*piece.mutable_data())[0] ^= 0x55;
    if (piece_delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(piece_delay_ms.load()));
    }
    if (!writer->Write(piece)) return grpc::Status(grpc::StatusCode::CANCELLED, "reader gone");
  }
  return grpc::Status::OK;
}

grpc::Status FakeDatanode::Identity(grpc::ServerContext*, const DatanodeEmpty*,
                                    DatanodeIdentity* response) {
  response->set_id(id_);
  return grpc::Status::OK;
}

// ---------------------------------------------------------------- FakeMaster

FakeMaster::FakeMaster() {
  Attr root;
  root.set_inode(kRoot);
  root.set_type(FILE_TYPE_DIRECTORY);
  root.set_mode(0755);
  root.set_nlink(2);
  inodes_[kRoot] = root;
  children_[kRoot];
}

FakeMaster::~FakeMaster() { Stop(); }
void FakeMaster::Start() { StartOrDie(this, &server_, &address_); }
void FakeMaster::Stop() { StopServer(&server_); }

void FakeMaster::AddDatanode(const DatanodeInfo& node) {
  absl::MutexLock lock(&mu_);
  datanodes_.push_back(node);
}

void FakeMaster::SetNotLeader(bool not_leader, const std::string& hint) {
  absl::MutexLock lock(&mu_);
  not_leader_ = not_leader;
  leader_hint_ = hint;
}

void FakeMaster::DropResponsesAfterApply(int n) {
  absl::MutexLock lock(&mu_);
  drop_after_apply_ = n;
}

std::vector<std::pair<uint64_t, uint64_t>> FakeMaster::sessions() {
  absl::MutexLock lock(&mu_);
  return sessions_;
}

std::vector<std::tuple<uint64_t, std::string, std::string>> FakeMaster::bad_reports() {
  absl::MutexLock lock(&mu_);
  return bad_reports_;
}

bool FakeMaster::Refuse(grpc::ServerContext* context, grpc::Status* status) {
  ++calls;
  absl::MutexLock lock(&mu_);
  if (!not_leader_) return false;
  if (!leader_hint_.empty()) context->AddTrailingMetadata(kLeaderHintKey, leader_hint_);
  *status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "not the leader");
  return true;
}

template <typename Response, typename Fn>
grpc::Status FakeMaster::Mutate(grpc::ServerContext* context, const Session& session,
                                Response* response, Fn apply) {
  grpc::Status status;
  if (Refuse(context, &status)) return status;
  absl::MutexLock lock(&mu_);
  auto key = std::make_pair(session.client_id(), session.seq());
  sessions_.push_back(key);
  auto it = recorded_.find(key);
  if (it != recorded_.end()) {
    response->ParseFromString(it->second.response);
    return it->second.status;
  }
  clock_ns_ += 1000;
  status = apply();
  ++applied;
  recorded_[key] = Recorded{status, response->SerializeAsString()};
  if (drop_after_apply_ > 0) {
    --drop_after_apply_;
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "response lost");
  }
  return status;
}

Attr* FakeMaster::Find(uint64_t inode) {
  auto it = inodes_.find(inode);
  return it == inodes_.end() ? nullptr : &it->second;
}

grpc::Status FakeMaster::Dir(uint64_t inode, Attr** dir) {
  *dir = Find(inode);
  if (*dir == nullptr) return Err(ENOENT, "no such inode");
  if ((*dir)->type() != FILE_TYPE_DIRECTORY) return Err(ENOTDIR, "not a directory");
  return grpc::Status::OK;
}

Attr& FakeMaster::NewInode(FileType type, uint32_t mode, const Caller& owner) {
  Attr& attr = inodes_[next_inode_];
  attr.set_inode(next_inode_++);
  attr.set_type(type);
  attr.set_mode(mode);
  attr.set_uid(owner.uid());
  attr.set_gid(owner.gid());
  attr.set_nlink(type == FILE_TYPE_DIRECTORY ? 2 : 1);
  attr.set_atime_ns(clock_ns_);
  attr.set_mtime_ns(clock_ns_);
  attr.set_ctime_ns(clock_ns_);
  attr.set_generation(1);
  if (type == FILE_TYPE_DIRECTORY) children_[attr.inode()];
  return attr;
}

void FakeMaster::DropInode(uint64_t inode, bool keep_orphan) {
  Attr* attr = Find(inode);
  if (attr == nullptr) return;
  if (keep_orphan && attr->type() == FILE_TYPE_REGULAR && attr->nlink() <= 1) {
    attr->set_nlink(0);
    orphans_.insert(inode);
  } else if (attr->type() == FILE_TYPE_DIRECTORY || attr->nlink() <= 1) {
    orphans_.erase(inode);
    inodes_.erase(inode);
    extents_.erase(inode);
    children_.erase(inode);
  } else {
    attr->set_nlink(attr->nlink() - 1);
  }
}

void FakeMaster::WriteExtents(uint64_t inode, uint64_t offset,
                              const google::protobuf::RepeatedPtrField<Extent>& extents,
                              uint64_t length) {
  std::vector<Extent> kept;
  const uint64_t end = offset + length;
  for (const Extent& e : extents_[inode]) {
    uint64_t e_end = e.file_offset() + e.length();
    if (e_end <= offset || e.file_offset() >= end) {
      kept.push_back(e);
      continue;
    }
    if (e.file_offset() < offset) {
      Extent left = e;
      left.set_length(offset - e.file_offset());
      kept.push_back(left);
    }
    if (e_end > end) {
      Extent right = e;
      right.set_file_offset(end);
      right.set_chunk_offset(e.chunk_offset() + (end - e.file_offset()));
      right.set_length(e_end - end);
      kept.push_back(right);
    }
  }
  for (Extent e : extents) {
    e.set_file_offset(e.file_offset() + offset);
    kept.push_back(e);
  }
  std::sort(kept.begin(), kept.end(),
            [](const Extent& a, const Extent& b) { return a.file_offset() < b.file_offset(); });
  extents_[inode] = kept;
}

grpc::Status FakeMaster::Lookup(grpc::ServerContext* context, const LookupRequest* request,
                                AttrResponse* response) {
  grpc::Status status;
  if (Refuse(context, &status)) return status;
  absl::MutexLock lock(&mu_);
  Attr* dir;
  status = Dir(request->parent(), &dir);
  if (!status.ok()) return status;
  auto& entries = children_[request->parent()];
  auto it = entries.find(request->name());
  if (it == entries.end()) return Err(ENOENT, "no such entry");
  *response->mutable_attr() = inodes_[it->second];
  return grpc::Status::OK;
}

grpc::Status FakeMaster::LookupPath(grpc::ServerContext* context,
                                    const LookupPathRequest* request, AttrResponse* response) {
  grpc::Status status;
  if (Refuse(context, &status)) return status;
  absl::MutexLock lock(&mu_);
  uint64_t current = kRoot;
  for (absl::string_view name : absl::StrSplit(request->path(), '/', absl::SkipEmpty())) {
    // Symlinks are not followed: one on the way is "not a directory".
    if (inodes_[current].type() != FILE_TYPE_DIRECTORY) return Err(ENOTDIR, "not a directory");
    auto& entries = children_[current];
    auto it = entries.find(std::string(name));
    if (it == entries.end()) return Err(ENOENT, "no such entry");
    current = it->second;
  }
  *response->mutable_attr() = inodes_[current];
  return grpc::Status::OK;
}

grpc::Status FakeMaster::GetAttr(grpc::ServerContext* context, const GetAttrRequest* request,
                                 AttrResponse* response) {
  grpc::Status status;
  if (Refuse(context, &status)) return status;
  absl::MutexLock lock(&mu_);
  Attr* attr = Find(request->inode());
  if (attr == nullptr) return Err(ENOENT, "no such inode");
  *response->mutable_attr() = *attr;
  return grpc::Status::OK;
}

grpc::Status FakeMaster::ReadDir(grpc::ServerContext* context, const ReadDirRequest* request,
                                 ReadDirResponse* response) {
  grpc::Status status;
  if (Refuse(context, &status)) return status;
  absl::MutexLock lock(&mu_);
  Attr* dir;
  status = Dir(request->inode(), &dir);
  if (!status.ok()) return status;
  uint32_t limit = request->limit() == 0 ? max_page.load()
                                         : std::min<uint32_t>(request->limit(), max_page.load());
  auto& entries = children_[request->inode()];
  for (auto it = entries.upper_bound(request->start_after()); it != entries.end(); ++it) {
    if (response->entries_size() == static_cast<int>(limit)) {
      response->set_has_more(true);
      break;
    }
    DirEntry* entry = response->add_entries();
    entry->set_name(it->first);
    *entry->mutable_attr() = inodes_[it->second];
  }
  return grpc::Status::OK;
}

grpc::Status FakeMaster::Mkdir(grpc::ServerContext* context, const MkdirRequest* request,
                               AttrResponse* response) {
  return Mutate(context, request->session(), response, [&]() {
    Attr* dir;
    grpc::Status status = Dir(request->parent(), &dir);
    if (!status.ok()) return status;
    auto& entries = children_[request->parent()];
    if (entries.count(request->name())) return Err(EEXIST, "exists");
    Attr& attr = NewInode(FILE_TYPE_DIRECTORY, request->mode(), OwnerOf(*request));
    entries[request->name()] = attr.inode();
    *response->mutable_attr() = attr;
    return grpc::Status::OK;
  });
}

grpc::Status FakeMaster::Create(grpc::ServerContext* context, const CreateRequest* request,
                                AttrResponse* response) {
  return Mutate(context, request->session(), response, [&]() {
    Attr* dir;
    grpc::Status status = Dir(request->parent(), &dir);
    if (!status.ok()) return status;
    auto& entries = children_[request->parent()];
    auto it = entries.find(request->name());
    if (it != entries.end()) {
      Attr& existing = inodes_[it->second];
      if (request->exclusive()) return Err(EEXIST, "exists");
      if (!request->replace()) {
        *response->mutable_attr() = existing;
        return grpc::Status::OK;
      }
      if (existing.type() == FILE_TYPE_DIRECTORY) return Err(EISDIR, "is a directory");
      DropInode(it->second);
      entries.erase(it);
    }
    Attr& attr = NewInode(FILE_TYPE_REGULAR, request->mode(), OwnerOf(*request));
    for (const ChunkInfo& chunk : request->new_chunks()) chunks_[chunk.chunk_id()] = chunk;
    WriteExtents(attr.inode(), 0, request->extents(), request->size());
    attr.set_size(request->size());
    entries[request->name()] = attr.inode();
    *response->mutable_attr() = attr;
    return grpc::Status::OK;
  });
}

grpc::Status FakeMaster::Symlink(grpc::ServerContext* context, const SymlinkRequest* request,
                                 AttrResponse* response) {
  return Mutate(context, request->session(), response, [&]() {
    Attr* dir;
    grpc::Status status = Dir(request->parent(), &dir);
    if (!status.ok()) return status;
    auto& entries = children_[request->parent()];
    if (entries.count(request->name())) return Err(EEXIST, "exists");
    Attr& attr = NewInode(FILE_TYPE_SYMLINK, 0777, OwnerOf(*request));
    attr.set_symlink_target(request->target());
    attr.set_size(request->target().size());
    entries[request->name()] = attr.inode();
    *response->mutable_attr() = attr;
    return grpc::Status::OK;
  });
}

grpc::Status FakeMaster::Link(grpc::ServerContext* context, const LinkRequest* request,
                              AttrResponse* response) {
  return Mutate(context, request->session(), response, [&]() {
    Attr* attr = Find(request->inode());
    if (attr == nullptr) return Err(ENOENT, "no such inode");
    if (attr->type() == FILE_TYPE_DIRECTORY) return Err(EPERM, "hard link to a directory");
    Attr* dir;
    grpc::Status status = Dir(request->new_parent(), &dir);
    if (!status.ok()) return status;
    auto& entries = children_[request->new_parent()];
    if (entries.count(request->new_name())) return Err(EEXIST, "exists");
    entries[request->new_name()] = attr->inode();
    attr->set_nlink(attr->nlink() + 1);
    *response->mutable_attr() = *attr;
    return grpc::Status::OK;
  });
}

grpc::Status FakeMaster::Unlink(grpc::ServerContext* context, const RemoveRequest* request,
                                AttrResponse* response) {
  return Mutate(context, request->session(), response, [&]() {
    Attr* dir;
    grpc::Status status = Dir(request->parent(), &dir);
    if (!status.ok()) return status;
    auto& entries = children_[request->parent()];
    auto it = entries.find(request->name());
    if (it == entries.end()) return Err(ENOENT, "no such entry");
    if (inodes_[it->second].type() == FILE_TYPE_DIRECTORY) return Err(EISDIR, "is a directory");
    DropInode(it->second, request->keep_orphan());
    entries.erase(it);
    return grpc::Status::OK;
  });
}

grpc::Status FakeMaster::Rmdir(grpc::ServerContext* context, const RemoveRequest* request,
                               AttrResponse* response) {
  return Mutate(context, request->session(), response, [&]() {
    Attr* dir;
    grpc::Status status = Dir(request->parent(), &dir);
    if (!status.ok()) return status;
    auto& entries = children_[request->parent()];
    auto it = entries.find(request->name());
    if (it == entries.end()) return Err(ENOENT, "no such entry");
    if (inodes_[it->second].type() != FILE_TYPE_DIRECTORY) return Err(ENOTDIR, "not a directory");
    if (!children_[it->second].empty()) return Err(ENOTEMPTY, "not empty");
    DropInode(it->second);
    entries.erase(it);
    return grpc::Status::OK;
  });
}

grpc::Status FakeMaster::Rename(grpc::ServerContext* context, const RenameRequest* request,
                                AttrResponse* response) {
  return Mutate(context, request->session(), response, [&]() {
    Attr* dir;
    grpc::Status status = Dir(request->parent(), &dir);
    if (!status.ok()) return status;
    status = Dir(request->new_parent(), &dir);
    if (!status.ok()) return status;
    auto& from = children_[request->parent()];
    auto& to = children_[request->new_parent()];
    auto it = from.find(request->name());
    if (it == from.end()) return Err(ENOENT, "no such entry");
    uint64_t moving = it->second;
    auto target = to.find(request->new_name());
    if (target != to.end()) {
      if (target->second == moving) return grpc::Status::OK;
      if (request->noreplace()) return Err(EEXIST, "exists");
      const Attr& victim = inodes_[target->second];
      bool moving_dir = inodes_[moving].type() == FILE_TYPE_DIRECTORY;
      if (victim.type() == FILE_TYPE_DIRECTORY) {
        if (!moving_dir) return Err(EISDIR, "is a directory");
        if (!children_[target->second].empty()) return Err(ENOTEMPTY, "not empty");
      } else if (moving_dir) {
        return Err(ENOTDIR, "not a directory");
      }
      DropInode(target->second, request->keep_orphan());
      to.erase(target);
    }
    from.erase(request->name());
    to[request->new_name()] = moving;
    return grpc::Status::OK;
  });
}

grpc::Status FakeMaster::ReleaseOrphan(grpc::ServerContext* context,
                                       const ReleaseOrphanRequest* request, Empty* response) {
  return Mutate(context, request->session(), response, [&]() {
    if (orphans_.erase(request->inode()) > 0) DropInode(request->inode());
    return grpc::Status::OK;
  });
}

grpc::Status FakeMaster::SetAttr(grpc::ServerContext* context, const SetAttrRequest* request,
                                 AttrResponse* response) {
  return Mutate(context, request->session(), response, [&]() {
    Attr* attr = Find(request->inode());
    if (attr == nullptr) return Err(ENOENT, "no such inode");
    if (request->has_mode()) attr->set_mode(request->mode());
    if (request->has_uid()) attr->set_uid(request->uid());
    if (request->has_gid()) attr->set_gid(request->gid());
    if (request->has_mtime_ns()) attr->set_mtime_ns(request->mtime_ns());
    if (request->has_atime_ns()) attr->set_atime_ns(request->atime_ns());
    if (request->has_size()) {
      if (request->size() < attr->size()) {
        WriteExtents(attr->inode(), request->size(), {}, attr->size() - request->size());
      }
      attr->set_size(request->size());
    }
    *response->mutable_attr() = *attr;
    return grpc::Status::OK;
  });
}

grpc::Status FakeMaster::AllocateChunk(grpc::ServerContext* context,
                                       const AllocateChunkRequest* request,
                                       AllocateChunkResponse* response) {
  grpc::Status status;
  if (Refuse(context, &status)) return status;
  absl::MutexLock lock(&mu_);
  std::set<std::string> exclude(request->exclude_datanodes().begin(),
                                request->exclude_datanodes().end());
  for (const DatanodeInfo& node : datanodes_) {
    if (exclude.count(node.id()) || response->pipeline_size() == 3) continue;
    *response->add_pipeline() = node;
  }
  if (response->pipeline().empty()) return Err(ENOSPC, "no datanode available");
  response->set_chunk_id(next_chunk_++);
  return grpc::Status::OK;
}

grpc::Status FakeMaster::CommitWrite(grpc::ServerContext* context,
                                     const CommitWriteRequest* request,
                                     CommitWriteResponse* response) {
  return Mutate(context, request->session(), response, [&]() {
    Attr* attr = Find(request->inode());
    if (attr == nullptr) return Err(ENOENT, "no such inode");
    if (attr->type() != FILE_TYPE_REGULAR) return Err(EISDIR, "not a regular file");
    uint64_t offset = request->append() ? attr->size() : request->offset();
    for (const ChunkInfo& chunk : request->new_chunks()) chunks_[chunk.chunk_id()] = chunk;
    WriteExtents(attr->inode(), offset, request->extents(), request->length());
    attr->set_size(std::max(attr->size(), offset + request->length()));
    attr->set_generation(attr->generation() + 1);
    attr->set_mtime_ns(clock_ns_);
    *response->mutable_attr() = *attr;
    response->set_write_offset(offset);
    return grpc::Status::OK;
  });
}

grpc::Status FakeMaster::GetExtents(grpc::ServerContext* context,
                                    const GetExtentsRequest* request,
                                    GetExtentsResponse* response) {
  grpc::Status status;
  if (Refuse(context, &status)) return status;
  absl::MutexLock lock(&mu_);
  Attr* attr = Find(request->inode());
  if (attr == nullptr) return Err(ENOENT, "no such inode");
  *response->mutable_attr() = *attr;
  if (attr->type() != FILE_TYPE_REGULAR) return grpc::Status::OK;
  uint64_t begin = request->offset();
  uint64_t end = request->length() == 0 ? attr->size()
                                        : std::min(attr->size(), begin + request->length());
  std::set<uint64_t> chunk_ids;
  for (const Extent& e : extents_[attr->inode()]) {
    uint64_t s = std::max(begin, e.file_offset());
    uint64_t f = std::min(end, e.file_offset() + e.length());
    if (f <= s) continue;
    Extent* clipped = response->add_extents();
    clipped->set_file_offset(s);
    clipped->set_chunk_id(e.chunk_id());
    clipped->set_chunk_offset(e.chunk_offset() + (s - e.file_offset()));
    clipped->set_length(f - s);
    chunk_ids.insert(e.chunk_id());
  }
  for (uint64_t id : chunk_ids) {
    ChunkLocation* location = response->add_chunks();
    location->set_chunk_id(id);
    const ChunkInfo& chunk = chunks_[id];
    location->set_length(chunk.length());
    for (const std::string& replica : chunk.replicas()) {
      for (const DatanodeInfo& node : datanodes_) {
        if (node.id() == replica) *location->add_replicas() = node;
      }
    }
  }
  return grpc::Status::OK;
}

grpc::Status FakeMaster::ReportBadReplica(grpc::ServerContext* context,
                                          const ReportBadReplicaRequest* request,
                                          Empty* response) {
  grpc::Status status;
  if (Refuse(context, &status)) return status;
  absl::MutexLock lock(&mu_);
  bad_reports_.emplace_back(request->chunk_id(), request->datanode_id(), request->reason());
  return grpc::Status::OK;
}

grpc::Status FakeMaster::StatFs(grpc::ServerContext* context, const Empty*,
                                StatFsResponse* response) {
  grpc::Status status;
  if (Refuse(context, &status)) return status;
  absl::MutexLock lock(&mu_);
  response->set_inodes(inodes_.size());
  response->set_live_datanodes(datanodes_.size());
  return grpc::Status::OK;
}

FakeCluster::FakeCluster(int count) {
  master = std::make_unique<FakeMaster>();
  master->Start();
  for (int i = 0; i < count; ++i) {
    datanodes.push_back(std::make_unique<FakeDatanode>(absl::StrCat("dn", i)));
    datanodes.back()->Start();
    master->AddDatanode(datanodes.back()->info());
  }
}

}  // namespace dfs::testing
