// The RPC security flags every server binary (dfs-master, dfs-datanode) takes, defined once:
// --secret_file, --tls_cert, --tls_key, --tls_ca (see common/rpc_security.h). Client binaries
// parse their own command lines and find these through client/config.h. Call from main only.
#pragma once

#include "common/rpc_security.h"

namespace dfs {

RpcSecurityOptions RpcSecurityOptionsFromFlags();

}  // namespace dfs
