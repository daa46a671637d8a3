// dfs-many-files: creates many files through the client library and reports, at checkpoints,
// the masters' resident memory and the bytes their data directories take on disk, per file.
// For tools/bench/many_files.sh (issue 9: "master RSS and on-disk bytes per file at 1M files").
//
//   dfs-many-files --masters A,B,C [--files 1000000] [--per_dir 1000] [--threads 8]
//                  [--size 0] [--checkpoint 100000] [--max_seconds 0] [--lookups 20000]
//                  [--master_pids P0,P1,P2 --master_dirs D0,D1,D2 [--leader I]]
//                  [--secret_file PATH] [--tls_ca PATH]
//
// Files go to /many/dNNNNNN/fNNNNNN, --per_dir to a directory; directories are the unit of work
// handed to the threads (each thread has its own Client). With --size > 0 every file gets that
// many bytes (one Write: a chunk on RF datanodes). After every --checkpoint files (a multiple of
// --per_dir) all threads stop and one line per master is printed:
//   checkpoint FILES SECONDS RATE master=I leader=0|1 rss_kib=N disk_bytes=N disk_bytes_per_file=N
// With --max_seconds > 0 the run stops at the first checkpoint after that many seconds. At the end:
//   rss_growth master=I from=FILES to=FILES percent=P
// and then --lookups path lookups of files picked at random among those created (one RPC each,
// the master's metadata store read at random places: what its block cache is for):
//   lookups N SECONDS RATE
//   after_lookups master=I rss_kib=N
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/client.h"
#include "tools/bench/bench_client.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "dfs-many-files: %s\n", message.c_str());
  return 2;
}

struct Flags {
  std::string masters;
  std::optional<std::string> secret_file, tls_ca;
  int64_t files = 1000000, per_dir = 1000, checkpoint = 100000, size = 0, max_seconds = 0,
          lookups = 20000;
  int threads = 8, leader = -1;
  std::vector<std::string> master_pids, master_dirs;
};

absl::Status ParseFlags(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat(arg, " needs a value"));
    }
    bool ok = true;
    if (arg == "--masters") f->masters = value;
    else if (arg == "--secret_file") f->secret_file = value;
    else if (arg == "--tls_ca") f->tls_ca = value;
    else if (arg == "--files") ok = absl::SimpleAtoi(value, &f->files) && f->files > 0;
    else if (arg == "--per_dir") ok = absl::SimpleAtoi(value, &f->per_dir) && f->per_dir > 0;
    else if (arg == "--checkpoint") ok = absl::SimpleAtoi(value, &f->checkpoint) && f->checkpoint > 0;
    else if (arg == "--size") ok = absl::SimpleAtoi(value, &f->size) && f->size >= 0;
    else if (arg == "--max_seconds") ok = absl::SimpleAtoi(value, &f->max_seconds) && f->max_seconds >= 0;
    else if (arg == "--lookups") ok = absl::SimpleAtoi(value, &f->lookups) && f->lookups >= 0;
    else if (arg == "--threads") ok = absl::SimpleAtoi(value, &f->threads) && f->threads > 0;
    else if (arg == "--leader") ok = absl::SimpleAtoi(value, &f->leader);
    else if (arg == "--master_pids") f->master_pids = absl::StrSplit(value, ',', absl::SkipEmpty());
    else if (arg == "--master_dirs") f->master_dirs = absl::StrSplit(value, ',', absl::SkipEmpty());
    else return absl::InvalidArgumentError(absl::StrCat("unknown flag ", arg));
    if (!ok) return absl::InvalidArgumentError(absl::StrCat("bad value for ", arg, ": ", value));
  }
  if (f->masters.empty()) return absl::InvalidArgumentError("--masters is required");
  if (f->checkpoint % f->per_dir != 0 || f->files % f->per_dir != 0) {
    return absl::InvalidArgumentError("--files and --checkpoint must be multiples of --per_dir");
  }
  if (f->master_pids.size() != f->master_dirs.size()) {
    return absl::InvalidArgumentError("--master_pids and --master_dirs must pair up");
  }
  return absl::OkStatus();
}

// VmRSS of process `pid` in KiB, from /proc/PID/status; -1 if it cannot be read.
int64_t RssKib(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(in, line)) {
    int64_t kib;
    if (line.rfind("VmRSS:", 0) == 0 &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::StripSuffix(line.substr(6), "kB")), &kib)) {
      return kib;
    }
  }
  return -1;
}

