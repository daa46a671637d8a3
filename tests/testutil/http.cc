#include "tests/testutil/http.h"

#include "gtest/gtest.h"

#include <httplib.h>

#include <chrono>
#include <limits>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace dfs::testing {

absl::StatusOr<HttpResult> HttpGet(const std::string& address, const std::string& path,
                                   int timeout_ms) {
  size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError("not host:port: " + address);
  }
  httplib::Client client(address.substr(0, colon), port);
  client.set_connection_timeout(std::chrono::milliseconds(timeout_ms));
  client.set_read_timeout(std::chrono::milliseconds(timeout_ms));
  client.set_follow_location(false);
  httplib::Result result = client.Get(path);
  if (!result) {
    return absl::UnavailableError(
        absl::StrCat("GET http://", address, path, ": ", httplib::to_string(result.error())));
  }
  HttpResult out;
  out.status = result->status;
  out.location = result->get_header_value("Location");
  out.content_type = result->get_header_value("Content-Type");
  out.body = result->body;
  return out;
}

namespace {

bool IsNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

bool ParseValue(absl::string_view text, double* value) {
  if (text == "+Inf") {
    *value = std::numeric_limits<double>::infinity();
  } else if (text == "-Inf") {
    *value = -std::numeric_limits<double>::infinity();
  } else if (text == "NaN") {
    *value = std::numeric_limits<double>::quiet_NaN();
  } else {
    return absl::SimpleAtod(text, value);
  }
  return true;
}

// Consumes `{k="v",...}` from the front of `rest`; false if malformed.
bool ConsumeLabels(absl::string_view* rest) {
  if (!absl::ConsumePrefix(rest, "{")) return true;
  if (absl::ConsumePrefix(rest, "}")) return true;
  for (;;) {
    size_t i = 0;
    while (i < rest->size() && IsNameChar((*rest)[i], i == 0) && (*rest)[i] != ':') ++i;
    if (i == 0) return false;
    rest->remove_prefix(i);
    if (!absl::ConsumePrefix(rest, "=\"")) return false;
    for (;;) {
      if (rest->empty()) return false;
      char c = rest->front();
      rest->remove_prefix(1);
      if (c == '"') break;
      if (c == '\n') return false;
      if (c == '\\') {
        if (rest->empty() || (rest->front() != '\\' && rest->front() != '"' &&
                              rest->front() != 'n')) {
          return false;
        }
        rest->remove_prefix(1);
      }
    }
    if (absl::ConsumePrefix(rest, "}")) return true;
    if (!absl::ConsumePrefix(rest, ",")) return false;
  }
}

}  // namespace

absl::StatusOr<std::map<std::string, double>> ParseMetrics(const std::string& text) {
  static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                               "untyped"};
  std::map<std::string, std::string> types;
  std::map<std::string, double> samples;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    auto error = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": ", why, ": \"", line, "\""));
    };
    if (line.empty()) continue;
    if (absl::ConsumePrefix(&line, "# TYPE ")) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      if (parts.size() != 2 || !kTypes.count(parts[1])) return error("bad TYPE line");
      if (!types.emplace(parts[0], parts[1]).second) return error("second TYPE line");
      continue;
    }
    if (line[0] == '#') continue;  // HELP or a comment
    size_t i = 0;
    while (i < line.size() && IsNameChar(line[i], i == 0)) ++i;
    if (i == 0) return error("no metric name");
    const std::string name(line.substr(0, i));
    absl::string_view rest = line.substr(i);
    absl::string_view labels_start = rest;
    if (!ConsumeLabels(&rest)) return error("bad labels");
    const std::string series =
        name + std::string(labels_start.substr(0, labels_start.size() - rest.size()));
    if (!absl::ConsumePrefix(&rest, " ")) return error("no space before the value");
    std::vector<absl::string_view> fields = absl::StrSplit(rest, ' ');
    double value;
    if (fields.empty() || fields.size() > 2 || !ParseValue(fields[0], &value)) {
      return error("bad value");
    }
    bool typed = types.count(name) > 0;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      absl::string_view base = name;
      if (!typed && absl::ConsumeSuffix(&base, suffix)) {
        auto it = types.find(std::string(base));
        typed = it != types.end() &&
                (it->second == "histogram" || (it->second == "summary" && suffix[1] != 'b'));
      }
    }
    if (!typed) return error("sample without a TYPE for its metric");
    if (!samples.emplace(series, value).second) return error("repeated series");
  }
  return samples;
}

double SumMetric(const std::map<std::string, double>& samples, const std::string& name,
                 const std::vector<std::string>& labels) {
  double sum = 0;
  for (const auto& [series, value] : samples) {
    absl::string_view labels_text = series;
    if (!absl::ConsumePrefix(&labels_text, name)) continue;
    if (!labels_text.empty() && labels_text[0] != '{') continue;  // a longer name
    bool match = true;
    for (const std::string& label : labels) {
      match = match && (absl::StrContains(labels_text, "{" + label) ||
                        absl::StrContains(labels_text, "," + label));
    }
    if (match) sum += value;
  }
  return sum;
}

std::map<std::string, double> ScrapeMetrics(const std::string& address) {
  absl::StatusOr<HttpResult> page = HttpGet(address, "/metrics");
  EXPECT_TRUE(page.ok()) << page.status();
  if (!page.ok()) return {};
  absl::StatusOr<std::map<std::string, double>> samples = ParseMetrics(page->body);
  EXPECT_TRUE(samples.ok()) << samples.status();
  if (!samples.ok()) return {};
  return *std::move(samples);
}

}  // namespace dfs::testing
