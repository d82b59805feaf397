// stage5-context-timeouts/context.hpp: Context, a deadline and a cancellation signal that travel
// together through every wait of a request: Go's context.Context.
//
// Technique: the standard library already has the two halves. A deadline is a point on the
// steady clock (net::Deadline). Cancellation is std::stop_source / std::stop_token: a source
// requests a stop once, any number of tokens observe it, and a std::stop_callback runs code at
// the moment it happens (which is how a stop reaches a thread blocked in poll(): common/net's
// cancellable calls register one). A Context is a deadline and a token, copied by value;
// deriving one never changes its parent:
//
//   Go                                      here
//   ctx := context.Background()             auto ctx = Context::background();
//   ctx, cancel := context.WithTimeout(p, d)  auto ctx = p.with_timeout(d);      (no cancel)
//   ctx, cancel := context.WithCancel(p)    auto [ctx, cancel] = p.with_cancel();
//   cancel()                                cancel();
//   <-ctx.Done(); ctx.Err()                 ctx.done(); ctx.err()
//   ctx.Deadline()                          ctx.deadline()
//
// A child never outlives its parent's deadline (with_deadline() keeps the earlier of the two)
// and is cancelled when its parent is (with_cancel() links the child's source to the parent's
// token with a std::stop_callback). Go returns a cancel function from WithTimeout so that the
// timer can be released; a deadline here is a number, not a timer, and needs no release.
//
// New in stage 5. Header-only.
#pragma once

#include <memory>
#include <optional>
#include <stop_token>
#include <system_error>
#include <utility>

#include "common/net/deadline.hpp"
#include "common/net/error.hpp"

namespace tcppool::stage5 {

class Canceller;

/// A deadline and a cancellation signal, for every wait of one request.
///
///     auto [ctx, cancel] = Context::background().with_timeout(200ms).with_cancel();
///     std::jthread watchdog([cancel] { if (shutting_down()) cancel(); });
///     auto lease = pool.acquire(ctx);          // at most 200 ms, or until cancel()
///     if (!lease) log(lease.error().message());
///
/// A value type: cheap to copy (a deadline, a std::stop_token and, for a cancellable one, a
/// reference-counted link) and to check (an atomic load and, with a deadline, a clock read).
/// The background context and everything derived from it by deadline alone allocate nothing.
/// Thread-safe: copies may be used from any thread, and cancelled from any thread.
class Context {
 public:
  /// Makes the background context (see background()).
  Context() noexcept = default;

  /// Returns the root of every context: no deadline, and nothing can cancel it.
  static Context background() noexcept { return Context(); }

  /// Returns a child that ends at `t`, or at this context's deadline if that is earlier, and is
  /// cancelled with this context. Allocates nothing.
  Context with_deadline(net::Clock::time_point t) const {
    Context child = *this;
    child.deadline_ = earliest(deadline_, net::Deadline::at(t));
    return child;
  }

  /// Returns a child that ends `d` from now (saturating: a huge `d` is no deadline), or at this
  /// context's deadline if that is earlier, and is cancelled with this context.
  Context with_timeout(net::Clock::duration d) const {
    Context child = *this;
    child.deadline_ = earliest(deadline_, net::Deadline::after(d));
    return child;
  }

  /// Returns a child with this context's deadline that can be cancelled on its own, and the
  /// Canceller that cancels it. The child is also cancelled when this context is; cancelling
  /// the child does not cancel this context. Allocates one shared state.
  std::pair<Context, Canceller> with_cancel() const;

  /// Returns the deadline; Deadline::never() for none.
  net::Deadline deadline() const noexcept { return deadline_; }

  /// Returns the token that is stopped when the context is cancelled. A context that cannot be
  /// cancelled returns a token with no stop state (stop_possible() is false).
  const std::stop_token& stop_token() const noexcept { return token_; }

  /// Returns true once the context has been cancelled.
  bool cancelled() const noexcept { return token_.stop_requested(); }

  /// Returns true once the deadline has passed.
  bool expired() const noexcept { return deadline_.expired(); }

  /// Returns true when the context is cancelled or past its deadline: nothing should wait on it.
  bool done() const noexcept { return cancelled() || expired(); }

  /// Returns why the context is done: Errc::kCancelled (which wins when both hold) or
  /// Errc::kTimeout ("deadline exceeded"); an empty error code while it is not done.
  std::error_code err() const noexcept {
    if (cancelled()) return make_error_code(Errc::kCancelled);
    if (expired()) return make_error_code(Errc::kTimeout);
    return {};
  }

 private:
  friend class Canceller;

  // A cancellable context's own stop source, and the callback that stops it when the parent's
  // token is stopped. Shared by the context's copies; the callback unregisters when the last
  // copy goes.
  struct Link {
    struct Forward {
      std::stop_source source;
      void operator()() noexcept { source.request_stop(); }
    };
    explicit Link(const std::stop_token& parent) {
      if (parent.stop_possible()) from_parent.emplace(parent, Forward{source});
    }
    std::stop_source source;
    std::optional<std::stop_callback<Forward>> from_parent;
  };

  net::Deadline deadline_;
  std::stop_token token_;
  std::shared_ptr<Link> link_;  // null unless this context (or an ancestor) can be cancelled
};

/// Cancels the context with_cancel() made, and every context derived from it. Copyable;
/// calling it more than once, or from several threads, is harmless.
class Canceller {
 public:
  /// Cancels the context: its token is stopped, its waits end with Errc::kCancelled.
  void operator()() const noexcept {
    if (link_) link_->source.request_stop();
  }

 private:
  friend class Context;
  explicit Canceller(std::shared_ptr<Context::Link> link) noexcept : link_(std::move(link)) {}

  std::shared_ptr<Context::Link> link_;
};

inline std::pair<Context, Canceller> Context::with_cancel() const {
  auto link = std::make_shared<Link>(token_);
  Context child = *this;
  child.token_ = link->source.get_token();
  child.link_ = link;
  return {child, Canceller(std::move(link))};
}

}  // namespace tcppool::stage5
