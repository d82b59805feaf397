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
// gives up at a deadline or on a stop without losing an item handed over meanwhile; and, made
// with a starvation bound, bounded barging in place of strict first come, first served: a
// send buffers the item and wakes one waiter to come and look, and a thread that is running
// (a receive or try_receive that does not block) may take the item first. Once serving the
// waiters in order is what it takes for the last of them to be served within the bound, sends
// hand off to them directly, in order, until it no longer is (Go's sync.Mutex has the same
// "starvation mode", entered when its longest waiter has waited 1 ms). See
// BoundedChannel(capacity, starvation_bound).
// Header-only: it is a template.
#pragma once

#include <algorithm>
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
/// they were sent. Blocked threads are served in the order they blocked: always (strict FIFO,
/// the default), or, with a starvation bound, from the moment that is what it takes to serve
/// every one of them within the bound (bounded barging; until then a thread that does not
/// block may come first). REQUIRES: T's
/// move constructor does not throw (sockets, handles, values).
///
/// Destroying a channel while a thread is blocked in it is undefined: close() it and let the
/// waiters return first.
template <typename T>
class BoundedChannel {
  static_assert(std::is_nothrow_move_constructible_v<T>, "BoundedChannel needs a noexcept move");

 public:
  // [barging_ctor]
  /// Makes an empty, open channel holding at most `capacity` items. Without a
  /// `starvation_bound`, strict FIFO: a send while threads are blocked in receive() hands the
  /// item to the one that has waited longest. With one, bounded barging: such a send buffers
  /// the item and wakes the longest-waiting thread to come and take it (one at a time: none
  /// while one woken before has not yet looked), and a receive that does not block may take it
  /// first, so the item is used at once instead of sitting idle while a sleeping thread wakes.
  /// A woken thread that finds the buffer empty waits again, still first in line. Once the
  /// waiters are due, sends hand items to them directly, oldest first, until they no longer
  /// are. They are due when the longest wait so far plus the time to serve all of them one by
  /// one, at the rate items have been coming, reaches `starvation_bound`: so that the last of
  /// them, not only the first, is served near the bound (an estimate: serving in order is
  /// slower than barging, so the last come somewhat late). Throws
  /// std::invalid_argument when capacity is zero (Go's unbuffered channel is not provided) or
  /// the bound is not positive.
  explicit BoundedChannel(std::size_t capacity,
                          std::optional<net::Clock::duration> starvation_bound = std::nullopt)
      : capacity_(capacity), bound_(starvation_bound) {
    if (capacity == 0) throw std::invalid_argument("BoundedChannel: capacity must be at least 1");
    if (bound_ && *bound_ <= net::Clock::duration::zero()) {
      throw std::invalid_argument("BoundedChannel: starvation_bound must be positive");
    }
  }
  // [barging_ctor]

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
  /// buffers: what is handed off is in the receiver's hands at once (with barging, ahead of
  /// any item buffered for a receiver woken to look). (Go has no such
  /// operation; it is a send that succeeds only where an unbuffered channel's would.)
  bool try_hand_off(T&& value) {
    std::scoped_lock lock(mu_);
    if (receivers_.empty()) return false;
    if (bound_) note_send(net::Clock::now());
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
    enqueue(me);
    for (;;) {
      if (me.state == Waiter::kWoken && look(me)) return take_front_for(me);
      if (me.state != Waiter::kWaiting) break;
      me.cv.wait(lock);
    }
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
    enqueue(me);
    // A stop wakes this receiver through a callback that notifies it under mu_. The callback
    // runs at once, in this thread, if the stop has already come: so it is registered with
    // mu_ released, and it is destroyed with mu_ released too (a callback running in another
    // thread waits for mu_, and destroying it waits for the callback). A token that can
    // never be stopped needs no callback, and the mutex is not let go.
    if (!stop.stop_possible()) return wait_for_item(lock, me, deadline, stop);
    lock.unlock();
    std::stop_callback<Wake> on_stop(stop, Wake{this, &me});
    lock.lock();
    auto result = wait_for_item(lock, me, deadline, stop);
    lock.unlock();
    return result;  // on_stop is destroyed here, after the unlock
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
    // With barging, items may be buffered for receivers woken to look: they are handed over
    // first, so that what was sent before close() is still received.
    hand_buffer_to_receivers();
    // Notify while holding the lock: a woken waiter owns the Waiter on its stack and may
    // return (destroying it) as soon as it can take the lock.
    for (Receiver* r : receivers_) r->wake(Waiter::kClosed);
    for (Sender* s : senders_) s->wake(Waiter::kClosed);
    receivers_.clear();
    senders_.clear();
    looking_ = nullptr;
    starving_ = false;
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
    // kWoken: barging only; woken to look at the buffer, where an item may still be.
    enum State { kWaiting, kWoken, kDone, kClosed };
    std::condition_variable cv;
    State state = kWaiting;
    void wake(State s) {
      state = s;
      cv.notify_one();
    }
  };
  struct Receiver : Waiter {
    std::optional<T> item;
    net::Clock::time_point since;  // when it blocked: read with barging only
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

