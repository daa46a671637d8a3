// /metrics of real processes: a put and a get through the `dfs` CLI must move the RPC counters
// of the master and the datanodes, the datanodes' byte counters and the Raft gauges, and every
// page must be valid Prometheus text.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testutil/cluster.h"
#include "tests/testutil/files.h"
#include "tests/testutil/http.h"

namespace dfs::testing {
namespace {

using Samples = std::map<std::string, double>;

Samples Scrape(const std::string& address) {
  absl::StatusOr<HttpResult> page = HttpGet(address, "/metrics");
  EXPECT_TRUE(page.ok()) << page.status();
  if (!page.ok()) return {};
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->content_type.find("text/plain"), std::string::npos) << page->content_type;
  absl::StatusOr<Samples> samples = ParseMetrics(page->body);
  EXPECT_TRUE(samples.ok()) << samples.status() << "\n" << page->body;
  return samples.ok() ? *samples : Samples{};
}

// How much metric `name` (with `labels`) grew from `before` to `after`, summed over the processes
// scraped (the same ones, in the same order).
double Growth(const std::vector<Samples>& before, const std::vector<Samples>& after,
              const std::string& name, const std::vector<std::string>& labels = {}) {
  double growth = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    growth += SumMetric(after[i], name, labels) - SumMetric(before.at(i), name, labels);
  }
  return growth;
}

std::vector<std::string> Rpc(const std::string& service, const std::string& method) {
  return {absl::StrCat("service=\"", service, "\""), absl::StrCat("method=\"", method, "\""),
          "code=\"OK\""};
}

TEST(MetricsTest, PutAndGetMoveTheCounters) {
  TestCluster cluster;  // one master, four datanodes
  ASSERT_TRUE(cluster.Start().ok());
  absl::StatusOr<int> leader = cluster.WaitForLeader();
  ASSERT_TRUE(leader.ok()) << leader.status();
  const std::string master_http = cluster.master_http_address(*leader);
  ASSERT_FALSE(master_http.empty());

  auto scrape_datanodes = [&] {
    std::vector<Samples> all;
    for (int i = 0; i < 4; ++i) {
      const std::string address = cluster.datanode_http_address(i);
      EXPECT_FALSE(address.empty()) << "datanode " << i;
      all.push_back(Scrape(address));
    }
    return all;
  };
  const std::vector<Samples> master_before = {Scrape(master_http)};
  const std::vector<Samples> datanodes_before = scrape_datanodes();
  EXPECT_EQ(SumMetric(master_before[0], "dfs_raft_role", {"role=\"leader\""}), 1);
  EXPECT_EQ(SumMetric(master_before[0], "dfs_master_datanodes", {"state=\"live\""}), 4);

  const uint64_t kSize = (3 << 20) + 12345;
  const std::string local = cluster.dir() + "/in";
  const std::string copy = cluster.dir() + "/out";
  WriteRandomFile(local, kSize, 7);
  CommandResult put = cluster.Dfs({"put", local, "/file"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  CommandResult get = cluster.Dfs({"get", "/file", copy});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  ASSERT_EQ(Sha256(copy), Sha256(local));

  const std::vector<Samples> master_after = {Scrape(master_http)};
  const std::vector<Samples> datanodes_after = scrape_datanodes();

  // The master: one Create (whole-file put), at least one AllocateChunk, and their latencies.
  const std::string handled = "dfs_grpc_server_handled_total";
  EXPECT_GE(Growth(master_before, master_after, handled, Rpc("dfs.MasterService", "Create")), 1);
  EXPECT_GE(
      Growth(master_before, master_after, handled, Rpc("dfs.MasterService", "AllocateChunk")), 1);
  const std::vector<std::string> create = {"service=\"dfs.MasterService\"", "method=\"Create\""};
  EXPECT_GE(Growth(master_before, master_after, "dfs_grpc_server_handling_seconds_count", create),
            1);
  EXPECT_GT(Growth(master_before, master_after, "dfs_grpc_server_handling_seconds_sum", create), 0);
  EXPECT_GT(Growth(master_before, master_after, "dfs_raft_commit_index"), 0);
  EXPECT_EQ(SumMetric(master_after[0], "dfs_master_chunks"), 1);
  EXPECT_GE(SumMetric(master_after[0], "dfs_master_inodes"), 2);

  // The datanodes: the pipeline writes each chunk on three of them; the get reads it once.
  EXPECT_GE(
      Growth(datanodes_before, datanodes_after, handled, Rpc("dfs.DatanodeService", "WriteChunk")),
      3);
  EXPECT_GE(
      Growth(datanodes_before, datanodes_after, handled, Rpc("dfs.DatanodeService", "ReadChunk")),
      1);
  EXPECT_GE(Growth(datanodes_before, datanodes_after, "dfs_datanode_written_bytes_total"),
            3.0 * kSize);
  EXPECT_GE(Growth(datanodes_before, datanodes_after, "dfs_datanode_read_bytes_total"),
            1.0 * kSize);
  EXPECT_EQ(Growth(datanodes_before, datanodes_after, "dfs_datanode_chunks"), 3);
  EXPECT_GE(Growth(datanodes_before, datanodes_after, "dfs_datanode_used_bytes"), 3.0 * kSize);
}

}  // namespace
}  // namespace dfs::testing
