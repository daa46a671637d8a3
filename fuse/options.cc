#include "fuse/options.h"

#include <cmath>
#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace dfs::fuse {
namespace {

absl::Status Usage(const std::string& message) { return absl::InvalidArgumentError(message); }

absl::Status ParseSeconds(const std::string& name, const std::string& value, double* out) {
  double seconds;
  if (!absl::SimpleAtod(value, &seconds) || !(seconds >= 0) || seconds > 86400 * 365) {
    return Usage(absl::StrCat(name, ": not a number of seconds >= 0: '", value, "'"));
  }
  *out = seconds;
  return absl::OkStatus();
}

template <typename Int>
absl::Status ParsePositive(const std::string& name, const std::string& value, Int min, Int max,
                           Int* out) {
  Int n;
  if (!absl::SimpleAtoi(value, &n) || n < min || n > max) {
    return Usage(absl::StrCat(name, ": not a whole number in [", min, ", ", max, "]: '", value,
                              "'"));
  }
  *out = n;
  return absl::OkStatus();
}

absl::Status SetNonEmpty(const std::string& flag, const std::string& value, const char* what,
                         std::optional<std::string>* field) {
  if (value.empty()) return Usage(absl::StrCat(flag, " needs ", what));
  *field = value;
  return absl::OkStatus();
}

struct ValueOption {
  const char* name;  // with underscores
  std::function<absl::Status(const std::string& flag, const std::string& value, FuseOptions*)> set;
};

const std::vector<ValueOption>& ValueOptions() {
  static const auto* options = new std::vector<ValueOption>{
      {"masters",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         return SetNonEmpty(flag, v, "a host:port list", &o->masters);
       }},
      {"timeout_ms",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         int64_t ms;
         absl::Status s = ParsePositive<int64_t>(flag, v, 1, int64_t{1} << 40, &ms);
         if (s.ok()) o->timeout_ms = ms;
         return s;
       }},
      {"chunk_size_bytes",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         uint64_t bytes;
         absl::Status s = ParsePositive<uint64_t>(flag, v, 4096, uint64_t{1} << 36, &bytes);
         if (s.ok()) o->chunk_size_bytes = bytes;
         return s;
       }},
      {"secret_file",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         return SetNonEmpty(flag, v, "a path", &o->secret_file);
       }},
      {"tls_ca",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         return SetNonEmpty(flag, v, "a path", &o->tls_ca);
       }},
      {"attr_timeout_s",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         return ParseSeconds(flag, v, &o->attr_timeout_s);
       }},
      {"entry_timeout_s",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         return ParseSeconds(flag, v, &o->entry_timeout_s);
       }},
      {"negative_timeout_s",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         return ParseSeconds(flag, v, &o->negative_timeout_s);
       }},
      {"meta_cache_grace_ms",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         return ParsePositive<int64_t>(flag, v, 0, 60000, &o->meta_cache_grace_ms);
       }},
      {"write_behind",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         int on;
         absl::Status s = ParsePositive<int>(flag, v, 0, 1, &on);
         if (s.ok()) o->write_behind = on == 1;
         return s;
       }},
      {"kernel_readahead_kb",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         return ParsePositive<uint32_t>(flag, v, 0, 1 << 20, &o->kernel_readahead_kb);
       }},
      {"readahead_bytes",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         return ParsePositive<uint64_t>(flag, v, 0, uint64_t{1} << 32, &o->readahead_bytes);
       }},
      {"prefetch_threads",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         return ParsePositive<int>(flag, v, 1, 256, &o->prefetch_threads);
       }},
      {"threads",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         return ParsePositive<int>(flag, v, 1, 1024, &o->max_threads);
       }},
      {"log_file",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         if (v.empty()) return Usage(flag + " needs a path");
         o->log_file = v;
         return absl::OkStatus();
       }},
      {"http_listen",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         // Empty turns HTTP off; otherwise host:port.
         if (!v.empty() && v.rfind(':') == std::string::npos) {
           return Usage(flag + " needs host:port (or an empty value for none)");
         }
         o->http_listen = v;
         return absl::OkStatus();
       }},
      {"http_port_file",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         o->http_port_file = v;
         return absl::OkStatus();
       }},
      {"log_level",
       [](const std::string& flag, const std::string& v, FuseOptions* o) {
         if (v != "debug" && v != "info" && v != "warning" && v != "error") {
           return Usage(flag + ": one of debug, info, warning, error");
         }
         o->log_level = v;
         return absl::OkStatus();
       }},
  };
  return *options;
}

absl::Status AddFuseOptions(const std::string& value, FuseOptions* options) {
  if (value.empty()) return Usage("-o needs a value");
  for (absl::string_view opt : absl::StrSplit(value, ',', absl::SkipEmpty())) {
    options->fuse_options.emplace_back(opt);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FuseOptions> ParseFuseArgs(const std::vector<std::string>& args) {
  FuseOptions options;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      if (!options.mountpoint.empty()) {
        return Usage(absl::StrCat("unexpected argument '", arg, "' (one mount point only)"));
      }
      options.mountpoint = arg;
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      options.help = true;
      return options;
    }
    if (arg == "-V" || arg == "--version") {
      options.version = true;
      return options;
    }
    if (arg == "-f" || arg == "--foreground") {
      options.foreground = true;
      continue;
    }
    if (arg == "-d" || arg == "--debug") {
      options.debug = true;
      options.foreground = true;
      continue;
    }
    if (arg == "-s" || arg == "--single_thread" || arg == "--single-thread") {
      options.single_thread = true;
      continue;
    }
    if (arg == "-o") {
      if (i + 1 >= args.size()) return Usage("-o needs a value");
      if (absl::Status s = AddFuseOptions(args[++i], &options); !s.ok()) return s;
      continue;
    }
    if (absl::StartsWith(arg, "-o")) {  // -oOPTS
      if (absl::Status s = AddFuseOptions(arg.substr(2), &options); !s.ok()) return s;
      continue;
    }
    if (!absl::StartsWith(arg, "--")) return Usage(absl::StrCat("unknown option '", arg, "'"));
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    name = absl::StrReplaceAll(name, {{"-", "_"}});
    const ValueOption* match = nullptr;
    for (const ValueOption& option : ValueOptions()) {
      if (name == option.name) match = &option;
    }
    if (match == nullptr) return Usage(absl::StrCat("unknown option '", arg, "'"));
    const std::string flag = absl::StrCat("--", name);
    if (!value) {
      if (i + 1 >= args.size()) return Usage(absl::StrCat("option ", flag, " needs a value"));
      value = args[++i];
    }
    if (absl::Status s = match->set(flag, *value, &options); !s.ok()) return s;
  }
  if (options.mountpoint.empty()) return Usage("missing mount point");
  return options;
}

