// Cluster identity and TLS against real processes: callers without the cluster's key, with
// another cluster's, and with a client key calling admin RPCs are refused with the right code
// and change nothing; a datanode without the secret never joins; a TLS cluster works end to end
// (put/get, a FUSE mount) and refuses plaintext.
#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "common/grpc_status.h"
#include "common/rpc.h"
#include "common/rpc_security.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/master.grpc.pb.h"
#include "tests/testutil/cluster.h"
#include "tests/testutil/files.h"
#include "tests/testutil/mount.h"
#include "tests/testutil/temp_dir.h"

namespace dfs::testing {
namespace {

using ::testing::HasSubstr;

// In-process stubs that call as someone other than this process's default (the node).
std::shared_ptr<const RpcSecurity> Security(const std::string& secret_file,
                                            const std::string& tls_ca = "") {
  RpcSecurityOptions options;
  options.secret_file = secret_file;
  options.tls_ca = tls_ca;
  absl::StatusOr<std::shared_ptr<const RpcSecurity>> security = LoadRpcSecurity(options);
  EXPECT_TRUE(security.ok()) << security.status();
  return security.ok() ? *security : std::make_shared<RpcSecurity>();
}

struct Caller {
  std::unique_ptr<AdminService::Stub> admin;
  std::unique_ptr<MasterService::Stub> master;
};

Caller CallerAt(const std::string& address, const std::shared_ptr<const RpcSecurity>& security) {
  auto channel = GetChannel(address, security);
  return {AdminService::NewStub(channel), MasterService::NewStub(channel)};
}

// One unary call with a 5 s deadline; its status code.
template <typename Stub, typename Request, typename Response>
grpc::StatusCode Code(Stub* stub,
                      grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&, Response*),
                      const Request& request, Response* response) {
  grpc::ClientContext context;
  SetTimeout(&context, 5000);
  return (stub->*rpc)(&context, request, response).error_code();
}

grpc::StatusCode LookupRoot(MasterService::Stub* stub) {
  LookupPathRequest request;
  request.set_path("/");
  AttrResponse response;
  return Code(stub, &MasterService::Stub::LookupPath, request, &response);
}

grpc::StatusCode Decommission(AdminService::Stub* stub, const std::string& datanode) {
  DecommissionRequest request;
  request.set_datanode(datanode);
  DecommissionResponse response;
  return Code(stub, &AdminService::Stub::Decommission, request, &response);
}

grpc::StatusCode RaftRemove(AdminService::Stub* stub, const std::string& address) {
  RaftMemberRequest request;
  request.set_address(address);
  Empty response;
  return Code(stub, &AdminService::Stub::RaftRemoveMember, request, &response);
}

grpc::StatusCode SafeMode(AdminService::Stub* stub, SafeModeRequest::Action action,
                          SafeModeResponse* response) {
  SafeModeRequest request;
  request.set_action(action);
  return Code(stub, &AdminService::Stub::SafeMode, request, response);
}

ListDatanodesResponse Datanodes(TestCluster& cluster) {
  grpc::ClientContext context;
  SetTimeout(&context, 5000);
  ListDatanodesResponse response;
  EXPECT_TRUE(cluster.admin()->ListDatanodes(&context, Empty(), &response).ok());
  return response;
}

// Runs a client binary with none of the cluster's settings: no $DFS_CONFIG, no ~/.config.
CommandResult RunBare(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/env", "-u", "DFS_CONFIG", "-u", "DFS_SECRET_FILE",
                                   "-u", "DFS_TLS_CA", "HOME=/nonexistent"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, 60000);
}

