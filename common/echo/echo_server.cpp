// common/echo/echo_server.cpp: the poll() loop behind EchoServer.
//
// One thread owns every socket and every byte of state; other threads reach it only through
// run_in_loop(), which queues a command and wakes the loop through an eventfd. Each turn of the
// loop: fire due timers, build the pollfd array, publish the counters, ppoll() until the
// nearest timer, run queued commands, accept, then read and write whatever is ready. Nothing
// blocks but ppoll().
#include "common/echo/echo_server.hpp"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <future>
#include <random>
#include <stdexcept>

#include "common/net/error.hpp"
#include "common/net/tcp.hpp"

namespace tcppool::echo {

const char* to_string(CloseCause cause) noexcept {
  switch (cause) {
    case CloseCause::kClientEof:
      return "client_eof";
    case CloseCause::kIdle:
      return "idle";
    case CloseCause::kMaxAge:
      return "max_age";
    case CloseCause::kReset:
      return "reset";
    case CloseCause::kOverLimit:
      return "over_limit";
    case CloseCause::kRestart:
      return "restart";
    case CloseCause::kError:
      return "error";
    case CloseCause::kShutdown:
      return "shutdown";
  }
  return "unknown";
}

namespace {

void validate_faults(const Faults& f) {
  if (!(f.reset_probability >= 0.0 && f.reset_probability <= 1.0)) {
    throw std::invalid_argument("faults.reset_probability: must be in [0, 1], got " +
                                std::to_string(f.reset_probability));
  }
  if (f.latency.count() < 0) throw std::invalid_argument("faults.latency: must not be negative");
  if (f.idle_close.count() < 0) {
    throw std::invalid_argument("faults.idle_close: must not be negative");
  }
  if (f.max_age.count() < 0) throw std::invalid_argument("faults.max_age: must not be negative");
}

// Accepting more than this per turn would let a connection storm starve established clients.
constexpr int kMaxAcceptsPerTurn = 64;
// After accept() fails for want of descriptors (EMFILE), the pending connection stays queued
// and the listener stays readable; polling it again at once would spin, so back off.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);
constexpr auto kRelistenRetry = std::chrono::milliseconds(50);

}  // namespace

void Options::validate() const {
  if (buffer_bytes == 0) throw std::invalid_argument("buffer_bytes: must be at least 1");
  if (backlog < 1) throw std::invalid_argument("backlog: must be at least 1");
  validate_faults(faults);
}

// One client connection. Bytes read sit in buf[head, tail) until written back. With latency,
// `delayed` remembers when each read's bytes become due; bytes before delayed.front().begin
// (in stream offsets) are due now.
struct EchoServer::Connection {
  struct Delayed {
    std::uint64_t begin;  // stream offset of the first byte of the read
    Clock::time_point due;
  };

  net::Socket socket;
  Clock::time_point accepted_at;
  Clock::time_point last_active;
  std::unique_ptr<std::byte[]> buf;
  std::size_t head = 0;
  std::size_t tail = 0;
  std::uint64_t read_total = 0;  // stream offset of buf[tail]
  std::deque<Delayed> delayed;
  bool read_eof = false;
  bool closed = false;

  std::size_t pending() const { return tail - head; }

  // Returns how many buffered bytes are due to be written back at `now`.
  std::size_t due_bytes(Clock::time_point now) {
    while (!delayed.empty() && delayed.front().due <= now) delayed.pop_front();
    std::uint64_t due_end = delayed.empty() ? read_total : delayed.front().begin;
    std::uint64_t sent_total = read_total - pending();
    return due_end > sent_total ? static_cast<std::size_t>(due_end - sent_total) : 0;
  }
};

struct EchoServer::Loop {
  Loop(const Options& options, net::Socket listen_socket, net::Endpoint bound)
      : opts(options),
        endpoint(bound),
        listener(std::move(listen_socket)),
        wake_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
        faults(options.faults),
        rng(options.seed) {
    stats.listening = true;
    published = stats;
  }

  const Options opts;
  const net::Endpoint endpoint;
  net::Socket listener;
  net::Socket wake_fd;
  Faults faults;
  std::mt19937_64 rng;
  std::vector<Connection> conns;
  std::vector<pollfd> pfds;
  Stats stats;
  Clock::time_point stall_started{};
  Clock::time_point stall_until{};
  Clock::time_point relisten_at = Clock::time_point::max();
  Clock::time_point accept_paused_until{};
  bool running = true;

  // Commands from other threads. Guarded by mu.
  std::mutex mu;
  std::vector<std::function<void(Loop*)>> commands;  // called with nullptr if never run
  bool stopped = false;

