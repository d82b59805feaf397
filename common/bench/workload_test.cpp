// Tests for common/bench/workload.hpp: the client-thread engine of every scenario.
#include "common/bench/workload.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

#include "common/echo/echo_client.hpp"
#include "common/net/error.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/echo_fixture.hpp"

namespace tcppool::bench {
namespace {

using namespace std::chrono_literals;

// A client that echoes locally (no I/O) and fails every `fail_every`-th request.
class FakeClient final : public Client {
 public:
  FakeClient(std::atomic<int>& calls, int fail_every) : calls_(calls), fail_every_(fail_every) {}
  std::expected<void, std::error_code> request(std::span<const std::byte> request,
                                               std::span<std::byte> reply) override {
    ++calls_;
    ++mine_;
    std::copy(request.begin(), request.end(), reply.begin());
    if (fail_every_ != 0 && mine_ % fail_every_ == 0) return fail(Errc::kPeerClosed);
    return {};
  }

 private:
  std::atomic<int>& calls_;
  int fail_every_;
  int mine_ = 0;
};

TEST(Workload, UntimedRunDoesEveryRequestAndCountsErrors) {
  std::atomic<int> calls{0};
  Workload w{.threads = 2, .payload_bytes = 16, .requests_per_thread = 30};
  auto r = run_workload(w, [&](int) { return std::make_unique<FakeClient>(calls, 3); });
  EXPECT_EQ(calls.load(), 60);
  EXPECT_EQ(r.requests, 60u);
  EXPECT_EQ(r.errors, 20u);
  ASSERT_EQ(r.error_kinds.size(), 1u);
  EXPECT_EQ(r.error_kinds.begin()->first, make_error_code(Errc::kPeerClosed).message());
  EXPECT_EQ(r.error_kinds.begin()->second, 20u);
  EXPECT_EQ(r.latency.count(), 60u);
  EXPECT_GT(r.elapsed, Clock::duration::zero());
  EXPECT_GT(r.rps(), 0.0);
}

TEST(Workload, TimedRunMeasuresOnlyAfterWarmupAndStops) {
  std::atomic<int> calls{0};
  std::atomic<int> starts{0};
  Workload w{.threads = 2, .warmup = 30ms, .duration = 50ms};
  w.on_measure_start = [&] { ++starts; };
  auto r = run_workload(w, [&](int) { return std::make_unique<FakeClient>(calls, 0); });
  EXPECT_EQ(starts.load(), 1);
  EXPECT_GE(r.elapsed, 50ms);
  EXPECT_GT(r.requests, 0u);
  EXPECT_LT(r.requests, static_cast<std::uint64_t>(calls.load()))
      << "requests made while warming up must not be counted";
  EXPECT_EQ(r.errors, 0u);
}

TEST(Workload, EventsFireInOrderWhileMeasuring) {
  std::atomic<int> calls{0};
  std::vector<int> fired;
  Workload w{.threads = 1, .duration = 40ms};
  w.events = {{20ms, [&] { fired.push_back(2); }}, {5ms, [&] { fired.push_back(1); }}};
  run_workload(w, [&](int) { return std::make_unique<FakeClient>(calls, 0); });
  EXPECT_EQ(fired, (std::vector<int>{1, 2}));
}

// Rounds: no thread starts request k+1 of a round boundary before every thread finished its
// request k, and all of them wait out the pause together.
TEST(Workload, RoundsHoldEveryThreadAtTheBoundaryAndPause) {
  struct Stamp {
    int thread;
    int index;
    Clock::time_point at;
  };
  std::mutex mu;
  std::vector<Stamp> stamps;
  std::atomic<int> next_id{0};
  class Recorder final : public Client {
   public:
    Recorder(int id, std::mutex& mu, std::vector<Stamp>& stamps)
        : id_(id), mu_(mu), stamps_(stamps) {}
    std::expected<void, std::error_code> request(std::span<const std::byte>,
                                                 std::span<std::byte>) override {
      std::scoped_lock lock(mu_);
      stamps_.push_back({id_, n_++, Clock::now()});
      return {};
    }

   private:
    int id_;
    int n_ = 0;
    std::mutex& mu_;
    std::vector<Stamp>& stamps_;
  };
  Workload w{.threads = 3, .requests_per_thread = 10, .round_length = 5, .round_pause = 20ms};
  run_workload(w, [&](int) { return std::make_unique<Recorder>(next_id++, mu, stamps); });
  ASSERT_EQ(stamps.size(), 30u);
  Clock::time_point last_of_first_round{}, first_of_second_round = Clock::time_point::max();
  for (const auto& s : stamps) {
    if (s.index < 5) last_of_first_round = std::max(last_of_first_round, s.at);
    if (s.index >= 5) first_of_second_round = std::min(first_of_second_round, s.at);
  }
  EXPECT_GE(first_of_second_round - last_of_first_round, 20ms);
}

TEST(Workload, EachThreadGetsItsOwnIndex) {
  std::mutex mu;
  std::vector<int> seen;
  std::atomic<int> calls{0};
  Workload w{.threads = 4, .requests_per_thread = 1};
  run_workload(w, [&](int thread) {
    std::scoped_lock lock(mu);
    seen.push_back(thread);
    return std::make_unique<FakeClient>(calls, 0);
  });
  std::ranges::sort(seen);
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3}));
}

