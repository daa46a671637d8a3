// Fuzzes the master's request validation (master/request_validation.h): the input's first byte
// picks one of the request types the master's services accept, the rest is parsed as that
// request and validated. Besides never crashing, what validation accepts must meet the limits it
// promises, re-checked here in 128-bit arithmetic that cannot wrap: names are proper names,
// file ranges end by kMaxFileBytes, extents lie inside their write and chunk, counts are bounded.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/validation.h"
#include "master/ops.h"
#include "master/request_validation.h"
#include "tests/fuzz/fuzz_util.h"  // silences logging

namespace dfs {
namespace {

using Wide = unsigned __int128;

void Fail(const char* what) {
  std::fprintf(stderr, "master_request_fuzz: accepted %s\n", what);
  std::abort();
}

void ExpectName(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameBytes || name == "." || name == ".." ||
      name.find('/') != std::string::npos || name.find('\0') != std::string::npos) {
    Fail("a bad name");
  }
}

template <typename Request>
void ExpectContent(const Request& request, uint64_t length) {
  if (request.extents_size() > kMaxExtentsPerRequest) Fail("too many extents");
  for (const Extent& e : request.extents()) {
    if (e.chunk_id() == 0 || e.length() == 0 || Wide{e.file_offset()} + e.length() > length ||
        Wide{e.chunk_offset()} + e.length() > kMaxChunkBytes) {
      Fail("a bad extent");
    }
  }
  for (const ChunkInfo& chunk : request.new_chunks()) {
    if (chunk.chunk_id() == 0 || chunk.length() == 0 || chunk.length() > kMaxChunkBytes ||
        chunk.replicas().empty() || chunk.replicas_size() > kMaxReplicas) {
      Fail("a bad new chunk");
    }
  }
}

// Parses `bytes` as a Request and, if validation accepts it, runs `expect` on it.
template <typename Request, typename Expect>
void IfAccepted(std::string_view bytes, Expect expect) {
  Request request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;
  if (ValidateRequest(request).ok()) expect(request);
}

template <typename Request>
void Validate(std::string_view bytes) {
  IfAccepted<Request>(bytes, [](const Request&) {});
}

void ExpectNonZero(uint64_t id) {
  if (id == 0) Fail("id 0");
}

void RunOne(uint8_t kind, std::string_view bytes) {
  switch (kind % 26) {
    case 0: return IfAccepted<LookupRequest>(bytes, [](auto& r) { ExpectName(r.name()); });
    case 1:
      return IfAccepted<LookupPathRequest>(bytes, [](auto& r) {
        if (r.path().empty() || r.path()[0] != '/') Fail("a relative path");
      });
    case 2: return IfAccepted<GetAttrRequest>(bytes, [](auto& r) { ExpectNonZero(r.inode()); });
    case 3:
      return IfAccepted<ReadDirRequest>(bytes, [](auto& r) {
        if (!r.start_after().empty()) ExpectName(r.start_after());
      });
    case 4: return IfAccepted<MkdirRequest>(bytes, [](auto& r) { ExpectName(r.name()); });
    case 5:
      return IfAccepted<CreateRequest>(bytes, [](auto& r) {
        ExpectName(r.name());
        if (r.size() > kMaxFileBytes) Fail("a file past the largest size");
        ExpectContent(r, r.size());
      });
    case 6:
      return IfAccepted<SymlinkRequest>(bytes, [](auto& r) {
        ExpectName(r.name());
        if (r.target().empty() || r.target().size() > kMaxSymlinkBytes) Fail("a bad target");
      });
    case 7: return IfAccepted<LinkRequest>(bytes, [](auto& r) { ExpectName(r.new_name()); });
    case 8: return IfAccepted<RemoveRequest>(bytes, [](auto& r) { ExpectName(r.name()); });
    case 9:
      return IfAccepted<RenameRequest>(bytes, [](auto& r) {
        ExpectName(r.name());
        ExpectName(r.new_name());
      });
    case 10: return Validate<ReleaseOrphanRequest>(bytes);
    case 11:
      return IfAccepted<SetAttrRequest>(bytes, [](auto& r) {
        if (r.has_size() && r.size() > kMaxFileBytes) Fail("a huge size");
      });
    case 12: return Validate<AllocateChunkRequest>(bytes);
    case 13:
      return IfAccepted<CommitWriteRequest>(bytes, [](auto& r) {
        if ((r.append() ? 0 : Wide{r.offset()}) + r.length() > kMaxFileBytes) Fail("a huge write");
        ExpectContent(r, r.length());
      });
    case 14:
      return IfAccepted<GetExtentsRequest>(bytes, [](auto& r) {
        if (Wide{r.offset()} + r.length() > ~uint64_t{0}) Fail("a range that wraps");
      });
    case 15:
      return IfAccepted<ReportBadReplicaRequest>(bytes, [](auto& r) {
        if (r.chunk_id() == 0 || r.datanode_id().empty()) Fail("a report without a replica");
      });
    case 16:
      return IfAccepted<HeartbeatRequest>(bytes, [](auto& r) {
        if (r.node().id().empty() || r.node().address().empty()) Fail("an anonymous heartbeat");
      });
    case 17:
      return IfAccepted<RaftMemberRequest>(bytes, [](auto& r) {
        if (r.address().find(':') == std::string::npos) Fail("an address without a port");
      });
    case 18: return Validate<BlockedPeersRequest>(bytes);
    case 19:
      return IfAccepted<ChunkReplicasRequest>(bytes, [](auto& r) { ExpectNonZero(r.chunk_id()); });
    case 20:
      return IfAccepted<DecommissionRequest>(bytes, [](auto& r) {
        if (r.datanode().empty()) Fail("an empty datanode");
      });
    case 21:
      return IfAccepted<BalanceRequest>(bytes, [](auto& r) {
        if (!(r.threshold() >= 0 && r.threshold() < 1)) Fail("a threshold outside [0, 1)");
      });
    case 22:
      return IfAccepted<SafeModeRequest>(bytes, [](auto& r) {
        if (r.action() < 0 || r.action() > SafeModeRequest::LEAVE) Fail("an unknown action");
      });
    case 23:
      return IfAccepted<CheckFilesRequest>(bytes, [](auto& r) {
        if (r.inodes_size() > kMaxCheckFiles) Fail("too many files");
      });
    case 24:
      return IfAccepted<BatchRequest>(bytes, [](auto& r) {
        if (r.ops().empty() || r.ops_size() > kMaxBatchOps) Fail("a batch of a bad size");
        for (const BatchOp& op : r.ops()) {
          switch (op.op_case()) {
            case BatchOp::kUnlink: ExpectName(op.unlink().name()); break;
            case BatchOp::kRmdir: ExpectName(op.rmdir().name()); break;
            case BatchOp::kRename:
              ExpectName(op.rename().name());
              ExpectName(op.rename().new_name());
              break;
            case BatchOp::kMkdir:
              ExpectName(op.mkdir().name());
              if (op.mkdir().inode() == 0) Fail("a batched mkdir without its inode id");
              break;
            case BatchOp::kCreate:
              ExpectName(op.create().name());
              if (op.create().inode() == 0 || !op.create().exclusive() || op.create().size() != 0) {
                Fail("a batched create without its id, not exclusive, or with content");
              }
              break;
            case BatchOp::OP_NOT_SET: Fail("a batch op without an op");
          }
        }
      });
    case 25:
      return IfAccepted<ReserveInodesRequest>(bytes, [](auto& r) {
        if (r.count() == 0 || r.count() > kMaxReservedInodes) Fail("a bad number of inode ids");
      });
  }
}

}  // namespace
}  // namespace dfs

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  dfs::RunOne(data[0], std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  return 0;
}
