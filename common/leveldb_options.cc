#include "common/leveldb_options.h"

namespace dfs {

LevelDbResources::LevelDbResources(const LevelDbBudget& budget, leveldb::Env* env)
    : block_cache_(leveldb::NewLRUCache(budget.block_cache_bytes)) {
  options_.create_if_missing = true;
  if (env != nullptr) options_.env = env;
  options_.block_cache = block_cache_.get();
  options_.max_open_files = budget.max_open_files;
  options_.write_buffer_size = budget.write_buffer_bytes;
}

}  // namespace dfs
