#include "tests/testutil/cluster.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/auth.h"
#include "common/file_util.h"
#include "common/rpc.h"
#include "common/rpc_security.h"
#include "common/status.h"

namespace dfs::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Tail(const std::string& text, size_t bytes) {
  return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

}  // namespace

ClusterOptions WithFastMaintenance(ClusterOptions options) {
  options.extra_master_flags.insert(
      options.extra_master_flags.end(),
      {"--maintenance_scan_interval_ms=500", "--chunk_report_interval_ms=1500",
       "--replication_max_concurrent=16", "--replication_bytes_per_sec=0", "--gc_grace_ms=1500",
       "--orphan_grace_ms=3000", "--gc_interval_ms=500", "--trash_interval_ms=500",
       "--balancer_interval_ms=0"});
  return options;
}

TestCluster::TestCluster(ClusterOptions options) : options_(std::move(options)) {
  for (int i = 0; i < options_.datanodes; ++i) datanodes_.push_back(std::make_unique<Process>());
  for (int i = 0; i < options_.masters; ++i) {
    masters_.push_back(std::make_unique<Process>());
    const std::string& listen = MasterSite(i).listen;
    master_addresses_.push_back(listen.empty() ? *ResolveListenAddress("127.0.0.1:0") : listen);
  }
  master_list_ = absl::StrJoin(master_addresses_, ",");
  // Before the first channel: channels keep the settings they were made with.
  security_status_ = SetUpSecurity();
  for (const std::string& address : master_addresses_) {
    admins_.push_back(AdminService::NewStub(GetChannel(address)));
  }
}

absl::Status TestCluster::SetUpSecurity() {
  RpcSecurityOptions in_process;
  std::string conf = absl::StrCat("masters=", master_list_, "\n");
  if (options_.secure) {
    DFS_RETURN_IF_ERROR(InitClusterCredentials(dir()));
    in_process.secret_file = secret_file();
    absl::StrAppend(&conf, "secret_file=", admin_key_file(), "\n");
  }
  if (options_.tls) {
    CommandResult certs =
        RunCommand({std::string(DFS_SOURCE_DIR) + "/tools/tls-certs", dir() + "/tls"}, 60000);
    if (certs.exit_code != 0) return absl::InternalError("tools/tls-certs failed: " + certs.err);
    in_process.tls_ca = tls_ca_file();
    absl::StrAppend(&conf, "tls_ca=", tls_ca_file(), "\n");
  }
  const std::string conf_path = dir() + "/client.conf";
  DFS_RETURN_IF_ERROR(WriteFileAtomic(conf_path, conf));
  // Children find the cluster's credential here, never in the user's own settings.
  ::setenv("DFS_CONFIG", conf_path.c_str(), 1);
  ::unsetenv("DFS_SECRET_FILE");
  ::unsetenv("DFS_TLS_CA");
  return ConfigureRpcSecurity(in_process);
}

std::string TestCluster::secret_file() const {
  return options_.secure ? absl::StrCat(dir(), "/", kClusterSecretFile) : "";
}

std::string TestCluster::admin_key_file() const {
  return options_.secure ? absl::StrCat(dir(), "/", kAdminKeyFile) : "";
}

std::string TestCluster::client_key_file() const {
  return options_.secure ? absl::StrCat(dir(), "/", kClientKeyFile) : "";
}

std::string TestCluster::tls_ca_file() const { return options_.tls ? dir() + "/tls/ca.crt" : ""; }

std::vector<std::string> TestCluster::ClientSecurityFlags() const {
  std::vector<std::string> flags;
  if (options_.secure) flags.push_back("--secret_file=" + client_key_file());
  if (options_.tls) flags.push_back("--tls_ca=" + tls_ca_file());
  return flags;
}

std::vector<std::string> TestCluster::ServerSecurityFlags() const {
  std::vector<std::string> flags;
  if (options_.secure) flags.push_back("--secret_file=" + secret_file());
  if (options_.tls) {
    flags.insert(flags.end(), {"--tls_cert=" + dir() + "/tls/node.crt",
                               "--tls_key=" + dir() + "/tls/node.key",
                               "--tls_ca=" + tls_ca_file()});
  }
  return flags;
}

