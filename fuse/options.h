// FuseOptions: everything `dfs-fuse` is told on its command line, and the parser that fills it.
//
//   dfs-fuse [OPTIONS] MOUNTPOINT
//
// Long options take "--name VALUE" or "--name=VALUE"; '-' and '_' are interchangeable inside a
// name (--log-file == --log_file). FUSE's own short options are kept: -f (foreground), -d
// (libfuse debug output, implies -f), -s (single-threaded), -o OPT[,OPT...] (mount options such
// as allow_other, default_permissions, ro; passed to libfuse, which rejects unknown ones).
//
// Parsing is a pure function of the argument list (the environment and config files are read
// later, by client/config.h), so it is unit-tested without mounting anything. Thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace dfs::fuse {

struct FuseOptions {
  std::string mountpoint;

  // ---- Finding and talking to the cluster (unset: client/config.h discovery and defaults) ----
  std::optional<std::string> masters;
  // Deadline of one operation against the cluster, across retries: past it, the system call
  // fails with ETIMEDOUT or EIO instead of hanging.
  std::optional<int64_t> timeout_ms;
  std::optional<uint64_t> chunk_size_bytes;
  std::optional<std::string> secret_file;  // the credential calls carry (client.key)
  std::optional<std::string> tls_ca;       // set: TLS to the cluster, trusting this CA

  // ---- Kernel caching ----
  double attr_timeout_s = 1.0;
  double entry_timeout_s = 1.0;
  // Remembering that a name does not exist hides files other clients create meanwhile, so it is
  // off by default.
  double negative_timeout_s = 0.0;
  // dfs-fuse's metadata cache (fuse/meta_cache.h), kept current by the master's change feed:
  // how long it still answers after the feed's last confirmation; 0 turns it off. At most the
  // attribute and entry timeouts (0 there: off too). Off with -o no_default_permissions (the
  // master would have to check each lookup).
  int64_t meta_cache_grace_ms = 500;
  // Mkdirs, unlinks, rmdirs and renames whose outcome this mount knows are answered at once and
  // committed in batches behind (fuse/write_behind.h); durable at fsync/fsyncdir. Needs the
  // metadata cache.
  bool write_behind = true;
  // The kernel's own readahead for this mount (the bdi's read_ahead_kb), set after mounting when
  // running as root; 0 leaves the kernel default (128 KiB).
  uint32_t kernel_readahead_kb = 4096;

  // ---- dfs-fuse's own buffers ----
  // How far ahead of a sequential reader blocks are fetched (in parallel).
  uint64_t readahead_bytes = 32ull << 20;
  // Threads fetching readahead blocks, shared by all open files.
  int prefetch_threads = 8;
  // Largest number of threads serving kernel requests.
  int max_threads = 16;

  // ---- Process ----
  // HTTP server for /metrics (FUSE operation latencies); "" turns it off. Its bound address
  // goes to http_port_file, if set.
  std::string http_listen = "127.0.0.1:0";
  std::string http_port_file;
  std::string log_file;  // "" = stderr with -f, else a file under /tmp (printed at start)
  std::string log_level = "info";
  bool foreground = false;
  bool debug = false;
  bool single_thread = false;
  std::vector<std::string> fuse_options;  // -o values, split at commas

  bool help = false;
  bool version = false;
};

// Parses argv[1..]. A usage error is InvalidArgument with a one-line message (no program name).
// --help / -h and --version / -V need no mount point.
absl::StatusOr<FuseOptions> ParseFuseArgs(const std::vector<std::string>& args);

// The text printed by --help: every option with its default.
std::string FuseUsage();

}  // namespace dfs::fuse
