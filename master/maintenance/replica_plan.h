// What the replicator should do about one chunk, and how healthy fsck finds it, as pure
// functions of the chunk's record and the leader's view of the datanodes. No I/O, no clock, no
// randomness: unit-tested directly, and safe to call from any thread.
//
// Vocabulary:
//   live     a recorded replica on a node that heartbeats (and that its chunk reports do not
//            contradict);
//   good     a live replica on a node in service: it counts toward the replication factor (RF);
//   draining a live replica on a node being decommissioned: a source for reads and copies, but
//            not counted, so the chunk is copied elsewhere until it has RF good replicas;
//   dead     a recorded replica on a node that is dead or unknown (never heard from).
// A node whose trusted chunk report holds the chunk although the record does not ("unrecorded
// holder", e.g. an old node that came back) is adopted while the chunk is short of good
// replicas, and its copy is deleted once the chunk has RF good replicas without it.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "proto/common.pb.h"
#include "proto/master.pb.h"

namespace dfs {

struct PlanNode {
  std::string rack;
  bool live = false;
  bool draining = false;
  uint64_t free_bytes = 0;  // to choose which extra copy to trim: the fullest node's
};

struct ChunkPlan {
  int live = 0;   // live replicas, draining ones included (after adoption)
  int good = 0;   // live replicas on nodes in service (after adoption)
  bool missing = false;                 // no live copy anywhere: nothing to copy from
  std::vector<std::string> adopt;       // unrecorded holders to record (AddReplica)
  int copies = 0;                       // new copies to make
  std::vector<std::string> sources;     // live replicas to copy from, in service ones first
  std::set<std::string> used_racks;     // racks of the good replicas: new copies go elsewhere
  std::vector<std::string> trim;        // good replicas beyond RF to drop and delete
  std::vector<std::string> forget;      // dead replicas to drop from the record
  std::vector<std::string> keep;        // good replicas the trims and forgets rely on
  std::vector<std::string> delete_unrecorded;  // unrecorded copies that are not needed
};

// `nodes` maps every datanode id the leader knows to its state; a replica on a node not in
// `nodes` is dead. `absent` are recorded replicas whose node's chunk reports show it does not
// hold the chunk (treated as dead). `unrecorded_holders` are nodes whose trusted report holds
// the chunk while the record does not.
ChunkPlan PlanChunk(const ChunkInfo& chunk, int replication,
                    const std::map<std::string, PlanNode>& nodes,
                    const std::set<std::string>& absent,
                    const std::vector<std::string>& unrecorded_holders);

// fsck's verdict on one chunk, in PlanChunk's terms: a replica in `corrupt` (reported damaged and
// still recorded) counts as dead; no live replica left is CHUNK_CORRUPT if one of the dead ones
// is a damaged copy, else CHUNK_MISSING; fewer good replicas than RF is CHUNK_UNDER_REPLICATED.
// Replicas carry only their datanode id.
ChunkCheck CheckChunk(const ChunkInfo& chunk, int replication,
                      const std::map<std::string, PlanNode>& nodes,
                      const std::set<std::string>& corrupt);

}  // namespace dfs