  // [wait_for_item]
  // receive(deadline, stop)'s wait, for a receiver queued by enqueue(): until an item is
  // handed to it or it takes one it was woken for, the channel closes, the deadline passes or
  // the stop comes. REQUIRES: `lock` holds mu_.
  std::expected<T, std::error_code> wait_for_item(std::unique_lock<std::mutex>& lock, Receiver& me,
                                                  net::Deadline deadline,
                                                  const std::stop_token& stop) {
    for (;;) {
      if (me.state == Waiter::kDone) return std::move(*me.item);
      if (me.state == Waiter::kClosed) return fail(Errc::kChannelClosed);
      // A receiver woken only to look, not handed anything, gives up like one still asleep,
      // and passes the look on.
      if (stop.stop_requested() || deadline.expired()) {
        if (me.state == Waiter::kWoken) (void)look(me);
        leave(me);  // gave up: leave the queue, so no one hands to it
        return fail(stop.stop_requested() ? Errc::kCancelled : Errc::kTimeout);
      }
      if (me.state == Waiter::kWoken && look(me)) return take_front_for(me);
      if (deadline.is_never()) {
        me.cv.wait(lock);
      } else {
        (void)me.cv.wait_until(lock, deadline.when());
      }
    }
  }
  // [wait_for_item]

  // Hands `value` to the longest-waiting receiver, if any; returns false (leaving `value`
  // untouched) when none waits. REQUIRES: mu_ held.
  bool hand_off(T& value) {
    if (receivers_.empty()) return false;
    // Strict FIFO: receivers wait only while the buffer is empty. Barging: items may be
    // buffered for a receiver woken to look (see wake_looker()).
    Receiver* r = receivers_.front();
    receivers_.pop_front();
    r->item.emplace(std::move(value));
    r->wake(Waiter::kDone);
    if (r == looking_) {  // it will not look now: another must, if items are buffered
      looking_ = nullptr;
      wake_looker();
    }
    return true;
  }

  // [barging]
  // Hands `value` to the longest-waiting receiver, or buffers it if there is room; returns
  // false (leaving `value` untouched) when the buffer is full. With barging and receivers
  // waiting, it buffers the item and wakes one of them to look, unless the queue is due: then
  // it hands off, and keeps handing off (starving_) until the queue is no longer due.
  // REQUIRES: mu_ held, open.
  bool deliver_or_buffer(T& value) {
    if (receivers_.empty()) {
      starving_ = false;
      last_send_ = {};  // the rate is the rate while receivers wait
      if (buffer_.size() == capacity_) return false;
      buffer_.push_back(std::move(value));
      return true;
    }
    if (!bound_) return hand_off(value);  // strict FIFO
    const auto now = net::Clock::now();
    note_send(now);
    if (!starving_ && due(now)) {
      starving_ = true;
      hand_buffer_to_receivers();  // the oldest item to the longest waiter, and so on
    }
    if (starving_ && hand_off(value)) {
      starving_ = !receivers_.empty() && due(now);
      return true;
    }
    // Items go out in the order they came: the newest to the buffer's back, and, when the
    // buffer was full, its oldest to the longest waiter to make room.
    const bool full = buffer_.size() == capacity_;
    buffer_.push_back(std::move(value));
    if (full) {
      hand_off(buffer_.front());
      buffer_.pop_front();
    }
    wake_looker();
    return true;
  }