std::string FuseUsage() {
  FuseOptions d;  // defaults
  return absl::StrCat(
      "Usage: dfs-fuse [OPTIONS] MOUNTPOINT\n"
      "Mounts a dfs cluster at MOUNTPOINT. Unmount with `fusermount3 -u MOUNTPOINT`.\n"
      "\n"
      "Cluster (found like `dfs` does: --masters, then $DFS_MASTERS, then the file named by\n"
      "$DFS_CONFIG, then ~/.config/dfs/client.conf):\n"
      "  --masters HOST:PORT[,...]   the masters of the cluster\n"
      "  --timeout_ms MS             deadline of one operation; past it a system call fails\n"
      "                              with ETIMEDOUT or EIO (default: 30000, or the config file's\n"
      "                              op_timeout_ms)\n"
      "  --chunk_size_bytes N        largest chunk written; also the size at which a file's\n"
      "                              write buffer is committed (default: 67108864 or config)\n"
      "  --secret_file PATH          the credential to call the cluster with (client.key from\n"
      "                              `dfsadmin init`; default: $DFS_SECRET_FILE, or the config\n"
      "                              file's secret_file)\n"
      "  --tls_ca PATH               reach the cluster over TLS, trusting this CA certificate\n"
      "                              (default: $DFS_TLS_CA, or the config file's tls_ca)\n"
      "\n"
      "Caching:\n"
      "  --attr_timeout_s S          how long the kernel trusts attributes (default ",
      d.attr_timeout_s,
      ")\n"
      "  --entry_timeout_s S         how long the kernel trusts names (default ",
      d.entry_timeout_s,
      ")\n"
      "  --negative_timeout_s S      how long the kernel remembers missing names (default ",
      d.negative_timeout_s,
      ")\n"
      "  --meta_cache_grace_ms MS    names and attributes kept by dfs-fuse, updated by the\n"
      "                              master's change feed, answer lookups while the feed was\n"
      "                              confirmed less than MS ago (default ",
      d.meta_cache_grace_ms,
      "; at most the attribute and entry timeouts; 0 turns it off)\n"
      "  --write_behind 0|1          answer mkdirs, unlinks, rmdirs and renames whose outcome\n"
      "                              dfs-fuse knows at once and commit them in batches after;\n"
      "                              durable at fsync/fsyncdir (default ",
      d.write_behind ? 1 : 0,
      ")\n"
      "  --kernel_readahead_kb N     the kernel's readahead for this mount, set when running as\n"
      "                              root; 0 keeps the kernel default (default ",
      d.kernel_readahead_kb,
      ")\n"
      "  --readahead_bytes N         how far ahead of a sequential reader dfs-fuse fetches\n"
      "                              (default ",
      d.readahead_bytes,
      "; at most the attribute and entry timeouts; 0 turns it off)\n"
      "  --prefetch_threads N        threads fetching readahead blocks (default ",
      d.prefetch_threads,
      ")\n"
      "  --threads N                 most threads serving kernel requests (default ",
      d.max_threads,
      ")\n"
      "\n"
      "Process:\n"
      "  -f, --foreground            stay in the foreground (logs go to stderr unless\n"
      "                              --log_file is given)\n"
      "  -d, --debug                 print every FUSE request (libfuse debug); implies -f\n"
      "  -s, --single_thread         serve one request at a time\n"
      "  --log_file PATH             log here (default in the background:\n"
      "                              /tmp/dfs-fuse-<pid>.log, printed at start)\n"
      "  --log_level LEVEL           debug, info, warning or error (default ",
      d.log_level,
      ")\n"
      "  --http_listen HOST:PORT     HTTP server with Prometheus metrics at /metrics (FUSE\n"
      "                              operation latencies); port 0 picks a free port; empty\n"
      "                              turns it off (default ",
      d.http_listen,
      ")\n"
      "  --http_port_file PATH       write the bound HTTP host:port here once serving\n"
      "  -o OPT[,OPT...]             FUSE mount options, e.g. ro, fsname=NAME (see\n"
      "                              `man mount.fuse3`); default_permissions is on (the kernel\n"
      "                              checks mode bits; the master checks too) unless\n"
      "                              -o no_default_permissions; allow_other is on when run as\n"
      "                              root (other users may use the mount) unless\n"
      "                              -o no_allow_other\n"
      "  -h, --help                  show this help\n"
      "  -V, --version               show the version\n"
      "\n"
      "Long options also take the form --name=VALUE, with '-' or '_' in the name.\n"
      "Exit status: 0 after a clean unmount, 1 on a runtime error, 2 on a usage error.\n");
}

}  // namespace dfs::fuse
