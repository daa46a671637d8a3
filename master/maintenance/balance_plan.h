// Which replicas the balancer moves, as a pure function of node usage and the chunks on the
// over-full nodes. Unit-tested directly; safe to call from any thread.
//
// As in the HDFS balancer: a node's utilization is used / capacity; the cluster's (the average)
// is the sum of used over the sum of capacity. Over-full nodes (more than `threshold` above the
// average) give to nodes below the average; nodes merely above the average give to under-full
// nodes (more than `threshold` below it). Moves go from the fullest source to the emptiest target
// that does not already hold the chunk, never push a target past the average plus threshold, and
// never reduce the number of racks a chunk spans.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dfs {

struct BalanceNode {
  std::string id;
  std::string rack;
  uint64_t used_bytes = 0;
  uint64_t capacity_bytes = 0;
};

struct BalanceChunk {
  uint64_t chunk_id = 0;
  uint64_t length = 0;
  std::vector<std::string> replicas;  // every recorded replica
};

struct BalanceMove {
  uint64_t chunk_id = 0;
  uint64_t length = 0;
  std::string from;
  std::string to;
};

// `nodes`: the live nodes in service (candidates either way). `chunks_on`: for (some of) the
// nodes, chunks they hold that may move. Plans at most `max_bytes` of moves (0: no limit).
std::vector<BalanceMove> PlanBalance(const std::vector<BalanceNode>& nodes,
                                     const std::map<std::string, std::vector<BalanceChunk>>& chunks_on,
                                     double threshold, uint64_t max_bytes);

// The nodes PlanBalance may take as sources (over-full ones, and those above the average when
// some node is under-full). Lets the caller collect chunks for those nodes only.
std::vector<std::string> BalanceSources(const std::vector<BalanceNode>& nodes, double threshold);

}  // namespace dfs
