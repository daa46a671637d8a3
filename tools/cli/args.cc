#include "tools/cli/args.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace dfs::cli {
namespace {

struct CommandSpec {
  const char* name;
  const char* flags;  // accepted single-letter options
  const char* long_flag;  // an accepted --option (without the dashes), or ""
  int min_operands;
  int max_operands;  // -1: no limit
  const char* synopsis;
  const char* description;
};

constexpr CommandSpec kCommands[] = {
    {"put", "f", "", 2, 2, "put [-f] LOCAL|- REMOTE",
     "copy a local file (or stdin) into dfs; into REMOTE/basename if REMOTE is a directory;\n"
     "      -f replaces an existing file"},
    {"get", "", "", 2, 2, "get REMOTE LOCAL|-",
     "copy a file out of dfs (to stdout with -); into LOCAL/basename if LOCAL is a directory"},
    {"ls", "l", "", 0, -1, "ls [-l] [PATH...]", "list a directory (default /); -l: long format"},
    {"cat", "", "", 1, -1, "cat PATH...", "write files to stdout"},
    {"mkdir", "p", "", 1, -1, "mkdir [-p] PATH...", "make directories; -p: with parents, no error if they exist"},
    {"rm", "rRf", "skip-trash", 1, -1, "rm [-r] [-f] [--skip-trash] PATH...",
     "move files (and with -r directories) to the trash, /.Trash/<time>/, for the cluster's\n"
     "      retention period; -f: ignore missing paths; --skip-trash: delete at once"},
    {"trash", "", "", 1, -1, "trash ls | restore PATH... | purge [PATH...]",
     "ls: what is in the trash; restore: put entries (trash paths, or original paths) back\n"
     "      where they were; purge: delete the whole trash (or the given entries) for good"},
    {"mv", "", "", 2, 2, "mv SRC DST", "rename; into DST/basename if DST is a directory"},
    {"stat", "", "", 1, -1, "stat PATH...", "show every attribute (symlinks are not followed)"},
    {"du", "s", "", 0, -1, "du [-s] [PATH...]",
     "bytes used by each entry of a directory and its total; -s: the total only"},
    {"help", "", "", 0, 1, "help [COMMAND]", "show this help"},
};

const CommandSpec* FindCommand(const std::string& name) {
  for (const CommandSpec& spec : kCommands) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

absl::Status Usage(const std::string& message) { return absl::InvalidArgumentError(message); }

// Matches "--name VALUE" or "--name=VALUE" at args[*i]; advances *i past the value.
absl::StatusOr<std::optional<std::string>> OptionValue(const std::vector<std::string>& args,
                                                       size_t* i, const std::string& name) {
  const std::string& arg = args[*i];
  if (arg == name) {
    if (*i + 1 >= args.size()) return Usage(absl::StrCat("option ", name, " needs a value"));
    ++*i;
    return std::optional<std::string>(args[*i]);
  }
  if (absl::StartsWith(arg, name + "=")) {
    return std::optional<std::string>(arg.substr(name.size() + 1));
  }
  return std::optional<std::string>();
}

// Matches --NAME PATH (NAME with '_', as every dfs binary spells it, or with '-' like the other
// options here) and stores PATH in *target.
absl::StatusOr<bool> PathOption(const std::vector<std::string>& args, size_t* i,
                                const std::string& name, std::optional<std::string>* target) {
  for (const std::string& spelling : {name, absl::StrReplaceAll(name, {{"_", "-"}})}) {
    auto value = OptionValue(args, i, "--" + spelling);
    if (!value.ok()) return value.status();
    if (!value->has_value()) continue;
    if ((*value)->empty()) return Usage(absl::StrCat("--", name, " needs a path"));
    *target = **value;
    return true;
  }
  return false;
}

}  // namespace

bool IsCommand(const std::string& name) { return FindCommand(name) != nullptr; }

absl::StatusOr<Invocation> ParseArgs(const std::vector<std::string>& args) {
  Invocation invocation;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      invocation.command = "help";
      return invocation;
    }
    if (arg.size() < 2 || arg[0] != '-') break;
    auto masters = OptionValue(args, &i, "--masters");
    if (!masters.ok()) return masters.status();
    if (masters->has_value()) {
      if ((*masters)->empty()) return Usage("--masters needs a host:port list");
      invocation.global.masters = **masters;
      continue;
    }
    auto timeout = OptionValue(args, &i, "--timeout");
    if (!timeout.ok()) return timeout.status();
    if (timeout->has_value()) {
      double seconds;
      if (!absl::SimpleAtod(**timeout, &seconds) || !(seconds > 0) || seconds > 1e6) {
        return Usage(absl::StrCat("--timeout: not a positive number of seconds: '", **timeout,
                                  "'"));
      }
      invocation.global.timeout_ms = std::max<int64_t>(1, std::llround(seconds * 1000));
      continue;
    }
    auto chunk_size = OptionValue(args, &i, "--chunk-size");
    if (!chunk_size.ok()) return chunk_size.status();
    if (chunk_size->has_value()) {
      uint64_t bytes;
      if (!absl::SimpleAtoi(**chunk_size, &bytes) || bytes == 0) {
        return Usage(absl::StrCat("--chunk-size: not a positive byte count: '", **chunk_size,
                                  "'"));
      }
      invocation.global.chunk_size_bytes = bytes;
      continue;
    }
    auto secret_file = PathOption(args, &i, "secret_file", &invocation.global.secret_file);
    if (!secret_file.ok()) return secret_file.status();
    if (*secret_file) continue;
    auto tls_ca = PathOption(args, &i, "tls_ca", &invocation.global.tls_ca);
    if (!tls_ca.ok()) return tls_ca.status();
    if (*tls_ca) continue;
    if (arg == "-v" || arg == "--verbose") {
      invocation.global.verbose = true;
      continue;
    }
    return Usage(absl::StrCat("unknown option '", arg, "'"));
  }
  if (i >= args.size()) return Usage("missing command");
  invocation.command = args[i++];
  const CommandSpec* spec = FindCommand(invocation.command);
  if (spec == nullptr) return Usage(absl::StrCat("unknown command '", invocation.command, "'"));

  bool options_done = false;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      invocation.operands.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      // `dfs ls --help`: help about that command.
      std::string command = invocation.command;
      invocation = Invocation{invocation.global, "help", {}, {}};
      if (command != "help") invocation.operands.push_back(command);
      return invocation;
    }
    if (arg[1] == '-') {
      if (*spec->long_flag != '\0' && arg.substr(2) == spec->long_flag) {
        invocation.long_flags.insert(arg.substr(2));
        continue;
      }
      return Usage(absl::StrCat(invocation.command, ": unknown option '", arg, "'"));
    }
    for (size_t k = 1; k < arg.size(); ++k) {
      char c = arg[k];
      if (std::string(spec->flags).find(c) == std::string::npos) {
        return Usage(absl::StrCat(invocation.command, ": unknown option '-", std::string(1, c),
                                  "'"));
      }
      invocation.flags.insert(c);
    }
  }
  int count = static_cast<int>(invocation.operands.size());
  if (count < spec->min_operands) {
    return Usage(absl::StrCat(invocation.command, ": missing operand (usage: dfs ",
                              spec->synopsis, ")"));
  }
  if (spec->max_operands >= 0 && count > spec->max_operands) {
    return Usage(absl::StrCat(invocation.command, ": too many operands (usage: dfs ",
                              spec->synopsis, ")"));
  }
  if (invocation.command == "trash") {
    const std::string& sub = invocation.operands[0];
    if (sub != "ls" && sub != "restore" && sub != "purge") {
      return Usage(absl::StrCat("trash: unknown subcommand '", sub,
                                "' (usage: dfs trash ls | restore PATH... | purge [PATH...])"));
    }
    if ((sub == "ls" && count != 1) || (sub == "restore" && count < 2)) {
      return Usage("trash: usage: dfs trash ls | restore PATH... | purge [PATH...]");
    }
  }
  if (invocation.command == "help" && count == 1 && !IsCommand(invocation.operands[0])) {
    return Usage(absl::StrCat("help: unknown command '", invocation.operands[0], "'"));
  }
  return invocation;
}

