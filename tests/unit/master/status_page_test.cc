#include "master/status_page.h"

#include <string>

#include "gtest/gtest.h"
#include "master/event_log.h"
#include "master/master_http.h"

namespace dfs {
namespace {

DatanodeStatus Node(const std::string& id, const std::string& rack, bool live,
                    DatanodeAdminState admin = DATANODE_IN_SERVICE) {
  DatanodeStatus node;
  node.mutable_node()->set_id(id);
  node.mutable_node()->set_address("127.0.0.1:" + id);
  node.mutable_node()->set_rack(rack);
  node.set_live(live);
  node.set_capacity_bytes(1000);
  node.set_used_bytes(250);
  node.set_admin_state(admin);
  return node;
}

StatusPageData SampleData() {
  StatusPageData data;
  data.raft.set_address("127.0.0.1:7000");
  data.raft.set_role("leader");
  data.raft.set_term(3);
  data.raft.set_last_index(100);
  MasterView self;
  self.address = "127.0.0.1:7000";
  self.reachable = true;
  self.status = data.raft;
  data.masters.push_back(self);
  MasterView follower;
  follower.address = "127.0.0.1:7001";
  follower.reachable = true;
  follower.status.set_role("follower");
  follower.match_index = 90;
  data.masters.push_back(follower);
  MasterView down;
  down.address = "127.0.0.1:7002";
  data.masters.push_back(down);
  *data.datanodes.add_datanodes() = Node("aaa1", "rack-a", true);
  *data.datanodes.add_datanodes() = Node("bbb2", "rack-<b>", false);
  *data.datanodes.add_datanodes() = Node("ccc3", "rack-a", true, DATANODE_DECOMMISSIONING);
  data.cluster.set_under_replicated_chunks(4);
  data.events.push_back(Event{0, "datanode", true, "datanode <bbb2> declared dead"});
  return data;
}

TEST(StatusPageTest, MarksEveryDatanodeLiveOrDead) {
  std::string html = RenderStatusPage(SampleData());
  EXPECT_NE(html.find("data-id=\"aaa1\" data-state=\"live\""), std::string::npos) << html;
  EXPECT_NE(html.find("data-id=\"bbb2\" data-state=\"dead\""), std::string::npos) << html;
  EXPECT_NE(html.find("data-id=\"ccc3\" data-state=\"live\""), std::string::npos) << html;
  EXPECT_NE(html.find("decommissioning"), std::string::npos);
  EXPECT_NE(html.find("25.0%"), std::string::npos);  // 250 of 1000 bytes used
}

TEST(StatusPageTest, EscapesEveryStringFromTheCluster) {
  std::string html = RenderStatusPage(SampleData());
  EXPECT_EQ(html.find("rack-<b>"), std::string::npos);
  EXPECT_NE(html.find("rack-&lt;b&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<bbb2>"), std::string::npos);
  EXPECT_NE(html.find("datanode &lt;bbb2&gt; declared dead"), std::string::npos);
}

TEST(StatusPageTest, ShowsMastersWithLagAndUnreachableOnes) {
  std::string html = RenderStatusPage(SampleData());
  // The follower matched 90 of the leader's 100 entries.
  EXPECT_NE(html.find("<span class=\"warn\">10</span>"), std::string::npos) << html;
  EXPECT_NE(html.find("unreachable"), std::string::npos);
  EXPECT_NE(html.find("<meta http-equiv=\"refresh\""), std::string::npos);
}

ListDatanodesResponse Datanodes(std::vector<DatanodeStatus> nodes) {
  ListDatanodesResponse response;
  for (auto& node : nodes) *response.add_datanodes() = node;
  return response;
}

std::vector<std::string> Texts(const EventLog& log) {
  std::vector<std::string> texts;
  for (const Event& e : log.Recent(100)) texts.insert(texts.begin(), e.text);  // oldest first
  return texts;
}

TEST(ClusterEventWatcherTest, RecordsLeadersDatanodesDecommissionAndSnapshots) {
  EventLog log;
  ClusterEventWatcher watcher(&log);
  RaftStatusResponse raft;
  raft.set_id(1);
  raft.set_address("m1");
  raft.set_term(2);
  raft.set_leader_id(1);
  raft.set_leader_address("m1");
  raft.set_snapshot_index(50);  // restored at start: not an event
  watcher.Observe(raft, Datanodes({Node("a", "r", true)}));
  watcher.Observe(raft, Datanodes({Node("a", "r", true)}));  // nothing new
  EXPECT_EQ(Texts(log), (std::vector<std::string>{
                            "leader elected: m1 (term 2, this master)",
                            "datanode a (127.0.0.1:a) registered, rack r"}));

  raft.set_leader_id(0);  // an election: no leader for a moment
  raft.set_term(3);
  watcher.Observe(raft, Datanodes({Node("a", "r", false)}));
  raft.set_leader_id(2);
  raft.set_leader_address("m2");
  raft.set_snapshot_index(80);
  watcher.Observe(raft, Datanodes({Node("a", "r", true, DATANODE_DECOMMISSIONING)}));
  watcher.Observe(raft, Datanodes({Node("a", "r", true, DATANODE_DECOMMISSIONED)}));
  std::vector<std::string> texts = Texts(log);
  ASSERT_EQ(texts.size(), 8u) << ::testing::PrintToString(texts);
  EXPECT_EQ(texts[2], "datanode a (127.0.0.1:a) declared dead: no heartbeat for 0 s");
  EXPECT_EQ(texts[3], "leader elected: m2 (term 3)");
  EXPECT_EQ(texts[4], "snapshot taken at index 80 on m1");
  EXPECT_EQ(texts[5], "datanode a (127.0.0.1:a) came back");
  EXPECT_EQ(texts[6], "datanode a (127.0.0.1:a): decommission started");
  EXPECT_EQ(texts[7], "datanode a (127.0.0.1:a): decommission finished");
}

TEST(MasterHttpTest, AdvertisesAWildcardHttpHostAsTheMastersHost) {
  EXPECT_EQ(AdvertisedHttpAddress("127.0.0.1:0", "127.0.0.1:4321", "10.0.0.5:7000"),
            "127.0.0.1:4321");
  EXPECT_EQ(AdvertisedHttpAddress("0.0.0.0:9870", "127.0.0.1:9870", "10.0.0.5:7000"),
            "10.0.0.5:9870");
  EXPECT_EQ(AdvertisedHttpAddress(":9870", "127.0.0.1:9870", "host-a:7000"), "host-a:9870");
}

TEST(EventLogTest, KeepsOnlyTheNewest) {
  EventLog log(3);
  for (int i = 0; i < 5; ++i) log.Record("k", std::to_string(i));
  std::vector<Event> events = log.Recent(10);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].text, "4");
  EXPECT_EQ(events[2].text, "2");
}

}  // namespace
}  // namespace dfs