  // The snapshot other threads read. Guarded by stats_mu.
  mutable std::mutex stats_mu;
  mutable std::condition_variable stats_cv;
  Stats published;

  void run();
  void turn();
  bool stalled(Clock::time_point now) const { return now < stall_until; }
  void end_stall_if_due(Clock::time_point now);
  Clock::time_point fire_timers(Clock::time_point now);
  void build_pollfds(Clock::time_point now);
  bool run_commands();
  void accept_new(Clock::time_point now);
  void service(Connection& c, short revents, Clock::time_point now);
  void read_from(Connection& c, Clock::time_point now);
  void write_to(Connection& c, Clock::time_point now);
  void close_conn(Connection& c, CloseCause cause);
  void close_all(CloseCause cause);
  void sweep_closed();
  std::expected<void, std::error_code> relisten(Clock::time_point now);
  void publish();

  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd.fd(), &one, sizeof one);
  }
};

void EchoServer::Loop::run() {
  while (running) turn();
  close_all(CloseCause::kShutdown);
  listener.reset();
  stats.listening = false;
  publish();
  // Release anyone still waiting on a command, without running it: a restart() racing stop()
  // must not open the port again.
  std::vector<std::function<void(Loop*)>> late;
  {
    std::scoped_lock lock(mu);
    stopped = true;
    late.swap(commands);
  }
  for (auto& fn : late) fn(nullptr);
}

// [turn]
void EchoServer::Loop::turn() {
  Clock::time_point now = Clock::now();
  end_stall_if_due(now);
  Clock::time_point next_timer = fire_timers(now);
  build_pollfds(now);
  publish();  // before blocking, so changes made by timers are seen while the loop waits

  timespec ts;
  net::Deadline deadline = net::Deadline::at(next_timer);
  int n = ::ppoll(pfds.data(), pfds.size(), deadline.to_timespec(ts), nullptr);
  if (n < 0 && errno != EINTR) throw std::system_error(errno, std::system_category(), "ppoll");
  now = Clock::now();

  // Commands may close connections, so the pollfd array is stale after them: start a new turn.
  if (n > 0 && (pfds[0].revents & POLLIN)) {
    std::uint64_t count;
    [[maybe_unused]] auto r = ::read(wake_fd.fd(), &count, sizeof count);
    if (run_commands()) return;
  }
  // A timeout (n == 0) still services connections whose delayed echoes have come due.
  if (!stalled(now)) {
    if (n > 0 && (pfds[1].revents & POLLIN)) accept_new(now);
    for (std::size_t i = 0; i + 2 < pfds.size(); ++i) {
      if (pfds[i + 2].revents != 0 || conns[i].due_bytes(now) > 0) {
        service(conns[i], pfds[i + 2].revents, now);
      }
    }
  }
  sweep_closed();
}
// [turn]

// A stall pauses every connection timer: when it ends, shift them by its length.
void EchoServer::Loop::end_stall_if_due(Clock::time_point now) {
  if (!stats.stalled || stalled(now)) return;
  auto shift = stall_until - stall_started;
  for (auto& c : conns) {
    c.accepted_at += shift;
    c.last_active += shift;
    for (auto& d : c.delayed) d.due += shift;
  }
  stats.stalled = false;
}

// Closes connections whose idle or age limit has passed, re-opens the listener when a restart's
// downtime is over, and returns when the next timer is due.
Clock::time_point EchoServer::Loop::fire_timers(Clock::time_point now) {
  Clock::time_point next = Clock::time_point::max();
  if (stalled(now)) return stall_until;
  if (!listener && now >= relisten_at) (void)relisten(now);
  if (!listener) next = std::min(next, relisten_at);
  if (accept_paused_until > now) next = std::min(next, accept_paused_until);
  const auto idle = faults.idle_close;
  const auto age = faults.max_age;
  for (auto& c : conns) {
    if (idle.count() > 0) {
      if (now - c.last_active >= idle) {
        close_conn(c, CloseCause::kIdle);
        continue;
      }
      next = std::min(next, c.last_active + idle);
    }
    if (age.count() > 0) {
      if (now - c.accepted_at >= age) {
        close_conn(c, CloseCause::kMaxAge);
        continue;
      }
      next = std::min(next, c.accepted_at + age);
    }
    if (!c.delayed.empty()) next = std::min(next, c.delayed.front().due);
  }
  sweep_closed();
  return next;
}

