// dfsadmin raft status|add|remove|transfer|snapshot: the masters' Raft group.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dfs {

// Runs `dfsadmin raft ARGS...`; returns the exit code.
int RaftCommand(const std::vector<std::string>& masters, int64_t timeout_ms,
                const std::vector<std::string>& args);

}  // namespace dfs
