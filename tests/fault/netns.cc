#include "tests/fault/netns.h"

#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "common/status.h"

namespace dfs::fault {

using testing::BinDir;
using testing::CommandResult;
using testing::FindProgram;
using testing::RunCommand;

namespace {

constexpr char kNamePrefix[] = "dfsf";  // + pid + "-" + label
constexpr int kMasterPort = 7000;
constexpr int kDatanodePort = 7100;

int ThreadCount() {
  int n = 0;
  if (DIR* dir = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(dir)) n += e->d_name[0] != '.';
    ::closedir(dir);
  }
  return n;
}

absl::Status Check(const CommandResult& r, const std::string& what) {
  if (r.exit_code == 0) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat(what, " failed (exit ", r.exit_code, "): ", r.err, r.out));
}

absl::Status Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {FindProgram("ip")};
  argv.insert(argv.end(), args.begin(), args.end());
  return Check(RunCommand(argv, 20000), absl::StrJoin(argv, " "));
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The PID in a name made by this file ("dfsf1234-m0", "dfsf1234-disk"), or -1.
pid_t OwnerPid(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, kNamePrefix)) return -1;
  size_t dash = name.find('-');
  int pid;
  if (dash == absl::string_view::npos || !absl::SimpleAtoi(name.substr(0, dash), &pid)) return -1;
  return pid;
}

bool Alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

}  // namespace

absl::Status EnterPrivateNetwork() {
  static bool entered = false;
  if (entered) return absl::OkStatus();
  if (int threads = ThreadCount(); threads != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "EnterPrivateNetwork must run before any other thread starts; found ", threads));
  }
  if (::unshare(CLONE_NEWNET) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("unshare(CLONE_NEWNET): ", std::strerror(errno),
                     " (the fault tests need root: network namespaces, iptables, FUSE)"));
  }
  entered = true;
  return Ip({"link", "set", "lo", "up"});
}

absl::Status CheckFaultPrerequisites() {
  std::vector<std::string> missing;
  if (::geteuid() != 0) missing.push_back("root (euid 0)");
  if (::access("/dev/fuse", R_OK | W_OK) != 0) missing.push_back("/dev/fuse");
  for (const char* program : {"ip", "nsenter", "iptables", "iptables-restore", "fusermount3"}) {
    if (FindProgram(program).empty()) missing.push_back(program);
  }
  for (const char* binary : {"dfs-master", "dfs-datanode", "dfs-fuse", "dfs-lossyfs",
                             "dfs-netdelay", "dfs-fault-appender"}) {
    if (::access((BinDir() + "/" + binary).c_str(), X_OK) != 0) {
      missing.push_back(BinDir() + "/" + binary);
    }
  }
  if (!missing.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the fault tests cannot run here; missing: ", absl::StrJoin(missing, ", "),
                     " (tools/setup.sh installs iptables, iproute2 and fuse3)"));
  }
  return absl::OkStatus();
}

