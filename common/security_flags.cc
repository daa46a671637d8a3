#include "common/security_flags.h"

#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, secret_file, "",
          "The cluster secret (cluster.secret from `dfsadmin init`): every call to this server must "
          "prove it or a key derived from it, and this server's own calls carry it. Empty: no "
          "authentication, every call is accepted (the log warns).");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain to serve with; then this server accepts only TLS. Needs "
          "--tls_key and --tls_ca.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA certificate: this server's calls to others use TLS and trust only certificates "
          "it signed.");

namespace dfs {

RpcSecurityOptions RpcSecurityOptionsFromFlags() {
  return {.secret_file = absl::GetFlag(FLAGS_secret_file),
          .tls_cert = absl::GetFlag(FLAGS_tls_cert),
          .tls_key = absl::GetFlag(FLAGS_tls_key),
          .tls_ca = absl::GetFlag(FLAGS_tls_ca)};
}

}  // namespace dfs