// [build_pollfds]
// pfds[0] is the wake-up eventfd and pfds[1] the listener; connection i is pfds[i + 2]. A
// negative fd makes poll() skip an entry, which keeps the indices fixed.
void EchoServer::Loop::build_pollfds(Clock::time_point now) {
  const bool frozen = stalled(now);
  pfds.resize(conns.size() + 2);
  pfds[0] = {wake_fd.fd(), POLLIN, 0};
  bool accept_now = faults.accepting && !frozen && now >= accept_paused_until;
  pfds[1] = {accept_now ? listener.fd() : -1, POLLIN, 0};
  for (std::size_t i = 0; i < conns.size(); ++i) {
    Connection& c = conns[i];
    short events = 0;
    if (!frozen) {
      // Backpressure: a full buffer stops reading until the client reads its echoes.
      if (!c.read_eof && c.pending() < opts.buffer_bytes) events |= POLLIN;
      if (c.due_bytes(now) > 0) events |= POLLOUT;
    }
    pfds[i + 2] = {events != 0 ? c.socket.fd() : -1, events, 0};
  }
}
// [build_pollfds]

bool EchoServer::Loop::run_commands() {
  std::vector<std::function<void(Loop*)>> batch;
  {
    std::scoped_lock lock(mu);
    batch.swap(commands);
  }
  for (auto& fn : batch) fn(this);
  sweep_closed();
  return !batch.empty();
}

void EchoServer::Loop::accept_new(Clock::time_point now) {
  for (int i = 0; i < kMaxAcceptsPerTurn; ++i) {
    net::Socket s(::accept4(listener.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!s) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        accept_paused_until = now + kAcceptBackoff;
      }
      return;  // EAGAIN: the backlog is empty
    }
    ++stats.accepted;
    if (faults.max_connections != 0 && conns.size() >= faults.max_connections) {
      ++stats.closes[static_cast<std::size_t>(CloseCause::kOverLimit)];
      continue;  // `s` closes here
    }
    (void)net::set_nodelay(s.fd());
    Connection& c = conns.emplace_back();
    c.socket = std::move(s);
    c.accepted_at = c.last_active = now;
    c.buf = std::make_unique_for_overwrite<std::byte[]>(opts.buffer_bytes);
    stats.active = conns.size();
    stats.peak = std::max(stats.peak, stats.active);
  }
}

void EchoServer::Loop::service(Connection& c, short revents, Clock::time_point now) {
  if (revents & (POLLIN | POLLHUP | POLLERR)) read_from(c, now);
  if (!c.closed && c.due_bytes(now) > 0) write_to(c, now);
  if (!c.closed && c.read_eof && c.pending() == 0) close_conn(c, CloseCause::kClientEof);
}

// [read_from]
void EchoServer::Loop::read_from(Connection& c, Clock::time_point now) {
  if (c.read_eof) return;
  if (c.tail == opts.buffer_bytes && c.head > 0) {  // make room at the end
    std::memmove(c.buf.get(), c.buf.get() + c.head, c.pending());
    c.tail -= c.head;
    c.head = 0;
  }
  if (c.tail == opts.buffer_bytes) return;
  ssize_t n = ::recv(c.socket.fd(), c.buf.get() + c.tail, opts.buffer_bytes - c.tail, MSG_DONTWAIT);
  if (n == 0) {
    c.read_eof = true;  // half-close: write back what is left, then close
    return;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      close_conn(c, CloseCause::kError);
    return;
  }
  stats.bytes_in += static_cast<std::uint64_t>(n);
  if (faults.reset_probability > 0.0 &&
      std::uniform_real_distribution<double>(0.0, 1.0)(rng) < faults.reset_probability) {
    (void)net::set_reset_on_close(c.socket.fd());
    close_conn(c, CloseCause::kReset);
    return;
  }
  if (faults.latency.count() > 0) c.delayed.push_back({c.read_total, now + faults.latency});
  c.tail += static_cast<std::size_t>(n);
  c.read_total += static_cast<std::uint64_t>(n);
  c.last_active = now;
  stats.buffered += static_cast<std::uint64_t>(n);
  stats.peak_buffered = std::max(stats.peak_buffered, stats.buffered);
}
// [read_from]

void EchoServer::Loop::write_to(Connection& c, Clock::time_point now) {
  std::size_t due = c.due_bytes(now);
  ssize_t n = ::send(c.socket.fd(), c.buf.get() + c.head, due, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      close_conn(c, CloseCause::kError);
    return;
  }
  c.head += static_cast<std::size_t>(n);
  if (c.head == c.tail) c.head = c.tail = 0;
  c.last_active = now;
  stats.bytes_out += static_cast<std::uint64_t>(n);
  stats.buffered -= static_cast<std::uint64_t>(n);
}

// Marks a connection closed and closes its socket; sweep_closed() removes it from the vector.
void EchoServer::Loop::close_conn(Connection& c, CloseCause cause) {
  if (c.closed) return;
  c.closed = true;
  c.socket.reset();
  stats.buffered -= c.pending();
  ++stats.closes[static_cast<std::size_t>(cause)];
}

