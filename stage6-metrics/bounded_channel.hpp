// stage6-metrics/bounded_channel.hpp: BoundedChannel<T>, Go's buffered channel in C++.
//
// Technique: a mutex, a deque of at most `capacity` items, and two queues of waiting threads,
// each waiter with its own condition variable. Like Go's runtime (runtime/chan.go), a send to a
// channel with a waiting receiver hands the item straight to the receiver that has waited
// longest, bypassing the buffer, and a receive that frees a slot admits the sender that has
// waited longest. So waiters are served first come, first served, and a newcomer can never
// take an item from under a thread that was already waiting. close() wakes every waiter.
//
// Go                          here
//   ch := make(chan T, n)       BoundedChannel<T> ch(n);
//   ch <- v                     ch.send(std::move(v))      (fails on a closed channel; Go panics)
//   v, ok := <-ch               auto v = ch.receive();     (!v: closed and drained)
//   select { case v := <-ch: case <-ctx.Done(): }   ch.receive(deadline, stop_token)
//   select { case ch <- v: default: }     ch.try_send(std::move(v))
//   select { case v := <-ch: default: }   ch.try_receive()
//   (a send only to a waiting receiver)  ch.try_hand_off(std::move(v))
//   close(ch)                   ch.close()
//   len(ch), cap(ch)            ch.size(), ch.capacity()
//
// Changes from stage 4 (stage 3's channel): receive(deadline, stop_token), a receive that
// gives up at a deadline or on a stop without losing an item handed over meanwhile.
// Header-only: it is a template.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <expected>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <system_error>
#include <type_traits>

#include "common/net/deadline.hpp"
#include "common/net/error.hpp"

namespace tcppool::stage6 {

/// A bounded, closable, multi-producer multi-consumer FIFO queue with blocking and
/// non-blocking send and receive: a Go buffered channel.
///
///     BoundedChannel<int> ch(2);
///     std::jthread producer([&] {
///       for (int i = 0; i < 5; ++i) (void)ch.send(int(i));
///       ch.close();
///     });
///     while (auto v = ch.receive()) use(*v);  // 0 1 2 3 4, then Errc::kChannelClosed
///
/// Thread-safe: every member may be called from any thread. Items are delivered in the order
/// they were sent, and blocked threads are served in the order they blocked. REQUIRES: T's
/// move constructor does not throw (sockets, handles, values).
///
/// Destroying a channel while a thread is blocked in it is undefined: close() it and let the
/// waiters return first.
template <typename T>
class BoundedChannel {
  static_assert(std::is_nothrow_move_constructible_v<T>, "BoundedChannel needs a noexcept move");

 public:
  /// Makes an empty, open channel holding at most `capacity` items. Throws
  /// std::invalid_argument when capacity is zero (Go's unbuffered channel is not provided).
  explicit BoundedChannel(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0) throw std::invalid_argument("BoundedChannel: capacity must be at least 1");
  }

  BoundedChannel(const BoundedChannel&) = delete;
  BoundedChannel& operator=(const BoundedChannel&) = delete;

  // [send]
  /// Sends `value`, blocking while the channel is full. On success `value` has been moved
  /// from. Fails with Errc::kChannelClosed, leaving `value` untouched so that nothing is lost,
  /// when the channel is closed before or while waiting.
  std::expected<void, std::error_code> send(T&& value) {
    std::unique_lock lock(mu_);
    if (closed_) return fail(Errc::kChannelClosed);
    if (deliver_or_buffer(value)) return {};
    Sender me{&value};
    senders_.push_back(&me);
    me.cv.wait(lock, [&] { return me.state != Waiter::kWaiting; });
    if (me.state == Waiter::kDone) return {};
    return fail(Errc::kChannelClosed);
  }
  // [send]

