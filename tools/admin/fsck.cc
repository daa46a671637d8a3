#include "tools/admin/fsck.h"

#include <iostream>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/chunk_reader.h"
#include "client/client.h"
#include "client/path.h"
#include "common/crc32c.h"
#include "common/human_bytes.h"
#include "common/status.h"
#include "tools/cli/format.h"

namespace dfs::admin {
namespace {

// Files per CheckFiles call (the master takes up to 1000).
constexpr size_t kFilesPerCheck = 500;

const char* HealthName(ChunkHealth health) {
  switch (health) {
    case CHUNK_UNDER_REPLICATED:
      return "UNDER-REPLICATED";
    case CHUNK_MISSING:
      return "MISSING";
    case CHUNK_CORRUPT:
      return "CORRUPT";
    default:
      return "HEALTHY";
  }
}

const char* ReplicaName(ReplicaHealth health) {
  switch (health) {
    case REPLICA_DECOMMISSIONING:
      return "decommissioning";
    case REPLICA_DEAD:
      return "dead";
    case REPLICA_CORRUPT:
      return "corrupt";
    default:
      return "live";
  }
}

std::string Where(const DatanodeInfo& node) {
  return node.address().empty() ? node.id() : node.address();
}

bool AtRisk(ChunkHealth health) { return health == CHUNK_MISSING || health == CHUNK_CORRUPT; }

// A replica --verify found damaged.
struct BadReplica {
  uint64_t chunk_id;
  DatanodeInfo node;
  std::string reason;
};

class Fsck {
 public:
  Fsck(const Target& target, const ClientOptions& client_options, Client* client,
       const FsckOptions& options)
      : target_(target), client_options_(client_options), client_(client), options_(options) {}

  int Run();

 private:
  absl::Status Walk(const std::string& path, const Attr& attr);
  absl::Status AddFile(const std::string& path, uint64_t inode);
  // Checks the files in batch_ and reports on each.
  absl::Status Flush();
  absl::StatusOr<std::vector<FileCheck>> Check(const std::vector<uint64_t>& inodes);
  std::vector<BadReplica> Verify(const std::string& path, const FileCheck& file);
  void Account(const std::string& path, const FileCheck& file, const std::vector<BadReplica>& bad);

  const Target& target_;
  const ClientOptions& client_options_;
  Client* const client_;
  const FsckOptions& options_;