TEST(SecurityTest, CallersWithoutTheRightCredentialAreRefusedAndChangeNothing) {
  ClusterOptions options;
  options.masters = 3;
  options.datanodes = 3;
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start().ok()) << cluster.MasterLog();
  TempDir other;
  ASSERT_TRUE(InitClusterCredentials(other.path()).ok());

  TempDir local;
  const std::string data = local.path() + "/data";
  WriteRandomFile(data, 300000, 7);
  ASSERT_EQ(cluster.Dfs({"put", data, "/data"}).exit_code, 0);

  absl::StatusOr<int> leader = cluster.WaitForLeader();
  ASSERT_TRUE(leader.ok());
  const std::string leader_address = cluster.master_addresses()[*leader];
  const std::string follower_address = cluster.master_addresses()[(*leader + 1) % 3];
  const std::string datanode = cluster.datanode_id(0);

  // No credential, another cluster's client key, another cluster's secret: unauthenticated,
  // for reads as well as changes.
  for (const std::string& secret_file :
       {std::string(""), other.path() + "/client.key", other.path() + "/cluster.secret"}) {
    SCOPED_TRACE("credential: " + (secret_file.empty() ? "none" : secret_file));
    Caller caller = CallerAt(leader_address, Security(secret_file));
    EXPECT_EQ(LookupRoot(caller.master.get()), grpc::StatusCode::UNAUTHENTICATED);
    ListDatanodesResponse listed;
    EXPECT_EQ(Code(caller.admin.get(), &AdminService::Stub::ListDatanodes, Empty(), &listed),
              grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(listed.datanodes_size(), 0);
    EXPECT_EQ(Decommission(caller.admin.get(), datanode), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(RaftRemove(caller.admin.get(), follower_address),
              grpc::StatusCode::UNAUTHENTICATED);
    SafeModeResponse safe_mode;
    EXPECT_EQ(SafeMode(caller.admin.get(), SafeModeRequest::ENTER, &safe_mode),
              grpc::StatusCode::UNAUTHENTICATED);
  }

  // This cluster's client key: reads and status are fine, admin changes are not.
  Caller client = CallerAt(leader_address, Security(cluster.client_key_file()));
  EXPECT_EQ(LookupRoot(client.master.get()), grpc::StatusCode::OK);
  ClusterStatusResponse cluster_status;
  EXPECT_EQ(Code(client.admin.get(), &AdminService::Stub::ClusterStatus, Empty(), &cluster_status),
            grpc::StatusCode::OK);
  EXPECT_EQ(Decommission(client.admin.get(), datanode), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(RaftRemove(client.admin.get(), follower_address), grpc::StatusCode::PERMISSION_DENIED);
  SafeModeResponse safe_mode;
  EXPECT_EQ(SafeMode(client.admin.get(), SafeModeRequest::ENTER, &safe_mode),
            grpc::StatusCode::PERMISSION_DENIED);

  // The same through the binaries.
  CommandResult bare = RunBare({BinDir() + "/dfs", "--masters=" + cluster.master_address(),
                                "--timeout=5", "ls", "/"});
  EXPECT_EQ(bare.exit_code, 1) << bare.out << bare.err;
  EXPECT_THAT(bare.err, HasSubstr("credential"));
  CommandResult wrong = RunBare({BinDir() + "/dfs", "--masters=" + cluster.master_address(),
                                 "--secret_file=" + other.path() + "/client.key", "--timeout=5",
                                 "cat", "/data"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_EQ(wrong.out, "");
  CommandResult denied =
      RunBare({BinDir() + "/dfsadmin", "--masters=" + cluster.master_address(),
               "--secret_file=" + cluster.client_key_file(), "--timeout=5", "safemode", "enter"});
  EXPECT_EQ(denied.exit_code, 1) << denied.out << denied.err;
  EXPECT_THAT(denied.err, HasSubstr("may not call"));
  CommandResult status =
      RunBare({BinDir() + "/dfsadmin", "--masters=" + cluster.master_address(),
               "--secret_file=" + cluster.client_key_file(), "--timeout=5", "datanodes"});
  EXPECT_EQ(status.exit_code, 0) << status.err;

  // Nothing changed: every datanode in service, all three masters members, safe mode off, the
  // file intact; and the admin key may do what the client key could not.
  ListDatanodesResponse after = Datanodes(cluster);
  EXPECT_EQ(after.datanodes_size(), 3);
  for (int i = 0; i < after.datanodes_size(); ++i) {
    const DatanodeStatus& dn = after.datanodes(i);
    EXPECT_EQ(dn.admin_state(), DATANODE_IN_SERVICE) << dn.node().id();
  }
  {
    grpc::ClientContext context;
    RaftStatusResponse raft;
    ASSERT_TRUE(cluster.admin()->RaftStatus(&context, Empty(), &raft).ok());
    EXPECT_EQ(raft.members_size(), 3);
  }
  Caller admin = CallerAt(leader_address, Security(cluster.admin_key_file()));
  ASSERT_EQ(SafeMode(admin.admin.get(), SafeModeRequest::GET, &safe_mode), grpc::StatusCode::OK);
  EXPECT_FALSE(safe_mode.on());
  const std::string copy = local.path() + "/copy";
  ASSERT_EQ(cluster.Dfs({"get", "/data", copy}).exit_code, 0);
  EXPECT_EQ(Sha256(copy), Sha256(data));
  EXPECT_EQ(Decommission(admin.admin.get(), datanode), grpc::StatusCode::OK);

  // Each refusal was logged, without the token's MAC.
  std::ifstream log(cluster.dir() + "/master" + std::to_string(*leader) + ".log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("refused call to /dfs."));
}

TEST(SecurityTest, DatanodeWithoutTheSecretNeverJoins) {
  ClusterOptions options;
  options.datanodes = 2;
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start().ok()) << cluster.MasterLog();
  TempDir other;
  ASSERT_TRUE(InitClusterCredentials(other.path()).ok());

  // No secret, and another cluster's secret: both serve, neither's heartbeats are accepted.
  std::vector<std::unique_ptr<Process>> rogues;
  for (const std::string& secret_file : {std::string(""), other.path() + "/cluster.secret"}) {
    const std::string name = absl::StrCat("rogue", rogues.size());
    std::vector<std::string> argv = {BinDir() + "/dfs-datanode",
                                     "--data_dir=" + cluster.dir() + "/" + name,
                                     "--masters=" + cluster.master_address(),
                                     "--heartbeat_interval_ms=200", "--http_listen="};
    if (!secret_file.empty()) argv.push_back("--secret_file=" + secret_file);
    rogues.push_back(std::make_unique<Process>());
    ASSERT_TRUE(rogues.back()->Start(argv, cluster.dir() + "/" + name + ".log").ok());
  }
  // A client key is no server credential: that datanode does not even start.
  CommandResult client_keyed = RunCommand(
      {BinDir() + "/dfs-datanode", "--data_dir=" + cluster.dir() + "/rogue-client",
       "--masters=" + cluster.master_address(), "--secret_file=" + cluster.client_key_file(),
       "--http_listen="},
      20000);
  EXPECT_NE(client_keyed.exit_code, 0);
  EXPECT_THAT(client_keyed.err, HasSubstr("cluster secret"));

  // Many heartbeats later, still only the cluster's own two.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  for (auto& rogue : rogues) EXPECT_TRUE(rogue->running());
  ListDatanodesResponse listed = Datanodes(cluster);
  EXPECT_EQ(listed.datanodes_size(), 2);
  for (const auto& dn : listed.datanodes()) {
    EXPECT_TRUE(dn.node().id() == cluster.datanode_id(0) || dn.node().id() == cluster.datanode_id(1))
        << dn.node().id();
  }
}

TEST(SecurityTest, TlsClusterEndToEndAndPlaintextRefused) {
  ClusterOptions options;
  options.masters = 3;
  options.datanodes = 3;
  options.tls = true;
  TestCluster cluster(options);
  ASSERT_TRUE(cluster.Start().ok()) << cluster.MasterLog();

  // put/get through TLS to the masters and along the datanode pipeline (several chunks).
  TempDir local;
  const std::string data = local.path() + "/data";
  WriteRandomFile(data, 5 << 20, 11);
  CommandResult put = cluster.Dfs({"--chunk-size=1048576", "put", data, "/data"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  const std::string copy = local.path() + "/copy";
  CommandResult get = cluster.Dfs({"get", "/data", copy});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(Sha256(copy), Sha256(data));

  // A FUSE mount over TLS: write, then read back, and read the put file.
  FuseMount mount;
  ASSERT_TRUE(mount.Mount(cluster.master_address(), cluster.ClientSecurityFlags()).ok())
      << mount.Log();
  const std::string written = RandomBytes(200000, 3);
  {
    std::ofstream out(mount.Path("fuse-file"), std::ios::binary);
    out << written;
  }
  {
    std::ifstream in(mount.Path("fuse-file"), std::ios::binary);
    std::string read((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(read, written);
  }
  EXPECT_EQ(Sha256(mount.Path("data")), Sha256(data));
  EXPECT_TRUE(mount.Unmount().ok()) << mount.Log();

  // Plaintext, even with the right key, gets nowhere.
  Caller plain = CallerAt(cluster.master_addresses()[0], Security(cluster.admin_key_file()));
  grpc::StatusCode code = LookupRoot(plain.master.get());
  EXPECT_TRUE(code == grpc::StatusCode::UNAVAILABLE ||
              code == grpc::StatusCode::DEADLINE_EXCEEDED)
      << code;
  CommandResult bare =
      RunBare({BinDir() + "/dfs", "--masters=" + cluster.master_address(),
               "--secret_file=" + cluster.client_key_file(), "--timeout=3", "ls", "/"});
  EXPECT_NE(bare.exit_code, 0);
  // TLS with the key works from the same binary.
  CommandResult tls = RunBare({BinDir() + "/dfs", "--masters=" + cluster.master_address(),
                               "--secret_file=" + cluster.client_key_file(),
                               "--tls_ca=" + cluster.tls_ca_file(), "ls", "/"});
  EXPECT_EQ(tls.exit_code, 0) << tls.err;
  EXPECT_THAT(tls.out, HasSubstr("fuse-file"));
}

}  // namespace
}  // namespace dfs::testing
