// Test helpers for the HTTP side of dfs processes: a blocking GET (redirects are returned, not
// followed) and a strict parser of the Prometheus text format that /metrics serves.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace dfs::testing {

struct HttpResult {
  int status = 0;
  std::string location;  // the Location header, if any
  std::string content_type;
  std::string body;
};

// GET http://`address``path` (address is host:port), within `timeout_ms`.
absl::StatusOr<HttpResult> HttpGet(const std::string& address, const std::string& path,
                                   int timeout_ms = 5000);

// Samples of a /metrics page, by series as written ("name{a=\"x\"}"). Fails on a line that is
// not a valid comment or sample, on a sample whose metric has no # TYPE line before it
// (a histogram's _bucket, _sum and _count belong to its base name), and on a repeated series.
absl::StatusOr<std::map<std::string, double>> ParseMetrics(const std::string& text);

// The sum of every series of metric `name` whose labels include all of `labels`
// (each "key=\"value\""); 0 if there is none.
double SumMetric(const std::map<std::string, double>& samples, const std::string& name,
                 const std::vector<std::string>& labels = {});

// The samples of http://`address`/metrics; none, and a test failure, if the page cannot be
// fetched or parsed.
std::map<std::string, double> ScrapeMetrics(const std::string& address);

}  // namespace dfs::testing
