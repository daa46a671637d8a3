#include "client/config.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"

namespace dfs {
namespace {

std::optional<std::string> Getenv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

bool Set(const std::optional<std::string>& value) { return value.has_value() && !value->empty(); }

// Reads and parses a config file; `must_exist` distinguishes an explicit DFS_CONFIG from the
// default location.
absl::StatusOr<std::optional<ClientConfig>> LoadConfigFile(const std::string& path,
                                                           bool must_exist) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    if (!must_exist && absl::IsNotFound(text.status())) return std::optional<ClientConfig>();
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read config file ", path, ": ", text.status().message()));
  }
  absl::StatusOr<ClientConfig> config = ParseClientConfig(*text);
  if (!config.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", config.status().message()));
  }
  return std::optional<ClientConfig>(*std::move(config));
}

}  // namespace

MasterSources MasterSourcesFromEnvironment(std::optional<std::string> flag) {
  MasterSources sources;
  sources.flag = std::move(flag);
  sources.env_masters = Getenv("DFS_MASTERS");
  sources.env_config = Getenv("DFS_CONFIG");
  sources.home = Getenv("HOME");
  return sources;
}

absl::StatusOr<std::vector<std::string>> ParseMasterList(absl::string_view list) {
  std::vector<std::string> masters;
  for (absl::string_view part : absl::StrSplit(list, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (part.empty()) continue;
    std::string address(part);
    absl::Status status = ValidateHostPort(address);
    if (!status.ok()) return status;
    masters.push_back(std::move(address));
  }
  if (masters.empty()) return absl::InvalidArgumentError("empty master list");
  return masters;
}

absl::StatusOr<ClientConfig> ParseClientConfig(absl::string_view text) {
  ClientConfig config;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": expected key=value"));
    }
    absl::string_view key = absl::StripAsciiWhitespace(line.substr(0, eq));
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(eq + 1));
    auto bad_value = [&]() {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": bad value for ", key));
    };
    if (key == "masters") {
      absl::StatusOr<std::vector<std::string>> masters = ParseMasterList(value);
      if (!masters.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", line_number, ": ", masters.status().message()));
      }
      config.masters = *std::move(masters);
    } else if (key == "chunk_size_bytes") {
      uint64_t v;
      if (!absl::SimpleAtoi(value, &v)) return bad_value();
      config.chunk_size_bytes = v;
    } else if (key == "rpc_timeout_ms") {
      int64_t v;
      if (!absl::SimpleAtoi(value, &v) || v <= 0) return bad_value();
      config.rpc_timeout_ms = v;
    } else if (key == "op_timeout_ms") {
      int64_t v;
      if (!absl::SimpleAtoi(value, &v) || v <= 0) return bad_value();
      config.op_timeout_ms = v;
    }
  }
  return config;
}

absl::StatusOr<DiscoveredConfig> DiscoverConfig(const MasterSources& sources) {
  DiscoveredConfig result;
  if (Set(sources.flag)) {
    absl::StatusOr<std::vector<std::string>> masters = ParseMasterList(*sources.flag);
    if (!masters.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--masters: ", masters.status().message()));
    }
    result.config.masters = *std::move(masters);
    result.source = "--masters";
    return result;
  }
  if (Set(sources.env_masters)) {
    absl::StatusOr<std::vector<std::string>> masters = ParseMasterList(*sources.env_masters);
    if (!masters.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("DFS_MASTERS: ", masters.status().message()));
    }
    result.config.masters = *std::move(masters);
    result.source = "DFS_MASTERS";
    return result;
  }
  if (Set(sources.env_config)) {
    absl::StatusOr<std::optional<ClientConfig>> config =
        LoadConfigFile(*sources.env_config, /*must_exist=*/true);
    if (!config.ok()) return config.status();
    if ((*config)->masters.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(*sources.env_config, " (DFS_CONFIG) sets no masters"));
    }
    result.config = **std::move(config);
    result.source = *sources.env_config;
    return result;
  }
  if (Set(sources.home)) {
    std::string path = absl::StrCat(*sources.home, "/.config/dfs/client.conf");
    absl::StatusOr<std::optional<ClientConfig>> config = LoadConfigFile(path, /*must_exist=*/false);
    if (!config.ok()) return config.status();
    if (config->has_value() && !(*config)->masters.empty()) {
      result.config = **std::move(config);
      result.source = path;
      return result;
    }
  }
  return absl::NotFoundError("no cluster configured");
}

void ApplyConfig(const ClientConfig& config, ClientOptions* options) {
  if (!config.masters.empty()) options->masters = config.masters;
  if (config.chunk_size_bytes) options->chunk_size_bytes = *config.chunk_size_bytes;
  if (config.rpc_timeout_ms) options->rpc_timeout_ms = *config.rpc_timeout_ms;
  if (config.op_timeout_ms) options->op_timeout_ms = *config.op_timeout_ms;
}

}  // namespace dfs
