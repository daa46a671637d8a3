#include "tests/testutil/cluster.h"

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
#include "common/file_util.h"
#include "common/rpc.h"

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

TestCluster::TestCluster(ClusterOptions options) : options_(std::move(options)) {
  for (int i = 0; i < options_.datanodes; ++i) datanodes_.push_back(std::make_unique<Process>());
  for (int i = 0; i < options_.masters; ++i) {
    masters_.push_back(std::make_unique<Process>());
    master_addresses_.push_back(*ResolveListenAddress("127.0.0.1:0"));
    admins_.push_back(AdminService::NewStub(GetChannel(master_addresses_.back())));
  }
  master_list_ = absl::StrJoin(master_addresses_, ",");
}

TestCluster::~TestCluster() {
  for (auto& dn : datanodes_) dn->Kill();
  for (auto& master : masters_) master->Kill();
}

std::string TestCluster::datanode_dir(int i) const { return absl::StrCat(dir(), "/dn", i); }

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
  std::vector<std::string> argv = {BinDir() + "/dfs-master",
                                   absl::StrCat("--data_dir=", dir(), "/master", i),
                                   "--listen=" + master_addresses_[i],
                                   "--port_file=" + port_file,
                                   "--enable_test_hooks",
                                   absl::StrCat("--datanode_dead_ms=", options_.datanode_dead_ms)};
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

void TestCluster::StopMasterAt(int i, int signal) { masters_[i]->Signal(signal); }

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
  std::vector<std::string> argv = {
      BinDir() + "/dfs-datanode",
      "--data_dir=" + datanode_dir(i),
      "--listen=127.0.0.1:0",
      "--masters=" + master_list_,
      "--rack=" + options_.racks[i % options_.racks.size()],
      absl::StrCat("--heartbeat_interval_ms=", options_.heartbeat_interval_ms),
      "--port_file=" + port_file};
  for (const auto& flag : options_.extra_datanode_flags) argv.push_back(flag);
  if (absl::Status s = datanodes_[i]->Start(argv, absl::StrCat(dir(), "/dn", i, ".log")); !s.ok()) {
    return s;
  }
  std::string address;
  return WaitForPortFile(port_file, *datanodes_[i], &address);
}

void TestCluster::StopDatanode(int i, int signal) { datanodes_[i]->Signal(signal); }

absl::Status TestCluster::Start() {
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
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, timeout_ms, stdin_path);
}

std::string TestCluster::MasterLog() const { return Tail(ReadAll(dir() + "/master0.log"), 4000); }

}  // namespace dfs::testing
