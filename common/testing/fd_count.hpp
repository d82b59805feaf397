// common/testing/fd_count.hpp: counting this process's open file descriptors.
#pragma once

#include <cstddef>
#include <filesystem>

namespace tcppool::testing {

/// Returns how many file descriptors this process has open, by listing /proc/self/fd. The
/// listing's own descriptor is counted too, the same way every time, so two counts compare.
inline std::size_t open_fd_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

/// Remembers the open descriptor count when constructed; leaked() tells how many more are
/// open now. Used around a test body: every socket a pool opened must be closed again.
class FdLeakGuard {
 public:
  FdLeakGuard() : before_(open_fd_count()) {}

  /// Returns the descriptors opened since construction and not closed (negative: closed more).
  long leaked() const { return static_cast<long>(open_fd_count()) - static_cast<long>(before_); }

 private:
  std::size_t before_;
};

}  // namespace tcppool::testing