void EchoServer::Loop::close_all(CloseCause cause) {
  for (auto& c : conns) close_conn(c, cause);
  sweep_closed();
}

void EchoServer::Loop::sweep_closed() {
  std::erase_if(conns, [](const Connection& c) { return c.closed; });
  stats.active = conns.size();
}

std::expected<void, std::error_code> EchoServer::Loop::relisten(Clock::time_point now) {
  auto s = net::listen_on(endpoint, opts.backlog);
  if (!s) {
    relisten_at = now + kRelistenRetry;
    return std::unexpected(s.error());
  }
  listener = std::move(*s);
  relisten_at = Clock::time_point::max();
  stats.listening = true;
  return {};
}

void EchoServer::Loop::publish() {
  {
    std::scoped_lock lock(stats_mu);
    published = stats;
  }
  stats_cv.notify_all();
}

// ---------------------------------------------------------------------------------------------

std::expected<std::unique_ptr<EchoServer>, std::error_code> EchoServer::start(
    const Options& options) {
  options.validate();
  auto where = net::Endpoint::resolve(options.address, options.port);
  if (!where) return std::unexpected(where.error());
  auto listener = net::listen_on(*where, options.backlog);
  if (!listener) return std::unexpected(listener.error());
  auto port = net::local_port(listener->fd());
  if (!port) return std::unexpected(port.error());
  return std::unique_ptr<EchoServer>(
      new EchoServer(options, where->with_port(*port), std::move(*listener)));
}

EchoServer::EchoServer(const Options& options, net::Endpoint bound, net::Socket listener)
    : options_(options),
      endpoint_(bound),
      loop_(std::make_unique<Loop>(options, std::move(listener), bound)) {
  if (!loop_->wake_fd) throw std::system_error(errno, std::system_category(), "eventfd");
  thread_ = std::jthread([loop = loop_.get(), cpu = options.cpu] {
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);  // best effort
    }
    loop->run();
  });
}

EchoServer::~EchoServer() { stop(); }

// [run_in_loop]
bool EchoServer::run_in_loop(std::function<void(Loop&)> fn) const {
  std::promise<bool> done;
  auto finished = done.get_future();
  {
    std::scoped_lock lock(loop_->mu);
    if (loop_->stopped) return false;
    loop_->commands.push_back([&](Loop* loop) {
      if (loop != nullptr) {
        fn(*loop);
        loop->publish();  // so stats() shows the effect as soon as the caller wakes
      }
      done.set_value(loop != nullptr);
    });
  }
  loop_->wake();
  return finished.get();
}
// [run_in_loop]

Stats EchoServer::stats() const {
  std::scoped_lock lock(loop_->stats_mu);
  return loop_->published;
}

void EchoServer::reset_peak() {
  run_in_loop([](Loop& loop) {
    loop.stats.peak = loop.stats.active;
    loop.stats.peak_buffered = loop.stats.buffered;
  });
}

Faults EchoServer::faults() const {
  Faults f;
  run_in_loop([&f](Loop& loop) { f = loop.faults; });
  return f;
}

void EchoServer::set_faults(const Faults& faults) {
  validate_faults(faults);
  run_in_loop([&faults](Loop& loop) { loop.faults = faults; });
}

void EchoServer::stall_for(Clock::duration duration) {
  run_in_loop([duration](Loop& loop) {
    auto now = Clock::now();
    if (!loop.stats.stalled) {
      loop.stall_started = now;
      loop.stats.stalled = true;
    }
    loop.stall_until = std::max(loop.stall_until, now + duration);
  });
}

std::expected<void, std::error_code> EchoServer::restart(Clock::duration downtime) {
  std::expected<void, std::error_code> result;
  bool ran = run_in_loop([&](Loop& loop) {
    loop.close_all(CloseCause::kRestart);
    loop.listener.reset();
    loop.stats.listening = false;
    auto now = Clock::now();
    if (downtime > Clock::duration::zero()) {
      loop.relisten_at = now + downtime;
    } else {
      result = loop.relisten(now);
    }
  });
  if (!ran) return fail_errno(ESHUTDOWN);
  return result;
}

bool EchoServer::wait_until(const std::function<bool(const Stats&)>& predicate,
                            Clock::duration timeout) const {
  std::unique_lock lock(loop_->stats_mu);
  return loop_->stats_cv.wait_for(lock, timeout, [&] { return predicate(loop_->published); });
}

void EchoServer::stop() {
  std::call_once(stopped_, [this] {
    run_in_loop([](Loop& loop) { loop.running = false; });
    thread_.join();
  });
}

}  // namespace tcppool::echo
