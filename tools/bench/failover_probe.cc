// dfs-failover-probe: loops on a cheap metadata mutation through the client library and records
// when each one succeeded, for tools/bench/failover.sh (issue 9: master failover time).
//
//   dfs-failover-probe --masters A,B,C --out FILE [--seconds 60] [--dir /failover-probe]
//
// One Client, one thread: creates /DIR/pN for N = 0, 1, ... (exclusive create, a Raft-committed
// mutation) until --seconds have passed or it gets SIGTERM. For every successful create it appends
// "START_NS END_NS" to --out (CLOCK_REALTIME nanoseconds, so the script's `date +%s%N` compares),
// flushed per line. A failed create (after the client's own retries) is written as
// "fail START_NS END_NS CODE" and the loop goes on.
#include <csignal>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "tools/bench/bench_client.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;

int64_t RealtimeNs() {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "dfs-failover-probe: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string masters, out_path, dir = "/failover-probe";
  int64_t seconds = 60;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--masters") masters = value;
    else if (flag == "--out") out_path = value;
    else if (flag == "--dir") dir = value;
    else if (flag == "--seconds" && absl::SimpleAtoi(value, &seconds) && seconds > 0) continue;
    else return Fail("usage: dfs-failover-probe --masters A,B,C --out FILE [--seconds S] [--dir D]");
  }
  if (masters.empty() || out_path.empty()) return Fail("--masters and --out are required");
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  absl::StatusOr<dfs::ClientOptions> options =
      dfs::bench::ClientOptionsFor(masters, std::nullopt, std::nullopt);
  if (!options.ok()) return Fail(std::string(options.status().message()));
  auto client = dfs::Client::New(*options);
  if (!client.ok()) return Fail(std::string(client.status().message()));
  auto parent = (*client)->MkdirAll(dir);
  if (!parent.ok()) return Fail(absl::StrCat("mkdir ", dir, ": ", parent.status().ToString()));
  std::FILE* out = std::fopen(out_path.c_str(), "w");
  if (out == nullptr) return Fail("cannot open " + out_path);
  const int64_t deadline = RealtimeNs() + seconds * 1000000000;
  for (int64_t n = 0; !g_stop && RealtimeNs() < deadline; ++n) {
    int64_t start = RealtimeNs();
    absl::Status s = (*client)
                         ->Create(parent->inode(), absl::StrCat("p", n),
                                  dfs::CreateOptions{.exclusive = true})
                         .status();
    int64_t end = RealtimeNs();
    if (s.ok()) {
      std::fprintf(out, "%lld %lld\n", static_cast<long long>(start), static_cast<long long>(end));
    } else {
      std::fprintf(out, "fail %lld %lld %s\n", static_cast<long long>(start),
                   static_cast<long long>(end), absl::StatusCodeToString(s.code()).c_str());
    }
    std::fflush(out);
  }
  std::fclose(out);
  return 0;
}
