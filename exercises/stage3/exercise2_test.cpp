// exercises/stage3/exercise2_test.cpp: the grader of stage 3's exercise 2, "Count the waits"
// (docs/stage3-bounded-channel.md#exercises): Pool::stats() returns open, idle and waiting
// with two new numbers, the acquire() calls that blocked and the most threads ever blocked at
// once. `make workshop-test STAGE=3 EXERCISE=2` runs it; it fails on the reference stage 3
// and passes with exercises/stage3/exercise2.patch.
#include "pool.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "common/net/error.hpp"
#include "common/testing/echo_fixture.hpp"
#include "common/testing/wait.hpp"

namespace stage = tcppool::stage3;

namespace {

using tcppool::testing::eventually;

class Stage3Exercise2 : public tcppool::testing::EchoServerTest {};

// A cap of one, the connection held, three waiters started one at a time: all three block,
// three at once; then each is served in turn.
TEST_F(Stage3Exercise2, StatsCountBlockedAcquiresAndThePeak) {
  stage::Pool pool({.endpoint = endpoint(), .max_idle = 1, .max_open = 1});
  auto held = pool.acquire();
  ASSERT_TRUE(held) << held.error().message();
  std::vector<std::jthread> waiters;
  for (std::size_t i = 0; i < 3; ++i) {
    waiters.emplace_back([&] {
      auto lease = pool.acquire();  // blocks until the one before releases
      EXPECT_TRUE(lease) << lease.error().message();
    });
    ASSERT_TRUE(eventually([&] { return pool.waiting() == i + 1; }));
  }
  auto during = pool.stats();
  EXPECT_EQ(during.open, 1u);
  EXPECT_EQ(during.idle, 0u);
  EXPECT_EQ(during.waiting, 3u);
  EXPECT_EQ(during.blocked, 3u);
  EXPECT_EQ(during.peak_waiting, 3u);
  held->reset();
  waiters.clear();  // each waiter takes the connection and gives it back
  auto after = pool.stats();
  EXPECT_EQ(after.open, 1u);
  EXPECT_EQ(after.idle, 1u);
  EXPECT_EQ(after.waiting, 0u);
  EXPECT_EQ(after.blocked, 3u) << "a count of all time, not of now";
  EXPECT_EQ(after.peak_waiting, 3u);
}

// Neither a try_acquire() at the cap nor an acquire() that finds a connection idle blocks.
TEST_F(Stage3Exercise2, WhatDoesNotWaitIsNotCounted) {
  stage::Pool pool({.endpoint = endpoint(), .max_idle = 1, .max_open = 1});
  {
    auto lease = pool.acquire();
    ASSERT_TRUE(lease);
    auto refused = pool.try_acquire();
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), tcppool::Errc::kPoolExhausted);
  }
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pool.acquire());
  auto s = pool.stats();
  EXPECT_EQ(s.blocked, 0u);
  EXPECT_EQ(s.peak_waiting, 0u);
  EXPECT_EQ(s.open, 1u);
  EXPECT_EQ(s.idle, 1u);
}

}  // namespace
