#include "master/maintenance_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(bool, maintenance, true,
          "Run the leader's background maintenance (re-replication, GC, trash expiry, balancer).");
ABSL_FLAG(int64_t, maintenance_scan_interval_ms, 5000,
          "How often the replicator scans the chunk map.");
ABSL_FLAG(int64_t, chunk_report_interval_ms, 5 * 60 * 1000,
          "How often the master asks each datanode for a full chunk report.");
ABSL_FLAG(int, replication_max_concurrent, 8, "Chunk copies (datanode to datanode) running at once.");
ABSL_FLAG(uint64_t, replication_bytes_per_sec, 128ull << 20,
          "Bytes per second all re-replication, draining and balancing copies may move together; "
          "0: unlimited.");
ABSL_FLAG(int64_t, gc_grace_ms, 10 * 60 * 1000,
          "A chunk no file references any more is deleted from the datanodes this long later.");
ABSL_FLAG(int64_t, orphan_grace_ms, 60 * 60 * 1000,
          "A chunk copy that no record knows (an abandoned write) is deleted this long after the "
          "master first saw it; keep it longer than the longest write.");
ABSL_FLAG(int64_t, gc_interval_ms, 10 * 1000, "How often the garbage collector runs.");
ABSL_FLAG(int64_t, trash_retention_ms, 24ll * 60 * 60 * 1000,
          "Trash checkpoints (/.Trash/<time>, made by `dfs rm`) are deleted this long after their "
          "last change.");
ABSL_FLAG(int64_t, trash_interval_ms, 60 * 1000, "How often expired trash is looked for.");
ABSL_FLAG(double, balancer_threshold, 0.10,
          "The balancer moves replicas until every datanode's utilization is within this fraction "
          "of the cluster's.");
ABSL_FLAG(int64_t, balancer_interval_ms, 60 * 60 * 1000,
          "How often the balancer runs on its own; 0: only on `dfsadmin balance`.");
ABSL_FLAG(uint64_t, balancer_max_bytes_per_round, 8ull << 30,
          "Bytes one balancer round moves at most.");
ABSL_FLAG(int64_t, merge_interval_ms, 0,
          "How often the merger coalesces small chunks; 0: never.");
ABSL_FLAG(uint64_t, merge_small_bytes, 1ull << 20,
          "Files and extents smaller than this are candidates for merging.");
ABSL_FLAG(uint64_t, merge_target_bytes, 64ull << 20, "Size of the chunks the merger builds.");
ABSL_FLAG(int64_t, merge_cold_ms, 60 * 60 * 1000,
          "A file unchanged for this long is cold enough to be packed with others.");

namespace dfs {

MaintenanceOptions MaintenanceOptionsFromFlags() {
  MaintenanceOptions options;
  options.enabled = absl::GetFlag(FLAGS_maintenance);
  options.scan_interval_ms = absl::GetFlag(FLAGS_maintenance_scan_interval_ms);
  options.chunk_report_interval_ms = absl::GetFlag(FLAGS_chunk_report_interval_ms);
  options.max_concurrent_copies = absl::GetFlag(FLAGS_replication_max_concurrent);
  options.replication_bytes_per_sec = absl::GetFlag(FLAGS_replication_bytes_per_sec);
  options.garbage_grace_ms = absl::GetFlag(FLAGS_gc_grace_ms);
  options.orphan_grace_ms = absl::GetFlag(FLAGS_orphan_grace_ms);
  options.gc_interval_ms = absl::GetFlag(FLAGS_gc_interval_ms);
  options.trash_retention_ms = absl::GetFlag(FLAGS_trash_retention_ms);
  options.trash_interval_ms = absl::GetFlag(FLAGS_trash_interval_ms);
  options.balancer_threshold = absl::GetFlag(FLAGS_balancer_threshold);
  options.balancer_interval_ms = absl::GetFlag(FLAGS_balancer_interval_ms);
  options.balancer_max_bytes_per_round = absl::GetFlag(FLAGS_balancer_max_bytes_per_round);
  options.merge_interval_ms = absl::GetFlag(FLAGS_merge_interval_ms);
  options.merge_small_bytes = absl::GetFlag(FLAGS_merge_small_bytes);
  options.merge_target_bytes = absl::GetFlag(FLAGS_merge_target_bytes);
  options.merge_cold_ms = absl::GetFlag(FLAGS_merge_cold_ms);
  return options;
}

}  // namespace dfs
