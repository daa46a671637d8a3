#include "common/metrics.h"

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "common/file_util.h"
#include "common/http_server.h"
#include "gtest/gtest.h"
#include "tests/testutil/http.h"
#include "tests/testutil/temp_dir.h"

namespace dfs::metrics {
namespace {

TEST(MetricsTest, RendersCountersAndGaugesExactly) {
  Registry registry;
  CounterFamily* rpcs = registry.Counter("test_rpcs_total", "RPCs served.", {"method", "code"});
  rpcs->WithLabels({"Create", "OK"})->Increment(3);
  rpcs->WithLabels({"Create", "NOT_FOUND"})->Increment();
  registry.Gauge("test_temperature", "Degrees.\nSecond line \\ backslash.")->Get()->Set(-2.5);
  registry.Counter("test_empty_total", "Never incremented.");

  EXPECT_EQ(registry.Render(),
            "# HELP test_empty_total Never incremented.\n"
            "# TYPE test_empty_total counter\n"
            "# HELP test_rpcs_total RPCs served.\n"
            "# TYPE test_rpcs_total counter\n"
            "test_rpcs_total{method=\"Create\",code=\"NOT_FOUND\"} 1\n"
            "test_rpcs_total{method=\"Create\",code=\"OK\"} 3\n"
            "# HELP test_temperature Degrees.\\nSecond line \\\\ backslash.\n"
            "# TYPE test_temperature gauge\n"
            "test_temperature -2.5\n");
}

TEST(MetricsTest, RendersHistogramsWithCumulativeBuckets) {
  Registry registry;
  Histogram* latency =
      registry.Histogram("test_seconds", "Latency.", {"op"}, {0.001, 0.01, 0.1})
          ->WithLabels({"read"});
  latency->Observe(0.0005);
  latency->Observe(0.001);  // on a bound: counts in that bucket (le = less or equal)
  latency->Observe(0.05);
  latency->Observe(7);

  EXPECT_EQ(registry.Render(),
            "# HELP test_seconds Latency.\n"
            "# TYPE test_seconds histogram\n"
            "test_seconds_bucket{op=\"read\",le=\"0.001\"} 2\n"
            "test_seconds_bucket{op=\"read\",le=\"0.01\"} 2\n"
            "test_seconds_bucket{op=\"read\",le=\"0.1\"} 3\n"
            "test_seconds_bucket{op=\"read\",le=\"+Inf\"} 4\n"
            "test_seconds_sum{op=\"read\"} 7.0515\n"
            "test_seconds_count{op=\"read\"} 4\n");
}

TEST(MetricsTest, EscapesLabelValues) {
  Registry registry;
  registry.Gauge("test_g", "G.", {"path"})->WithLabels({"a\"b\\c\nd"})->Set(1);
  EXPECT_NE(registry.Render().find("test_g{path=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos)
      << registry.Render();
}

TEST(MetricsTest, FormatsValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-7), "-7");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(1e20), "1e+20");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(MetricsTest, SameNameReturnsSameFamily) {
  Registry registry;
  CounterFamily* a = registry.Counter("test_total", "A.", {"x"});
  CounterFamily* b = registry.Counter("test_total", "A.", {"x"});
  EXPECT_EQ(a, b);
  EXPECT_EQ(a->WithLabels({"1"}), b->WithLabels({"1"}));
  EXPECT_NE(a->WithLabels({"1"}), a->WithLabels({"2"}));
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Registry registry;
  CounterFamily* counters = registry.Counter("test_total", "Concurrent.", {"worker"});
  Gauge* gauge = registry.Gauge("test_gauge", "Concurrent.")->Get();
  Histogram* histogram = registry.Histogram("test_seconds", "Concurrent.", {}, {0.5})->Get();
  constexpr int kThreads = 8;
  constexpr int kIterations = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        // Half the threads share one child, so both the label lookup and the adds race.
        counters->WithLabels({std::to_string(t % 2)})->Increment();
        gauge->Add(1);
        histogram->Observe(i % 2 == 0 ? 0.25 : 1.0);
      }
    });
  }
  // Scrapes while the updates run must not crash or tear a histogram apart.
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::map<std::string, double>> samples =
        dfs::testing::ParseMetrics(registry.Render());
    ASSERT_TRUE(samples.ok()) << samples.status();
    EXPECT_EQ((*samples)["test_seconds_bucket{le=\"+Inf\"}"], (*samples)["test_seconds_count"]);
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counters->WithLabels({"0"})->value() + counters->WithLabels({"1"})->value(),
            uint64_t{kThreads} * kIterations);
  EXPECT_EQ(counters->WithLabels({"0"})->value(), uint64_t{kThreads / 2} * kIterations);
  EXPECT_EQ(gauge->value(), double{kThreads} * kIterations);
  Histogram::Snapshot snapshot = histogram->snapshot();
  EXPECT_EQ(snapshot.count, uint64_t{kThreads} * kIterations);
  EXPECT_EQ(snapshot.cumulative[0], uint64_t{kThreads} * kIterations / 2);
  EXPECT_DOUBLE_EQ(snapshot.sum, kThreads * kIterations / 2 * 1.25);
}

