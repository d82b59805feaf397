// Tests for stage6-metrics/bounded_channel.hpp in its strict FIFO mode (stage 3's tests,
// unchanged): every member, the FIFO order of items and of waiters, close semantics, and a
// multi-thread stress (run it under TSan: make tsan). channel_barging_test.cpp tests bounded
// barging.
#include "bounded_channel.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/net/error.hpp"
#include "common/testing/wait.hpp"

namespace {

using tcppool::Errc;
using tcppool::stage6::BoundedChannel;
using tcppool::testing::eventually;

TEST(Stage6BoundedChannel, ZeroCapacityIsRejected) {
  EXPECT_THROW(BoundedChannel<int>(0), std::invalid_argument);
}

TEST(Stage6BoundedChannel, StartsEmptyAndOpen) {
  BoundedChannel<int> ch(3);
  EXPECT_EQ(ch.capacity(), 3u);
  EXPECT_EQ(ch.size(), 0u);
  EXPECT_FALSE(ch.closed());
  EXPECT_EQ(ch.waiting_receivers(), 0u);
  EXPECT_EQ(ch.waiting_senders(), 0u);
}

TEST(Stage6BoundedChannel, DeliversInSendOrder) {
  BoundedChannel<int> ch(4);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(ch.send(int(i)));
  EXPECT_EQ(ch.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    auto v = ch.receive();
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, i);
  }
  EXPECT_EQ(ch.size(), 0u);
}

TEST(Stage6BoundedChannel, TrySendFailsWhenFullWithoutTakingTheValue) {
  BoundedChannel<std::unique_ptr<int>> ch(1);
  ASSERT_TRUE(ch.try_send(std::make_unique<int>(1)));
  auto second = std::make_unique<int>(2);
  auto r = ch.try_send(std::move(second));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kChannelFull);
  ASSERT_NE(second, nullptr) << "a failed send must not consume the value";  // NOLINT
  EXPECT_EQ(*second, 2);
}

TEST(Stage6BoundedChannel, TryReceiveFailsWhenEmpty) {
  BoundedChannel<int> ch(1);
  auto r = ch.try_receive();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::kChannelEmpty);
  ASSERT_TRUE(ch.try_send(7));
  auto v = ch.try_receive();
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 7);
}

TEST(Stage6BoundedChannel, ReceiveBlocksUntilASend) {
  BoundedChannel<int> ch(1);
  std::atomic<int> got{-1};
  std::jthread receiver([&] { got = ch.receive().value_or(-2); });
  ASSERT_TRUE(eventually([&] { return ch.waiting_receivers() == 1; }));
  EXPECT_EQ(got.load(), -1);
  ASSERT_TRUE(ch.send(42));
  receiver.join();
  EXPECT_EQ(got.load(), 42);
  EXPECT_EQ(ch.size(), 0u) << "handed to the receiver directly, never buffered";
}

TEST(Stage6BoundedChannel, SendBlocksWhileFullUntilAReceive) {
  BoundedChannel<int> ch(1);
  ASSERT_TRUE(ch.send(1));
  std::atomic<bool> sent{false};
  std::jthread sender([&] {
    EXPECT_TRUE(ch.send(2));
    sent = true;
  });
  ASSERT_TRUE(eventually([&] { return ch.waiting_senders() == 1; }));
  EXPECT_FALSE(sent.load());
  EXPECT_EQ(*ch.receive(), 1);
  sender.join();
  EXPECT_TRUE(sent.load());
  EXPECT_EQ(ch.size(), 1u) << "the waiting sender's value moved into the freed slot";
  EXPECT_EQ(*ch.receive(), 2);
}

// Receivers queued in a known order get items in that order.
TEST(Stage6BoundedChannel, WaitingReceiversAreServedInArrivalOrder) {
  BoundedChannel<int> ch(2);
  std::vector<int> got(3, -1);
  std::vector<std::jthread> receivers;
  for (int r = 0; r < 3; ++r) {
    receivers.emplace_back([&, r] { got[r] = ch.receive().value_or(-2); });
    ASSERT_TRUE(
        eventually([&] { return ch.waiting_receivers() == static_cast<std::size_t>(r + 1); }));
  }
  for (int v = 10; v < 13; ++v) ASSERT_TRUE(ch.send(int(v)));
  receivers.clear();
  EXPECT_EQ(got, (std::vector<int>{10, 11, 12}));
}

// Senders queued in a known order are admitted in that order.
TEST(Stage6BoundedChannel, WaitingSendersAreAdmittedInArrivalOrder) {
  BoundedChannel<int> ch(1);
  ASSERT_TRUE(ch.send(0));
  std::vector<std::jthread> senders;
  for (int s = 1; s <= 3; ++s) {
    senders.emplace_back([&, s] { EXPECT_TRUE(ch.send(int(s))); });
    ASSERT_TRUE(eventually([&] { return ch.waiting_senders() == static_cast<std::size_t>(s); }));
  }
  std::vector<int> got;
  for (int i = 0; i < 4; ++i) got.push_back(*ch.receive());
  senders.clear();
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3}));
}