TestCluster::~TestCluster() {
  for (auto& dn : datanodes_) dn->Kill();
  for (auto& master : masters_) master->Kill();
}

NodeSite TestCluster::MasterSite(int i) const {
  return i < static_cast<int>(options_.master_sites.size()) ? options_.master_sites[i] : NodeSite{};
}

NodeSite TestCluster::DatanodeSite(int i) const {
  return i < static_cast<int>(options_.datanode_sites.size()) ? options_.datanode_sites[i]
                                                              : NodeSite{};
}

std::string TestCluster::datanode_dir(int i) const {
  std::string site_dir = DatanodeSite(i).data_dir;
  return site_dir.empty() ? absl::StrCat(dir(), "/dn", i) : site_dir;
}

std::string TestCluster::master_dir(int i) const {
  std::string site_dir = MasterSite(i).data_dir;
  return site_dir.empty() ? absl::StrCat(dir(), "/master", i) : site_dir;
}

std::string TestCluster::HttpPortFile(const std::string& name, int i) const {
  return absl::StrCat(dir(), "/", name, i, ".http");
}

std::string TestCluster::master_http_address(int i) const {
  return std::string(absl::StripAsciiWhitespace(ReadAll(HttpPortFile("master", i))));
}

std::string TestCluster::datanode_http_address(int i) const {
  return std::string(absl::StripAsciiWhitespace(ReadAll(HttpPortFile("dn", i))));
}

std::string TestCluster::datanode_id(int i) const {
  return std::string(absl::StripAsciiWhitespace(ReadAll(datanode_dir(i) + "/DATANODE_ID")));
}

int TestCluster::FindDatanodeById(const std::string& id) const {
  for (int i = 0; i < options_.datanodes; ++i) {
    if (datanode_id(i) == id) return i;
  }
  return -1;
}