std::string CommandUsage(const std::string& command) {
  const CommandSpec* spec = FindCommand(command);
  if (spec == nullptr) return "";
  return absl::StrCat("usage: dfs [GLOBAL OPTIONS] ", spec->synopsis, "\n  ", spec->description,
                      "\n");
}

std::string UsageText() {
  std::string text =
      "usage: dfs [GLOBAL OPTIONS] COMMAND [ARGS...]\n"
      "\n"
      "Commands:\n";
  for (const CommandSpec& spec : kCommands) {
    absl::StrAppend(&text, "  ", spec.synopsis, "\n      ", spec.description, "\n");
  }
  absl::StrAppend(
      &text,
      "\n"
      "Global options (before the command):\n"
      "  --masters HOST:PORT[,...]  the cluster's masters\n"
      "  --timeout SECONDS          give up on an unreachable cluster after this long (default 30)\n"
      "  --chunk-size BYTES         size of the chunks new files are cut into (default 64 MiB)\n"
      "  --secret_file PATH         the credential calls carry (client.key from `dfsadmin init`)\n"
      "  --tls_ca PATH              reach the cluster over TLS, trusting this CA certificate\n"
      "  -v, --verbose              log what the client does to stderr\n"
      "  -h, --help                 show this help\n"
      "\n"
      "The cluster is found from --masters, else $DFS_MASTERS, else the file named by\n"
      "$DFS_CONFIG, else ~/.config/dfs/client.conf (lines key=value: masters=HOST:PORT,...).\n"
      "The credential and CA likewise: the flag, else $DFS_SECRET_FILE / $DFS_TLS_CA, else the\n"
      "config file's secret_file= / tls_ca=.\n"
      "Start a local cluster with `tools/dfs-cluster up`.\n"
      "\n"
      "Paths are absolute (relative ones are taken from /); '..' is not allowed.\n"
      "Exit status: 0 on success, 1 if an operation failed, 2 on a usage error.\n");
  return text;
}

}  // namespace dfs::cli
