// DatanodeOptions: everything a datanode process is configured with. main.cc fills it from flags;
// tests fill it directly. A plain value type; not synchronized.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace dfs {

struct DatanodeOptions {
  // Where chunks, the node id and temp files live. Required.
  std::string data_dir;
  // host:port for the DatanodeService; port 0 picks a free port.
  std::string listen_address = "127.0.0.1:0";
  // host:port of the HTTP server for /metrics (port 0: a free port); "" for none. Its bound
  // address is written to http_port_file, if set.
  std::string http_listen_address;
  std::string http_port_file;
  // host:port of every master replica. Heartbeats go to all of them, because only the Raft
  // leader acts on them and any replica may be the leader. Empty: no heartbeats (tests).
  std::vector<std::string> masters;
  // Failure-domain label; the master puts a chunk's replicas on distinct racks.
  std::string rack = "default-rack";
  int64_t heartbeat_interval_ms = 1000;
  // Capacity reported to the master; 0 means the size of the data directory's file system.
  uint64_t capacity_bytes = 0;
  // How long Shutdown() lets in-flight RPCs finish before cancelling them.
  int64_t shutdown_grace_ms = 1000;
  // The scrubber (datanode/scrubber.h): read rate in bytes/s (0: off) and the pause between
  // passes over every chunk.
  uint64_t scrub_bytes_per_sec = 8ull << 20;
  int64_t scrub_interval_ms = 6ll * 60 * 60 * 1000;
  // Seed for temp-file names and, on first start, the node id. 0: drawn from entropy.
  uint64_t seed = 0;

  // InvalidArgument naming the first bad field, if any.
  absl::Status Validate() const;
};

// Checks that `address` looks like "host:port" (port 0..65535; host may be a bracketed IPv6).
absl::Status ValidateHostPort(const std::string& address);

}  // namespace dfs