void RemoveStaleNamespaces() {
  if (DIR* dir = ::opendir("/run/netns")) {
    std::vector<std::string> stale;
    while (dirent* e = ::readdir(dir)) {
      pid_t pid = OwnerPid(e->d_name);
      if (pid > 0 && !Alive(pid)) stale.push_back(e->d_name);
    }
    ::closedir(dir);
    for (const std::string& name : stale) (void)Ip({"netns", "del", name});
  }
  // Mounts: a tmpfs named by a dead run, or a FUSE mount in a test's temporary directory whose
  // daemon is gone ("transport endpoint is not connected"), is detached.
  std::istringstream mounts(ReadAll("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(mounts, line)) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::vector<std::string> before = absl::StrSplit(line.substr(0, dash), ' ');
    std::vector<std::string> after = absl::StrSplit(line.substr(dash + 3), ' ');
    if (before.size() < 5 || after.size() < 2) continue;
    const std::string& mountpoint = before[4];
    bool stale = false;
    if (after[0] == "tmpfs") {
      pid_t pid = OwnerPid(after[1]);
      stale = pid > 0 && !Alive(pid);
    } else if (absl::StartsWith(after[0], "fuse") &&
               absl::StartsWith(mountpoint,
                                std::filesystem::temp_directory_path().string() + "/dfs-test-")) {
      // A dfs-lossyfs or dfs-fuse of a test that was killed: its daemon is gone.
      struct stat st;
      stale = ::stat(mountpoint.c_str(), &st) != 0 && errno == ENOTCONN;
    }
    if (stale) ::umount2(mountpoint.c_str(), MNT_DETACH);
  }
}

// ---- HostNetwork ----

absl::StatusOr<std::unique_ptr<HostNetwork>> HostNetwork::Create(const std::string& prefix) {
  std::unique_ptr<HostNetwork> network(
      new HostNetwork(prefix, absl::StrCat(kNamePrefix, ::getpid(), "-")));
  network->log_dir_ = network->logs_.path();
  DFS_RETURN_IF_ERROR(Ip({"link", "add", "dfsbr", "type", "bridge"}));
  network->bridge_ = true;
  DFS_RETURN_IF_ERROR(Ip({"addr", "add", prefix + ".254/24", "dev", "dfsbr"}));
  DFS_RETURN_IF_ERROR(Ip({"link", "set", "dfsbr", "up"}));
  return network;
}

HostNetwork::~HostNetwork() {
  for (auto& delayer : delayers_) {
    if (delayer != nullptr) delayer->Kill();
  }
  for (const Host& host : hosts_) (void)Ip({"netns", "del", host.netns});  // veths go with them
  if (bridge_) (void)Ip({"link", "del", "dfsbr"});
}

absl::StatusOr<int> HostNetwork::AddHost(const std::string& label) {
  const int i = size();
  if (i >= 250) return absl::ResourceExhaustedError("too many hosts");
  Host host{label, name_prefix_ + label, absl::StrCat(prefix_, ".", i + 1)};
  DFS_RETURN_IF_ERROR(Ip({"netns", "add", host.netns}));
  hosts_.push_back(host);
  delayers_.push_back(nullptr);
  const std::string outside = absl::StrCat("vh", i);
  const std::string inside = absl::StrCat("vp", i);
  DFS_RETURN_IF_ERROR(Ip({"link", "add", outside, "type", "veth", "peer", "name", inside}));
  DFS_RETURN_IF_ERROR(Ip({"link", "set", inside, "netns", host.netns}));
  DFS_RETURN_IF_ERROR(Ip({"link", "set", outside, "master", "dfsbr", "up"}));
  DFS_RETURN_IF_ERROR(Ip({"-n", host.netns, "link", "set", inside, "name", "eth0"}));
  DFS_RETURN_IF_ERROR(Ip({"-n", host.netns, "addr", "add", host.address + "/24", "dev", "eth0"}));
  DFS_RETURN_IF_ERROR(Ip({"-n", host.netns, "link", "set", "eth0", "up"}));
  DFS_RETURN_IF_ERROR(Ip({"-n", host.netns, "link", "set", "lo", "up"}));
  return i;
}

std::vector<std::string> HostNetwork::ExecPrefix(int i) const {
  return {FindProgram("nsenter"), "--net=/run/netns/" + hosts_[i].netns, "--"};
}

absl::Status HostNetwork::Run(int i, const std::vector<std::string>& argv, int timeout_ms) {
  std::vector<std::string> full = ExecPrefix(i);
  full.insert(full.end(), argv.begin(), argv.end());
  return Check(RunCommand(full, timeout_ms),
               absl::StrCat(hosts_[i].label, ": ", absl::StrJoin(argv, " ")));
}

absl::Status HostNetwork::AddRules(int i, const std::vector<std::string>& rules) {
  // One iptables-restore per host: a partition of many hosts takes a few processes, not dozens.
  const std::string path = absl::StrCat(log_dir_, "/rules-", hosts_[i].label);
  {
    std::ofstream out(path, std::ios::trunc);
    out << "*filter\n";
    for (const std::string& rule : rules) out << rule << "\n";
    out << "COMMIT\n";
  }
  std::vector<std::string> argv = ExecPrefix(i);
  argv.insert(argv.end(), {FindProgram("iptables-restore"), "--noflush"});
  return Check(RunCommand(argv, 20000, path),
               absl::StrCat(hosts_[i].label, ": iptables-restore ", absl::StrJoin(rules, "; ")));
}

absl::Status HostNetwork::DropFrom(int to, const std::string& from_address) {
  return AddRules(to, {absl::StrCat("-A INPUT -s ", from_address, " -j DROP")});
}

absl::Status HostNetwork::SetLoss(int i, double probability) {
  return AddRules(i,
                  {absl::StrFormat("-A INPUT -m statistic --mode random --probability %.3f -j DROP",
                                   probability)});
}

absl::Status HostNetwork::StartDelay(int i, int delay_ms, int jitter_ms, uint64_t seed) {
  if (delayers_[i] != nullptr && delayers_[i]->running()) {
    return absl::FailedPreconditionError(hosts_[i].label + " is already delayed");
  }
  // --queue-bypass: while no delayer listens (starting, stopped, crashed) packets pass.
  DFS_RETURN_IF_ERROR(AddRules(i, {"-A OUTPUT -o eth0 -j NFQUEUE --queue-num 0 --queue-bypass"}));
  std::vector<std::string> argv = ExecPrefix(i);
  argv.insert(argv.end(),
              {BinDir() + "/dfs-netdelay", "--queue=0", absl::StrCat("--delay_ms=", delay_ms),
               absl::StrCat("--jitter_ms=", jitter_ms), absl::StrCat("--seed=", seed)});
  delayers_[i] = std::make_unique<testing::Process>();
  return delayers_[i]->Start(argv, absl::StrCat(log_dir_, "/netdelay-", hosts_[i].label, ".log"));
}

absl::Status HostNetwork::Heal() {
  absl::Status result;
  for (auto& delayer : delayers_) {
    if (delayer != nullptr && delayer->running())
      delayer->Signal(SIGTERM);  // releases held packets
  }
  const std::string path = absl::StrCat(log_dir_, "/rules-empty");
  {
    std::ofstream out(path, std::ios::trunc);
    out << "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";
  }
  for (int i = 0; i < size(); ++i) {
    std::vector<std::string> argv = ExecPrefix(i);
    argv.push_back(FindProgram("iptables-restore"));  // without --noflush: replaces the table
    absl::Status s = Check(RunCommand(argv, 20000, path), hosts_[i].label + ": flush rules");
    if (result.ok()) result = s;
  }
  return result;
}

// ---- NetnsCluster ----

NetnsCluster::NetnsCluster(NetnsClusterOptions options) : options_(std::move(options)) {}

NetnsCluster::~NetnsCluster() {
  for (auto& mount : mounts_) (void)mount->Unmount();
  mounts_.clear();
  cluster_.reset();  // kills every server by PID
  master_storage_.clear();
  datanode_storage_.clear();
  if (small_disk_mounted_) ::umount2(small_disk_.c_str(), MNT_DETACH);
  network_.reset();
}

absl::Status NetnsCluster::Start() {
  DFS_ASSIGN_OR_RETURN(network_, HostNetwork::Create());
  // Hosts in this order: host_of() and client_host() count on it.
  for (const auto& [prefix, n] : {std::pair<std::string, int>{"m", masters()},
                                  {"d", datanodes()},
                                  {"c", options_.fuse_clients}}) {
    for (int i = 0; i < n; ++i) {
      DFS_RETURN_IF_ERROR(network_->AddHost(prefix + std::to_string(i)).status());
    }
  }

  testing::ClusterOptions cluster = options_.cluster;
  cluster.masters = masters();
  cluster.datanodes = datanodes();
  cluster.master_sites.clear();
  cluster.datanode_sites.clear();
  auto lossy = [&](const std::string& name) -> absl::StatusOr<std::unique_ptr<LossyMount>> {
    auto mount = std::make_unique<LossyMount>();
    DFS_RETURN_IF_ERROR(mount->Mount(absl::StrCat(dir(), "/", name, ".backing"),
                                     absl::StrCat(dir(), "/", name, ".data"),
                                     options_.lossy_names));
    return mount;
  };
  auto site_of = [&](NodeRef node) {
    testing::NodeSite site;
    const int host = host_of(node);
    site.listen =
        absl::StrCat(network_->host(host).address, ":", node.master ? kMasterPort : kDatanodePort);
    site.exec_prefix = network_->ExecPrefix(host);
    return site;
  };
  for (int i = 0; i < masters(); ++i) {
    testing::NodeSite site = site_of({true, i});
    master_storage_.push_back(nullptr);
    if (options_.lossy_storage) {
      DFS_ASSIGN_OR_RETURN(master_storage_[i], lossy(absl::StrCat("m", i)));
      site.data_dir = master_storage_[i]->path();
    }
    cluster.master_sites.push_back(site);
  }
  for (int i = 0; i < datanodes(); ++i) {
    testing::NodeSite site = site_of({false, i});
    datanode_storage_.push_back(nullptr);
    if (i == options_.small_disk_datanode) {
      small_disk_ = absl::StrCat(dir(), "/d", i, ".tmpfs");
      DFS_RETURN_IF_ERROR(MakeDirs(small_disk_));
      const std::string source = absl::StrCat(kNamePrefix, ::getpid(), "-disk");
      const std::string data = absl::StrCat("size=", options_.small_disk_bytes);
      if (::mount(source.c_str(), small_disk_.c_str(), "tmpfs", 0, data.c_str()) != 0) {
        return absl::InternalError(
            absl::StrCat("mount tmpfs on ", small_disk_, ": ", std::strerror(errno)));
      }
      small_disk_mounted_ = true;
      site.data_dir = small_disk_;
    } else if (options_.lossy_storage) {
      DFS_ASSIGN_OR_RETURN(datanode_storage_[i], lossy(absl::StrCat("d", i)));
      site.data_dir = datanode_storage_[i]->path();
    }
    cluster.datanode_sites.push_back(site);
  }
  cluster_ = std::make_unique<testing::TestCluster>(cluster);
  DFS_RETURN_IF_ERROR(cluster_->Start());
  for (int c = 0; c < options_.fuse_clients; ++c) {
    mounts_.push_back(std::make_unique<testing::FuseMount>());
    DFS_RETURN_IF_ERROR(mounts_.back()->Mount(cluster_->master_address(), options_.fuse_flags,
                                              network_->ExecPrefix(client_host(c))));
  }
  return absl::OkStatus();
}

LossyMount* NetnsCluster::storage(NodeRef node) {
  auto& list = node.master ? master_storage_ : datanode_storage_;
  return node.index < static_cast<int>(list.size()) ? list[node.index].get() : nullptr;
}

bool NetnsCluster::Running(NodeRef node) const {
  return node.master ? cluster_->MasterRunning(node.index) : cluster_->DatanodeRunning(node.index);
}

void NetnsCluster::Signal(NodeRef node, int signal) {
  if (node.master) {
    cluster_->StopMasterAt(node.index, signal);
  } else {
    cluster_->StopDatanode(node.index, signal);
  }
}

absl::StatusOr<std::string> NetnsCluster::Crash(NodeRef node) {
  Signal(node, SIGKILL);
  if (Running(node)) return absl::InternalError(node.Name() + " survived SIGKILL");
  LossyMount* disk = storage(node);
  if (disk == nullptr) return std::string();
  return disk->Crash();
}

absl::Status NetnsCluster::Restart(NodeRef node) {
  absl::Status status =
      node.master ? cluster_->StartMasterAt(node.index) : cluster_->StartDatanode(node.index);
  if (!status.ok()) {
    return absl::Status(
        status.code(),
        absl::StrCat(node.Name(), " did not restart: ", status.message(), "\n", Log(node)));
  }
  return status;
}

std::string NetnsCluster::Log(NodeRef node, size_t bytes) const {
  std::string text =
      ReadAll(absl::StrCat(cluster_->dir(), node.master ? "/master" : "/dn", node.index, ".log"));
  return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

}  // namespace dfs::fault
