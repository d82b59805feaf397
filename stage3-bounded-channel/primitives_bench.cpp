// stage3-bounded-channel/primitives_bench.cpp: what the building blocks of a cap cost,
// uncontended, on one thread: the numbers behind the choice of BoundedChannel over
// std::counting_semaphore in docs/stage3-bounded-channel.md.
//
// Run: build/release/stage3-bounded-channel/stage3_primitives
#include <benchmark/benchmark.h>

#include <deque>
#include <mutex>
#include <semaphore>

#include "bounded_channel.hpp"

namespace {

// A mutex-guarded deque, borrow then return: stage 2's fast path without the pool around it.
void MutexDequeBorrowReturn(benchmark::State& state) {
  std::mutex mu;
  std::deque<int> idle{1};
  for (auto _ : state) {
    int v;
    {
      std::scoped_lock lock(mu);
      v = idle.back();
      idle.pop_back();
    }
    benchmark::DoNotOptimize(v);
    std::scoped_lock lock(mu);
    idle.push_back(v);
  }
}
BENCHMARK(MutexDequeBorrowReturn);

// std::counting_semaphore acquire then release, starting from `range(0)` permits. GCC 12's
// release() only notifies when the count was zero; with one permit it is zero every time, and
// the notification is a futex system call whether or not anyone waits.
void CountingSemaphoreAcquireRelease(benchmark::State& state) {
  std::counting_semaphore<64> sem(state.range(0));
  for (auto _ : state) {
    sem.acquire();
    sem.release();
  }
}
BENCHMARK(CountingSemaphoreAcquireRelease)->Arg(8)->Arg(1);

// BoundedChannel try_receive then send: stage 3's fast path without the pool around it.
void BoundedChannelReceiveSend(benchmark::State& state) {
  tcppool::stage3::BoundedChannel<int> ch(8);
  (void)ch.send(1);
  for (auto _ : state) {
    auto v = ch.try_receive();
    benchmark::DoNotOptimize(v);
    (void)ch.send(std::move(*v));
  }
}
BENCHMARK(BoundedChannelReceiveSend);

}  // namespace

BENCHMARK_MAIN();