  std::vector<std::pair<std::string, uint64_t>> batch_;  // (path, inode)
  std::unordered_set<uint64_t> files_seen_;              // hard links are checked once
  // Each chunk is counted (and with --verify read) once, however many files share it.
  std::unordered_map<uint64_t, ChunkHealth> chunks_;
  std::unordered_set<uint64_t> verified_;
  uint64_t files_ = 0, dirs_ = 0, symlinks_ = 0, vanished_ = 0;
  uint64_t files_at_risk_ = 0, files_short_ = 0;
  uint64_t bytes_ = 0, verified_bytes_ = 0, bad_found_ = 0, unreadable_ = 0;
};

int Fsck::Run() {
  absl::StatusOr<std::string> path = NormalizePath(options_.path);
  if (!path.ok()) {
    std::cerr << "dfsadmin: fsck: " << options_.path << ": " << path.status().message() << "\n";
    return kFsckUsage;
  }
  absl::StatusOr<Attr> root = client_->LookupPath(*path);
  if (!root.ok()) {
    std::cerr << "dfsadmin: fsck: " << *path << ": " << cli::ErrorText(root.status()) << "\n";
    return absl::IsNotFound(root.status()) ? kFsckUsage : kFsckIncomplete;
  }
  absl::Status status = Walk(*path, *root);
  if (status.ok()) status = Flush();
  if (!status.ok()) {
    std::cerr << "dfsadmin: fsck: the check did not finish: " << status.message() << "\n";
    return kFsckIncomplete;
  }

  uint64_t healthy = 0, under = 0, missing = 0, corrupt = 0;
  for (const auto& [id, health] : chunks_) {
    healthy += health == CHUNK_HEALTHY;
    under += health == CHUNK_UNDER_REPLICATED;
    missing += health == CHUNK_MISSING;
    corrupt += health == CHUNK_CORRUPT;
  }
  const char* verdict = missing + corrupt > 0 ? "AT RISK" : under > 0 ? "DEGRADED" : "HEALTHY";
  std::cout << absl::StrFormat("fsck %s%s\n", *path, options_.verify ? " --verify" : "");
  std::cout << absl::StrFormat(
      "  files:        %d (%d with missing or corrupt chunks, %d under-replicated)\n", files_,
      files_at_risk_, files_short_);
  std::cout << absl::StrFormat("  directories:  %d, symlinks: %d (not followed)\n", dirs_,
                               symlinks_);
  std::cout << absl::StrFormat(
      "  chunks:       %d: %d healthy, %d under-replicated, %d missing, %d corrupt\n",
      chunks_.size(), healthy, under, missing, corrupt);
  std::cout << "  bytes:        " << bytes_ << " in files (" << HumanBytes(bytes_) << ")\n";
  if (options_.verify) {
    std::cout << "  verified:     " << verified_bytes_ << " bytes read back and checked ("
              << HumanBytes(verified_bytes_) << "); " << bad_found_
              << " damaged replicas found and reported; " << unreadable_
              << " replicas could not be read\n";
  }
  if (vanished_ > 0) std::cout << "  " << vanished_ << " files went away during the check\n";
  std::cout << "The file system under " << *path << " is " << verdict << "\n";
  return missing + corrupt > 0 ? kFsckAtRisk : 0;
}

absl::Status Fsck::Walk(const std::string& path, const Attr& attr) {
  if (attr.type() == FILE_TYPE_SYMLINK) {
    ++symlinks_;
    return absl::OkStatus();
  }
  if (attr.type() == FILE_TYPE_REGULAR) return AddFile(path, attr.inode());
  std::vector<std::pair<std::string, uint64_t>> stack = {{path, attr.inode()}};
  while (!stack.empty()) {
    const std::string dir_path = std::move(stack.back().first);
    const uint64_t dir = stack.back().second;
    stack.pop_back();
    ++dirs_;
    std::vector<std::pair<std::string, uint64_t>> subdirs;
    absl::Status status = client_->ForEachDirEntry(dir, [&](const DirEntry& entry) {
      const std::string child = JoinPath(dir_path, entry.name());
      switch (entry.attr().type()) {
        case FILE_TYPE_DIRECTORY:
          subdirs.emplace_back(child, entry.attr().inode());
          break;
        case FILE_TYPE_REGULAR:
          return AddFile(child, entry.attr().inode());
        case FILE_TYPE_SYMLINK:
          ++symlinks_;
          break;
        default:
          break;
      }
      return absl::OkStatus();
    });
    if (absl::IsNotFound(status)) continue;  // removed since it was listed
    DFS_RETURN_IF_ERROR(status);
    // Depth first, in name order.
    for (auto it = subdirs.rbegin(); it != subdirs.rend(); ++it) stack.push_back(std::move(*it));
  }
  return absl::OkStatus();
}

absl::Status Fsck::AddFile(const std::string& path, uint64_t inode) {
  if (!files_seen_.insert(inode).second) return absl::OkStatus();
  batch_.emplace_back(path, inode);
  return batch_.size() >= kFilesPerCheck ? Flush() : absl::OkStatus();
}

absl::StatusOr<std::vector<FileCheck>> Fsck::Check(const std::vector<uint64_t>& inodes) {
  std::vector<FileCheck> out;
  while (out.size() < inodes.size()) {
    CheckFilesRequest request;
    request.set_all_chunks(options_.verify);
    for (size_t i = out.size(); i < inodes.size(); ++i) request.add_inodes(inodes[i]);
    CheckFilesResponse response;
    DFS_RETURN_IF_ERROR(CallLeader(target_, [&](AdminService::Stub* stub, grpc::ClientContext* c) {
      response.Clear();
      return stub->CheckFiles(c, request, &response);
    }));
    if (response.files().empty()) return absl::InternalError("the leader checked no file");
    for (FileCheck& file : *response.mutable_files()) out.push_back(std::move(file));
  }
  return out;
}

absl::Status Fsck::Flush() {
  if (batch_.empty()) return absl::OkStatus();
  std::vector<uint64_t> inodes;
  for (const auto& [path, inode] : batch_) inodes.push_back(inode);
  DFS_ASSIGN_OR_RETURN(std::vector<FileCheck> checks, Check(inodes));
  for (size_t i = 0; i < checks.size(); ++i) {
    const std::string& path = batch_[i].first;
    FileCheck& file = checks[i];
    if (!file.error().empty()) {
      ++vanished_;  // removed, or replaced by a non-file, since it was listed
      continue;
    }
    std::vector<BadReplica> bad;
    if (options_.verify) {
      bad = Verify(path, file);
      if (!bad.empty()) {
        // The master has dropped what it could of the damaged copies: its verdict now.
        DFS_ASSIGN_OR_RETURN(std::vector<FileCheck> again, Check({file.inode()}));
        if (again.front().error().empty()) file = std::move(again.front());
      }
    }
    Account(path, file, bad);
  }
  batch_.clear();
  return absl::OkStatus();
}

std::vector<BadReplica> Fsck::Verify(const std::string& path, const FileCheck& file) {
  std::vector<BadReplica> bad;
  for (const ChunkCheck& chunk : file.chunks()) {
    if (!verified_.insert(chunk.chunk_id()).second) continue;
    for (const ReplicaCheck& replica : chunk.replicas()) {
      if (replica.health() != REPLICA_LIVE && replica.health() != REPLICA_DECOMMISSIONING) continue;
      ChunkLocation location;
      location.set_chunk_id(chunk.chunk_id());
      location.set_length(chunk.length());
      *location.add_replicas() = replica.node();
      uint32_t crc = 0;
      uint64_t got = 0;
      std::string reason;
      // The reader checks every piece's CRC32C and the lengths; a damaged copy is reported
      // through the callback (here, to `reason`) instead of to the master directly.
      absl::Status status = ReadChunkRange(
          client_options_, location, 0, chunk.length(),
          [&](absl::string_view data) {
            crc = Crc32cExtend(crc, data.data(), data.size());
            got += data.size();
            return absl::OkStatus();
          },
          [&](uint64_t, const std::string&, const std::string& why) { reason = why; });
      if (status.ok() && (got != chunk.length() || crc != chunk.crc32c())) {
        reason = absl::StrFormat("read %d bytes with CRC32C %08x; the record says %d bytes, %08x",
                                 got, crc, chunk.length(), chunk.crc32c());
      }
      if (status.ok() && reason.empty()) {
        verified_bytes_ += got;
        continue;
      }
      if (reason.empty() && !absl::IsDataLoss(status)) {
        ++unreadable_;
        std::cout << absl::StrFormat("%s: chunk %016x: replica on %s could not be read: %s\n", path,
                                     chunk.chunk_id(), Where(replica.node()), status.message());
        continue;
      }
      if (reason.empty()) reason = std::string(status.message());
      ++bad_found_;
      absl::Status reported =
          client_->ReportBadReplica(chunk.chunk_id(), replica.node().id(), "fsck: " + reason);
      if (!reported.ok()) {
        std::cerr << "dfsadmin: fsck: reporting a damaged replica: " << reported.message() << "\n";
      }
      bad.push_back({chunk.chunk_id(), replica.node(), reason});
    }
  }
  return bad;
}

void Fsck::Account(const std::string& path, const FileCheck& file,
                   const std::vector<BadReplica>& bad) {
  ++files_;
  bytes_ += file.size();
  for (uint64_t id : file.healthy_chunks()) chunks_.emplace(id, CHUNK_HEALTHY);
  bool at_risk = false, short_of_replicas = false;
  for (const ChunkCheck& chunk : file.chunks()) {
    chunks_.emplace(chunk.chunk_id(), chunk.health());
    if (chunk.health() == CHUNK_HEALTHY) continue;
    at_risk |= AtRisk(chunk.health());
    short_of_replicas |= chunk.health() == CHUNK_UNDER_REPLICATED;
    std::vector<std::string> replicas;
    for (const ReplicaCheck& r : chunk.replicas()) {
      replicas.push_back(absl::StrCat(Where(r.node()), " ", ReplicaName(r.health())));
    }
    std::cout << absl::StrFormat("%s: chunk %016x (%s): %s, %d of %d good replicas [%s]\n", path,
                                 chunk.chunk_id(), HumanBytes(chunk.length()),
                                 HealthName(chunk.health()), chunk.good_replicas(),
                                 chunk.replication(), absl::StrJoin(replicas, ", "));
  }
  for (const BadReplica& b : bad) {
    std::cout << absl::StrFormat(
        "%s: chunk %016x: replica on %s is CORRUPT (reported to the master for repair): %s\n", path,
        b.chunk_id, Where(b.node), b.reason);
  }
  files_at_risk_ += at_risk;
  files_short_ += !at_risk && short_of_replicas;
}

}  // namespace

int FsckCommand(const Target& target, const ClientOptions& client_options,
                const FsckOptions& options) {
  absl::StatusOr<std::unique_ptr<Client>> client = Client::New(client_options);
  if (!client.ok()) {
    std::cerr << "dfsadmin: fsck: " << client.status().message() << "\n";
    return kFsckUsage;
  }
  return Fsck(target, client_options, client->get(), options).Run();
}

}  // namespace dfs::admin