  /// Sends `value` if that needs no waiting. Fails with Errc::kChannelFull or
  /// Errc::kChannelClosed, leaving `value` untouched.
  std::expected<void, std::error_code> try_send(T&& value) {
    std::scoped_lock lock(mu_);
    if (closed_) return fail(Errc::kChannelClosed);
    if (deliver_or_buffer(value)) return {};
    return fail(Errc::kChannelFull);
  }

  /// Hands `value` to the receiver that has waited longest, if a thread is blocked in
  /// receive(), and returns true; otherwise leaves `value` untouched and returns false. Never
  /// buffers: what is handed off is in the receiver's hands at once. (Go has no such
  /// operation; it is a send that succeeds only where an unbuffered channel's would.)
  bool try_hand_off(T&& value) {
    std::scoped_lock lock(mu_);
    return hand_off(value);
  }

  // [receive]
  /// Receives the oldest item, blocking while the channel is empty. Items sent before close()
  /// are still received after it; once they are gone, fails with Errc::kChannelClosed.
  std::expected<T, std::error_code> receive() {
    std::unique_lock lock(mu_);
    if (!buffer_.empty()) return take_front();
    if (closed_) return fail(Errc::kChannelClosed);
    Receiver me;
    receivers_.push_back(&me);
    me.cv.wait(lock, [&] { return me.state != Waiter::kWaiting; });
    if (me.state == Waiter::kDone) return std::move(*me.item);
    return fail(Errc::kChannelClosed);
  }
  // [receive]

  // [receive_until]
  /// Receives the oldest item, waiting at most until `deadline` and only while `stop` is not
  /// requested. Fails with Errc::kTimeout or Errc::kCancelled, having taken nothing, or with
  /// Errc::kChannelClosed. An item handed over to this receiver is taken even if the deadline
  /// passes, or the stop comes, before the receiver wakes to see it: from the moment a sender
  /// handed it over it was this receiver's, and returning an error instead would lose it. (The
  /// caller decides what to do with an item that came too late; the pool gives it back.)
  std::expected<T, std::error_code> receive(net::Deadline deadline, const std::stop_token& stop) {
    std::unique_lock lock(mu_);
    if (!buffer_.empty()) return take_front();
    if (closed_) return fail(Errc::kChannelClosed);
    if (stop.stop_requested()) return fail(Errc::kCancelled);
    if (deadline.expired()) return fail(Errc::kTimeout);
    Receiver me;
    receivers_.push_back(&me);
    // A stop wakes this receiver through a callback that notifies it under mu_. The callback
    // runs at once, in this thread, if the stop has already come: so it is registered with
    // mu_ released, and it is destroyed with mu_ released too (a callback running in another
    // thread waits for mu_, and destroying it waits for the callback).
    std::optional<std::stop_callback<Wake>> on_stop;
    if (stop.stop_possible()) {
      lock.unlock();
      on_stop.emplace(stop, Wake{this, &me});
      lock.lock();
    }
    while (me.state == Waiter::kWaiting && !stop.stop_requested()) {
      if (deadline.is_never()) {
        me.cv.wait(lock);
      } else if (me.cv.wait_until(lock, deadline.when()) == std::cv_status::timeout) {
        break;
      }
    }
    std::expected<T, std::error_code> result = fail(Errc::kChannelClosed);
    if (me.state == Waiter::kDone) {
      result = std::move(*me.item);
    } else if (me.state == Waiter::kWaiting) {  // gave up: leave the queue, so no one hands to it
      std::erase(receivers_, &me);
      result = fail(stop.stop_requested() ? Errc::kCancelled : Errc::kTimeout);
    }
    lock.unlock();
    on_stop.reset();
    return result;
  }
  // [receive_until]

  /// Receives the oldest item if there is one. Fails with Errc::kChannelEmpty, or
  /// Errc::kChannelClosed once the channel is closed and empty.
  std::expected<T, std::error_code> try_receive() {
    std::scoped_lock lock(mu_);
    if (!buffer_.empty()) return take_front();
    return fail(closed_ ? Errc::kChannelClosed : Errc::kChannelEmpty);
  }

