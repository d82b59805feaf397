// common/bench/eventloop.cpp: the event-loop ceiling's loop.
#include "common/bench/eventloop.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <ctime>
#include <optional>
#include <thread>
#include <utility>

#include "common/net/error.hpp"
#include "common/net/tcp.hpp"

namespace tcppool::bench {
namespace {

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

// Dials one connection, non-blocking, without Nagle's delay.
std::expected<net::Socket, std::error_code> dial_one(const net::Endpoint& endpoint,
                                                     Clock::time_point deadline) {
  auto s = net::dial(endpoint, net::Deadline::at(deadline));
  if (!s) return std::unexpected(s.error());
  if (auto nb = net::set_nonblocking(s->fd()); !nb) return std::unexpected(nb.error());
  (void)net::set_nodelay(s->fd());
  return s;
}

}  // namespace

EventLoopClient::EventLoopClient(net::Endpoint endpoint, Clock::duration timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {}

std::expected<EventLoopClient, std::error_code> EventLoopClient::open(const net::Endpoint& endpoint,
                                                                      std::size_t connections,
                                                                      Clock::duration timeout) {
  assert(connections > 0);
  EventLoopClient client(endpoint, timeout);
  client.conns_.resize(connections);
  for (auto& c : client.conns_) {
    auto s = dial_one(endpoint, Clock::now() + timeout);
    if (!s) return std::unexpected(s.error());
    c.socket = std::move(*s);
  }
  return client;
}

WorkloadResult EventLoopClient::run(const Workload& w) {
  assert(static_cast<std::size_t>(w.threads) == conns_.size());
  assert(w.round_length == 0 && w.events.empty());
  WorkloadResult result;
  std::jthread thread([&] {
    pin_this_thread(w.cpus);
    result = drive(w);
  });
  thread.join();
  return result;
}

// [event_loop]
WorkloadResult EventLoopClient::drive(const Workload& w) {
  enum Phase { kWarmup, kMeasure, kStop };
  const bool timed = w.duration > Clock::duration::zero();
  const std::size_t size = w.payload_bytes;
  WorkloadResult out;
  Phase phase = timed && w.warmup > Clock::duration::zero() ? kWarmup : kMeasure;
  const Clock::time_point measure_at = Clock::now() + w.warmup;
  Clock::time_point t0{}, t1{}, stop_at = Clock::time_point::max();
  std::uint64_t dials_before = 0;
  auto begin_measuring = [&] {
    if (w.on_measure_start) w.on_measure_start();
    dials_before = net::dial_count();
    t0 = Clock::now();
    if (timed) stop_at = t0 + w.duration;
    phase = kMeasure;
  };
  if (phase == kMeasure) begin_measuring();

  for (std::size_t k = 0; k < conns_.size(); ++k) {
    Connection& c = conns_[k];
    if (c.requests.empty() || c.requests.front().size() != size) {
      c.requests = request_patterns(static_cast<int>(k), size);
      c.reply.assign(size, std::byte{0});
    }
    c.state = Connection::State::kReady;
    c.done = 0;
  }

  // Ends the request in flight on `c` with `r`: counts it if it started while measuring, and
  // closes the connection after a failure (its state is unknown); the next request redials.
  auto complete = [&](Connection& c, const std::expected<void, std::error_code>& r) {
    auto end = Clock::now();
    ++c.done;
    c.state = Connection::State::kReady;
    if (!r) c.socket.reset();
    if (!c.measured) return;
    ++out.requests;
    out.latency.record(end - c.start);
    if (!r) {
      ++out.errors;
      if (r.error() == Errc::kTimeout) ++out.timeouts;
      ++out.error_kinds[r.error().message()];
      out.failed_latency.record(end - c.start);
    }
  };

  // Moves what the socket takes and what has come back, without blocking; returns nullopt
  // while the echo is incomplete. The errors are round_trip()'s (echo_client.hpp).
  auto pump = [&](Connection& c) -> std::optional<std::expected<void, std::error_code>> {
    const auto& request = c.requests[c.done % kRequestPatterns];
    const int fd = c.socket.fd();
    while (c.sent < size) {
      ssize_t n = ::send(fd, request.data() + c.sent, size - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        c.sent += static_cast<std::size_t>(n);
      } else if (n < 0 && would_block(errno)) {
        break;
      } else {
        return c.got > 0 ? fail(Errc::kTruncated) : fail_errno();
      }
    }
    while (c.got < size) {
      ssize_t m = ::recv(fd, c.reply.data() + c.got, size - c.got, MSG_DONTWAIT);
      if (m > 0) {
        c.got += static_cast<std::size_t>(m);
      } else if (m == 0) {
        return fail(c.got > 0 ? Errc::kTruncated : Errc::kPeerClosed);
      } else if (would_block(errno)) {
        break;
      } else {
        return c.got > 0 ? fail(Errc::kTruncated) : fail_errno();
      }
    }
    if (c.got < size) return std::nullopt;
    // Every byte checked; an echo that came before its request was all sent is a bad one.
    if (c.sent < size || !std::ranges::equal(request, c.reply)) return fail(Errc::kBadReply);
    return std::expected<void, std::error_code>{};
  };

  // Starts the next request on `c`, if it has one: (re)dials a connection a failure closed,
  // sends what the socket takes at once. A failure before the request is under way (a dial)
  // ends it here, and the connection is kReady again for the loop's next pass.
  auto begin = [&](Connection& c) {
    if (phase == kStop || c.done >= w.requests_per_thread) {
      c.state = Connection::State::kDone;
      return;
    }
    c.start = Clock::now();
    c.deadline = c.start + timeout_;
    c.measured = phase == kMeasure;
    c.sent = c.got = 0;
    if (!c.socket) {
      auto s = dial_one(endpoint_, c.deadline);
      if (!s) return complete(c, std::unexpected(s.error()));
      c.socket = std::move(*s);
    }
    if (auto r = pump(c)) return complete(c, *r);
    c.state = Connection::State::kBusy;
  };

  std::vector<pollfd> fds;
  std::vector<Connection*> polled;
  for (;;) {
    auto now = Clock::now();
    if (phase == kWarmup && now >= measure_at) begin_measuring();
    if (phase == kMeasure && now >= stop_at) {
      t1 = now;
      phase = kStop;  // no new requests; the ones in flight finish
    }
    fds.clear();
    polled.clear();
    bool ready = false;
    Clock::time_point wake = phase == kWarmup ? measure_at : stop_at;
    for (auto& c : conns_) {
      if (c.state == Connection::State::kReady) begin(c);
      if (c.state == Connection::State::kReady) ready = true;  // failed at once: next pass
      if (c.state != Connection::State::kBusy) continue;
      fds.push_back({c.socket.fd(), static_cast<short>(POLLIN | (c.sent < size ? POLLOUT : 0)), 0});
      polled.push_back(&c);
      wake = std::min(wake, c.deadline);
    }
    if (polled.empty()) {
      if (ready) continue;
      break;  // every connection is done
    }
    // A connection whose dial failed starts again on the next pass: look, but do not wait.
    auto wait =
        ready ? Clock::duration::zero() : std::max(wake - Clock::now(), Clock::duration::zero());
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
    timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    int n = ::ppoll(fds.data(), fds.size(), &ts, nullptr);
    if (n < 0 && errno != EINTR) {
      auto err = fail_errno();
      for (Connection* c : polled) complete(*c, err);
      continue;
    }
    now = Clock::now();
    for (std::size_t i = 0; i < polled.size(); ++i) {
      Connection& c = *polled[i];
      if (fds[i].revents != 0) {
        if (auto r = pump(c)) {
          complete(c, *r);
          continue;
        }
      }
      if (now >= c.deadline) complete(c, fail(Errc::kTimeout));
    }
  }
  // Untimed, or every connection did its requests before the measured time was up.
  if (phase != kStop) t1 = Clock::now();
  if (t0 == Clock::time_point{}) t0 = t1;  // they were done before measuring began
  out.elapsed = t1 - t0;
  out.dials = net::dial_count() - dials_before;
  return out;
}
// [event_loop]

}  // namespace tcppool::bench