// A newcomer's try_receive cannot take an item meant for a thread already waiting.
TEST(Stage6BoundedChannel, SendToAWaitingReceiverBypassesTheBuffer) {
  BoundedChannel<int> ch(4);
  std::atomic<int> got{-1};
  std::jthread receiver([&] { got = ch.receive().value_or(-2); });
  ASSERT_TRUE(eventually([&] { return ch.waiting_receivers() == 1; }));
  ASSERT_TRUE(ch.try_send(5));
  EXPECT_EQ(ch.try_receive().error(), Errc::kChannelEmpty);
  receiver.join();
  EXPECT_EQ(got.load(), 5);
}

TEST(Stage6BoundedChannel, TryHandOffGivesOnlyToAWaitingReceiver) {
  BoundedChannel<std::unique_ptr<int>> ch(2);
  auto first = std::make_unique<int>(1);
  EXPECT_FALSE(ch.try_hand_off(std::move(first))) << "nobody waits";
  ASSERT_NE(first, nullptr) << "a failed hand-off must not consume the value";  // NOLINT
  EXPECT_EQ(ch.size(), 0u) << "a hand-off never buffers";
  std::atomic<int> got{0};
  std::jthread receiver([&] {
    auto v = ch.receive();
    got = v ? **v : -1;
  });
  ASSERT_TRUE(eventually([&] { return ch.waiting_receivers() == 1; }));
  EXPECT_TRUE(ch.try_hand_off(std::move(first)));
  receiver.join();
  EXPECT_EQ(got.load(), 1);
  EXPECT_EQ(ch.size(), 0u);
  ch.close();
  auto late = std::make_unique<int>(2);
  EXPECT_FALSE(ch.try_hand_off(std::move(late))) << "a closed channel has no receivers";
  EXPECT_NE(late, nullptr);  // NOLINT
}

TEST(Stage6BoundedChannel, CloseWakesBlockedReceiversAndSenders) {
  BoundedChannel<std::unique_ptr<int>> empty(1);
  BoundedChannel<std::unique_ptr<int>> full(1);
  ASSERT_TRUE(full.send(std::make_unique<int>(0)));
  std::atomic<int> receivers_closed{0};
  std::atomic<int> senders_closed_with_value{0};
  std::vector<std::jthread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      auto r = empty.receive();
      if (!r && r.error() == Errc::kChannelClosed) ++receivers_closed;
    });
    threads.emplace_back([&, i] {
      auto mine = std::make_unique<int>(i + 1);
      auto r = full.send(std::move(mine));
      if (!r && r.error() == Errc::kChannelClosed && mine && *mine == i + 1) {  // NOLINT
        ++senders_closed_with_value;
      }
    });
  }
  ASSERT_TRUE(
      eventually([&] { return empty.waiting_receivers() == 2 && full.waiting_senders() == 2; }));
  empty.close();
  full.close();
  threads.clear();
  EXPECT_EQ(receivers_closed.load(), 2);
  EXPECT_EQ(senders_closed_with_value.load(), 2) << "a sender woken by close keeps its value";
  EXPECT_EQ(empty.waiting_receivers(), 0u);
  EXPECT_EQ(full.waiting_senders(), 0u);
}

TEST(Stage6BoundedChannel, ClosedChannelRefusesSendsAndDrainsWhatItHolds) {
  BoundedChannel<int> ch(3);
  ASSERT_TRUE(ch.send(1));
  ASSERT_TRUE(ch.send(2));
  ch.close();
  ch.close();  // idempotent
  EXPECT_TRUE(ch.closed());
  EXPECT_EQ(ch.send(3).error(), Errc::kChannelClosed);
  EXPECT_EQ(ch.try_send(3).error(), Errc::kChannelClosed);
  EXPECT_EQ(*ch.receive(), 1);
  EXPECT_EQ(*ch.try_receive(), 2);
  EXPECT_EQ(ch.receive().error(), Errc::kChannelClosed);
  EXPECT_EQ(ch.try_receive().error(), Errc::kChannelClosed);
}

// Several producers and consumers at once: every item arrives exactly once, each producer's
// items in the order it sent them. Under TSan this also checks the locking.
TEST(Stage6BoundedChannel, StressEveryItemArrivesExactlyOnceInProducerOrder) {
  constexpr int kProducers = 4;
  constexpr int kConsumers = 4;
  constexpr int kItems = 5000;  // per producer
  BoundedChannel<int> ch(8);
  std::vector<std::vector<int>> seen(kConsumers);
  {
    std::vector<std::jthread> consumers;
    for (int c = 0; c < kConsumers; ++c) {
      consumers.emplace_back([&, c] {
        while (auto v = ch.receive()) seen[c].push_back(*v);
      });
    }
    {
      std::vector<std::jthread> producers;
      for (int p = 0; p < kProducers; ++p) {
        producers.emplace_back([&, p] {
          for (int i = 0; i < kItems; ++i) {
            int item = p * kItems + i;
            if (i % 2) {
              ASSERT_TRUE(ch.send(std::move(item)));
            } else {
              while (!ch.try_send(int(item))) std::this_thread::yield();
            }
          }
        });
      }
    }
    ch.close();  // the consumers drain what is left, then stop
  }
  std::vector<int> count(kProducers * kItems, 0);
  for (const auto& s : seen) {
    std::vector<int> last(kProducers, -1);
    for (int v : s) {
      ++count[v];
      int p = v / kItems;
      EXPECT_GT(v, last[p]) << "a consumer saw producer " << p << "'s items out of order";
      last[p] = v;
    }
  }
  for (int v = 0; v < kProducers * kItems; ++v) ASSERT_EQ(count[v], 1) << "item " << v;
}

}  // namespace
