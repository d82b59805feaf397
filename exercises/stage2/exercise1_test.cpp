// exercises/stage2/exercise1_test.cpp: the grader of stage 2's exercise 1, "FIFO in one line"
// (docs/stage2-mutex-queue.md#exercises): the pool hands out the connection released longest
// ago. `make workshop-test STAGE=2 EXERCISE=1` runs it; it fails on the reference stage 2
// (LIFO) and passes with exercises/stage2/exercise1.patch, which changes one line. The
// reference's Stage2Pool.ReusesTheMostRecentlyReleasedFirst then fails, as it should.
#include "pool.hpp"

#include <gtest/gtest.h>

#include "common/net/tcp.hpp"
#include "common/testing/echo_fixture.hpp"

namespace stage = tcppool::stage2;

namespace {

class Stage2Exercise1 : public tcppool::testing::EchoServerTest {
 protected:
  static std::uint16_t id(const stage::Lease& lease) {
    return tcppool::net::local_port(lease.fd()).value_or(0);
  }
};

TEST_F(Stage2Exercise1, ReusesTheLongestIdleFirst) {
  stage::Pool pool({.endpoint = endpoint(), .max_idle = 8});
  auto a = pool.acquire();
  auto b = pool.acquire();
  auto c = pool.acquire();
  ASSERT_TRUE(a && b && c);
  std::uint16_t ida = id(*a), idb = id(*b), idc = id(*c);
  b->reset();  // released order: b, c, a
  c->reset();
  a->reset();
  auto first = pool.acquire();
  auto second = pool.acquire();
  auto third = pool.acquire();
  ASSERT_TRUE(first && second && third);
  EXPECT_EQ(id(*first), idb) << "released first, handed out first";
  EXPECT_EQ(id(*second), idc);
  EXPECT_EQ(id(*third), ida);
  EXPECT_TRUE(wait_accepted(3));
  EXPECT_EQ(server().stats().accepted, 3u) << "all three reused";
}

}  // namespace
