// Names the calling thread, so that `top -H`, perf and gdb tell dfs's threads apart.
#pragma once

#include <pthread.h>

#include <string>

namespace dfs {

// Linux keeps at most 15 characters; longer names are cut.
inline void NameThisThread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace dfs
