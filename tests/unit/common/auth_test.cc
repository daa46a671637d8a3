// Cluster credentials and the per-call token (common/auth.h), and the authorization table a
// secured server applies (common/rpc_security.h).
#include "common/auth.h"

#include <sys/stat.h>

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/rpc_security.h"
#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"

namespace dfs {
namespace {

constexpr char kMethod[] = "/dfs.MasterService/Create";
constexpr int64_t kNow = 1700000000;

std::string Secret(char fill) { return std::string(kClusterSecretBytes, fill); }

Credential RoleCredential(const std::string& secret, Role role) {
  if (role == Role::kNode) return NodeCredential(secret);
  Credential credential;
  credential.role = role;
  credential.key = DeriveRoleKey(secret, role);
  return credential;
}

TEST(AuthTokenTest, GoodTokenProvesItsRole) {
  TokenVerifier verifier(Secret('s'));
  for (Role role : {Role::kNode, Role::kAdmin, Role::kClient}) {
    std::string token = MakeAuthToken(RoleCredential(Secret('s'), role), kMethod, kNow);
    EXPECT_EQ(token.substr(0, token.find('.')), RoleName(role));
    absl::StatusOr<Role> proved = verifier.Verify(token, kMethod, kNow);
    ASSERT_TRUE(proved.ok()) << proved.status();
    EXPECT_EQ(*proved, role);
  }
}

TEST(AuthTokenTest, WrongKeyIsRefused) {
  TokenVerifier verifier(Secret('s'));
  std::string token = MakeAuthToken(RoleCredential(Secret('x'), Role::kAdmin), kMethod, kNow);
  EXPECT_TRUE(absl::IsUnauthenticated(verifier.Verify(token, kMethod, kNow).status()));
}

TEST(AuthTokenTest, StaleOrFutureTimestampIsRefused) {
  TokenVerifier verifier(Secret('s'));
  Credential client = RoleCredential(Secret('s'), Role::kClient);
  // Inside the window either way: accepted (clocks differ a little).
  EXPECT_TRUE(verifier.Verify(MakeAuthToken(client, kMethod, kNow - kTokenMaxSkewSeconds), kMethod,
                              kNow)
                  .ok());
  EXPECT_TRUE(verifier.Verify(MakeAuthToken(client, kMethod, kNow + kTokenMaxSkewSeconds), kMethod,
                              kNow)
                  .ok());
  for (int64_t when : {kNow - kTokenMaxSkewSeconds - 1, kNow + kTokenMaxSkewSeconds + 1,
                       int64_t{0}}) {
    absl::Status status = verifier.Verify(MakeAuthToken(client, kMethod, when), kMethod, kNow)
                              .status();
    EXPECT_TRUE(absl::IsUnauthenticated(status)) << when << ": " << status;
  }
}

TEST(AuthTokenTest, TokenForAnotherMethodIsRefused) {
  TokenVerifier verifier(Secret('s'));
  std::string token = MakeAuthToken(RoleCredential(Secret('s'), Role::kClient),
                                    "/dfs.MasterService/GetAttr", kNow);
  EXPECT_TRUE(absl::IsUnauthenticated(verifier.Verify(token, kMethod, kNow).status()));
}

TEST(AuthTokenTest, TamperedTokenIsRefused) {
  TokenVerifier verifier(Secret('s'));
  std::string token = MakeAuthToken(RoleCredential(Secret('s'), Role::kClient), kMethod, kNow);
  std::string rest = token.substr(token.find('.'));
  // A client promoting itself: the MAC was made with the client key, not the admin one.
  EXPECT_TRUE(absl::IsUnauthenticated(verifier.Verify("admin" + rest, kMethod, kNow).status()));
  EXPECT_TRUE(absl::IsUnauthenticated(verifier.Verify("node" + rest, kMethod, kNow).status()));
  EXPECT_TRUE(absl::IsUnauthenticated(verifier.Verify("root" + rest, kMethod, kNow).status()));
  // Moving the time: the MAC covers it.
  std::string shifted = absl::StrCat("client.", kNow + 1, token.substr(token.rfind('.')));
  EXPECT_TRUE(absl::IsUnauthenticated(verifier.Verify(shifted, kMethod, kNow).status()));
  // One flipped MAC digit.
  std::string flipped = token;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_TRUE(absl::IsUnauthenticated(verifier.Verify(flipped, kMethod, kNow).status()));
  for (const char* junk : {"", "client", "client.1.2.3", "client.x.00", "client.1700000000.zz"}) {
    EXPECT_TRUE(absl::IsUnauthenticated(verifier.Verify(junk, kMethod, kNow).status())) << junk;
  }
}

TEST(CredentialTest, RoleKeysDifferAndFilesParse) {
  const std::string secret = Secret('s');
  EXPECT_NE(DeriveRoleKey(secret, Role::kClient), DeriveRoleKey(secret, Role::kAdmin));
  EXPECT_NE(DeriveRoleKey(secret, Role::kNode), DeriveRoleKey(secret, Role::kAdmin));
  EXPECT_EQ(DeriveRoleKey(secret, Role::kClient).size(), 32u);

  absl::StatusOr<Credential> node = ParseCredential(absl::BytesToHexString(secret) + "\n");
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(node->role, Role::kNode);
  EXPECT_EQ(node->secret, secret);

  absl::StatusOr<Credential> client = ParseCredential(
      absl::StrCat("client:", absl::BytesToHexString(DeriveRoleKey(secret, Role::kClient))));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->role, Role::kClient);
  EXPECT_EQ(client->key, DeriveRoleKey(secret, Role::kClient));
  EXPECT_TRUE(client->secret.empty());

