// common/testing/thread_count.hpp: counting this process's threads.
#pragma once

#include <cstddef>
#include <filesystem>

namespace tcppool::testing {

/// Returns how many threads this process has, by listing /proc/self/task: the main thread
/// and every thread still running (a joined or finished detached thread is gone from it).
inline std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/self/task")) {
    ++n;
  }
  return n;
}

}  // namespace tcppool::testing
