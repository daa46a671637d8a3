#include "client/config.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "common/rpc_security.h"

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
  // Paths in a config file are relative to it, not to wherever the client runs.
  const std::string dir = path.substr(0, path.rfind('/') + 1);
  for (std::string* file : {&config->secret_file, &config->tls_ca}) {
    if (!file->empty() && (*file)[0] != '/') *file = dir + *file;
  }
  return std::optional<ClientConfig>(*std::move(config));
}

// The config file that supplies settings other than the masters: DFS_CONFIG's, else the default
// one; none if it cannot be read (the masters' discovery reports such errors).
std::optional<ClientConfig> SettingsFile(const MasterSources& sources) {
  std::string path;
  if (Set(sources.env_config)) {
    path = *sources.env_config;
  } else if (Set(sources.home)) {
    path = absl::StrCat(*sources.home, "/.config/dfs/client.conf");
  } else {
    return std::nullopt;
  }
  absl::StatusOr<std::optional<ClientConfig>> config = LoadConfigFile(path, /*must_exist=*/false);
  if (!config.ok()) return std::nullopt;
  return *std::move(config);
}

// First set of: flag, environment, config file.
std::string FirstSet(const std::optional<std::string>& flag, const std::optional<std::string>& env,
                     const std::string& file) {
  if (Set(flag)) return *flag;
  if (Set(env)) return *env;
  return file;
}

}  // namespace

MasterSources MasterSourcesFromEnvironment(std::optional<std::string> flag) {
  MasterSources sources;
  sources.flag = std::move(flag);
  sources.env_masters = Getenv("DFS_MASTERS");
  sources.env_config = Getenv("DFS_CONFIG");
  sources.home = Getenv("HOME");
  sources.env_secret_file = Getenv("DFS_SECRET_FILE");
  sources.env_tls_ca = Getenv("DFS_TLS_CA");
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
    } else if (key == "secret_file") {
      if (value.empty()) return bad_value();
      config.secret_file = std::string(value);
    } else if (key == "tls_ca") {
      if (value.empty()) return bad_value();
      config.tls_ca = std::string(value);
    }
  }
  return config;
}

namespace {

absl::StatusOr<DiscoveredConfig> DiscoverMasters(const MasterSources& sources) {
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

}  // namespace

absl::StatusOr<DiscoveredConfig> DiscoverConfig(const MasterSources& sources) {
  absl::StatusOr<DiscoveredConfig> result = DiscoverMasters(sources);
  if (!result.ok()) return result;
  ClientConfig& config = result->config;
  if (result->source == "--masters" || result->source == "DFS_MASTERS") {
    // No config file was read; one may still hold the credential and the CA.
    if (std::optional<ClientConfig> file = SettingsFile(sources)) {
      config.secret_file = file->secret_file;
      config.tls_ca = file->tls_ca;
    }
  }
  config.secret_file =
      FirstSet(sources.secret_file_flag, sources.env_secret_file, config.secret_file);
  config.tls_ca = FirstSet(sources.tls_ca_flag, sources.env_tls_ca, config.tls_ca);
  return result;
}

void ApplyConfig(const ClientConfig& config, ClientOptions* options) {
  if (!config.masters.empty()) options->masters = config.masters;
  if (config.chunk_size_bytes) options->chunk_size_bytes = *config.chunk_size_bytes;
  if (config.rpc_timeout_ms) options->rpc_timeout_ms = *config.rpc_timeout_ms;
  if (config.op_timeout_ms) options->op_timeout_ms = *config.op_timeout_ms;
}

absl::Status ConfigureClientSecurity(const ClientConfig& config) {
  RpcSecurityOptions security;
  security.secret_file = config.secret_file;
  security.tls_ca = config.tls_ca;
  return ConfigureRpcSecurity(security);
}

}  // namespace dfs