// Bytes allocated on disk (st_blocks) under `dir`. nftw has no closure argument, hence the global.
int64_t g_disk_bytes = 0;
int64_t DiskBytes(const std::string& dir) {
  g_disk_bytes = 0;
  ::nftw(dir.c_str(), [](const char*, const struct stat* st, int type, struct FTW*) {
    if (type == FTW_F) g_disk_bytes += static_cast<int64_t>(st->st_blocks) * 512;
    return 0;
  }, 32, FTW_PHYS);
  return g_disk_bytes;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (absl::Status s = ParseFlags(argc, argv, &flags); !s.ok()) return Fail(std::string(s.message()));
  absl::StatusOr<dfs::ClientOptions> options =
      dfs::bench::ClientOptionsFor(flags.masters, flags.secret_file, flags.tls_ca);
  if (!options.ok()) return Fail(std::string(options.status().message()));
  std::vector<std::unique_ptr<dfs::Client>> pool;
  for (int t = 0; t < flags.threads; ++t) {
    auto client = dfs::Client::New(*options);
    if (!client.ok()) return Fail(std::string(client.status().message()));
    pool.push_back(*std::move(client));
  }
  absl::StatusOr<dfs::Attr> root = pool[0]->MkdirAll("/many");
  if (!root.ok()) return Fail(absl::StrCat("mkdir /many: ", root.status().ToString()));
  const std::string data(static_cast<size_t>(flags.size), 'x');

  std::atomic<int64_t> next_dir{0};
  std::atomic<int64_t> errors{0};
  std::string first_error;
  std::atomic<bool> error_recorded{false};
  auto record = [&](const absl::Status& s, const std::string& what) {
    errors++;
    if (!error_recorded.exchange(true)) first_error = absl::StrCat(what, ": ", s.ToString());
  };
  // One directory: mkdir, then per_dir creates (and writes).
  auto fill_dir = [&](dfs::Client& client, int64_t d) {
    auto dir = client.Mkdir(root->inode(), absl::StrFormat("d%06d", d), 0755);
    if (!dir.ok()) return record(dir.status(), absl::StrCat("mkdir d", d));
    for (int64_t n = 0; n < flags.per_dir; ++n) {
      std::string name = absl::StrFormat("f%06d", d * flags.per_dir + n);
      auto file = client.Create(dir->inode(), name, dfs::CreateOptions{.exclusive = true});
      if (!file.ok()) {
        record(file.status(), "create " + name);
        continue;
      }
      if (!data.empty()) {
        auto w = client.Write(file->inode(), 0, data);
        if (!w.ok()) record(w.status(), "write " + name);
      }
    }
  };

  std::vector<int64_t> first_rss(flags.master_pids.size(), -1);
  int64_t first_files = 0, done = 0;
  auto start = std::chrono::steady_clock::now();
  auto last = start;
  while (done < flags.files) {
    int64_t target = std::min(flags.files, done + flags.checkpoint);
    int64_t end_dir = target / flags.per_dir;
    std::vector<std::thread> threads;
    for (int t = 0; t < flags.threads; ++t) {
      threads.emplace_back([&, t] {
        for (int64_t d; (d = next_dir.fetch_add(1)) < end_dir;) fill_dir(*pool[t], d);
      });
    }
    for (auto& th : threads) th.join();
    next_dir = end_dir;
    if (errors.load() > 0) {
      return Fail(absl::StrCat(errors.load(), " operations failed; first: ", first_error));
    }
    auto now = std::chrono::steady_clock::now();
    double seconds = std::chrono::duration<double>(now - start).count();
    double rate = (target - done) / std::chrono::duration<double>(now - last).count();
    last = now;
    done = target;
    if (flags.master_pids.empty()) std::printf("checkpoint %lld %.1f %.0f\n", (long long)done, seconds, rate);
    for (size_t m = 0; m < flags.master_pids.size(); ++m) {
      int64_t rss = RssKib(flags.master_pids[m]);
      int64_t disk = DiskBytes(flags.master_dirs[m]);
      if (first_rss[m] < 0) first_rss[m] = rss;
      std::printf("checkpoint %lld %.1f %.0f master=%zu leader=%d rss_kib=%lld disk_bytes=%lld "
                  "disk_bytes_per_file=%.1f\n",
                  (long long)done, seconds, rate, m, static_cast<int>(m) == flags.leader ? 1 : 0,
                  (long long)rss, (long long)disk, static_cast<double>(disk) / done);
    }
    if (first_files == 0) first_files = done;
    std::fflush(stdout);
    if (flags.max_seconds > 0 && seconds >= flags.max_seconds) break;
  }
  for (size_t m = 0; m < flags.master_pids.size(); ++m) {
    int64_t rss = RssKib(flags.master_pids[m]);
    std::printf("rss_growth master=%zu from=%lld to=%lld percent=%.1f\n", m, (long long)first_files,
                (long long)done, 100.0 * (rss - first_rss[m]) / first_rss[m]);
  }
  std::fflush(stdout);

  std::atomic<int64_t> lookups_left{flags.lookups};
  auto lookups_start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < flags.threads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 random(t);
      while (lookups_left.fetch_sub(1) > 0) {
        int64_t file = static_cast<int64_t>(random() % static_cast<uint64_t>(done));
        std::string path =
            absl::StrFormat("/many/d%06d/f%06d", file / flags.per_dir, file);
        auto attr = pool[t]->LookupPath(path);
        if (!attr.ok()) record(attr.status(), "lookup " + path);
      }
    });
  }
  for (auto& th : threads) th.join();
  if (errors.load() > 0) {
    return Fail(absl::StrCat(errors.load(), " lookups failed; first: ", first_error));
  }
  double lookup_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - lookups_start).count();
  std::printf("lookups %lld %.1f %.0f\n", (long long)flags.lookups, lookup_seconds,
              flags.lookups / lookup_seconds);
  for (size_t m = 0; m < flags.master_pids.size(); ++m) {
    std::printf("after_lookups master=%zu rss_kib=%lld\n", m,
                (long long)RssKib(flags.master_pids[m]));
  }
  return 0;
}