TEST(Workload, AddAccumulatesEverything) {
  std::atomic<int> calls{0};
  Workload w{.threads = 1, .payload_bytes = 8, .requests_per_thread = 6};
  auto a = run_workload(w, [&](int) { return std::make_unique<FakeClient>(calls, 2); });
  auto b = run_workload(w, [&](int) { return std::make_unique<FakeClient>(calls, 3); });
  WorkloadResult total;
  total.add(a);
  total.add(b);
  EXPECT_EQ(total.requests, 12u);
  EXPECT_EQ(total.errors, 3u + 2u);
  EXPECT_EQ(total.error_kinds.begin()->second, 5u);
  EXPECT_EQ(total.elapsed, a.elapsed + b.elapsed);
  EXPECT_EQ(total.latency.count(), 12u);
}

TEST(Workload, ConsecutiveRequestsDifferAndHaveThePayloadSize) {
  class Checker final : public Client {
   public:
    std::expected<void, std::error_code> request(std::span<const std::byte> request,
                                                 std::span<std::byte> reply) override {
      EXPECT_EQ(request.size(), 100u);
      EXPECT_EQ(reply.size(), 100u);
      std::vector<std::byte> now(request.begin(), request.end());
      EXPECT_NE(now, previous_);
      previous_ = now;
      return {};
    }

   private:
    std::vector<std::byte> previous_;
  };
  Workload w{.threads = 2, .payload_bytes = 100, .requests_per_thread = 12};
  auto r = run_workload(w, [](int) { return std::make_unique<Checker>(); });
  EXPECT_EQ(r.requests, 24u);
}

class WorkloadOnTheServer : public testing::EchoServerTest {};

// A client that dials for every request: the dial count while measuring equals the requests.
TEST_F(WorkloadOnTheServer, CountsDialsWhileMeasuring) {
  class DialEveryTime final : public Client {
   public:
    explicit DialEveryTime(net::Endpoint ep) : ep_(ep) {}
    std::expected<void, std::error_code> request(std::span<const std::byte> request,
                                                 std::span<std::byte> reply) override {
      auto s = net::dial(ep_, net::Deadline::after(5s));
      if (!s) return std::unexpected(s.error());
      return echo::round_trip(s->fd(), request, reply, net::Deadline::after(5s));
    }

   private:
    net::Endpoint ep_;
  };
  Workload w{.threads = 2, .payload_bytes = 64, .requests_per_thread = 25};
  auto r =
      run_workload(w, [&](int) { return std::make_unique<DialEveryTime>(server().endpoint()); });
  EXPECT_EQ(r.requests, 50u);
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(r.dials, 50u);
  EXPECT_TRUE(wait_accepted(50));
}

}  // namespace
}  // namespace tcppool::bench
