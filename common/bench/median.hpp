// common/bench/median.hpp: the median, for the harness (the pairs of a paired scenario) and the
// report (the repetitions of a scenario).
#pragma once

#include <algorithm>
#include <vector>

namespace tcppool::bench {

/// Returns the median of `values`, or 0 when there are none.
inline double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::ranges::sort(values);
  std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace tcppool::bench
