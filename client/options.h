// ClientOptions: everything the client library needs to know to reach a cluster and how patient
// to be. Filled in by a binary (dfs, dfs-fuse, dfsadmin, tests) from its flags or a config file
// (client/config.h); the library itself never reads flags or the environment. A plain value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/caller.h"

namespace dfs {

struct ClientOptions {
  // The masters of the Raft group, "host:port" each. Any of them will do: followers redirect to
  // the leader.
  std::vector<std::string> masters;
  // Deadline of one RPC attempt to a master.
  int64_t rpc_timeout_ms = 10000;
  // Overall deadline of one master operation, across all its retries.
  int64_t op_timeout_ms = 30000;
  // Largest chunk the client writes. The datanodes' maximum is 64 MiB by default; the client
  // buffers one chunk per open writer, so this is also the writer's memory bound.
  uint64_t chunk_size_bytes = 64ull << 20;
  // When positive, writers stop retrying a chunk after this long without progress (see
  // ChunkWriterOptions::retry_deadline_ms); 0 keeps retrying up to the attempt limit. dfs-fuse
  // sets it to op_timeout_ms so that a write to an unreachable cluster fails within about one
  // deadline.
  int64_t write_retry_deadline_ms = 0;
  // Chunk reservations (client/chunk_reservations.h): when a small chunk (at most
  // chunk_reserve_max_bytes) needs a fresh allocation, this many more are allocated by the same
  // AllocateChunk call and used by the next small chunks while younger than
  // chunk_reserve_ttl_ms, saving their round trips to the master. 0 turns reservations off.
  int chunk_reserve_count = 16;
  uint64_t chunk_reserve_max_bytes = 1 << 20;
  int64_t chunk_reserve_ttl_ms = 2000;
  // A chunk of at most this many bytes is sent to each of its datanodes at once (fan-out)
  // instead of through the chain: for small chunks the chain's hops are the cost, not the
  // client's bandwidth (3x the bytes leave the client). 0 always uses the chain.
  uint64_t fan_out_max_bytes = 1 << 20;
  // Who this client acts for, sent with every request the master checks permissions for (and
  // the owner of what it creates). The process's identity by default; nullopt sends none (the
  // master then checks nothing: dfs-fuse names each request's process instead, see
  // client/caller.h).
  std::optional<Caller> caller = ProcessCaller();

  // InvalidArgument naming the first bad field.
  absl::Status Validate() const;
};

// Checks that `address` looks like "host:port" (host may be "[v6addr]"), port in 1..65535.
absl::Status ValidateHostPort(const std::string& address);

}  // namespace dfs
