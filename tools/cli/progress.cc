#include "tools/cli/progress.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/cli/format.h"

namespace dfs::cli {
namespace {

constexpr int kBarWidth = 24;
constexpr size_t kMaxLabel = 24;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

void WriteAllIgnoringErrors(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return;  // a progress bar is not worth failing a transfer for
    done += n;
  }
}

}  // namespace

bool ProgressWorthShowing(bool stderr_is_tty, uint64_t done, uint64_t total) {
  if (!stderr_is_tty) return false;
  return total > kProgressMinBytes || (total == 0 && done > kProgressMinBytes);
}

std::string ProgressLine(const std::string& label, uint64_t done, uint64_t total,
                         double seconds) {
  std::string name = label;
  if (name.size() > kMaxLabel) name = "..." + name.substr(name.size() - (kMaxLabel - 3));
  double rate = seconds > 0 ? static_cast<double>(done) / seconds / 1e6 : 0;
  std::string line = absl::StrFormat("%-*s ", kMaxLabel, name);
  if (total > 0) {
    uint64_t shown = std::min(done, total);
    int percent = static_cast<int>(shown * 100 / total);
    int filled = static_cast<int>(shown * kBarWidth / total);
    std::string bar(kBarWidth, ' ');
    for (int i = 0; i < filled; ++i) bar[i] = '=';
    if (filled < kBarWidth) bar[filled] = '>';
    absl::StrAppendFormat(&line, "%3d%% [%s] %s/%s", percent, bar, HumanBytes(done),
                          HumanBytes(total));
  } else {
    absl::StrAppend(&line, HumanBytes(done));
  }
  absl::StrAppendFormat(&line, "  %.1f MB/s", rate);
  return line;
}

ProgressBar::ProgressBar(std::string label, int fd, bool enabled)
    : label_(std::move(label)),
      fd_(fd),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  // An abandoned bar (an error) still gets its line ended, so the error message starts clean.
  if (drawn_ && !finished_) WriteAllIgnoringErrors(fd_, "\n");
}

void ProgressBar::Update(uint64_t done, uint64_t total) {
  done_ = done;
  total_ = total;
  Draw(/*force=*/false);
}

void ProgressBar::Finish() {
  if (finished_) return;
  Draw(/*force=*/true);
  if (drawn_) WriteAllIgnoringErrors(fd_, "\n");
  finished_ = true;
}

void ProgressBar::Draw(bool force) {
  if (!ProgressWorthShowing(enabled_, done_, total_)) return;
  auto now = std::chrono::steady_clock::now();
  if (!force && drawn_ && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  double seconds = std::chrono::duration<double>(now - start_).count();
  // "\r" returns to the line start and "ESC[K" clears what a longer previous line left.
  WriteAllIgnoringErrors(fd_, absl::StrCat("\r", ProgressLine(label_, done_, total_, seconds),
                                           "\033[K"));
  drawn_ = true;
}

}  // namespace dfs::cli
