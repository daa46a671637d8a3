// Replica placement: which datanodes get a new chunk. A pure function of its inputs (and the
// seeded generator), so it is tested directly.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "common/random.h"
#include "proto/common.pb.h"

namespace dfs {

struct PlacementCandidate {
  DatanodeInfo node;
  uint64_t free_bytes = 0;  // free space minus bytes already promised to pending writes
  uint32_t load = 0;        // streams in progress
};

// Picks up to `count` distinct candidates: first one per failure domain (rack) while there are
// racks not yet used, then any; within those rules the ones with the most free space (less a
// penalty per active stream), ties and near-ties broken at random so that equal nodes share load.
// `used_racks` are racks that already hold a copy (re-replication): they count as used from the
// start, so a new copy goes to another rack when there is one.
std::vector<DatanodeInfo> ChoosePlacement(std::vector<PlacementCandidate> candidates, int count,
                                          Random& random,
                                          const std::set<std::string>& used_racks = {});

}  // namespace dfs
