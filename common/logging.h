// One line per event: "LEVEL YYYY-MM-DDTHH:MM:SS.uuuuuuZ component file:line] message".
// Thread-safe: each line is written with one write(2) to stderr.
//
//   DFS_LOG(INFO) << "listening on " << address;
#pragma once

#include <sstream>
#include <string>

namespace dfs {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Names the process in every line ("master", "datanode", ...). Call once from main().
void SetLogComponent(const std::string& component);
void SetMinLogLevel(LogLevel level);
bool LogLevelEnabled(LogLevel level);
// Sets the level from "debug", "info", "warning" or "error"; false for anything else.
bool SetLogLevelFromName(const std::string& name);

class LogLine {
 public:
  LogLine(LogLevel level, const char* file, int line);
  ~LogLine();
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

}  // namespace dfs

#define DFS_LOG_LEVEL_DEBUG ::dfs::LogLevel::kDebug
#define DFS_LOG_LEVEL_INFO ::dfs::LogLevel::kInfo
#define DFS_LOG_LEVEL_WARNING ::dfs::LogLevel::kWarning
#define DFS_LOG_LEVEL_ERROR ::dfs::LogLevel::kError

#define DFS_LOG(level)                                   \
  if (!::dfs::LogLevelEnabled(DFS_LOG_LEVEL_##level)) {  \
  } else                                                 \
    ::dfs::LogLine(DFS_LOG_LEVEL_##level, __FILE__, __LINE__).stream()
