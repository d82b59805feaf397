// stage5-context-timeouts/retry.cpp: backoff and the circuit breaker.
#include "retry.hpp"

#include <netdb.h>

#include <algorithm>

#include "common/net/endpoint.hpp"
#include "common/net/error.hpp"

namespace tcppool::stage5 {

bool is_transient(const std::error_code& ec) noexcept {
  if (ec == Errc::kTimeout) return true;
  if (ec.category() == net::resolver_category()) return ec.value() == EAI_AGAIN;
  for (auto e :
       {std::errc::connection_refused, std::errc::connection_reset, std::errc::connection_aborted,
        std::errc::host_unreachable, std::errc::network_unreachable,
        std::errc::address_not_available, std::errc::timed_out}) {
    if (ec == e) return true;
  }
  return false;
}

DialRetry::DialRetry(const RetryOptions& options, std::uint64_t seed)
    : options_(options), rng_(seed != 0 ? seed : std::random_device{}()) {}

// [admit]
DialRetry::Pass DialRetry::admit(net::Clock::time_point now) {
  std::scoped_lock lock(mu_);
  if (!open_) return Pass::kGo;
  if (probing_ || now < open_until_) return Pass::kFailFast;
  probing_ = true;  // the cool-down is over: this caller's dial finds out
  return Pass::kProbe;
}
// [admit]

net::Clock::duration DialRetry::backoff(int attempt) {
  using std::chrono::milliseconds;
  // base * 2^(attempt - 1), capped, computed without overflow: stop doubling at the cap.
  milliseconds range = options_.base_backoff;
  for (int i = 1; i < attempt && range < options_.max_backoff; ++i) range *= 2;
  range = std::min(range, options_.max_backoff);
  std::scoped_lock lock(mu_);
  std::uniform_int_distribution<milliseconds::rep> pick(0, range.count());
  return milliseconds(pick(rng_));
}

void DialRetry::record(bool succeeded, Pass pass, net::Clock::time_point now) {
  std::scoped_lock lock(mu_);
  if (pass == Pass::kProbe) probing_ = false;
  if (succeeded) {
    consecutive_failures_ = 0;
    open_ = false;
    return;
  }
  ++consecutive_failures_;
  bool trip = pass == Pass::kProbe ||
              (options_.open_after > 0 && consecutive_failures_ >= options_.open_after);
  if (trip) {
    open_ = true;
    open_until_ = now + options_.cooldown;
  }
}

// [dial]
std::expected<net::Socket, std::error_code> DialRetry::dial(const Attempt& attempt,
                                                            std::chrono::milliseconds timeout,
                                                            const Sleep& sleep) {
  using net::Clock;
  const auto give_up = Clock::now() + options_.budget;
  const Pass pass = admit(Clock::now());
  if (pass == Pass::kFailFast) return fail(Errc::kServerUnavailable);
  for (int n = 1;; ++n) {
    auto s = attempt(earliest(net::Deadline::after(timeout), net::Deadline::at(give_up)));
    if (s) {
      record(true, pass, Clock::now());
      return s;
    }
    // A probe decides alone, without retries; anything else retries what may pass.
    bool again = pass == Pass::kGo && n < options_.attempts && is_transient(s.error());
    auto resume = again ? Clock::now() + backoff(n) : give_up;
    if (resume >= give_up) {
      record(false, pass, Clock::now());
      return s;
    }
    if (auto cut = sleep(resume)) {
      record(false, pass, Clock::now());
      return std::unexpected(cut);
    }
    if (open()) return fail(Errc::kServerUnavailable);  // others gave up meanwhile
  }
}
// [dial]

bool DialRetry::open() const {
  std::scoped_lock lock(mu_);
  return open_;
}

}  // namespace tcppool::stage5
