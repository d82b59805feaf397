// common/stress/config.cpp: the runs `make stress` and `make stress-quick` make, and the check
// of a Config.
#include <stdexcept>
#include <string>

#include "common/stress/payload.hpp"
#include "common/stress/stress.hpp"

namespace tcppool::stress {

using namespace std::chrono_literals;

Config Config::for_mode(bool quick, bool cancels) {
  Config c;
  const Clock::duration length = quick ? 200ms : 1500ms;
  c.requests = quick ? 20'000 : 1'000'000;
  c.time_limit = quick ? std::chrono::seconds(120) : std::chrono::seconds(240);
  c.min_cycles = cancels ? 2 : 1;
  c.progress_every = quick ? 1s : 5s;
  echo::Faults resets, idle, restarts, latency, stall;
  resets.reset_probability = 0.01;
  idle.idle_close = 20ms;
  restarts.restart_every = quick ? 100ms : 400ms;
  restarts.restart_downtime = 20ms;
  latency.latency = 200us;
  stall.stall = quick ? 50ms : 200ms;
  stall.stall_every = quick ? 100ms : 750ms;
  c.first = {
      {.name = "steady", .length = length, .server_exact = true},
      {.name = "resets", .faults = resets, .length = length},
      {.name = "idle close", .faults = idle, .length = length, .rests = 2, .rest_for = 50ms},
      {.name = "latency", .faults = latency, .length = length, .server_exact = true},
      {.name = "stall", .faults = stall, .length = length, .server_exact = true},
      // Last: impatient callers can keep a stage's dial breaker open for its cool-down after
      // the restarts, which would leave the phases after it little to do.
      {.name = "restarts", .faults = restarts, .length = length},
  };
  for (Phase p : c.first) {
    if (cancels) {
      p.name += " + cancel";
      p.impatient = true;
      p.server_exact = false;  // every cancelled request costs its connection
    }
    c.cycle.push_back(p);
  }
  return c;
}

void Config::validate() const {
  auto fail = [](const std::string& field, const std::string& why) {
    throw std::invalid_argument("Config." + field + ": " + why);
  };
  if (threads < 1 || threads > 1024)
    fail("threads", "must be 1..1024, got " + std::to_string(threads));
  if (pool_size < 1) fail("pool_size", "must be at least 1");
  if (requests < 1) fail("requests", "must be at least 1");
  if (time_limit <= Clock::duration::zero()) fail("time_limit", "must be positive");
  if (min_payload < kHeaderBytes || min_payload > max_payload || max_payload > (1u << 20)) {
    fail("min_payload", "need " + std::to_string(kHeaderBytes) +
                            " <= min_payload <= max_payload <= 1 MiB, got " +
                            std::to_string(min_payload) + " and " + std::to_string(max_payload));
  }
  if (impatient_min <= Clock::duration::zero() || impatient_max < impatient_min) {
    fail("impatient_min", "need 0 < impatient_min <= impatient_max");
  }
  if (cancel_every < std::chrono::microseconds(1)) fail("cancel_every", "must be at least 1 us");
  if (first.empty() && cycle.empty()) fail("first", "no phase to run");
  if (min_cycles < 0) fail("min_cycles", "must not be negative");
  for (const auto* list : {&first, &cycle}) {
    for (const Phase& p : *list) {
      if (p.length <= Clock::duration::zero())
        fail("phases", "'" + p.name + "': length must be positive");
      if (p.rests < 0) fail("phases", "'" + p.name + "': rests must not be negative");
      try {
        p.faults.validate();
      } catch (const std::invalid_argument& e) {
        fail("phases", "'" + p.name + "': " + e.what());
      }
    }
  }
}

}  // namespace tcppool::stress