  // Keeps the smoothed time between sends while receivers wait (over the last eight or so).
  // A gap longer than the bound is no sample: a quiet spell says nothing of the rate.
  // REQUIRES: mu_ held, barging.
  void note_send(net::Clock::time_point now) {
    if (last_send_ != net::Clock::time_point{} && now - last_send_ <= *bound_) {
      interval_ += (now - last_send_ - interval_) / 8;
    }
    last_send_ = now;
  }

  // Hands buffered items to waiting receivers, oldest item to the longest waiter, while there
  // are both. REQUIRES: mu_ held.
  void hand_buffer_to_receivers() {
    while (!buffer_.empty() && !receivers_.empty()) {
      hand_off(buffer_.front());
      buffer_.pop_front();
    }
  }

  // Whether the waiters must be served in order from now on so that the last of them is served
  // within the bound: the longest wait so far, plus the time to serve every waiter one by one
  // at the rate items have been coming. (Go's sync.Mutex waits for its longest waiter to pass
  // its bound; the waiters queued behind it then wait the bound plus the queue's time.)
  // REQUIRES: mu_ held, receivers waiting.
  bool due(net::Clock::time_point now) const {
    const auto queue = interval_ * static_cast<net::Clock::rep>(receivers_.size());
    return now - receivers_.front()->since + queue >= *bound_;
  }

  // Wakes the longest-waiting receiver to look at the buffer, if an item is there and no
  // receiver woken before has looked yet: at most one wake-up that may find nothing.
  // Invariant (barging): items buffered while receivers wait imply one of them is looking_.
  // REQUIRES: mu_ held.
  void wake_looker() {
    if (looking_ != nullptr || buffer_.empty() || receivers_.empty()) return;
    looking_ = receivers_.front();
    looking_->wake(Waiter::kWoken);
  }

  // A woken receiver looks: returns true if an item is buffered for it to take; otherwise
  // (a thread that did not block took it first) it waits again, still in its place.
  // REQUIRES: mu_ held, me.state == kWoken.
  bool look(Receiver& me) {
    if (looking_ == &me) looking_ = nullptr;
    me.state = Waiter::kWaiting;
    return !buffer_.empty();
  }

  // A woken receiver takes the oldest item and leaves the queue; another is woken if items
  // are left. REQUIRES: mu_ held, buffer not empty.
  T take_front_for(Receiver& me) {
    std::erase(receivers_, &me);
    T item = take_front();
    wake_looker();
    return item;
  }
  // [barging]

  // Queues a receiver that is about to block. REQUIRES: mu_ held.
  void enqueue(Receiver& me) {
    if (bound_) me.since = net::Clock::now();
    receivers_.push_back(&me);
  }

  // A receiver that gives up leaves the queue; if it had been woken, another is. REQUIRES:
  // mu_ held, me.state == kWaiting.
  void leave(Receiver& me) {
    std::erase(receivers_, &me);
    if (looking_ == &me) looking_ = nullptr;
    if (receivers_.empty()) {
      starving_ = false;
      last_send_ = {};
    }
    wake_looker();
  }

  // Takes the oldest item and, now that there is room, admits the longest-waiting sender.
  // REQUIRES: mu_ held, buffer not empty.
  T take_front() {
    if (!senders_.empty()) {
      // Invariant: senders wait only while the buffer is full (and then no receiver waits).
      // The sender's item goes in before the front comes out: if push_back() throws, nothing
      // has moved.
      Sender* s = senders_.front();
      buffer_.push_back(std::move(*s->value));
      senders_.pop_front();
      s->wake(Waiter::kDone);
    }
    T item = std::move(buffer_.front());
    buffer_.pop_front();
    return item;
  }
  // [handoff]

  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::deque<T> buffer_;             // Guarded by mu_. Oldest at the front.
  std::deque<Receiver*> receivers_;  // Guarded by mu_. Longest-waiting at the front.
  std::deque<Sender*> senders_;      // Guarded by mu_. Longest-waiting at the front.
  bool closed_ = false;              // Guarded by mu_.
  const std::optional<net::Clock::duration> bound_;  // Bounded barging's; nullopt: strict FIFO.
  Receiver* looking_ = nullptr;         // Guarded by mu_. Woken to look, and has not looked yet.
  bool starving_ = false;               // Guarded by mu_. Handing off directly: the queue is due.
  net::Clock::time_point last_send_{};  // Guarded by mu_. The last send to waiting receivers.
  net::Clock::duration interval_{};     // Guarded by mu_. The smoothed time between such sends.
};

}  // namespace tcppool::stage6
