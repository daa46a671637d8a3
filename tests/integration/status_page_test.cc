// The leader's status page in a real browser: three masters and four datanodes, one datanode
// SIGKILLed until the leader declares it dead; headless Chromium renders the page (a screenshot,
// and the DOM it built) and every datanode must be in the table with the right state. A
// follower's page must redirect (307) to the leader's.
//
// Chromium comes from Debian's `chromium` package; the test installs it with apt-get when it is
// missing (it is too big for tools/setup.sh). DFS_STATUS_PAGE_SCREENSHOT=PATH also copies the
// screenshot there (docs/status-page.png was made that way).
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testutil/cluster.h"
#include "tests/testutil/files.h"
#include "tests/testutil/http.h"
#include "tests/testutil/mount.h"
#include "tests/testutil/temp_dir.h"

namespace dfs::testing {
namespace {

// The chromium binary, installed from Debian if missing; "" if that failed.
std::string EnsureChromium() {
  std::string chromium = FindProgram("chromium");
  if (!chromium.empty()) return chromium;
  std::cerr << "status_page_test: installing chromium with apt-get (once)\n";
  const std::vector<std::string> install = {"env", "DEBIAN_FRONTEND=noninteractive", "apt-get",
                                            "install", "-y", "-qq", "chromium"};
  CommandResult r = RunCommand(install, 600000);
  if (r.exit_code != 0) {
    RunCommand({"apt-get", "update", "-qq"}, 300000);
    r = RunCommand(install, 600000);
    if (r.exit_code != 0) {
      // apt-get puts some of its errors on stdout: show both.
      std::cerr << "apt-get install chromium failed (exit " << r.exit_code << "):\n"
                << r.out << r.err << "\n";
    }
  }
  return FindProgram("chromium");
}

std::string DatanodeCell(const std::string& id, const std::string& state) {
  return absl::StrCat("data-id=\"", id, "\" data-state=\"", state, "\"");
}

TEST(StatusPageTest, LeaderPageShowsLiveAndDeadDatanodesAndFollowersRedirect) {
  ClusterOptions options;
  options.masters = 3;
  options.datanodes = 4;
  options.datanode_dead_ms = 3000;
  TestCluster cluster(options);
  absl::Status status = cluster.Start();
  ASSERT_TRUE(status.ok()) << status;

  // Something in the namespace, so the page has numbers to show.
  const std::string local = cluster.dir() + "/in";
  WriteRandomFile(local, 5 << 20, 1);
  CommandResult put = cluster.Dfs({"put", local, "/five-mib"});
  ASSERT_EQ(put.exit_code, 0) << put.err;

  constexpr int kKilled = 3;
  const std::string killed_id = cluster.datanode_id(kKilled);
  cluster.StopDatanode(kKilled, SIGKILL);
  status = cluster.WaitForLiveDatanodes(3);
  ASSERT_TRUE(status.ok()) << status;
  absl::StatusOr<int> leader = cluster.WaitForLeader();
  ASSERT_TRUE(leader.ok()) << leader.status();
  const std::string leader_http = cluster.master_http_address(*leader);
  const std::string url = absl::StrCat("http://", leader_http, "/");

  // The page itself, over plain HTTP: it says dead once the leader's event watcher noticed.
  std::string html;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);;) {
    absl::StatusOr<HttpResult> page = HttpGet(leader_http, "/");
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_EQ(page->status, 200) << page->body;
    html = page->body;
    if (absl::StrContains(html, "declared dead") ||
        std::chrono::steady_clock::now() > deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(absl::StrContains(html, DatanodeCell(killed_id, "dead"))) << html;
  EXPECT_TRUE(absl::StrContains(html, absl::StrCat("datanode ", killed_id))) << html;
  EXPECT_TRUE(absl::StrContains(html, "declared dead")) << html;

  // Every follower redirects to exactly that page.
  for (int i = 0; i < options.masters; ++i) {
    if (i == *leader) continue;
    absl::StatusOr<HttpResult> page = HttpGet(cluster.master_http_address(i), "/");
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(page->status, 307) << "master " << i << ": " << page->body;
    EXPECT_EQ(page->location, url) << "master " << i;
  }

  // The browser's view.
  const std::string chromium = EnsureChromium();
  ASSERT_FALSE(chromium.empty()) << "chromium is not installed and apt-get could not install it";
  TempDir shots_dir;  // removed at the end; DFS_STATUS_PAGE_SCREENSHOT keeps a copy
  const std::string& shots = shots_dir.path();
  const std::string screenshot = shots + "/status-page.png";
  const std::vector<std::string> browser = {chromium,
                                            "--headless",
                                            "--no-sandbox",
                                            "--disable-gpu",
                                            "--hide-scrollbars",
                                            "--user-data-dir=" + shots + "/profile",
                                            "--window-size=1280,2000"};
  std::vector<std::string> shoot = browser;
  shoot.push_back("--screenshot=" + screenshot);
  shoot.push_back(url);
  CommandResult shot = RunCommand(shoot, 120000);
  EXPECT_EQ(shot.exit_code, 0) << shot.err;
  struct stat st;
  ASSERT_EQ(::stat(screenshot.c_str(), &st), 0) << "no screenshot: " << shot.err;
  EXPECT_GT(st.st_size, 30000) << "a near-empty screenshot";
  if (const char* keep = std::getenv("DFS_STATUS_PAGE_SCREENSHOT"); keep != nullptr && *keep) {
    std::filesystem::copy_file(screenshot, keep,
                               std::filesystem::copy_options::overwrite_existing);
  }

  std::vector<std::string> dump = browser;
  dump.push_back("--dump-dom");
  dump.push_back(url);
  CommandResult dom = RunCommand(dump, 120000);
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  ASSERT_TRUE(absl::StrContains(dom.out, "id=\"datanodes\"")) << dom.out;
  for (int i = 0; i < options.datanodes; ++i) {
    const std::string id = cluster.datanode_id(i);
    const std::string state = i == kKilled ? "dead" : "live";
    EXPECT_TRUE(absl::StrContains(dom.out, DatanodeCell(id, state)))
        << "datanode " << i << " (" << id << ") not shown " << state << ":\n" << dom.out;
  }
}

}  // namespace
}  // namespace dfs::testing
