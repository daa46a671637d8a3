// dfs-raft-log-bench: the cost of one synced Save of the master's Raft log, LevelDbStorage
// against SegmentStorage, in the same run.
//
//   dfs-raft-log-bench [--dir DIR] [--saves N] [--rounds R] [--entry_bytes B] [--segment_bytes S]
//
// Each Save is what a follower persists for one small append: one entry of B bytes (default 200)
// and the hard state, with sync=true. The two storages alternate in R rounds (default 10) of
// N/R saves each, so that a change in the machine's load falls on both; prints the median,
// 90th and 99th percentile of each, the bytes written to storage per save (/proc/self/io; for the
// segments this includes preallocating them), and the ratio of the medians. DIR (default: a new directory
// under the current one, removed after) must be on the disk to measure.
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "master/raft/leveldb_storage.h"
#include "master/raft/segment_storage.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "dfs-raft-log-bench: %s\n", message.c_str());
  return 2;
}

// Bytes this process has caused to be written to storage so far (/proc/self/io): counts what
// each fdatasync really writes (whole dirty pages or folios, the preallocation of segments).
uint64_t WriteBytes() {
  std::ifstream io("/proc/self/io");
  std::string key;
  uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "write_bytes:") return value;
  }
  return 0;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  uint64_t saves = 4000, rounds = 10, entry_bytes = 200;
  dfs::raft::SegmentStorageOptions segment_options;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--dir") dir = value;
    else if (flag == "--saves" && absl::SimpleAtoi(value, &saves) && saves > 0) continue;
    else if (flag == "--rounds" && absl::SimpleAtoi(value, &rounds) && rounds > 0) continue;
    else if (flag == "--entry_bytes" && absl::SimpleAtoi(value, &entry_bytes)) continue;
    else if (flag == "--segment_bytes" && absl::SimpleAtoi(value, &segment_options.segment_bytes)) continue;
    else return Fail("usage: dfs-raft-log-bench [--dir D] [--saves N] [--rounds R] [--entry_bytes B] [--segment_bytes S]");
  }
  bool remove = false;
  if (dir.empty()) {
    std::string tmpl = (std::filesystem::current_path() / "raft_log_bench.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) return Fail("mkdtemp failed");
    dir = tmpl;
    remove = true;
  }
  auto leveldb = dfs::raft::LevelDbStorage::Open(dir + "/leveldb");
  if (!leveldb.ok()) return Fail(leveldb.status().ToString());
  auto segments = dfs::raft::SegmentStorage::Open(dir + "/segments", segment_options);
  if (!segments.ok()) return Fail(segments.status().ToString());
  struct Subject {
    const char* name;
    dfs::raft::Storage* storage;
    std::vector<double> micros;
    uint64_t write_bytes = 0;
  };
  std::vector<Subject> subjects = {{"leveldb", leveldb->get(), {}},
                                   {"segments", segments->get(), {}}};
  const std::string data(entry_bytes, 'x');
  uint64_t index = 0;
  const uint64_t per_round = std::max<uint64_t>(1, saves / rounds);
  for (uint64_t round = 0; round < rounds; ++round) {
    for (Subject& s : subjects) {
      const uint64_t written = WriteBytes();
      for (uint64_t i = 1; i <= per_round; ++i) {
        const uint64_t at = index + i;
        dfs::raft::Entry entry;
        entry.set_index(at);
        entry.set_term(1);
        entry.set_data(data);
        dfs::raft::HardState hs;
        hs.set_term(1);
        hs.set_vote(1);
        hs.set_commit(at - 1);
        const auto start = std::chrono::steady_clock::now();
        absl::Status status = s.storage->Save(hs, std::nullopt, {entry}, /*sync=*/true);
        const auto end = std::chrono::steady_clock::now();
        if (!status.ok()) return Fail(std::string(s.name) + ": " + status.ToString());
        s.micros.push_back(std::chrono::duration<double, std::micro>(end - start).count());
      }
      s.write_bytes += WriteBytes() - written;
    }
    index += per_round;
  }
  std::printf("%-9s %8s %10s %10s %10s %14s\n", "storage", "saves", "p50 us", "p90 us", "p99 us",
              "written B/save");
  for (const Subject& s : subjects) {
    std::printf("%-9s %8zu %10.1f %10.1f %10.1f %14.0f\n", s.name, s.micros.size(),
                Percentile(s.micros, 0.5), Percentile(s.micros, 0.9), Percentile(s.micros, 0.99),
                static_cast<double>(s.write_bytes) / static_cast<double>(s.micros.size()));
  }
  std::printf("ratio of medians, segments / leveldb: %.2f\n",
              Percentile(subjects[1].micros, 0.5) / Percentile(subjects[0].micros, 0.5));
  leveldb->reset();
  segments->reset();
  if (remove) std::filesystem::remove_all(dir);
  return 0;
}
