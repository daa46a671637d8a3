#include "common/logging.h"

#include <unistd.h>

#include <atomic>
#include <cstring>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace dfs {
namespace {

std::string& Component() {
  static std::string* component = new std::string("dfs");
  return *component;
}
std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

// Debian's abseil is built without NDEBUG, which leaves absl::Mutex deadlock detection on: every
// Lock then takes one process-wide spin lock and updates a lock graph (1-2% of a master's CPU
// under load, and a point of contention between all threads). This file is in every dfs binary,
// so it turns detection off for all of them before main runs.
const bool kMutexDeadlockDetectionOff = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarning: return "WARN";
    case LogLevel::kError: return "ERROR";
  }
  return "?";
}

}  // namespace

void SetLogComponent(const std::string& component) { Component() = component; }
void SetMinLogLevel(LogLevel level) { min_level = static_cast<int>(level); }
bool LogLevelEnabled(LogLevel level) { return static_cast<int>(level) >= min_level; }

bool SetLogLevelFromName(const std::string& name) {
  static const std::pair<const char*, LogLevel> kLevels[] = {
      {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo},
      {"warning", LogLevel::kWarning}, {"error", LogLevel::kError}};
  for (const auto& [level_name, level] : kLevels) {
    if (name == level_name) {
      SetMinLogLevel(level);
      return true;
    }
  }
  return false;
}

LogLine::LogLine(LogLevel level, const char* file, int line) : level_(level) {
  const char* base = std::strrchr(file, '/');
  stream_ << LevelName(level) << ' '
          << absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone()) << ' '
          << Component() << ' ' << (base ? base + 1 : file) << ':' << line << "] ";
}

LogLine::~LogLine() {
  stream_ << '\n';
  std::string text = stream_.str();
  // One write per line keeps lines from concurrent threads whole.
  ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
}

}  // namespace dfs
