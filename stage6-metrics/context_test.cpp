// Tests for stage6-metrics/context.hpp: deadlines and cancellation, how children
// inherit both, and what each costs.
#include "context.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "common/net/error.hpp"

namespace {

using namespace std::chrono_literals;
using tcppool::Errc;
using tcppool::net::Clock;
namespace stage = tcppool::stage6;
using stage::Context;

TEST(Stage6Context, BackgroundNeverEndsAndCannotBeCancelled) {
  Context ctx = Context::background();
  EXPECT_TRUE(ctx.deadline().is_never());
  EXPECT_FALSE(ctx.stop_token().stop_possible()) << "no stop state: nothing allocated";
  EXPECT_FALSE(ctx.done());
  EXPECT_FALSE(ctx.err());
}

TEST(Stage6Context, WithTimeoutEndsWithDeadlineExceeded) {
  Context ctx = Context::background().with_timeout(-1ms);
  EXPECT_TRUE(ctx.expired());
  EXPECT_TRUE(ctx.done());
  EXPECT_EQ(ctx.err(), Errc::kTimeout);
  EXPECT_EQ(ctx.err().message(), "deadline exceeded");
  Context later = Context::background().with_timeout(1h);
  EXPECT_FALSE(later.done());
  EXPECT_GT(later.deadline().remaining(), 59min);
  EXPECT_TRUE(Context::background().with_timeout(Clock::duration::max()).deadline().is_never())
      << "a huge timeout saturates to no deadline";
}

// A child never outlives its parent's deadline: it keeps the earlier of the two.
TEST(Stage6Context, AChildKeepsTheEarlierDeadline) {
  auto t = Clock::now();
  Context parent = Context::background().with_deadline(t + 100ms);
  EXPECT_EQ(parent.with_deadline(t + 1h).deadline().when(), t + 100ms);
  EXPECT_EQ(parent.with_deadline(t + 10ms).deadline().when(), t + 10ms);
  EXPECT_EQ(parent.with_timeout(1h).deadline().when(), t + 100ms);
  auto [cancellable, cancel] = parent.with_cancel();
  EXPECT_EQ(cancellable.deadline().when(), t + 100ms) << "with_cancel keeps the deadline";
}

TEST(Stage6Context, CancelEndsTheContextWithCancelled) {
  auto [ctx, cancel] = Context::background().with_cancel();
  EXPECT_TRUE(ctx.stop_token().stop_possible());
  EXPECT_FALSE(ctx.done());
  Context copy = ctx;
  cancel();
  EXPECT_TRUE(ctx.cancelled());
  EXPECT_TRUE(copy.cancelled()) << "copies share the cancellation";
  EXPECT_EQ(ctx.err(), Errc::kCancelled);
  cancel();  // twice is harmless
  EXPECT_TRUE(ctx.done());
}

TEST(Stage6Context, CancellationWinsOverAPassedDeadline) {
  auto [ctx, cancel] = Context::background().with_timeout(-1s).with_cancel();
  cancel();
  EXPECT_EQ(ctx.err(), Errc::kCancelled);
}

// Cancelling a parent cancels every child and grandchild; cancelling a child leaves its parent
// alone.
TEST(Stage6Context, AChildIsCancelledWithItsParentNotTheOtherWay) {
  auto [parent, cancel_parent] = Context::background().with_cancel();
  auto [child, cancel_child] = parent.with_timeout(1h).with_cancel();
  Context grandchild = child.with_timeout(30min);
  auto [sibling, cancel_sibling] = parent.with_cancel();
  cancel_child();
  EXPECT_TRUE(child.cancelled());
  EXPECT_TRUE(grandchild.cancelled());
  EXPECT_FALSE(parent.cancelled());
  EXPECT_FALSE(sibling.cancelled());
  cancel_parent();
  EXPECT_TRUE(sibling.cancelled());
  (void)cancel_sibling;
}

TEST(Stage6Context, AChildOfACancelledParentIsBornCancelled) {
  auto [parent, cancel] = Context::background().with_cancel();
  cancel();
  auto [child, cancel_child] = parent.with_cancel();
  EXPECT_TRUE(child.cancelled());
  (void)cancel_child;
}

// A child made and dropped many times while its parent lives must not leave its callback
// registered on the parent: the parent's cancellation then reaches none of them, and no memory
// is held (ASan would report it).
TEST(Stage6Context, DroppedChildrenUnregisterFromTheirParent) {
  auto [parent, cancel] = Context::background().with_cancel();
  for (int i = 0; i < 10000; ++i) {
    auto [child, cancel_child] = parent.with_cancel();
    EXPECT_FALSE(child.cancelled());
  }
  cancel();
  EXPECT_TRUE(parent.cancelled());
}

// Cancellation from one thread is seen by many others at once.
TEST(Stage6Context, CancellationCrossesThreads) {
  auto [ctx, cancel] = Context::background().with_cancel();
  std::atomic<int> woke{0};
  std::vector<std::jthread> waiters;
  for (int i = 0; i < 8; ++i) {
    waiters.emplace_back([&, ctx] {
      while (!ctx.cancelled()) std::this_thread::yield();
      ++woke;
    });
  }
  cancel();
  waiters.clear();
  EXPECT_EQ(woke.load(), 8);
}

}  // namespace
