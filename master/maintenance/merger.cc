#include "master/maintenance/merger.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crc32c.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/rpc.h"
#include "common/status.h"
#include "master/keys.h"
#include "proto/datanode.grpc.pb.h"

namespace dfs {
namespace {

// Chunk ids reserved at a time.
constexpr uint64_t kIdBlock = 64;
// A shared chunk less than this fraction referenced is compacted.
constexpr double kMinLiveFraction = 0.5;
// Extents read at once while gathering a group's bytes.
constexpr int kReadParallelism = 8;
constexpr int64_t kRpcTimeoutMs = 30000;

}  // namespace

Merger::Merger(MaintenanceContext* ctx) : ctx_(ctx) { Reset(); }

void Merger::Reset() {
  chunk_ids_ = std::make_unique<IdAllocator>(ctx_->log(), ReserveIdsCmd::KIND_CHUNK, kIdBlock);
}

void Merger::RunOnce() {
  if (!ctx_->Ready()) return;
  const uint64_t term = ctx_->term();
  if (!ctx_->log()->ReadBarrier().ok()) return;
  std::vector<File> candidates = FindCandidates();
  if (candidates.empty()) return;
  const uint64_t target = ctx_->options().merge_target_bytes;
  int merged = 0, groups = 0;
  std::vector<File> group;
  uint64_t group_bytes = 0;
  auto flush = [&] {
    // A group of one file is worth rewriting only if it has several pieces.
    if (group.size() > 1 || (group.size() == 1 && group[0].extents.size() > 1)) {
      absl::StatusOr<int> n = MergeGroup(group, term);
      if (n.ok()) {
        merged += *n;
        ++groups;
      } else {
        DFS_LOG(INFO) << "merger: a group of " << group.size() << " files was not merged: "
                      << n.status();
      }
    }
    group.clear();
    group_bytes = 0;
  };
  for (File& file : candidates) {
    if (ctx_->stopping() || !ctx_->StillLeading(term)) return;
    if (group_bytes + file.bytes > target) flush();
    group_bytes += file.bytes;
    group.push_back(std::move(file));
  }
  flush();
  if (merged > 0) {
    DFS_LOG(INFO) << "merger: packed " << merged << " files into " << groups << " chunks";
  }
}

std::vector<Merger::File> Merger::FindCandidates() {
  const MaintenanceOptions& options = ctx_->options();
  const int64_t cold_before = ctx_->clock()->NowNanos() - options.merge_cold_ms * 1000000;
  leveldb::DB* db = ctx_->sm()->store()->db();
  // One consistent view for the whole scan.
  const leveldb::Snapshot* snapshot = db->GetSnapshot();
  leveldb::ReadOptions read;
  read.snapshot = snapshot;
  read.fill_cache = false;

  // Every chunk's length, and how many of its bytes extents still reference.
  std::map<uint64_t, uint64_t> length, live;
  {
    std::unique_ptr<leveldb::Iterator> it(db->NewIterator(read));
    for (it->Seek(keys::ChunkPrefix()); it->Valid() && it->key().starts_with("C"); it->Next()) {
      ChunkRecord record;
      if (record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        length[record.info().chunk_id()] = record.info().length();
      }
    }
  }
  std::vector<File> files;
  {
    std::unique_ptr<leveldb::Iterator> it(db->NewIterator(read));
    File current;
    for (it->Seek("E"); it->Valid() && it->key().starts_with("E"); it->Next()) {
      absl::string_view key(it->key().data(), it->key().size());
      const uint64_t inode = keys::TaggedId(key);
      Extent e;
      if (!e.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) continue;
      e.set_file_offset(keys::ExtentOffset(key));
      live[e.chunk_id()] += e.length();
      if (inode != current.inode) {
        if (current.inode != 0) files.push_back(std::move(current));
        current = File();
        current.inode = inode;
      }
      current.bytes += e.length();
      current.extents.push_back(std::move(e));
    }
    if (current.inode != 0) files.push_back(std::move(current));
  }
  auto mergeable = [&](uint64_t chunk) {
    auto it = length.find(chunk);
    if (it == length.end()) return false;
    return it->second < options.merge_small_bytes ||
           static_cast<double>(live[chunk]) < kMinLiveFraction * static_cast<double>(it->second);
  };
  std::vector<File> out;
  for (File& file : files) {
    if (out.size() >= options.merge_max_files_per_round) break;
    if (file.bytes > options.merge_target_bytes) continue;
    if (!std::all_of(file.extents.begin(), file.extents.end(),
                     [&](const Extent& e) { return mergeable(e.chunk_id()); })) {
      continue;
    }
    Attr attr;
    std::string value;
    if (!db->Get(read, keys::Inode(file.inode), &value).ok() || !attr.ParseFromString(value)) {
      continue;
    }
    if (attr.type() != FILE_TYPE_REGULAR || attr.nlink() == 0 || attr.mtime_ns() > cold_before ||
        attr.ctime_ns() > cold_before) {
      continue;
    }
    // A file alone in one chunk that it fills is as good as it gets.
    if (file.extents.size() == 1 && length[file.extents[0].chunk_id()] == file.bytes &&
        file.bytes >= options.merge_small_bytes) {
      continue;
    }
    file.generation = attr.generation();
    file.size = attr.size();
    out.push_back(std::move(file));
  }
  db->ReleaseSnapshot(snapshot);
  return out;
}

absl::StatusOr<std::string> Merger::ReadExtent(const Extent& extent) {
  DFS_ASSIGN_OR_RETURN(ChunkInfo chunk, ctx_->sm()->GetChunk(extent.chunk_id()));
  std::map<std::string, std::string> live;  // id -> address
  for (const auto& node : ctx_->datanodes()->Nodes()) {
    if (node.live) live[node.info.id()] = node.info.address();
  }
  absl::Status last = absl::UnavailableError(
      absl::StrFormat("chunk %016x has no live replica", extent.chunk_id()));
  for (const std::string& replica : chunk.replicas()) {
    auto address = live.find(replica);
    if (address == live.end()) continue;
    auto stub = DatanodeService::NewStub(GetChannel(address->second));
    grpc::ClientContext context;
    SetTimeout(&context, kRpcTimeoutMs);
    ReadChunkRequest request;
    request.set_chunk_id(extent.chunk_id());
    request.set_offset(extent.chunk_offset());
    request.set_length(extent.length());
    auto reader = stub->ReadChunk(&context, request);
    ReadChunkResponse piece;
    std::string data;
    bool damaged = false;
    while (reader->Read(&piece)) {
      if (Crc32c(piece.data()) != piece.data_crc32c()) {
        damaged = true;
        context.TryCancel();
        break;
      }
      data += piece.data();
    }
    absl::Status status = FromGrpcStatus(reader->Finish());
    if (damaged) status = absl::DataLossError("piece failed its CRC");
    if (status.ok() && data.size() != extent.length()) {
      status = absl::DataLossError("short read");
    }
    if (status.ok()) return data;
    last = status;
  }
  return last;
}

absl::StatusOr<ChunkInfo> Merger::WriteChunk(uint64_t chunk_id, const std::string& data) {
  DFS_ASSIGN_OR_RETURN(std::vector<DatanodeInfo> pipeline,
                       ctx_->datanodes()->Place(ctx_->options().replication, data.size(), {}));
  if (static_cast<int>(pipeline.size()) < ctx_->options().replication) {
    return absl::UnavailableError("not enough datanodes for a merged chunk");
  }
  auto stub = DatanodeService::NewStub(GetChannel(pipeline[0].address()));
  grpc::ClientContext context;
  SetTimeout(&context, kRpcTimeoutMs + static_cast<int64_t>(data.size() >> 10));
  WriteChunkResponse response;
  auto writer = stub->WriteChunk(&context, &response);
  size_t offset = 0;
  bool first = true;
  while (first || offset < data.size()) {
    WriteChunkRequest request;
    if (first) {
      request.mutable_header()->set_chunk_id(chunk_id);
      for (size_t i = 1; i < pipeline.size(); ++i) {
        request.mutable_header()->add_downstream(pipeline[i].address());
      }
      first = false;
    }
    const size_t n = std::min(kDataPieceBytes, data.size() - offset);
    request.set_data(data.substr(offset, n));
    request.set_data_crc32c(Crc32c(request.data()));
    if (!writer->Write(request)) break;
    offset += n;
  }
  writer->WritesDone();
  DFS_RETURN_IF_ERROR(FromGrpcStatus(writer->Finish()));
  if (response.length() != data.size() || response.crc32c() != Crc32c(data)) {
    return absl::DataLossError("merged chunk stored with a different length or CRC");
  }
  ChunkInfo info;
  info.set_chunk_id(chunk_id);
  info.set_length(data.size());
  info.set_crc32c(response.crc32c());
  for (const std::string& id : response.stored_on()) info.add_replicas(id);
  return info;
}

absl::StatusOr<int> Merger::MergeGroup(const std::vector<File>& files, uint64_t term) {
  // Gather every extent's bytes (in parallel: small files make many small reads).
  std::vector<const Extent*> extents;
  for (const File& file : files) {
    for (const Extent& e : file.extents) extents.push_back(&e);
  }
  std::vector<absl::StatusOr<std::string>> pieces(extents.size(), absl::UnknownError("unread"));
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < extents.size(); i = next++) {
      if (ctx_->stopping()) return;
      pieces[i] = ReadExtent(*extents[i]);
    }
  };
  std::vector<std::thread> readers;
  for (int t = 1; t < kReadParallelism; ++t) readers.emplace_back(work);
  work();
  for (auto& t : readers) t.join();

  // Lay the files out one after another; a file whose bytes could not be read stays as it is.
  std::string data;
  Command command;
  MergeSwapCmd* swap = command.mutable_merge_swap();
  size_t index = 0;
  for (const File& file : files) {
    bool readable = true;
    for (size_t k = 0; k < file.extents.size(); ++k) readable &= pieces[index + k].ok();
    if (!readable) {
      index += file.extents.size();
      continue;
    }
    MergeFileSwap* out = swap->add_files();
    out->set_inode(file.inode);
    out->set_generation(file.generation);
    out->set_file_offset(0);
    out->set_length(file.size);
    for (const Extent& e : file.extents) {
      const std::string& bytes = *pieces[index++];
      Extent* last = out->extents_size() > 0 ? out->mutable_extents(out->extents_size() - 1)
                                             : nullptr;
      // Pieces adjacent in the file land adjacent in the chunk: one extent.
      if (last != nullptr && last->file_offset() + last->length() == e.file_offset() &&
          last->chunk_offset() + last->length() == data.size()) {
        last->set_length(last->length() + e.length());
      } else {
        Extent* n = out->add_extents();
        n->set_file_offset(e.file_offset());
        n->set_chunk_offset(data.size());
        n->set_length(e.length());
      }
      data += bytes;
    }
  }
  if (swap->files_size() == 0 || data.empty()) return 0;
  if (!ctx_->StillLeading(term)) return absl::UnavailableError("no longer the leader");
  DFS_ASSIGN_OR_RETURN(uint64_t chunk_id, chunk_ids_->Next());
  DFS_ASSIGN_OR_RETURN(ChunkInfo chunk, WriteChunk(chunk_id, data));
  for (MergeFileSwap& file : *swap->mutable_files()) {
    for (Extent& e : *file.mutable_extents()) e.set_chunk_id(chunk_id);
  }
  *swap->add_new_chunks() = chunk;
  if (!ctx_->StillLeading(term)) return absl::UnavailableError("no longer the leader");
  DFS_ASSIGN_OR_RETURN(CommandResult result, ctx_->Propose(command));
  DFS_RETURN_IF_ERROR(ResultStatus(result));
  ctx_->stats().merges_done += swap->files_size();
  return swap->files_size();
}

}  // namespace dfs
