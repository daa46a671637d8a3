#include "common/auth.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "common/logging.h"

namespace dfs {
namespace {

constexpr size_t kMacBytes = 32;

std::string HmacSha256(absl::string_view key, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &length);
  return std::string(reinterpret_cast<char*>(out), length);
}

// absl::HexStringToBytes does not reject non-hex input; a credential must be exactly right.
std::optional<std::string> ParseHex(absl::string_view hex, size_t bytes) {
  if (hex.size() != 2 * bytes) return std::nullopt;
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return absl::HexStringToBytes(hex);
}

std::string MacInput(absl::string_view method, int64_t unix_seconds) {
  return absl::StrCat(method, ".", unix_seconds);
}

// Creates `path` with mode 0600, failing if it exists, and makes it durable.
absl::Status WriteNewPrivateFile(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, "create " + path);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus(err, "write " + path);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus(err, "fsync " + path);
  }
  ::close(fd);
  return absl::OkStatus();
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kNode:
      return "node";
    case Role::kAdmin:
      return "admin";
    case Role::kClient:
      return "client";
  }
  return "?";
}

std::optional<Role> ParseRole(absl::string_view name) {
  for (Role role : {Role::kNode, Role::kAdmin, Role::kClient}) {
    if (name == RoleName(role)) return role;
  }
  return std::nullopt;
}

std::string DeriveRoleKey(absl::string_view secret, Role role) {
  return HmacSha256(secret, absl::StrCat("dfs-role:", RoleName(role)));
}

Credential NodeCredential(absl::string_view secret) {
  Credential credential;
  credential.role = Role::kNode;
  credential.key = DeriveRoleKey(secret, Role::kNode);
  credential.secret = std::string(secret);
  return credential;
}

absl::StatusOr<Credential> ParseCredential(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  size_t colon = text.find(':');
  if (colon == absl::string_view::npos) {
    std::optional<std::string> secret = ParseHex(text, kClusterSecretBytes);
    if (!secret) {
      return absl::InvalidArgumentError(
          "not a dfs credential: expected the cluster secret (64 hex digits) or ROLE:KEY");
    }
    return NodeCredential(*secret);
  }
  std::optional<Role> role = ParseRole(text.substr(0, colon));
  if (!role || *role == Role::kNode) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown credential role '", text.substr(0, colon),
                     "' (admin or client; a node uses the cluster secret file itself)"));
  }
  std::optional<std::string> key = ParseHex(text.substr(colon + 1), kMacBytes);
  if (!key) return absl::InvalidArgumentError("credential key is not 64 hex digits");
  Credential credential;
  credential.role = *role;
  credential.key = *std::move(key);
  return credential;
}

absl::StatusOr<Credential> LoadCredentialFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("cannot read credential file ", path, ": ",
                                     text.status().message()));
  }
  absl::StatusOr<Credential> credential = ParseCredential(*text);
  if (!credential.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", credential.status().message()));
  }
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    DFS_LOG(WARNING) << "credential file " << path
                     << " is readable by other users; chmod 600 it";
  }
  return credential;
}

absl::Status InitClusterCredentials(const std::string& dir) {
  if (absl::Status s = MakeDirs(dir); !s.ok()) return s;
  const std::string secret_path = absl::StrCat(dir, "/", kClusterSecretFile);
  const std::string admin_path = absl::StrCat(dir, "/", kAdminKeyFile);
  const std::string client_path = absl::StrCat(dir, "/", kClientKeyFile);
  for (const std::string& path : {secret_path, admin_path, client_path}) {
    if (::access(path.c_str(), F_OK) == 0) {
      return absl::AlreadyExistsError(
          absl::StrCat(path, " exists; a cluster's secret is never replaced"));
    }
  }
  unsigned char random[kClusterSecretBytes];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return absl::InternalError("cannot draw random bytes for the cluster secret");
  }
  const std::string secret(reinterpret_cast<char*>(random), sizeof(random));
  OPENSSL_cleanse(random, sizeof(random));
  auto line = [&](Role role) {
    return absl::StrCat(RoleName(role), ":",
                        absl::BytesToHexString(DeriveRoleKey(secret, role)), "\n");
  };
  if (absl::Status s =
          WriteNewPrivateFile(secret_path, absl::StrCat(absl::BytesToHexString(secret), "\n"));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = WriteNewPrivateFile(admin_path, line(Role::kAdmin)); !s.ok()) return s;
  if (absl::Status s = WriteNewPrivateFile(client_path, line(Role::kClient)); !s.ok()) return s;
  return FsyncDir(dir);
}

std::string MakeAuthToken(const Credential& credential, absl::string_view method,
                          int64_t unix_seconds) {
  return absl::StrCat(RoleName(credential.role), ".", unix_seconds, ".",
                      absl::BytesToHexString(
                          HmacSha256(credential.key, MacInput(method, unix_seconds))));
}

TokenVerifier::TokenVerifier(absl::string_view secret) {
  for (Role role : {Role::kNode, Role::kAdmin, Role::kClient}) {
    keys_[static_cast<int>(role)] = DeriveRoleKey(secret, role);
  }
}

absl::StatusOr<Role> TokenVerifier::Verify(absl::string_view token, absl::string_view method,
                                           int64_t now_unix_seconds) const {
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return absl::UnauthenticatedError("malformed dfs-auth token");
  std::optional<Role> role = ParseRole(parts[0]);
  if (!role) return absl::UnauthenticatedError("unknown role in dfs-auth token");
  int64_t seconds = 0;
  if (!absl::SimpleAtoi(parts[1], &seconds)) {
    return absl::UnauthenticatedError("malformed time in dfs-auth token");
  }
  std::optional<std::string> mac = ParseHex(parts[2], kMacBytes);
  if (!mac) return absl::UnauthenticatedError("malformed MAC in dfs-auth token");
  // The MAC first: a forged token learns nothing from which check failed.
  const std::string expected =
      HmacSha256(keys_[static_cast<int>(*role)], MacInput(method, seconds));
  if (CRYPTO_memcmp(expected.data(), mac->data(), kMacBytes) != 0) {
    return absl::UnauthenticatedError("bad dfs-auth MAC (wrong cluster key?)");
  }
  if (seconds < now_unix_seconds - kTokenMaxSkewSeconds ||
      seconds > now_unix_seconds + kTokenMaxSkewSeconds) {
    return absl::UnauthenticatedError(absl::StrCat(
        "dfs-auth token time is ", seconds - now_unix_seconds,
        " s off this server's clock (more than ", kTokenMaxSkewSeconds, " s; check clocks)"));
  }
  return *role;
}

}  // namespace dfs