  const std::string key_hex = absl::BytesToHexString(DeriveRoleKey(secret, Role::kNode));
  for (const std::string& bad :
       {std::string("node:") + key_hex, "boss:" + key_hex, std::string("client:abc"),
        std::string(""), std::string("zz") + key_hex.substr(2)}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParseCredential(bad).status())) << bad;
  }
}

TEST(CredentialTest, InitWritesPrivateFilesOnce) {
  TempDir dir;
  const std::string cluster = dir.path() + "/cluster";
  ASSERT_TRUE(InitClusterCredentials(cluster).ok());
  absl::StatusOr<Credential> node = LoadCredentialFile(cluster + "/cluster.secret");
  absl::StatusOr<Credential> admin = LoadCredentialFile(cluster + "/admin.key");
  absl::StatusOr<Credential> client = LoadCredentialFile(cluster + "/client.key");
  ASSERT_TRUE(node.ok() && admin.ok() && client.ok());
  EXPECT_EQ(node->role, Role::kNode);
  EXPECT_EQ(admin->role, Role::kAdmin);
  EXPECT_EQ(client->role, Role::kClient);
  EXPECT_EQ(admin->key, DeriveRoleKey(node->secret, Role::kAdmin));
  EXPECT_EQ(client->key, DeriveRoleKey(node->secret, Role::kClient));
  for (const char* name : {"cluster.secret", "admin.key", "client.key"}) {
    struct stat st;
    ASSERT_EQ(::stat((cluster + "/" + name).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
  }
  // A second init would lock every node out: refused, nothing changed.
  const std::string before = *ReadFile(cluster + "/cluster.secret");
  EXPECT_TRUE(absl::IsAlreadyExists(InitClusterCredentials(cluster)));
  EXPECT_EQ(*ReadFile(cluster + "/cluster.secret"), before);

  // Two clusters never share a secret.
  ASSERT_TRUE(InitClusterCredentials(dir.path() + "/other").ok());
  EXPECT_NE(*ReadFile(dir.path() + "/other/cluster.secret"), before);
}

TEST(AuthorizationTest, TableByRole) {
  const char* client_ok[] = {"/dfs.MasterService/Create", "/dfs.MasterService/GetExtents",
                             "/dfs.DatanodeService/WriteChunk", "/dfs.DatanodeService/ReadChunk",
                             "/dfs.AdminService/RaftStatus", "/dfs.AdminService/ListDatanodes",
                             "/dfs.AdminService/ClusterStatus"};
  const char* admin_only[] = {"/dfs.AdminService/Decommission", "/dfs.AdminService/Recommission",
                              "/dfs.AdminService/RaftRemoveMember", "/dfs.AdminService/SafeMode",
                              "/dfs.AdminService/Balance", "/dfs.AdminService/Merge",
                              "/dfs.AdminService/CheckFiles", "/dfs.AdminService/RaftSnapshot",
                              // A read-only entry names one method, not a prefix.
                              "/dfs.AdminService/RaftStatusX"};
  const char* node_only[] = {"/dfs.raft.RaftService/Stream", "/dfs.DatanodeRegistry/Heartbeat",
                             "/dfs.DatanodeService/ReplicateChunk",
                             "/dfs.DatanodeService/DeleteChunks", "/dfs.NewService/Anything"};
  for (const char* method : client_ok) {
    for (Role role : {Role::kClient, Role::kAdmin, Role::kNode}) {
      EXPECT_TRUE(AuthorizeCall(role, method).ok()) << RoleName(role) << " " << method;
    }
  }
  for (const char* method : admin_only) {
    EXPECT_TRUE(absl::IsPermissionDenied(AuthorizeCall(Role::kClient, method))) << method;
    EXPECT_TRUE(AuthorizeCall(Role::kAdmin, method).ok()) << method;
    EXPECT_TRUE(AuthorizeCall(Role::kNode, method).ok()) << method;
  }
  for (const char* method : node_only) {
    EXPECT_TRUE(absl::IsPermissionDenied(AuthorizeCall(Role::kClient, method))) << method;
    EXPECT_TRUE(absl::IsPermissionDenied(AuthorizeCall(Role::kAdmin, method))) << method;
    EXPECT_TRUE(AuthorizeCall(Role::kNode, method).ok()) << method;
  }
}

TEST(AuthorizationTest, CheckCallOrdersAuthenticationBeforeAuthorization) {
  TokenVerifier verifier(Secret('s'));
  const char* decommission = "/dfs.AdminService/Decommission";
  EXPECT_TRUE(absl::IsUnauthenticated(CheckCall(verifier, "", decommission, kNow)));
  std::string client =
      MakeAuthToken(RoleCredential(Secret('s'), Role::kClient), decommission, kNow);
  EXPECT_TRUE(absl::IsPermissionDenied(CheckCall(verifier, client, decommission, kNow)));
  std::string forged =
      MakeAuthToken(RoleCredential(Secret('x'), Role::kAdmin), decommission, kNow);
  EXPECT_TRUE(absl::IsUnauthenticated(CheckCall(verifier, forged, decommission, kNow)));
  std::string admin = MakeAuthToken(RoleCredential(Secret('s'), Role::kAdmin), decommission, kNow);
  EXPECT_TRUE(CheckCall(verifier, admin, decommission, kNow).ok());
}

}  // namespace
}  // namespace dfs
