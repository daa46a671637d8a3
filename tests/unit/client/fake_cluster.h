// An in-process fake of a dfs cluster for client tests: a MasterService with a small in-memory
// namespace and DatanodeServices that keep chunks in memory and forward writes along the chain,
// all served by real gRPC servers on loopback, with knobs for the faults the client must handle
// (not-leader answers with hints, lost responses, corrupt or missing replicas, dead nodes).
//
// It follows proto/master.proto and proto/datanode.proto as the client relies on them; it is not
// the real master (no Raft, no persistence). Thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "proto/datanode.grpc.pb.h"
#include "proto/master.grpc.pb.h"

namespace dfs::testing {

class FakeDatanode : public DatanodeService::Service {
 public:
  explicit FakeDatanode(std::string id);
  ~FakeDatanode() override;

  // Starts serving on a free loopback port.
  void Start();
  // Stops serving: the node looks dead.
  void Stop();

  const std::string& id() const { return id_; }
  const std::string& address() const { return address_; }
  DatanodeInfo info() const;

  bool HasChunk(uint64_t chunk_id);
  size_t chunk_count();

  // Faults.
  std::atomic<bool> corrupt_reads{false};  // flip a byte of every piece (CRC left as it was)
  std::atomic<bool> fail_writes{false};    // refuse WriteChunk and PutChunk with UNAVAILABLE
  std::atomic<bool> lose_chunks{false};    // answer NOT_FOUND for every read
  std::atomic<int> piece_delay_ms{0};      // sleep before sending each read piece
  std::atomic<int> reads{0};

  grpc::Status WriteChunk(grpc::ServerContext* context,
                          grpc::ServerReader<WriteChunkRequest>* reader,
                          WriteChunkResponse* response) override;
  grpc::Status PutChunk(grpc::ServerContext* context, const PutChunkRequest* request,
                        WriteChunkResponse* response) override;
  grpc::Status ReadChunk(grpc::ServerContext* context, const ReadChunkRequest* request,
                         grpc::ServerWriter<ReadChunkResponse>* writer) override;
  grpc::Status Identity(grpc::ServerContext* context, const DatanodeEmpty* request,
                        DatanodeIdentity* response) override;

 private:
  // Keeps a written chunk and fills in its length and CRC.
  void Store(uint64_t chunk_id, const std::string& data, WriteChunkResponse* response);

  const std::string id_;
  std::string address_;
  std::unique_ptr<grpc::Server> server_;
  absl::Mutex mu_;
  std::map<uint64_t, std::string> chunks_ ABSL_GUARDED_BY(mu_);
};

class FakeMaster : public MasterService::Service {
 public:
  FakeMaster();
  ~FakeMaster() override;

  void Start();
  void Stop();
  const std::string& address() const { return address_; }

  void AddDatanode(const DatanodeInfo& node);

