#include "master/placement.h"

#include <algorithm>
#include <set>
#include <string>

namespace dfs {

namespace {
// One active stream weighs like this many free bytes: busy nodes are avoided among equals.
constexpr double kBytesPerStream = 256.0 * (1 << 20);
}  // namespace

std::vector<DatanodeInfo> ChoosePlacement(std::vector<PlacementCandidate> candidates, int count,
                                          Random& random,
                                          const std::set<std::string>& used_racks) {
  std::vector<std::pair<double, size_t>> ranked;
  for (size_t i = 0; i < candidates.size(); ++i) {
    double score = static_cast<double>(candidates[i].free_bytes) -
                   kBytesPerStream * candidates[i].load;
    // +-5% jitter: nodes with about the same free space are chosen about equally often.
    score *= 0.95 + 0.1 * (random.Uniform(1000) / 1000.0);
    ranked.push_back({score, i});
  }
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<DatanodeInfo> chosen;
  std::vector<bool> taken(candidates.size(), false);
  std::set<std::string> racks = used_racks;
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& [score, i] : ranked) {
      if (static_cast<int>(chosen.size()) == count) return chosen;
      if (taken[i]) continue;
      if (pass == 0 && racks.count(candidates[i].node.rack())) continue;
      taken[i] = true;
      racks.insert(candidates[i].node.rack());
      chosen.push_back(candidates[i].node);
    }
  }
  return chosen;
}

}  // namespace dfs
