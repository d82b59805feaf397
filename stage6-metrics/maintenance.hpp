// stage6-metrics/maintenance.hpp: Maintenance, a thread that runs a pass of work every
// interval until it is stopped.
//
// Technique: Go's `ticker := time.NewTicker(d)` goroutine with a `select` on a done channel,
// in C++: a std::jthread whose loop waits on a std::condition_variable_any with its
// std::stop_token. request_stop() wakes that wait at once, so stopping never sleeps out an
// interval; and the pass gets the stop token too, so that work under way (a heartbeat waiting
// for its reply) can register a std::stop_callback and be cut short. The pool's pass (reaping,
// heartbeats, refilling min_idle) is in pool.cpp; this file is only the thread.
//
// New in stage 4.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>

namespace tcppool::stage6 {

/// Calls `pass` on a thread of its own, first one `interval` after construction and then every
/// `interval`, until stopped.
///
///     Maintenance m(1s, [&](std::stop_token stop) { reap(stop); });
///     ...
///     m.stop();  // returns as soon as a pass under way sees the stop
///
/// Thread-safe: stop() may be called from any thread, any number of times; the destructor
/// stops. REQUIRES: `pass` returns soon after its stop token is triggered, and does not call
/// stop() itself.
class Maintenance {
 public:
  /// The work of one pass; it should return soon after its stop token is triggered.
  using Pass = std::function<void(std::stop_token)>;

  /// Starts the thread.
  Maintenance(std::chrono::milliseconds interval, Pass pass)
      : thread_([this, interval, pass = std::move(pass)](std::stop_token stop) {
          std::unique_lock lock(mu_);
          // wait_for() with a stop token returns early, with false, once stop is requested.
          while (!cv_.wait_for(lock, stop, interval, [] { return false; }) &&
                 !stop.stop_requested()) {
            lock.unlock();
            pass(stop);
            lock.lock();
          }
        }) {}

  /// Stops the thread (see stop()).
  ~Maintenance() { stop(); }

  Maintenance(const Maintenance&) = delete;
  Maintenance& operator=(const Maintenance&) = delete;

  /// Asks the thread to stop and waits until it has. Idempotent.
  void stop() {
    std::call_once(stopped_, [this] {
      thread_.request_stop();
      thread_.join();
    });
  }

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::once_flag stopped_;
  std::jthread thread_;  // last: it starts in the constructor and uses the members above
};

}  // namespace tcppool::stage6