  // Faults and observations.
  void SetNotLeader(bool not_leader, const std::string& hint);
  // The next `n` mutations are applied but answered with UNAVAILABLE (a lost response).
  void DropResponsesAfterApply(int n);
  // Page size when a ReadDir asks for the default (0) or more.
  std::atomic<uint32_t> max_page{2};
  std::atomic<int> calls{0};
  std::atomic<int> applied{0};
  std::vector<std::pair<uint64_t, uint64_t>> sessions();  // (client_id, seq) of every mutation
  std::vector<std::tuple<uint64_t, std::string, std::string>> bad_reports();

#define DFS_FAKE_RPC(Name, Request, Response) \
  grpc::Status Name(grpc::ServerContext* context, const Request* request, Response* response) override;
  DFS_FAKE_RPC(Lookup, LookupRequest, AttrResponse)
  DFS_FAKE_RPC(LookupPath, LookupPathRequest, AttrResponse)
  DFS_FAKE_RPC(GetAttr, GetAttrRequest, AttrResponse)
  DFS_FAKE_RPC(ReadDir, ReadDirRequest, ReadDirResponse)
  DFS_FAKE_RPC(Mkdir, MkdirRequest, AttrResponse)
  DFS_FAKE_RPC(Create, CreateRequest, AttrResponse)
  DFS_FAKE_RPC(Symlink, SymlinkRequest, AttrResponse)
  DFS_FAKE_RPC(Link, LinkRequest, AttrResponse)
  DFS_FAKE_RPC(Unlink, RemoveRequest, AttrResponse)
  DFS_FAKE_RPC(Rmdir, RemoveRequest, AttrResponse)
  DFS_FAKE_RPC(Rename, RenameRequest, AttrResponse)
  DFS_FAKE_RPC(ReleaseOrphan, ReleaseOrphanRequest, Empty)
  DFS_FAKE_RPC(SetAttr, SetAttrRequest, AttrResponse)
  DFS_FAKE_RPC(AllocateChunk, AllocateChunkRequest, AllocateChunkResponse)
  DFS_FAKE_RPC(CommitWrite, CommitWriteRequest, CommitWriteResponse)
  DFS_FAKE_RPC(GetExtents, GetExtentsRequest, GetExtentsResponse)
  DFS_FAKE_RPC(ReportBadReplica, ReportBadReplicaRequest, Empty)
  DFS_FAKE_RPC(StatFs, Empty, StatFsResponse)
#undef DFS_FAKE_RPC

 private:
  struct Recorded {
    grpc::Status status;
    std::string response;
  };
  // Gate for every RPC: not-leader answers.
  bool Refuse(grpc::ServerContext* context, grpc::Status* status);
  // Runs a mutation once per session, replaying the recorded answer on a retry.
  template <typename Response, typename Fn>
  grpc::Status Mutate(grpc::ServerContext* context, const Session& session, Response* response,
                      Fn apply);

  // Namespace helpers; mu_ held.
  Attr* Find(uint64_t inode) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  grpc::Status Dir(uint64_t inode, Attr** dir) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Attr& NewInode(FileType type, uint32_t mode, const Caller& owner)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops one link; at zero links a regular file is kept as an orphan when `keep_orphan`.
  void DropInode(uint64_t inode, bool keep_orphan = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteExtents(uint64_t inode, uint64_t offset, const google::protobuf::RepeatedPtrField<Extent>& extents,
                    uint64_t length) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::string address_;
  std::unique_ptr<grpc::Server> server_;

  absl::Mutex mu_;
  bool not_leader_ ABSL_GUARDED_BY(mu_) = false;
  std::string leader_hint_ ABSL_GUARDED_BY(mu_);
  int drop_after_apply_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_inode_ ABSL_GUARDED_BY(mu_) = 2;
  uint64_t next_chunk_ ABSL_GUARDED_BY(mu_) = 1000;
  int64_t clock_ns_ ABSL_GUARDED_BY(mu_) = 1700000000000000000;
  std::map<uint64_t, Attr> inodes_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::map<std::string, uint64_t>> children_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::vector<Extent>> extents_ ABSL_GUARDED_BY(mu_);  // absolute offsets
  std::map<uint64_t, ChunkInfo> chunks_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> orphans_ ABSL_GUARDED_BY(mu_);
  std::vector<DatanodeInfo> datanodes_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<uint64_t, uint64_t>, Recorded> recorded_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<uint64_t, uint64_t>> sessions_ ABSL_GUARDED_BY(mu_);
  std::vector<std::tuple<uint64_t, std::string, std::string>> bad_reports_ ABSL_GUARDED_BY(mu_);
};

// One master and `datanodes` datanodes ("dn0", "dn1", ...), started.
struct FakeCluster {
  explicit FakeCluster(int datanodes);
  std::unique_ptr<FakeMaster> master;
  std::vector<std::unique_ptr<FakeDatanode>> datanodes;
};

}  // namespace dfs::testing
