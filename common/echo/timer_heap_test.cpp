// Tests for common/echo/timer_heap.hpp: order, moves, cancels, and the heap invariant after
// every operation of a random sequence checked against a simple model.
#include "common/echo/timer_heap.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

namespace tcppool::echo {
namespace {

struct Timer {
  long due = 0;
  std::size_t heap_index = kNotQueued;
  int id = 0;
};

std::vector<int> drain(TimerHeap<Timer>& heap) {
  std::vector<int> out;
  while (!heap.empty()) out.push_back(heap.pop()->id);
  return out;
}

TEST(TimerHeap, PopsInDueOrder) {
  std::vector<Timer> t(6);
  TimerHeap<Timer> heap;
  const long due[] = {50, 10, 40, 30, 20, 60};
  for (int i = 0; i < 6; ++i) {
    t[i].id = i;
    heap.schedule(t[i], due[i]);
  }
  EXPECT_EQ(heap.size(), 6u);
  EXPECT_EQ(heap.top()->id, 1);
  EXPECT_EQ(drain(heap), (std::vector<int>{1, 4, 3, 2, 0, 5}));
  for (const auto& x : t) EXPECT_EQ(x.heap_index, kNotQueued);
}

TEST(TimerHeap, ScheduleMovesAQueuedTimerEarlierOrLater) {
  std::vector<Timer> t(3);
  TimerHeap<Timer> heap;
  for (int i = 0; i < 3; ++i) {
    t[i].id = i;
    heap.schedule(t[i], 10 * (i + 1));  // 10 20 30
  }
  heap.schedule(t[2], 5);  // earlier: now first
  EXPECT_EQ(heap.top()->id, 2);
  heap.schedule(t[2], 100);  // later: now last
  EXPECT_EQ(heap.size(), 3u) << "moving a queued timer does not queue it twice";
  EXPECT_EQ(drain(heap), (std::vector<int>{0, 1, 2}));
}

TEST(TimerHeap, CancelRemovesFromAnywhereAndIsIdempotent) {
  std::vector<Timer> t(5);
  TimerHeap<Timer> heap;
  for (int i = 0; i < 5; ++i) {
    t[i].id = i;
    heap.schedule(t[i], i);
  }
  heap.cancel(t[2]);
  heap.cancel(t[2]);
  heap.cancel(t[0]);
  heap.cancel(t[4]);  // the last slot
  EXPECT_EQ(t[2].heap_index, kNotQueued);
  EXPECT_EQ(drain(heap), (std::vector<int>{1, 3}));
  Timer never_queued;
  heap.cancel(never_queued);
  EXPECT_TRUE(heap.empty());
  EXPECT_EQ(heap.top(), nullptr);
}

TEST(TimerHeap, UpdateAllRestoresTheOrder) {
  std::vector<Timer> t(8);
  TimerHeap<Timer> heap;
  for (int i = 0; i < 8; ++i) {
    t[i].id = i;
    heap.schedule(t[i], i);
  }
  // Reverse every due time: the order must follow.
  heap.update_all([](Timer& x) { x.due = 100 - x.due; });
  EXPECT_EQ(drain(heap), (std::vector<int>{7, 6, 5, 4, 3, 2, 1, 0}));
}

// Random schedules, moves and cancels, checked after every step against a model: the top is
// always the earliest queued timer, and every queued timer's index points back at it.
TEST(TimerHeap, RandomOperationsKeepTheInvariant) {
  constexpr int kTimers = 64;
  std::vector<Timer> t(kTimers);
  for (int i = 0; i < kTimers; ++i) t[i].id = i;
  std::map<int, long> model;  // id -> due, for queued timers
  TimerHeap<Timer> heap;
  heap.reserve(kTimers);
  std::mt19937 rng(7);
  for (int step = 0; step < 20000; ++step) {
    int id = static_cast<int>(rng() % kTimers);
    switch (rng() % 3) {
      case 0:
      case 1: {
        long due = static_cast<long>(rng() % 1000);
        heap.schedule(t[id], due);
        model[id] = due;
        break;
      }
      default:
        heap.cancel(t[id]);
        model.erase(id);
    }
    ASSERT_EQ(heap.size(), model.size());
    if (model.empty()) {
      ASSERT_EQ(heap.top(), nullptr);
      continue;
    }
    long earliest = std::ranges::min_element(model, {}, [](auto& kv) { return kv.second; })->second;
    ASSERT_EQ(heap.top()->due, earliest) << "step " << step;
    for (auto [queued, due] : model) {
      ASSERT_NE(t[queued].heap_index, kNotQueued);
      ASSERT_EQ(t[queued].due, due);
    }
  }
}

}  // namespace
}  // namespace tcppool::echo
