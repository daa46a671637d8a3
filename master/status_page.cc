#include "master/status_page.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/http_server.h"
#include "common/human_bytes.h"

namespace dfs {
namespace {

constexpr char kStyle[] = R"css(
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;
 background:#f4f6f8;color:#1d2733}
header{background:#22384f;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:22px}
header .sub{color:#b9c8d8;font-size:13px;margin-top:4px}
main{padding:8px 24px 24px}
h2{font-size:17px;margin:22px 0 8px;border-bottom:2px solid #22384f;padding-bottom:3px}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08);
 font-size:13px;min-width:50%}
th,td{padding:5px 8px;border-bottom:1px solid #e3e8ee;text-align:left;white-space:nowrap}
th{background:#e9eef3;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.kv th{width:210px}
.ok{color:#1a7f37;font-weight:600}.bad{color:#c62828;font-weight:600}
.warn{color:#b26a00;font-weight:600}.muted{color:#7a8794}
.bar{display:inline-block;width:90px;height:12px;background:#e3e8ee;border-radius:3px;
 vertical-align:middle;margin-right:6px;overflow:hidden}
.bar span{display:block;height:100%;background:#3b82c4}
.bar span.high{background:#d9822b}.bar span.full{background:#c62828}
tr.dead td{background:#fdecea}
tr.ev-warn td{background:#fff4e5}
code{font-size:12px}
)css";

std::string E(const std::string& text) { return HtmlEscape(text); }

std::string Percent(uint64_t used, uint64_t total) {
  return total == 0 ? "0" : absl::StrFormat("%.1f", 100.0 * used / total);
}

// A usage bar and its percentage.
std::string UsageBar(uint64_t used, uint64_t total) {
  double fraction = total == 0 ? 0 : std::min(1.0, static_cast<double>(used) / total);
  const char* cls = fraction >= 0.9 ? "full" : fraction >= 0.7 ? "high" : "";
  return absl::StrFormat("<span class=\"bar\"><span class=\"%s\" style=\"width:%.1f%%\"></span>"
                         "</span>%s%%",
                         cls, fraction * 100, Percent(used, total));
}

std::string Row(const std::string& key, const std::string& value_html) {
  return absl::StrCat("<tr><th>", E(key), "</th><td>", value_html, "</td></tr>\n");
}

std::string Num(uint64_t n) { return absl::StrCat(n); }

// Count cell: highlighted when non-zero.
std::string Count(uint64_t n, const char* bad_class) {
  return n == 0 ? "<span class=\"ok\">0</span>"
                : absl::StrCat("<span class=\"", bad_class, "\">", n, "</span>");
}

std::string Age(int64_t ms) {
  if (ms < 10000) return absl::StrFormat("%.1f s", ms / 1000.0);
  if (ms < 120000) return absl::StrCat(ms / 1000, " s");
  if (ms < 7200000) return absl::StrCat(ms / 60000, " min");
  return absl::StrCat(ms / 3600000, " h");
}

std::string Time(int64_t ns) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixNanos(ns), absl::UTCTimeZone());
}

std::string HttpLink(const std::string& http_address, const std::string& path,
                     const std::string& label) {
  if (http_address.empty()) return "<span class=\"muted\">-</span>";
  return absl::StrCat("<a href=\"http://", E(http_address), path, "\">", E(label), "</a>");
}

std::string AdminStateName(DatanodeAdminState state) {
  switch (state) {
    case DATANODE_DECOMMISSIONING: return "decommissioning";
    case DATANODE_DECOMMISSIONED: return "decommissioned";
    default: return "in service";
  }
}

std::string Summary(const StatusPageData& data) {
  uint64_t capacity = 0, used = 0, free = 0;
  for (const DatanodeStatus& node : data.datanodes.datanodes()) {
    if (!node.live()) continue;
    capacity += node.capacity_bytes();
    used += node.used_bytes();
    free += node.free_bytes();
  }
  const ClusterStatusResponse& c = data.cluster;
  std::string out = "<h2>Cluster</h2>\n<table class=\"kv\" id=\"summary\">\n";
  out += Row("Leader", absl::StrCat("<code>", E(data.raft.address()), "</code>"));
  out += Row("Term", Num(data.raft.term()));
  out += Row("Commit / applied index",
             absl::StrCat(data.raft.commit_index(), " / ", data.raft.applied_index()));
  out += Row("Inodes", Num(c.inodes()));
  out += Row("Chunks", Num(c.chunks()));
  out += Row("Datanodes",
             absl::StrCat("<span class=\"ok\">", c.live_datanodes(), " live</span>, ",
                          c.dead_datanodes() == 0
                              ? "0 dead"
                              : absl::StrCat("<span class=\"bad\">", c.dead_datanodes(),
                                             " dead</span>")));
  out += Row("Capacity (live datanodes)",
             absl::StrCat(UsageBar(used, capacity), " &nbsp;", E(HumanBytes(used)), " used of ",
                          E(HumanBytes(capacity)), ", ", E(HumanBytes(free)), " free"));
  out += "</table>\n";
  return out;
}

std::string Masters(const StatusPageData& data) {
  std::string out =
      "<h2>Masters</h2>\n<table id=\"masters\">\n<tr><th>Address</th><th>Role</th>"
      "<th>Term</th><th>Commit</th><th>Applied</th><th>Match</th><th>Lag (entries)</th>"
      "<th>Snapshot</th><th>Pages</th></tr>\n";
  const uint64_t leader_last = data.raft.last_index();
  for (const MasterView& m : data.masters) {
    const bool self = m.address == data.raft.address();
    if (!m.reachable) {
      absl::StrAppend(&out, "<tr class=\"dead\"><td><code>", E(m.address),
                      "</code></td><td class=\"bad\">unreachable</td><td colspan=\"4\"></td>",
                      "<td class=\"num\">", leader_last - std::min(leader_last, m.match_index),
                      "</td><td colspan=\"2\"></td></tr>\n");
      continue;
    }
    const RaftStatusResponse& s = m.status;
    const uint64_t match = self ? leader_last : m.match_index;
    const uint64_t lag = leader_last - std::min(leader_last, match);
    const std::string lag_html =
        lag == 0 ? "0" : absl::StrCat("<span class=\"warn\">", lag, "</span>");
    absl::StrAppend(
        &out, "<tr><td><code>", E(m.address), "</code>",
        self ? " <span class=\"muted\">(this)</span>" : "", "</td><td class=\"",
        s.role() == "leader" ? "ok" : "", "\">", E(s.role()), "</td><td class=\"num\">",
        s.term(), "</td><td class=\"num\">", s.commit_index(), "</td><td class=\"num\">",
        s.applied_index(), "</td><td class=\"num\">", match, "</td><td class=\"num\">", lag_html,
        "</td><td class=\"num\">", s.snapshot_index(), "</td><td>",
        HttpLink(s.http_address(), "/metrics", "metrics"), "</td></tr>\n");
  }
  out += "</table>\n";
  return out;
}

std::string Datanodes(const StatusPageData& data) {
  std::vector<DatanodeStatus> nodes(data.datanodes.datanodes().begin(),
                                    data.datanodes.datanodes().end());
  std::sort(nodes.begin(), nodes.end(), [](const DatanodeStatus& a, const DatanodeStatus& b) {
    return std::make_pair(a.node().rack(), a.node().address()) <
           std::make_pair(b.node().rack(), b.node().address());
  });
  std::string out = absl::StrCat(
      "<h2>Datanodes (", nodes.size(), ")</h2>\n<table id=\"datanodes\">\n<tr><th>Id</th>"
      "<th>Address</th><th>Rack</th><th>State</th><th>Admin state</th><th>Capacity</th>"
      "<th>Used</th><th>Chunks</th><th>Last heartbeat</th><th>Scrub passes / chunks</th></tr>\n");
  for (const DatanodeStatus& n : nodes) {
    const std::string state = n.live() ? "live" : "dead";
    const std::string admin = AdminStateName(n.admin_state());
    absl::StrAppend(
        &out, "<tr class=\"dn ", state, "\" data-id=\"", E(n.node().id()), "\" data-state=\"",
        state, "\"><td><code>", E(n.node().id()), "</code></td><td><code>", E(n.node().address()),
        "</code></td><td>", E(n.node().rack()), "</td><td class=\"state ",
        n.live() ? "ok" : "bad", "\">", state, "</td><td class=\"",
        n.admin_state() == DATANODE_IN_SERVICE ? "muted" : "warn", "\">", admin,
        "</td><td class=\"num\">", E(HumanBytes(n.capacity_bytes())), "</td><td>",
        UsageBar(n.used_bytes(), n.capacity_bytes()), " <span class=\"muted\">",
        E(HumanBytes(n.used_bytes())), "</span></td><td class=\"num\">", n.chunk_count(),
        "</td><td class=\"num\">", Age(n.last_heartbeat_age_ms()), " ago</td><td class=\"num\">",
        n.scrub().passes(), " / ", n.scrub().chunks_scanned(), "</td></tr>\n");
  }
  out += "</table>\n";
  return out;
}

std::string Health(const StatusPageData& data) {
  const ClusterStatusResponse& c = data.cluster;
  std::string out = "<h2>Replication health</h2>\n<table class=\"kv\" id=\"health\">\n";
  if (!c.maintenance_active()) {
    out += Row("Scan", "<span class=\"muted\">waiting: the leader acts after one datanode "
                       "dead-timeout and a first scan</span>");
  }
  out += Row("Missing chunks (no live replica)", Count(c.missing_chunks(), "bad"));
  out += Row("Under-replicated chunks", Count(c.under_replicated_chunks(), "warn"));
  out += Row("Over-replicated chunks", Count(c.over_replicated_chunks(), "warn"));
  out += Row("Corrupt replica reports", Count(c.corrupt_replica_reports(), "warn"));
  out += Row("Garbage chunks (awaiting GC)", Num(c.garbage_chunks()));
  out += Row("Replications in flight", Num(c.replications_in_flight()));
  out += Row("Replications done (this term)", Num(c.replications_done()));
  out += Row("Replicas trimmed / balancer moves",
             absl::StrCat(c.replicas_trimmed(), " / ", c.balancer_moves()));
  out += "</table>\n";
  return out;
}

std::string Events(const StatusPageData& data) {
  std::string out =
      "<h2>Recent events</h2>\n<table id=\"events\">\n<tr><th>Time</th><th>Kind</th>"
      "<th>Event</th></tr>\n";
  if (data.events.empty()) {
    out += "<tr><td colspan=\"3\" class=\"muted\">none since this master started</td></tr>\n";
  }
  for (const Event& e : data.events) {
    absl::StrAppend(&out, "<tr", e.warning ? " class=\"ev-warn\"" : "", "><td>", E(Time(e.time_ns)),
                    "</td><td>", E(e.kind), "</td><td>", E(e.text), "</td></tr>\n");
  }
  out += "</table>\n";
  return out;
}

}  // namespace

std::string RenderStatusPage(const StatusPageData& data) {
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"refresh\" content=\"",
      data.refresh_s, "\">\n<title>dfs — ", E(data.raft.address()),
      "</title>\n<style>", kStyle, "</style></head>\n<body>\n<header><h1>dfs cluster</h1>"
      "<div class=\"sub\">leader <code>",
      E(data.raft.address()), "</code> · term ", data.raft.term(), " · ", E(Time(data.now_ns)),
      " · refreshes every ", data.refresh_s, " s · <a style=\"color:#b9c8d8\" href=\"/metrics\">"
      "metrics</a></div></header>\n<main>\n");
  out += Summary(data);
  out += Masters(data);
  out += Datanodes(data);
  out += Health(data);
  out += Events(data);
  out += "</main>\n</body></html>\n";
  return out;
}

}  // namespace dfs
