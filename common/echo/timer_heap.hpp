// common/echo/timer_heap.hpp: TimerHeap, the echo server's timers ordered by due time.
//
// A poll() loop needs one number from its timers each turn, the nearest due time, and must not
// look at every connection to find it: with thousands of idle connections that scan, not the
// I/O, becomes the cost of every pass. This is the structure libevent and libuv use: a binary
// min-heap of timers, each of which remembers its own position in the heap (an intrusive
// heap), so that the nearest is at the top (O(1)), and scheduling, moving or cancelling a timer
// is O(log n) with no search and no allocation once capacity is reserved.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <limits>
#include <utility>
#include <vector>

namespace tcppool::echo {

/// The position a timer keeps in its heap; kNotQueued when it is not scheduled.
inline constexpr std::size_t kNotQueued = std::numeric_limits<std::size_t>::max();

/// A min-heap of `Node`s by `Node::due`, where each node records its index in the heap.
///
///     struct Timer { Clock::time_point due; std::size_t heap_index = kNotQueued; int what; };
///     TimerHeap<Timer> heap;
///     heap.schedule(t, now + 50ms);            // insert, or move if already queued
///     while (heap.top() && heap.top()->due <= now) { Timer* due = heap.pop(); ... }
///     heap.cancel(t);                          // no-op when not queued
///
/// The heap stores pointers: a node must stay at one address while queued, and must be
/// cancelled before it is destroyed. REQUIRES of Node: members `due` (comparable) and
/// `std::size_t heap_index`, initialised to kNotQueued. Not thread-safe: one loop owns it.
template <typename Node>
class TimerHeap {
 public:
  /// Reserves room for at least `n` queued timers, so that schedule() of up to that many
  /// cannot throw. Grows geometrically: calling it before every insertion stays O(1) amortised.
  void reserve(std::size_t n) {
    if (n > nodes_.capacity()) nodes_.reserve(std::max(n, 2 * nodes_.capacity()));
  }

  /// Returns the number of queued timers.
  std::size_t size() const noexcept { return nodes_.size(); }

  /// Returns true when no timer is queued.
  bool empty() const noexcept { return nodes_.empty(); }

  /// Returns the timer due first, or nullptr when none is queued.
  Node* top() const noexcept { return nodes_.empty() ? nullptr : nodes_.front(); }

  /// Queues `node` to be due at `due`, or moves it there if it is already queued. May throw
  /// std::bad_alloc only when the heap grows past its reserved capacity.
  void schedule(Node& node, decltype(Node::due) due) {
    if (node.heap_index == kNotQueued) {
      nodes_.push_back(&node);  // may throw: nothing has changed yet
      node.heap_index = nodes_.size() - 1;
      node.due = due;
      sift_up(node.heap_index);
      return;
    }
    bool earlier = due < node.due;
    node.due = due;
    earlier ? sift_up(node.heap_index) : sift_down(node.heap_index);
  }

  /// Removes `node` from the heap; does nothing when it is not queued.
  void cancel(Node& node) noexcept {
    std::size_t i = node.heap_index;
    if (i == kNotQueued) return;
    node.heap_index = kNotQueued;
    Node* last = nodes_.back();
    nodes_.pop_back();
    if (i == nodes_.size()) return;  // it was the last one
    place(i, last);
    sift_up(i);
    sift_down(last->heap_index);
  }

  /// Removes and returns the timer due first. REQUIRES: !empty().
  Node* pop() noexcept {
    Node* first = nodes_.front();
    cancel(*first);
    return first;
  }

  /// Calls `fn(node)` for every queued timer, in no particular order, and then restores the
  /// heap order, so `fn` may change the due times (to shift them all by a stall, say).
  template <typename Fn>
  void update_all(Fn fn) {
    for (Node* n : nodes_) fn(*n);
    for (std::size_t i = nodes_.size() / 2; i-- > 0;) sift_down(i);
  }

 private:
  void place(std::size_t i, Node* n) noexcept {
    nodes_[i] = n;
    n->heap_index = i;
  }

  void sift_up(std::size_t i) noexcept {
    Node* n = nodes_[i];
    while (i > 0) {
      std::size_t parent = (i - 1) / 2;
      if (!(n->due < nodes_[parent]->due)) break;
      place(i, nodes_[parent]);
      i = parent;
    }
    place(i, n);
  }

  void sift_down(std::size_t i) noexcept {
    Node* n = nodes_[i];
    const std::size_t count = nodes_.size();
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= count) break;
      if (child + 1 < count && nodes_[child + 1]->due < nodes_[child]->due) ++child;
      if (!(nodes_[child]->due < n->due)) break;
      place(i, nodes_[child]);
      i = child;
    }
    place(i, n);
  }

  std::vector<Node*> nodes_;
};

}  // namespace tcppool::echo
