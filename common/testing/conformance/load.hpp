// common/testing/conformance/load.hpp: many threads doing verified echoes through a pool, the
// load the conformance suites put a pool under.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "common/testing/echo_fixture.hpp"

namespace tcppool::testing {

/// Runs `threads` threads that each do `requests` round trips through `pool`: acquire, echo a
/// pattern of varying size and verify it, release (or discard after a failure). Reports every
/// failure to GoogleTest and returns how many round trips succeeded; returns once all threads
/// are done. Request sizes and patterns differ per thread and per request, so a reply that
/// went to the wrong thread or arrived late fails the byte-for-byte check.
template <typename Pool>
int run_verified_echoes(Pool& pool, int threads, int requests) {
  std::atomic<int> ok{0};
  std::vector<std::jthread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < requests; ++i) {
        auto lease = pool.acquire();
        if (!lease) {
          ADD_FAILURE() << "acquire: " << lease.error().message();
          return;
        }
        std::size_t size = 32 + static_cast<std::size_t>(t * 7 + i) % 200;
        auto r = echo_once(lease->fd(), size, static_cast<std::uint64_t>(t) << 32 | i);
        if (!r) {
          ADD_FAILURE() << "echo: " << r.error().message();
          lease->discard();
          continue;
        }
        ++ok;
      }
    });
  }
  workers.clear();
  return ok.load();
}

}  // namespace tcppool::testing
