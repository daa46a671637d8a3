// dfs: the command-line client. Parses the command line, finds the cluster, and hands the
// command to tools/cli/commands.h.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "client/config.h"
#include "common/logging.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"

namespace {

constexpr int kExitUsage = 2;

void PrintErr(const std::string& text) { std::fputs(text.c_str(), stderr); }

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<dfs::cli::Invocation> invocation = dfs::cli::ParseArgs(args);
  if (!invocation.ok()) {
    PrintErr(absl::StrCat("dfs: ", invocation.status().message(),
                          "\nTry 'dfs help' for usage.\n"));
    return kExitUsage;
  }
  if (invocation->command == "help") {
    std::string text = invocation->operands.empty()
                           ? dfs::cli::UsageText()
                           : dfs::cli::CommandUsage(invocation->operands[0]);
    std::fputs(text.c_str(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  }

  dfs::SetLogComponent("dfs");
  // The library logs failovers and retries; a user sees them with -v, and otherwise only the
  // one-line error of a failed command.
  dfs::SetMinLogLevel(invocation->global.verbose ? dfs::LogLevel::kDebug : dfs::LogLevel::kError);

  dfs::MasterSources sources = dfs::MasterSourcesFromEnvironment(invocation->global.masters);
  sources.secret_file_flag = invocation->global.secret_file;
  sources.tls_ca_flag = invocation->global.tls_ca;
  absl::StatusOr<dfs::DiscoveredConfig> config = dfs::DiscoverConfig(sources);
  if (absl::IsNotFound(config.status())) {
    PrintErr(
        "dfs: no cluster configured: start a local one with `tools/dfs-cluster up`, or pass\n"
        "     --masters HOST:PORT[,...] (or set DFS_MASTERS, or write masters=HOST:PORT,... to\n"
        "     ~/.config/dfs/client.conf)\n");
    return kExitUsage;
  }
  if (!config.ok()) {
    PrintErr(absl::StrCat("dfs: ", config.status().message(), "\n"));
    return kExitUsage;
  }
  if (absl::Status s = dfs::ConfigureClientSecurity(config->config); !s.ok()) {
    PrintErr(absl::StrCat("dfs: ", s.message(), "\n"));
    return kExitUsage;
  }
  dfs::ClientOptions options;
  dfs::ApplyConfig(config->config, &options);
  if (invocation->global.timeout_ms) {
    options.op_timeout_ms = *invocation->global.timeout_ms;
    options.rpc_timeout_ms = std::min(options.rpc_timeout_ms, options.op_timeout_ms);
  }
  if (invocation->global.chunk_size_bytes) {
    options.chunk_size_bytes = *invocation->global.chunk_size_bytes;
  }
  // options.caller is this process's uid, gid and groups: the master checks them.
  absl::StatusOr<std::unique_ptr<dfs::Client>> client = dfs::Client::New(options);
  if (!client.ok()) {
    PrintErr(absl::StrCat("dfs: ", client.status().message(), "\n"));
    return kExitUsage;
  }

  // Writes to a closed stdout come back as EPIPE and are handled where they happen.
  ::signal(SIGPIPE, SIG_IGN);
  dfs::cli::InstallSignalCleanup();
  dfs::cli::CommandEnv env;
  env.out_fd = STDOUT_FILENO;
  env.err_fd = STDERR_FILENO;
  env.stderr_is_tty = ::isatty(STDERR_FILENO) == 1;
  env.use_trash = true;
  env.umask = ::umask(0);
  ::umask(env.umask);
  return dfs::cli::RunCommand(*invocation, **client, env);
}

}  // namespace

int main(int argc, char** argv) {
  // Quiet gRPC's own logging unless the user asked for it; our errors say what went wrong.
  ::setenv("GRPC_VERBOSITY", "NONE", /*overwrite=*/0);
  return Main(argc, argv);
}