  /// Closes the channel: every blocked sender and receiver returns Errc::kChannelClosed, later
  /// sends fail, and receives drain what is buffered. Idempotent.
  void close() {
    std::scoped_lock lock(mu_);
    closed_ = true;
    // Notify while holding the lock: a woken waiter owns the Waiter on its stack and may
    // return (destroying it) as soon as it can take the lock.
    for (Receiver* r : receivers_) r->wake(Waiter::kClosed);
    for (Sender* s : senders_) s->wake(Waiter::kClosed);
    receivers_.clear();
    senders_.clear();
  }

  /// Returns true once close() has been called.
  bool closed() const {
    std::scoped_lock lock(mu_);
    return closed_;
  }

  /// Returns the number of buffered items.
  std::size_t size() const {
    std::scoped_lock lock(mu_);
    return buffer_.size();
  }

  /// Returns the most items the channel buffers.
  std::size_t capacity() const noexcept { return capacity_; }

  /// Returns the number of threads blocked in receive().
  std::size_t waiting_receivers() const {
    std::scoped_lock lock(mu_);
    return receivers_.size();
  }

  /// Returns the number of threads blocked in send().
  std::size_t waiting_senders() const {
    std::scoped_lock lock(mu_);
    return senders_.size();
  }

 private:
  // [handoff]
  // A blocked thread's slot, on its own stack; each has its own condition variable, so a
  // hand-off wakes exactly the thread it is for (no thundering herd, and FIFO by construction).
  struct Waiter {
    enum State { kWaiting, kDone, kClosed };
    std::condition_variable cv;
    State state = kWaiting;
    void wake(State s) {
      state = s;
      cv.notify_one();
    }
  };
  struct Receiver : Waiter {
    std::optional<T> item;
  };
  struct Sender : Waiter {
    explicit Sender(T* v) : value(v) {}
    T* value;  // the sender's own variable, moved from only when delivered
  };
  // What a stop callback does for a receiver waiting with a stop token: wake it, under the lock
  // (see Waiter::wake()), to see the stop.
  struct Wake {
    BoundedChannel* channel;
    Receiver* receiver;
    void operator()() noexcept {
      std::scoped_lock lock(channel->mu_);
      receiver->cv.notify_one();
    }
  };

  // Hands `value` to the longest-waiting receiver, if any; returns false (leaving `value`
  // untouched) when none waits. REQUIRES: mu_ held.
  bool hand_off(T& value) {
    if (receivers_.empty()) return false;
    // Invariant: receivers wait only while the buffer is empty.
    Receiver* r = receivers_.front();
    receivers_.pop_front();
    r->item.emplace(std::move(value));
    r->wake(Waiter::kDone);
    return true;
  }

  // Hands `value` to the longest-waiting receiver, or buffers it if there is room; returns
  // false (leaving `value` untouched) when the buffer is full. REQUIRES: mu_ held, open.
  bool deliver_or_buffer(T& value) {
    if (hand_off(value)) return true;
    if (buffer_.size() < capacity_) {
      buffer_.push_back(std::move(value));
      return true;
    }
    return false;
  }

  // Takes the oldest item and, now that there is room, admits the longest-waiting sender.
  // REQUIRES: mu_ held, buffer not empty.
  T take_front() {
    T item = std::move(buffer_.front());
    buffer_.pop_front();
    if (!senders_.empty()) {
      // Invariant: senders wait only while the buffer is full.
      Sender* s = senders_.front();
      senders_.pop_front();
      buffer_.push_back(std::move(*s->value));
      s->wake(Waiter::kDone);
    }
    return item;
  }
  // [handoff]

  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::deque<T> buffer_;             // Guarded by mu_. Oldest at the front.
  std::deque<Receiver*> receivers_;  // Guarded by mu_. Longest-waiting at the front.
  std::deque<Sender*> senders_;      // Guarded by mu_. Longest-waiting at the front.
  bool closed_ = false;              // Guarded by mu_.
};

}  // namespace tcppool::stage6
