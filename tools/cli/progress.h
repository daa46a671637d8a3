// A one-line progress bar for put/get on stderr: percentage, bytes and rate (MB/s). Shown only
// when stderr is a terminal and the transfer is big enough to be worth watching (over 8 MiB),
// so scripts and logs never see it. Not thread-safe: one transfer, one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace dfs::cli {

inline constexpr uint64_t kProgressMinBytes = 8ull << 20;

// Whether a bar is worth drawing for a transfer of `total` bytes (0: unknown) that has done
// `done` so far.
bool ProgressWorthShowing(bool stderr_is_tty, uint64_t done, uint64_t total);

// The bar's text (without "\r"), e.g. "file.bin  42% [=====>     ] 12.6 MB/30.0 MB  8.1 MB/s".
std::string ProgressLine(const std::string& label, uint64_t done, uint64_t total,
                         double seconds);

class ProgressBar {
 public:
  // Draws on `fd` when `enabled` (the caller decided isatty) and the transfer is big enough.
  ProgressBar(std::string label, int fd, bool enabled);
  ~ProgressBar();

  void Update(uint64_t done, uint64_t total);
  // Draws the final state and ends the line, if anything was drawn.
  void Finish();

 private:
  void Draw(bool force);

  const std::string label_;
  const int fd_;
  const bool enabled_;
  const std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  uint64_t done_ = 0;
  uint64_t total_ = 0;
  bool drawn_ = false;
  bool finished_ = false;
};

}  // namespace dfs::cli
