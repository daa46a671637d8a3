// dfs-datanode: parses flags into DatanodeOptions, runs a DatanodeServer until SIGTERM or SIGINT.
//
// Exit codes: 0 after a clean shutdown, 1 if the datanode cannot start, 2 for bad flags.

#include <signal.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "common/security_flags.h"
#include "datanode/datanode_options.h"
#include "datanode/datanode_server.h"

ABSL_FLAG(std::string, data_dir, "",
          "Directory for chunk files, the node id and temp files (required; created if missing).");
ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "host:port to serve the DatanodeService on; port 0 picks a free port (see --port_file).");
ABSL_FLAG(std::vector<std::string>, masters, {},
          "Comma-separated host:port list of every master replica; heartbeats go to all of them. "
          "Empty: no heartbeats.");
ABSL_FLAG(std::string, rack, "default-rack",
          "Failure-domain label; the master places a chunk's replicas on distinct racks.");
ABSL_FLAG(int64_t, heartbeat_interval_ms, 1000, "Milliseconds between heartbeats to the masters.");
ABSL_FLAG(uint64_t, capacity_bytes, 0,
          "Capacity to report to the masters; 0 uses the data directory's file system size.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the bound host:port is written to this file (atomically) once serving.");
ABSL_FLAG(std::string, http_listen, "127.0.0.1:0",
          "host:port of the HTTP server with Prometheus metrics at /metrics; port 0 picks a free "
          "port (see --http_port_file); empty turns HTTP off.");
ABSL_FLAG(std::string, http_port_file, "",
          "If set, the bound HTTP host:port is written to this file once serving.");
ABSL_FLAG(uint64_t, scrub_bytes_per_sec, 8ull << 20,
          "Rate at which the scrubber re-reads and verifies stored chunks; 0 turns it off.");
ABSL_FLAG(int64_t, scrub_interval_ms, 6ll * 60 * 60 * 1000,
          "Pause between the scrubber's passes over every chunk.");
ABSL_FLAG(std::string, log_level, "info", "Minimum log level: debug, info, warning or error.");

namespace {

// absl's flag parser reports a bad flag on stderr and calls std::exit(1), and exits with 1 after
// --help too. Our contract is exit code 2 for usage errors and 0 for help, so while parsing an
// atexit hook rewrites the code.
std::atomic<bool> parsing_flags{false};
std::atomic<bool> help_requested{false};

void ParseExitHook() {
  if (!parsing_flags.load()) return;
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(help_requested.load() ? 0 : 2);
}

bool IsHelpFlag(const char* arg) {
  absl::string_view a(arg);
  while (absl::ConsumePrefix(&a, "-")) {
  }
  return absl::StartsWith(a, "help") || a == "version" || a == "only_check_args";
}

int UsageError(const std::string& message) {
  std::fprintf(stderr, "dfs-datanode: %s (see --help)\n", message.c_str());
  return 2;
}

bool ParseLogLevel(std::string name, dfs::LogLevel* level) {
  absl::AsciiStrToLower(&name);
  if (name == "debug") {
    *level = dfs::LogLevel::kDebug;
  } else if (name == "info") {
    *level = dfs::LogLevel::kInfo;
  } else if (name == "warning" || name == "warn") {
    *level = dfs::LogLevel::kWarning;
  } else if (name == "error") {
    *level = dfs::LogLevel::kError;
  } else {
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "stores chunks for a dfs cluster.\n"
      "usage: dfs-datanode --data_dir=DIR [--listen=HOST:PORT] [--masters=H:P,H:P,H:P] "
      "[--rack=NAME] [flags]");
  // By default --help lists only flags defined in a file named after the binary; ours live in
  // main.cc.
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "datanode/main.cc") ||
           absl::EndsWith(path, "common/security_flags.cc");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  for (int i = 1; i < argc; ++i) {
    if (IsHelpFlag(argv[i])) help_requested = true;
  }
  std::atexit(ParseExitHook);
  parsing_flags = true;
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  parsing_flags = false;
  if (args.size() > 1) return UsageError(std::string("unexpected argument \"") + args[1] + "\"");

  dfs::SetLogComponent("datanode");
  dfs::LogLevel level;
  if (!ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    return UsageError("--log_level must be debug, info, warning or error");
  }
  dfs::SetMinLogLevel(level);

  dfs::DatanodeOptions options;
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.http_listen_address = absl::GetFlag(FLAGS_http_listen);
  options.http_port_file = absl::GetFlag(FLAGS_http_port_file);
  for (const std::string& master : absl::GetFlag(FLAGS_masters)) {
    // Tolerate "a, b" and a trailing comma.
    std::string trimmed(absl::StripAsciiWhitespace(master));
    if (!trimmed.empty()) options.masters.push_back(trimmed);
  }
  options.rack = absl::GetFlag(FLAGS_rack);
  options.heartbeat_interval_ms = absl::GetFlag(FLAGS_heartbeat_interval_ms);
  options.capacity_bytes = absl::GetFlag(FLAGS_capacity_bytes);
  options.scrub_bytes_per_sec = absl::GetFlag(FLAGS_scrub_bytes_per_sec);
  options.scrub_interval_ms = absl::GetFlag(FLAGS_scrub_interval_ms);
  if (absl::Status status = options.Validate(); !status.ok()) {
    return UsageError(std::string(status.message()));
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (absl::Status status = dfs::ConfigureRpcSecurity(dfs::RpcSecurityOptionsFromFlags());
      !status.ok()) {
    return UsageError(std::string(status.message()));
  }

  // Block the shutdown signals before any thread exists, so every thread inherits the mask and
  // only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  dfs::DatanodeServer server(options);
  if (absl::Status status = server.Start(); !status.ok()) {
    DFS_LOG(ERROR) << "cannot start: " << status;
    return 1;
  }
  if (!port_file.empty()) {
    if (absl::Status status = dfs::WriteFileAtomic(port_file, server.address()); !status.ok()) {
      DFS_LOG(ERROR) << "cannot write --port_file: " << status;
      server.Shutdown();
      return 1;
    }
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  DFS_LOG(INFO) << "signal " << signal_number << ": shutting down";
  server.Shutdown();
  return 0;
}