absl::Status TestCluster::WaitForPortFile(const std::string& path, Process& process,
                                          std::string* address) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string text = ReadAll(path);
    if (!text.empty()) {
      *address = std::string(absl::StripAsciiWhitespace(text));
      return absl::OkStatus();
    }
    if (auto exited = process.Wait(0); exited.ok()) {
      return absl::InternalError(absl::StrCat("process exited with ", *exited, " before serving"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError("no port file " + path);
}

absl::Status TestCluster::StartMasterAt(int i, const std::vector<std::string>& extra_flags) {
  std::string port_file = absl::StrCat(dir(), "/master", i, ".port");
  ::unlink(port_file.c_str());
  std::vector<std::string> argv = MasterSite(i).exec_prefix;
  argv.insert(argv.end(), {BinDir() + "/dfs-master", "--data_dir=" + master_dir(i),
                           "--listen=" + master_addresses_[i], "--port_file=" + port_file,
                           "--http_listen=127.0.0.1:0",
                           "--http_port_file=" + HttpPortFile("master", i),
                           "--enable_test_hooks",
                           absl::StrCat("--datanode_dead_ms=", options_.datanode_dead_ms)});
  for (const auto& flag : ServerSecurityFlags()) argv.push_back(flag);
  for (const auto& flag : options_.extra_master_flags) argv.push_back(flag);
  for (const auto& flag : extra_flags) argv.push_back(flag);
  bool joining = std::find(extra_flags.begin(), extra_flags.end(), "--join") != extra_flags.end();
  if (!joining) argv.push_back("--peers=" + master_list_);
  if (absl::Status s = masters_[i]->Start(argv, absl::StrCat(dir(), "/master", i, ".log")); !s.ok()) {
    return s;
  }
  std::string address;
  if (absl::Status s = WaitForPortFile(port_file, *masters_[i], &address); !s.ok()) {
    return absl::InternalError(absl::StrCat(s.message(), "\n", MasterLog()));
  }
  return absl::OkStatus();
}

absl::Status TestCluster::StartMaster() {
  for (int i = 0; i < static_cast<int>(masters_.size()); ++i) {
    if (masters_[i]->running()) continue;
    if (absl::Status s = StartMasterAt(i); !s.ok()) return s;
  }
  return WaitForLeader().status();
}

void TestCluster::StopMaster(int signal) {
  for (auto& master : masters_) master->Signal(signal);
}

int TestCluster::StopMasterAt(int i, int signal) { return masters_[i]->Signal(signal); }

int TestCluster::FindLeader() {
  for (size_t i = 0; i < masters_.size(); ++i) {
    if (!masters_[i]->running()) continue;
    grpc::ClientContext context;
    SetTimeout(&context, 1000);
    RaftStatusResponse status;
    if (admins_[i]->RaftStatus(&context, Empty(), &status).ok() && status.role() == "leader") {
      return static_cast<int>(i);
    }
  }
  return -1;
}

absl::StatusOr<int> TestCluster::WaitForLeader(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int leader = FindLeader();
    if (leader >= 0) return leader;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError("no leader elected");
}

absl::StatusOr<int> TestCluster::AddJoiningMaster() {
  int i = static_cast<int>(masters_.size());
  masters_.push_back(std::make_unique<Process>());
  master_addresses_.push_back(*ResolveListenAddress("127.0.0.1:0"));
  admins_.push_back(AdminService::NewStub(GetChannel(master_addresses_.back())));
  if (absl::Status s = StartMasterAt(i, {"--join"}); !s.ok()) return s;
  return i;
}

AdminService::Stub* TestCluster::admin() {
  int leader = FindLeader();
  return admins_[leader < 0 ? 0 : leader].get();
}

AdminService::Stub* TestCluster::admin_at(int i) { return admins_[i].get(); }

MasterService::Stub* TestCluster::master() {
  int leader = FindLeader();
  master_stub_ = MasterService::NewStub(GetChannel(master_addresses_[leader < 0 ? 0 : leader]));
  return master_stub_.get();
}

absl::Status TestCluster::StartDatanode(int i) {
  std::string port_file = absl::StrCat(dir(), "/dn", i, ".port");
  ::unlink(port_file.c_str());
  const NodeSite site = DatanodeSite(i);
  std::vector<std::string> argv = site.exec_prefix;
  argv.insert(argv.end(),
              {BinDir() + "/dfs-datanode", "--data_dir=" + datanode_dir(i),
               "--listen=" + (site.listen.empty() ? std::string("127.0.0.1:0") : site.listen),
               "--masters=" + master_list_, "--rack=" + options_.racks[i % options_.racks.size()],
               absl::StrCat("--heartbeat_interval_ms=", options_.heartbeat_interval_ms),
               "--port_file=" + port_file, "--http_listen=127.0.0.1:0",
               "--http_port_file=" + HttpPortFile("dn", i)});
  for (const auto& flag : ServerSecurityFlags()) argv.push_back(flag);
  for (const auto& flag : options_.extra_datanode_flags) argv.push_back(flag);
  if (absl::Status s = datanodes_[i]->Start(argv, absl::StrCat(dir(), "/dn", i, ".log")); !s.ok()) {
    return s;
  }
  std::string address;
  return WaitForPortFile(port_file, *datanodes_[i], &address);
}

void TestCluster::StopDatanode(int i, int signal) { datanodes_[i]->Signal(signal); }

absl::Status TestCluster::Start() {
  if (!security_status_.ok()) return security_status_;
  if (absl::Status s = StartMaster(); !s.ok()) return s;
  for (int i = 0; i < options_.datanodes; ++i) {
    if (absl::Status s = StartDatanode(i); !s.ok()) return s;
  }
  return WaitForLiveDatanodes(options_.datanodes);
}

absl::Status TestCluster::WaitForLiveDatanodes(int live, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int seen = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    grpc::ClientContext context;
    SetTimeout(&context, 2000);
    ListDatanodesResponse response;
    if (admin()->ListDatanodes(&context, Empty(), &response).ok()) {
      seen = 0;
      for (const auto& dn : response.datanodes()) seen += dn.live() ? 1 : 0;
      if (seen == live) return absl::OkStatus();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat("wanted ", live, " live datanodes, saw ", seen));
}

CommandResult TestCluster::Dfs(const std::vector<std::string>& args, int timeout_ms,
                               const std::string& stdin_path) {
  std::vector<std::string> argv = {BinDir() + "/dfs", "--masters=" + master_list_};
  for (const auto& flag : ClientSecurityFlags()) argv.push_back(flag);
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, timeout_ms, stdin_path);
}

std::string TestCluster::MasterLog() const { return Tail(ReadAll(dir() + "/master0.log"), 4000); }

}  // namespace dfs::testing
