// The dfs-master flags of background maintenance (defined in maintenance_flags.cc, which only the
// dfs-master binary links: library code never reads flags).
#pragma once

#include "master/maintenance/context.h"

namespace dfs {

// MaintenanceOptions from the command-line flags (replication and datanode_dead_ms are filled in
// by MasterServer from its own options).
MaintenanceOptions MaintenanceOptionsFromFlags();

}  // namespace dfs
