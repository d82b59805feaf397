// Tests for stage5-context-timeouts/bounded_channel.hpp's bounded barging: a thread that does not
// block may come before a sleeping receiver; sleepers are still served in the order they blocked,
// and one that gives up passes its turn on; past the starvation bound, items are handed off; and a
// multi-thread stress with receivers giving up at random (run it under TSan: make tsan).
// bounded_channel_test.cpp tests the strict FIFO mode.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <expected>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

#include "bounded_channel.hpp"
#include "common/net/deadline.hpp"
#include "common/net/error.hpp"
#include "common/testing/wait.hpp"

namespace {

using tcppool::Errc;
using tcppool::stage5::BoundedChannel;
using tcppool::testing::eventually;
using namespace std::chrono_literals;

TEST(Stage5ChannelBarging, ANonPositiveStarvationBoundIsRejected) {
  EXPECT_THROW(BoundedChannel<int>(1, 0ms), std::invalid_argument);
  EXPECT_THROW(BoundedChannel<int>(1, -1ms), std::invalid_argument);
  EXPECT_NO_THROW(BoundedChannel<int>(1, 1ms));
}

// The point of barging: a thread that is running takes an item sent while another sleeps,
// instead of the item waiting for the sleeper to wake. Whether the sender's own try_receive()
// comes before the woken receiver has run is a race, which the running thread usually wins;
// so of up to 50 rounds at least one must win (strict FIFO wins none: see
// SendToAWaitingReceiverBypassesTheBuffer). In every round the sleeper still gets an item.
TEST(Stage5ChannelBarging, WithBargingARunningThreadMayTakeAnItemAheadOfASleeper) {
  BoundedChannel<int> ch(4, std::chrono::minutes(1));
  int barged = 0;
  for (int round = 0; round < 50 && barged == 0; ++round) {
    std::atomic<int> got{-1};
    std::jthread receiver([&] { got = ch.receive().value_or(-1); });
    ASSERT_TRUE(eventually([&] { return ch.waiting_receivers() == 1; }));
    ASSERT_TRUE(ch.try_send(int(round)));
    if (ch.try_receive()) {
      ++barged;
      ASSERT_TRUE(ch.try_send(-2));  // the sleeper's
    }
    receiver.join();
    EXPECT_NE(got.load(), -1) << "the sleeper never got an item";
  }
  EXPECT_GE(barged, 1) << "a running thread never came before the woken one";
}

// Barging wakes one sleeper at a time, which wakes the next when items are left: items sent
// with nobody barging reach every sleeper, in the order they blocked. A lost wake-up here
// would leave a receiver blocked with items in the buffer.
TEST(Stage5ChannelBarging, WithBargingSleepersAreStillServedInTheOrderTheyBlocked) {
  constexpr int kReceivers = 6;
  BoundedChannel<int> ch(kReceivers, std::chrono::minutes(1));
  std::vector<int> items(kReceivers, -1);  // the item each receiver got
  std::vector<std::jthread> receivers;
  for (int r = 0; r < kReceivers; ++r) {
    receivers.emplace_back([&, r] {
      auto v = ch.receive(tcppool::net::Deadline::after(10s), std::stop_token());
      items[r] = v ? *v : -2;  // -2: left asleep beside items in the buffer
    });
    ASSERT_TRUE(eventually([&] { return ch.waiting_receivers() == static_cast<size_t>(r + 1); }));
  }
  for (int i = 0; i < kReceivers; ++i) ASSERT_TRUE(ch.send(int(i)));
  receivers.clear();
  std::vector<int> in_order(kReceivers);
  for (int i = 0; i < kReceivers; ++i) in_order[i] = i;
  EXPECT_EQ(items, in_order) << "the oldest item to the longest sleeper, and so on";
  EXPECT_EQ(ch.size(), 0u);
}

// Past the bound there is no barging: the item goes to the receiver that has waited longest,
// directly, and a running thread's try_receive() finds nothing.
TEST(Stage5ChannelBarging, WithBargingAReceiverPastTheBoundIsHandedTheItemDirectly) {
  constexpr auto kBound = 30ms;
  BoundedChannel<int> ch(4, kBound);
  std::atomic<int> got{-1};
  std::jthread receiver([&] { got = ch.receive().value_or(-1); });
  ASSERT_TRUE(eventually([&] { return ch.waiting_receivers() == 1; }));
  // It blocked before it was counted: from here it has waited at least this long.
  std::this_thread::sleep_until(std::chrono::steady_clock::now() + kBound + 5ms);
  ASSERT_TRUE(ch.try_send(7));
  auto barger = ch.try_receive();
  EXPECT_FALSE(barger) << "a running thread took the item from a receiver past the bound";
  if (barger) ch.close();  // or the receiver would wait for good
  receiver.join();
  EXPECT_EQ(got.load(), barger ? -1 : 7);
}

// A receiver woken to look that gives up (its deadline, a stop) passes the look on: the item
// it may have been woken for reaches the next sleeper. Here the first receiver is cancelled
// before the send, so it must not take the item, whether it sees the stop before or after
// the send wakes it: the second must get it.
TEST(Stage5ChannelBarging, WithBargingAWokenReceiverThatGivesUpWakesTheNext) {
  BoundedChannel<int> ch(4, std::chrono::minutes(1));
  std::stop_source stop;
  std::atomic<bool> first_done{false};
  std::expected<int, std::error_code> first = std::unexpected(std::error_code());
  std::jthread a([&] {
    first = ch.receive(tcppool::net::Deadline::never(), stop.get_token());
    first_done = true;
  });
  ASSERT_TRUE(eventually([&] { return ch.waiting_receivers() == 1; }));
  std::atomic<int> second{-1};
  std::jthread b([&] {
    auto v = ch.receive(tcppool::net::Deadline::after(10s), std::stop_token());
    second = v ? *v : -2;  // -2: it waited 10 s beside the item: the turn was not passed on
  });
  ASSERT_TRUE(eventually([&] { return ch.waiting_receivers() == 2; }));
  stop.request_stop();  // a gives up, whether or not it was woken first
  ASSERT_TRUE(ch.send(5));
  a.join();
  b.join();
  ASSERT_TRUE(first_done.load());
  if (first) {
    FAIL() << "the receiver that was cancelled before the send took the item";
  } else {
    EXPECT_EQ(first.error(), Errc::kCancelled);
  }
  EXPECT_EQ(second.load(), 5) << "the item reached the next sleeper";
}

// A send that finds the buffer full while a receiver woken to look has not run yet still
// delivers in order: the oldest item to that receiver, the new one to the buffer. (Handing the
// new item over directly would give one consumer 2 before 1.)
TEST(Stage5ChannelBarging, WithBargingAFullBufferStillDeliversInSendOrder) {
  for (int round = 0; round < 50; ++round) {
    BoundedChannel<int> ch(1, std::chrono::minutes(1));
    std::vector<int> got;
    std::jthread consumer([&] {
      for (int i = 0; i < 2; ++i) {
        got.push_back(
            ch.receive(tcppool::net::Deadline::after(10s), std::stop_token()).value_or(-1));
      }
    });
    ASSERT_TRUE(eventually([&] { return ch.waiting_receivers() == 1; }));
    ASSERT_TRUE(ch.send(1));
    ASSERT_TRUE(ch.send(2));  // the buffer holds 1 unless the consumer has already run
    consumer.join();
    ASSERT_EQ(got, (std::vector<int>{1, 2})) << "round " << round;
  }
}

// What was sent before close() is received after it, even when it was buffered for a receiver
// woken to look that has not run yet: close() hands it over first.
TEST(Stage5ChannelBarging, WithBargingAnItemSentBeforeCloseIsStillReceived) {
  for (int round = 0; round < 50; ++round) {
    BoundedChannel<int> ch(4, std::chrono::minutes(1));
    std::vector<int> got;
    std::jthread consumer([&] {
      while (auto v = ch.receive()) got.push_back(*v);
    });
    ASSERT_TRUE(eventually([&] { return ch.waiting_receivers() == 1; }));
    ASSERT_TRUE(ch.send(int(round)));
    ch.close();
    consumer.join();
    ASSERT_EQ(got, std::vector<int>{round}) << "the item sent before close() was lost";
  }
}

// Many producers and consumers, consumers giving up at random (deadlines and stops) and
// barging (try_receive) between blocking receives: every item arrives exactly once, and
// nothing is left in the channel or waiting when the producers are done. Under TSan this also
// checks the locking.
TEST(Stage5ChannelBarging, WithBargingStressEveryItemArrivesExactlyOnce) {
  constexpr int kProducers = 3;
  constexpr int kConsumers = 6;
  constexpr int kItems = 4000;  // per producer
  BoundedChannel<int> ch(8, 2ms);
  std::vector<std::atomic<int>> count(kProducers * kItems);
  std::atomic<int> received{0};
  {
    std::vector<std::jthread> consumers;
    for (int c = 0; c < kConsumers; ++c) {
      consumers.emplace_back([&, c] {
        for (int n = 0;; ++n) {
          std::stop_source stop;
          if (n % 7 == 0) stop.request_stop();  // some receives are cancelled before they wait
          auto receive = [&]() -> std::expected<int, std::error_code> {
            switch ((n + c) % 4) {
              case 0:
                return ch.try_receive();
              case 1:
                return ch.receive(
                    tcppool::net::Deadline::after(std::chrono::microseconds(50 + n % 200)),
                    stop.get_token());
              default:
                return ch.receive();
            }
          };
          const auto v = receive();
          if (v) {
            ++count[*v];
            ++received;
          } else if (v.error() == Errc::kChannelClosed) {
            return;
          }
        }
      });
    }
    {
      std::vector<std::jthread> producers;
      for (int p = 0; p < kProducers; ++p) {
        producers.emplace_back([&, p] {
          for (int i = 0; i < kItems; ++i) ASSERT_TRUE(ch.send(p * kItems + i));
        });
      }
    }
    const bool all = eventually([&] { return received.load() == kProducers * kItems; });
    ch.close();  // on every path: the consumers must finish
    ASSERT_TRUE(all) << "items were lost or consumers were left asleep beside a full buffer";
  }
  for (int v = 0; v < kProducers * kItems; ++v) ASSERT_EQ(count[v].load(), 1) << "item " << v;
}

}  // namespace
