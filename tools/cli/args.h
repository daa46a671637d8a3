// Command-line parsing for `dfs`, by hand: absl flags cannot express `ls -l`, `rm -r` or
// `put - /x`. Pure functions, thread-compatible.
//
//   dfs [GLOBAL OPTIONS] COMMAND [COMMAND OPTIONS] OPERANDS...
//
// Global options come before the command: --masters LIST, --timeout SECONDS, --chunk-size BYTES,
// --secret_file PATH, --tls_ca PATH, -v/--verbose, -h/--help (each value option also as
// --name=value; '-' and '_' alike in the last two). Command options are single
// letters, combinable ("-rf") and allowed anywhere among the operands; "--" ends options; "-"
// alone is an operand (stdin/stdout).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace dfs::cli {

struct GlobalOptions {
  std::optional<std::string> masters;
  std::optional<int64_t> timeout_ms;
  std::optional<uint64_t> chunk_size_bytes;
  std::optional<std::string> secret_file;
  std::optional<std::string> tls_ca;
  bool verbose = false;
};

struct Invocation {
  GlobalOptions global;
  // The command ("put", "ls", ...); "help" also for -h/--help, global or after a command.
  std::string command;
  std::set<char> flags;               // command options given, e.g. {'l'}
  std::set<std::string> long_flags;   // long command options given, e.g. {"skip-trash"}
  std::vector<std::string> operands;  // in order

  bool flag(char c) const { return flags.count(c) > 0; }
  bool flag(const std::string& name) const { return long_flags.count(name) > 0; }
};

// Parses argv[1..]. A usage error is InvalidArgument with a one-line message (without "dfs: ").
// "help", "-h", "--help" (global or after a command) yield command "help"; `dfs help CMD` and
// `dfs CMD --help` have operand CMD.
absl::StatusOr<Invocation> ParseArgs(const std::vector<std::string>& args);

// The full usage text (for `dfs help`), or one command's synopsis and description.
std::string UsageText();
std::string CommandUsage(const std::string& command);
bool IsCommand(const std::string& name);

}  // namespace dfs::cli