TEST(MetricsTest, CollectorsRunAtRenderUntilTheirHandleGoes) {
  Registry registry;
  int calls = 0;
  auto handle = registry.AddCollector([&calls](Collection* out) {
    ++calls;
    out->AddGauge("test_term", "Term.", 7);
    out->AddGauge("test_role", "Role.", 1, {{"role", "leader"}});
    out->AddGauge("test_role", "Role.", 0, {{"role", "follower"}});
    out->AddCounter("test_done_total", "Done.", 12);
  });
  std::string text = registry.Render();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(text,
            "# HELP test_done_total Done.\n"
            "# TYPE test_done_total counter\n"
            "test_done_total 12\n"
            "# HELP test_role Role.\n"
            "# TYPE test_role gauge\n"
            "test_role{role=\"leader\"} 1\n"
            "test_role{role=\"follower\"} 0\n"
            "# HELP test_term Term.\n"
            "# TYPE test_term gauge\n"
            "test_term 7\n");
  handle.reset();
  EXPECT_EQ(registry.Render(), "");
  EXPECT_EQ(calls, 1);
}

TEST(MetricsTest, ParserRejectsUntypedAndMalformedSamples) {
  using dfs::testing::ParseMetrics;
  EXPECT_TRUE(ParseMetrics("# TYPE a counter\na 1\n").ok());
  EXPECT_TRUE(
      ParseMetrics("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 2\nh_count 1\n").ok());
  EXPECT_FALSE(ParseMetrics("a 1\n").ok());                          // no TYPE
  EXPECT_FALSE(ParseMetrics("# TYPE a gauge\na_count 1\n").ok());    // not a histogram
  EXPECT_FALSE(ParseMetrics("# TYPE a gauge\na{x=\"1} 1\n").ok());   // unterminated label
  EXPECT_FALSE(ParseMetrics("# TYPE a gauge\na one\n").ok());        // bad value
  EXPECT_FALSE(ParseMetrics("# TYPE a gauge\na 1\na 2\n").ok());     // repeated series
}

TEST(HttpServerTest, ServesMetricsAndHandlersAndWritesThePortFile) {
  dfs::TempDir dir;
  const std::string port_file = dir.path() + "/http.port";
  Registry::Default().Counter("test_http_server_total", "For this test.")->Get()->Increment(5);
  absl::StatusOr<std::unique_ptr<HttpServer>> server = StartHttpServer(
      "127.0.0.1:0", port_file,
      {{"/", [](const HttpRequest& request) {
          HttpResponse response;
          response.status = 307;
          response.headers.emplace_back("Location", "http://elsewhere/");
          response.body = "moved " + HtmlEscape("<a&b>");
          return response;
        }}});
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<std::string> written = ReadFile(port_file);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, (*server)->address());

  absl::StatusOr<dfs::testing::HttpResult> metrics =
      dfs::testing::HttpGet((*server)->address(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->content_type.find("text/plain"), std::string::npos);
  EXPECT_NE(metrics->body.find("test_http_server_total 5\n"), std::string::npos) << metrics->body;

  absl::StatusOr<dfs::testing::HttpResult> root = dfs::testing::HttpGet((*server)->address(), "/");
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->status, 307);
  EXPECT_EQ(root->location, "http://elsewhere/");
  EXPECT_EQ(root->body, "moved &lt;a&amp;b&gt;");

  absl::StatusOr<dfs::testing::HttpResult> missing =
      dfs::testing::HttpGet((*server)->address(), "/nothing");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->status, 404);

  const std::string address = (*server)->address();
  (*server)->Stop();
  EXPECT_FALSE(dfs::testing::HttpGet(address, "/metrics", 1000).ok());
}

TEST(HttpServerTest, EmptyAddressMeansNoServer) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server = StartHttpServer("", "");
  ASSERT_TRUE(server.ok());
  EXPECT_EQ(*server, nullptr);
  EXPECT_FALSE(StartHttpServer("no-port", "").ok());
}

}  // namespace
}  // namespace dfs::metrics
