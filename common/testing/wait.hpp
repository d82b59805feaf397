// common/testing/wait.hpp: waiting for a condition another thread will make true.
#pragma once

#include <chrono>
#include <thread>

namespace tcppool::testing {

/// Calls `predicate` until it returns true or `timeout` passes; returns its last result.
///
/// For state with no event to wait on (a pool's count of blocked acquirers, say). The echo
/// server has its own event-driven EchoServer::wait_until(); prefer that for server state.
/// Polls every 100 us: fine-grained enough not to slow a test, coarse enough not to starve the
/// thread being waited for on a 2-core machine.
template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() >= give_up) return predicate();
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return true;
}

}  // namespace tcppool::testing
