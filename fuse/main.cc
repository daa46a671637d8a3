// dfs-fuse: mounts a dfs cluster as a POSIX file system. Parses the command line into
// FuseOptions and hands them to fuse/fuse_server.h.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuse/fuse_server.h"
#include "fuse/options.h"

int main(int argc, char** argv) {
  // Quiet gRPC's own logging unless the user asked for it; our log says what went wrong.
  ::setenv("GRPC_VERBOSITY", "NONE", /*overwrite=*/0);
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<dfs::fuse::FuseOptions> options = dfs::fuse::ParseFuseArgs(args);
  if (!options.ok()) {
    std::fprintf(stderr, "dfs-fuse: %s\nTry 'dfs-fuse --help' for usage.\n",
                 std::string(options.status().message()).c_str());
    return 2;
  }
  if (options->help) {
    std::fputs(dfs::fuse::FuseUsage().c_str(), stdout);
    return 0;
  }
  if (options->version) {
    std::puts("dfs-fuse (dfs) 0.1, FUSE low-level API 3.14");
    return 0;
  }
  return dfs::fuse::RunFuse(*options);
}
