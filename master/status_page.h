// The leader's HTML status page (in the spirit of the HDFS NameNode page): cluster summary,
// masters, datanodes with usage bars, replication health and recent events. A pure function of
// what the AdminService reports, so it is tested without a cluster; master/master_http.h
// gathers the data and serves it. Plain HTML with inline CSS, refreshed by a meta tag; every
// string from the cluster is escaped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "master/event_log.h"
#include "proto/master.pb.h"

namespace dfs {

// One master as the leader sees it.
struct MasterView {
  std::string address;
  bool reachable = false;
  RaftStatusResponse status;  // its own answer (when reachable)
  uint64_t match_index = 0;   // the leader's replication progress for it
};

struct StatusPageData {
  RaftStatusResponse raft;  // the leader's own status
  std::vector<MasterView> masters;
  ClusterStatusResponse cluster;
  ListDatanodesResponse datanodes;
  std::vector<Event> events;  // newest first
  int64_t now_ns = 0;         // wall clock, for the page's timestamp
  int refresh_s = 5;
};

std::string RenderStatusPage(const StatusPageData& data);

}  // namespace dfs
