// dfs-meta-load: metadata load through the client library, for tools/bench/meta.sh.
//
//   dfs-meta-load --masters A,B,C --clients N --files F [--secret_file PATH] [--tls_ca PATH]
//
// The credential and CA default as for `dfs` ($DFS_SECRET_FILE, $DFS_TLS_CA, client.conf).
//
// Each of N client threads (each its own Client) creates F empty files in its own directory,
// then stats them, then renames them; prints one line per phase: "<phase> <ops> <seconds> <ops/s>".
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "tools/bench/bench_client.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "dfs-meta-load: %s\n", message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string masters;
  std::optional<std::string> secret_file, tls_ca;
  int clients = 1, files = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--masters") masters = value;
    else if (flag == "--secret_file") secret_file = value;
    else if (flag == "--tls_ca") tls_ca = value;
    else if (flag == "--clients" && absl::SimpleAtoi(value, &clients) && clients > 0) continue;
    else if (flag == "--files" && absl::SimpleAtoi(value, &files) && files > 0) continue;
    else return Fail("usage: dfs-meta-load --masters A,B --clients N --files F");
  }
  if (masters.empty()) return Fail("--masters is required");
  absl::StatusOr<dfs::ClientOptions> options =
      dfs::bench::ClientOptionsFor(masters, secret_file, tls_ca);
  if (!options.ok()) return Fail(std::string(options.status().message()));
  std::vector<std::unique_ptr<dfs::Client>> pool;
  std::vector<uint64_t> dirs;
  for (int c = 0; c < clients; ++c) {
    auto client = dfs::Client::New(*options);
    if (!client.ok()) return Fail(std::string(client.status().message()));
    auto dir = (*client)->MkdirAll(absl::StrCat("/bench-", ::getpid(), "/c", c));
    if (!dir.ok()) return Fail(std::string(dir.status().message()));
    dirs.push_back(dir->inode());
    pool.push_back(*std::move(client));
  }
  std::atomic<int> errors{0};
  auto phase = [&](const char* name, auto op) {
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        for (int n = 0; n < files; ++n) {
          if (!op(*pool[c], dirs[c], n).ok()) errors++;
        }
      });
    }
    for (auto& t : threads) t.join();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double ops = static_cast<double>(clients) * files;
    std::printf("%s %.0f %.3f %.1f\n", name, ops, seconds, ops / seconds);
  };
  phase("create", [](dfs::Client& client, uint64_t dir, int n) {
    return client.Create(dir, absl::StrCat("f", n), dfs::CreateOptions{.exclusive = true}).status();
  });
  phase("stat", [](dfs::Client& client, uint64_t dir, int n) {
    return client.Lookup(dir, absl::StrCat("f", n)).status();
  });
  phase("rename", [](dfs::Client& client, uint64_t dir, int n) {
    return client.Rename(dir, absl::StrCat("f", n), dir, absl::StrCat("g", n));
  });
  if (errors.load() > 0) return Fail(absl::StrCat(errors.load(), " operations failed"));
  return 0;
}
