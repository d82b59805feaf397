// common/echo/echo_server.cpp: the poll() loop behind EchoServer.
//
// One thread owns every socket and every byte of state; other threads reach it only through
// run_in_loop(), which queues a command and wakes the loop through an eventfd. Each turn of the
// loop: fire the timers that are due, publish the counters, ppoll() until the next timer, run
// queued commands, accept, then read and write whatever is ready. Nothing blocks but ppoll().
//
// Nothing in a turn looks at every connection except ppoll() itself and the scan of what it
// reported: the timers (idle and age limits, delayed echoes, stalls, restarts) are in a heap
// ordered by due time (timer_heap.hpp), and the pollfd array is kept from turn to turn and
// changed only where a connection comes, goes or changes what it waits for.
#include "common/echo/echo_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>
#include <new>
#include <random>
#include <stdexcept>

#include "common/echo/timer_heap.hpp"
#include "common/net/duration.hpp"
#include "common/net/error.hpp"
#include "common/net/tcp.hpp"

namespace tcppool::echo {

using namespace std::chrono_literals;

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
    case CloseCause::kNoMemory:
      return "no_memory";
    case CloseCause::kNoDescriptor:
      return "no_fd";
    case CloseCause::kShed:
      return "shed";
  }
  return "unknown";
}

namespace {

// Accepting more than this per turn would let a connection storm starve established clients.
constexpr int kMaxAcceptsPerTurn = 64;
// After accept() fails for want of descriptors or memory, the listener stays readable;
// polling it again at once would spin, so the loop stops polling it for a while.
constexpr auto kAcceptBackoff = 100ms;
constexpr auto kRelistenRetry = 50ms;
// After a failure the loop cannot wait out in ppoll() (ppoll itself failed, or a turn threw),
// it sleeps this long before the next turn, so that a persistent failure cannot spin it.
constexpr auto kErrorBackoff = 10ms;
// Descriptors kept free of connections: standard streams, listener, eventfd, the spare, and
// whatever the process around an in-process server needs.
constexpr std::size_t kReservedFds = 32;
// pfds[0] is the wake-up eventfd and pfds[1] the listener; connection i is pfds[i + 2].
constexpr std::size_t kFixedSlots = 2;
constexpr std::size_t kDefaultMaxMemory = std::size_t{1} << 30;

template <typename Rep, typename Period>
std::string show(std::chrono::duration<Rep, Period> d) {
  return net::format_duration(d);
}

// Throws std::invalid_argument unless min <= value <= max, comparing in the value's own type so
// that an extreme value (milliseconds::max()) is refused rather than overflowed.
template <typename Rep, typename Period, typename Min, typename Max>
void check_range(const char* name, std::chrono::duration<Rep, Period> value, Min min, Max max) {
  using D = std::chrono::duration<Rep, Period>;
  if (value < std::chrono::duration_cast<D>(min) || value > std::chrono::duration_cast<D>(max)) {
    throw std::invalid_argument(std::string(name) + ": must be between " + show(min) + " and " +
                                show(max) + ", got " + show(value));
  }
}

// Room for `extra` more elements without a reallocation in between, growing geometrically.
template <typename Vector>
void ensure_room(Vector& v, std::size_t extra) {
  if (v.capacity() - v.size() >= extra) return;
  v.reserve(std::max<std::size_t>({16, 2 * v.capacity(), v.size() + extra}));
}

std::size_t soft_limit(int resource) {
  rlimit rl{};
  if (::getrlimit(resource, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  return static_cast<std::size_t>(rl.rlim_cur);
}

// Connections the descriptor limit leaves room for.
std::size_t descriptor_budget() {
  std::size_t fds = soft_limit(RLIMIT_NOFILE);
  return fds > 2 * kReservedFds ? fds - kReservedFds : fds / 2;
}

std::size_t memory_budget(const Options& o) {
  if (o.max_memory != 0) return o.max_memory;
  std::size_t m = kDefaultMaxMemory;
  for (int r : {RLIMIT_AS, RLIMIT_DATA}) m = std::min(m, soft_limit(r) / 2);
  return m;
}

void sleep_for(Clock::duration d) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

}  // namespace

void Faults::validate() const {
  if (!(reset_probability >= 0.0 && reset_probability <= 1.0)) {
    throw std::invalid_argument("faults.reset_probability: must be in [0, 1], got " +
                                std::to_string(reset_probability));
  }
  check_range("faults.latency", latency, 0us, Limits::kMaxLatency);
  check_range("faults.idle_close", idle_close, 0ms, Limits::kMaxPeriod);
  check_range("faults.max_age", max_age, 0ms, Limits::kMaxPeriod);
  check_range("faults.accept_delay", accept_delay, 0us, Limits::kMaxAcceptDelay);
  if ((stall.count() != 0) != (stall_every.count() != 0)) {
    throw std::invalid_argument(stall.count() != 0
                                    ? "faults.stall: needs faults.stall_every (how often)"
                                    : "faults.stall_every: needs faults.stall (how long)");
  }
  if (stall_every.count() != 0) {
    check_range("faults.stall", stall, 1ms, Limits::kMaxStall);
    check_range("faults.stall_every", stall_every, Limits::kMinStallEvery, Limits::kMaxPeriod);
    if (stall >= stall_every) {
      throw std::invalid_argument("faults.stall: " + show(stall) + " is not shorter than " +
                                  "faults.stall_every (" + show(stall_every) +
                                  "): the server would never run between stalls");
    }
  }
  check_range("faults.restart_downtime", restart_downtime, 0ms, Limits::kMaxStall);
  if (restart_every.count() != 0) {
    check_range("faults.restart_every", restart_every, Limits::kMinRestartEvery,
                Limits::kMaxPeriod);
    if (restart_downtime >= restart_every) {
      throw std::invalid_argument("faults.restart_downtime: " + show(restart_downtime) +
                                  " is not shorter than faults.restart_every (" +
                                  show(restart_every) + "): the port would never come back");
    }
  } else if (restart_downtime.count() != 0) {
    throw std::invalid_argument("faults.restart_downtime: needs faults.restart_every");
  }
}

void Options::validate() const {
  if (buffer_bytes == 0 || buffer_bytes > Limits::kMaxBufferBytes) {
    throw std::invalid_argument("buffer_bytes: must be between 1 and " +
                                std::to_string(Limits::kMaxBufferBytes) + ", got " +
                                std::to_string(buffer_bytes));
  }
  if (backlog < 1 || backlog > 65535) {
    throw std::invalid_argument("backlog: must be between 1 and 65535, got " +
                                std::to_string(backlog));
  }
  if (max_memory != 0 && max_memory < buffer_bytes) {
    throw std::invalid_argument("max_memory: " + std::to_string(max_memory) +
                                " bytes is less than one connection's buffer (buffer_bytes " +
                                std::to_string(buffer_bytes) + ")");
  }
  faults.validate();
}

// A timer in the loop's heap: a connection's (idle, age, delayed echo) or the server's own.
struct EchoServer::Timer {
  enum Kind { kIdle, kAge, kEcho, kStallEvery, kRestartEvery, kRelisten, kAcceptResume };
  explicit Timer(Kind k, Connection* c = nullptr) : kind(k), conn(c) {}

  Clock::time_point due{};
  std::size_t heap_index = kNotQueued;
  const Kind kind;
  Connection* const conn;  // nullptr for the server's own timers
};

// One client connection. Bytes read sit in buf[head, tail) until written back. With latency,
// `delayed` remembers when each read's bytes become due; bytes before the oldest entry's
// `begin` (in stream offsets) are due now. It holds at most Limits::kMaxDelayedReads entries,
// and reading stops while it is full, so a connection's memory is fixed when it is accepted.
struct EchoServer::Connection {
  struct Delayed {
    std::uint64_t begin;  // stream offset of the first byte of the read
    Clock::time_point due;
  };

  Connection() : idle(Timer::kIdle, this), age(Timer::kAge, this), echo(Timer::kEcho, this) {}

  net::Socket socket;
  std::size_t slot = 0;  // index in Loop::conns; its pollfd is pfds[slot + kFixedSlots]
  Clock::time_point accepted_at;
  Clock::time_point last_active;
  std::unique_ptr<std::byte[]> buf;
  std::size_t head = 0;
  std::size_t tail = 0;
  std::uint64_t read_total = 0;  // stream offset of buf[tail]
  std::array<Delayed, Limits::kMaxDelayedReads> delayed{};
  std::size_t delayed_first = 0;
  std::size_t delayed_count = 0;
  bool read_eof = false;
  bool closed = false;
  Timer idle;
  Timer age;
  Timer echo;

  std::size_t pending() const { return tail - head; }
  bool delayed_full() const { return delayed_count == delayed.size(); }
  const Delayed& oldest_delayed() const { return delayed[delayed_first]; }
  void push_delayed(Delayed d) { delayed[(delayed_first + delayed_count++) % delayed.size()] = d; }
  template <typename Fn>
  void for_each_delayed(Fn fn) {
    for (std::size_t i = 0; i < delayed_count; ++i)
      fn(delayed[(delayed_first + i) % delayed.size()]);
  }

  // Returns how many buffered bytes are due to be written back at `now`.
  std::size_t due_bytes(Clock::time_point now) {
    while (delayed_count > 0 && oldest_delayed().due <= now) {
      delayed_first = (delayed_first + 1) % delayed.size();
      --delayed_count;
    }
    std::uint64_t due_end = delayed_count == 0 ? read_total : oldest_delayed().begin;
    std::uint64_t sent_total = read_total - pending();
    return due_end > sent_total ? static_cast<std::size_t>(due_end - sent_total) : 0;
  }
};

struct EchoServer::Loop {
  Loop(const Options& options, net::Endpoint bound, std::size_t conn_limit, net::Socket listen,
       net::Socket wake, net::Socket spare)
      : opts(options),
        endpoint(bound),
        listener(std::move(listen)),
        wake_fd(std::move(wake)),
        spare_fd(std::move(spare)),
        limit(conn_limit),
        rng(options.seed) {
    pfds = {{wake_fd.fd(), POLLIN, 0}, {listener.fd(), POLLIN, 0}};
    timers.reserve(8);
    stats.listening = true;
    stats.limit = limit;
    apply_faults(options.faults, Clock::now());
    published = stats;
  }

  const Options opts;
  const net::Endpoint endpoint;
  net::Socket listener;
  net::Socket wake_fd;
  // Kept open so that at the descriptor limit a pending connection can still be accepted and
  // closed (see refuse_at_fd_limit()), instead of waiting unanswered in the backlog.
  net::Socket spare_fd;
  std::size_t limit;  // connection limit in force
  Faults faults;
  std::mt19937_64 rng;
  std::vector<std::unique_ptr<Connection>> conns;
  std::vector<pollfd> pfds;
  std::vector<Connection*> closing;  // closed this turn; removed by sweep_closed()
  TimerHeap<Timer> timers;
  Timer stall_timer{Timer::kStallEvery};
  Timer restart_timer{Timer::kRestartEvery};
  Timer relisten_timer{Timer::kRelisten};
  Timer accept_timer{Timer::kAcceptResume};
  Stats stats;
  Clock::time_point stall_started{};
  Clock::time_point stall_until{};
  bool running = true;
  int consecutive_poll_errors = 0;

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
  Clock::time_point next_due() const;
  void fire_timers(Clock::time_point now);
  void fire(Timer& t, Clock::time_point now);
  bool run_commands();
  void accept_new(Clock::time_point now);
  bool admit(net::Socket socket, Clock::time_point now);
  void refuse_at_fd_limit();
  void service(Connection& c, short revents, Clock::time_point now);
  void finish_io(Connection& c, Clock::time_point now);
  void read_from(Connection& c, Clock::time_point now);
  void write_to(Connection& c, Clock::time_point now);
  void update_interest(Connection& c, Clock::time_point now);
  void update_listener();
  void pause_accepting(Clock::time_point until);
  void close_conn(Connection& c, CloseCause cause);
  void close_all(CloseCause cause);
  void sweep_closed();
  void poll_failed(int err, Clock::time_point now);
  void shed_to(std::size_t keep, CloseCause cause);
  void start_stall(Clock::time_point now, Clock::duration d);
  void end_stall(Clock::time_point now);
  std::expected<void, std::error_code> restart(Clock::time_point now, Clock::duration downtime);
  std::expected<void, std::error_code> relisten(Clock::time_point now);
  void apply_faults(const Faults& f, Clock::time_point now);
  void schedule_conn_timers(Connection& c);
  void publish();

  bool stalled() const { return stats.stalled; }

  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd.fd(), &one, sizeof one);
  }
};

void EchoServer::Loop::run() {
  while (running) {
    // No exception may escape the loop thread (it would end the process): a turn that throws
    // (std::bad_alloc, say) is counted, reported, and followed by the next turn.
    try {
      turn();
    } catch (const std::exception& e) {
      ++stats.loop_errors;
      std::fprintf(stderr, "echo_server: loop error: %s (continuing)\n", e.what());
      sleep_for(kErrorBackoff);
    }
  }
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
  ++stats.turns;
  fire_timers(Clock::now());
  sweep_closed();
  publish();  // before blocking, so changes made by timers are seen while the loop waits

  timespec ts;
  int n = ::ppoll(pfds.data(), pfds.size(), net::Deadline::at(next_due()).to_timespec(ts), nullptr);
  Clock::time_point now = Clock::now();
  if (n < 0) {
    if (errno != EINTR) poll_failed(errno, now);
    return;
  }
  consecutive_poll_errors = 0;
  int ready = n;  // entries with revents set: the scan below stops when it has seen them all
  if (ready > 0 && pfds[0].revents != 0) {
    --ready;
    std::uint64_t count;
    [[maybe_unused]] auto r = ::read(wake_fd.fd(), &count, sizeof count);
    // Commands may close connections, so the pollfd array is stale after them: new turn.
    if (run_commands()) return;
  }
  if (ready > 0 && pfds[1].revents != 0) {
    --ready;
    accept_new(now);  // appends connections, whose revents are 0 this turn
  }
  for (std::size_t i = 0; ready > 0 && i < conns.size(); ++i) {
    short revents = pfds[i + kFixedSlots].revents;
    if (revents == 0) continue;
    --ready;
    service(*conns[i], revents, now);
  }
  sweep_closed();
}
// [turn]

Clock::time_point EchoServer::Loop::next_due() const {
  if (stalled()) return stall_until;  // nothing else fires during a stall
  Timer* first = timers.top();
  return first ? first->due : Clock::time_point::max();
}

void EchoServer::Loop::fire_timers(Clock::time_point now) {
  if (stalled()) {
    if (now < stall_until) return;
    end_stall(now);
  }
  while (Timer* t = timers.top()) {
    if (t->due > now) break;
    timers.pop();
    fire(*t, now);
    if (stalled()) break;  // a periodic stall began: the rest wait until it ends
  }
}

void EchoServer::Loop::fire(Timer& t, Clock::time_point now) {
  switch (t.kind) {
    case Timer::kIdle: {
      Connection& c = *t.conn;
      // The timer was set for the last activity it knew of; the connection may have moved bytes
      // since. Checking here, instead of moving the timer on every read and write, keeps the
      // I/O path free of heap updates.
      if (now - c.last_active >= faults.idle_close) {
        close_conn(c, CloseCause::kIdle);
      } else {
        timers.schedule(c.idle, c.last_active + faults.idle_close);
      }
      break;
    }
    case Timer::kAge:
      close_conn(*t.conn, CloseCause::kMaxAge);
      break;
    case Timer::kEcho:
      write_to(*t.conn, now);
      finish_io(*t.conn, now);
      break;
    case Timer::kStallEvery:
      timers.schedule(stall_timer, now + faults.stall_every);
      start_stall(now, faults.stall);
      break;
    case Timer::kRestartEvery:
      timers.schedule(restart_timer, now + faults.restart_every);
      (void)restart(now, faults.restart_downtime);
      break;
    case Timer::kRelisten:
      (void)relisten(now);
      break;
    case Timer::kAcceptResume:
      update_listener();
      break;
  }
}

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

// [accept_new]
void EchoServer::Loop::accept_new(Clock::time_point now) {
  for (int i = 0; i < kMaxAcceptsPerTurn; ++i) {
    net::Socket s(::accept4(listener.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!s) {
      int err = errno;
      if (err == EINTR || err == ECONNABORTED) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) return;  // the backlog is empty
      if (err == EMFILE || err == ENFILE) refuse_at_fd_limit();
      // Out of descriptors or memory (ENOBUFS, ENOMEM), or worse: the listener stays
      // readable, so stop polling it for a while rather than spin on it.
      pause_accepting(now + kAcceptBackoff);
      return;
    }
    ++stats.accepted;
    std::size_t cap = faults.max_connections != 0 ? std::min(faults.max_connections, limit) : limit;
    if (conns.size() >= cap) {
      ++stats.closes[static_cast<std::size_t>(CloseCause::kOverLimit)];
      continue;  // `s` closes here: the client sees EOF
    }
    if (!admit(std::move(s), now)) {
      ++stats.closes[static_cast<std::size_t>(CloseCause::kNoMemory)];
      continue;
    }
    if (faults.accept_delay.count() > 0) {
      pause_accepting(now + faults.accept_delay);
      return;
    }
  }
}
// [accept_new]

// Makes `socket` a connection, or returns false (closing it) when the server cannot afford
// it: its buffer or its place in the loop's arrays cannot be allocated. Nothing is changed
// until everything that can fail has succeeded.
bool EchoServer::Loop::admit(net::Socket socket, Clock::time_point now) {
  std::unique_ptr<Connection> c;
  try {
    c = std::make_unique<Connection>();
    c->buf.reset(new (std::nothrow) std::byte[opts.buffer_bytes]);
    if (!c->buf) return false;
    ensure_room(conns, 1);
    ensure_room(pfds, 1);
    ensure_room(closing, conns.size() + 1 - closing.size());
    timers.reserve(3 * (conns.size() + 1) + 8);
  } catch (const std::bad_alloc&) {
    return false;
  }
  // Nothing below allocates.
  (void)net::set_nodelay(socket.fd());
  c->socket = std::move(socket);
  c->accepted_at = c->last_active = now;
  c->slot = conns.size();
  pfds.push_back({c->socket.fd(), POLLIN, 0});
  conns.push_back(std::move(c));
  Connection& added = *conns.back();
  schedule_conn_timers(added);
  update_interest(added, now);
  stats.active = conns.size();
  stats.peak = std::max(stats.peak, stats.active);
  return true;
}

// At the descriptor limit: net::refuse_at_fd_limit() closes the waiting connections on the spare
// descriptor, so the clients see EOF instead of silence.
void EchoServer::Loop::refuse_at_fd_limit() {
  std::size_t n = net::refuse_at_fd_limit(listener, spare_fd, kMaxAcceptsPerTurn);
  stats.accepted += n;
  stats.closes[static_cast<std::size_t>(CloseCause::kNoDescriptor)] += n;
}

void EchoServer::Loop::service(Connection& c, short revents, Clock::time_point now) {
  if (revents & (POLLIN | POLLHUP | POLLERR)) read_from(c, now);
  if (!c.closed && c.due_bytes(now) > 0) write_to(c, now);
  finish_io(c, now);
}

// After reading or writing: a client that half-closed and has everything back is closed;
// any other connection waits for what its state now calls for.
void EchoServer::Loop::finish_io(Connection& c, Clock::time_point now) {
  if (c.closed) return;
  if (c.read_eof && c.pending() == 0) {
    close_conn(c, CloseCause::kClientEof);
    return;
  }
  update_interest(c, now);
}

// [read_from]
void EchoServer::Loop::read_from(Connection& c, Clock::time_point now) {
  if (c.read_eof || c.delayed_full()) return;
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
  if (faults.latency.count() > 0) {
    c.push_delayed({c.read_total, now + faults.latency});
    if (c.echo.heap_index == kNotQueued) timers.schedule(c.echo, c.oldest_delayed().due);
  }
  c.tail += static_cast<std::size_t>(n);
  c.read_total += static_cast<std::uint64_t>(n);
  c.last_active = now;
  stats.buffered += static_cast<std::uint64_t>(n);
  stats.peak_buffered = std::max(stats.peak_buffered, stats.buffered);
}
// [read_from]

void EchoServer::Loop::write_to(Connection& c, Clock::time_point now) {
  std::size_t due = c.due_bytes(now);
  if (due > 0) {
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
  // Bytes a latency still holds back: wake when the oldest of them comes due.
  if (c.delayed_count > 0) timers.schedule(c.echo, c.oldest_delayed().due);
}

// [update_interest]
// What a connection waits for follows from its state; the pollfd entry changes only here. A
// negative fd makes poll() skip the entry, which keeps every other entry where it is.
void EchoServer::Loop::update_interest(Connection& c, Clock::time_point now) {
  short events = 0;
  if (!stalled()) {
    // Backpressure: a full buffer (or a full list of delayed reads) stops reading until the
    // client reads its echoes.
    if (!c.read_eof && c.pending() < opts.buffer_bytes && !c.delayed_full()) events |= POLLIN;
    if (c.due_bytes(now) > 0) events |= POLLOUT;
  }
  pollfd& p = pfds[c.slot + kFixedSlots];
  p.fd = events != 0 ? c.socket.fd() : -1;
  p.events = events;
}
// [update_interest]

void EchoServer::Loop::update_listener() {
  bool on = listener && faults.accepting && !stalled() && accept_timer.heap_index == kNotQueued;
  pfds[1] = {on ? listener.fd() : -1, POLLIN, 0};
}

void EchoServer::Loop::pause_accepting(Clock::time_point until) {
  timers.schedule(accept_timer, until);
  update_listener();
}

// Marks a connection closed and closes its socket; sweep_closed() removes it from the arrays.
void EchoServer::Loop::close_conn(Connection& c, CloseCause cause) {
  if (c.closed) return;
  c.closed = true;
  timers.cancel(c.idle);
  timers.cancel(c.age);
  timers.cancel(c.echo);
  pfds[c.slot + kFixedSlots] = {-1, 0, 0};
  c.socket.reset();
  stats.buffered -= c.pending();
  ++stats.closes[static_cast<std::size_t>(cause)];
  closing.push_back(&c);  // never allocates: admit() reserved room for every connection
}

void EchoServer::Loop::close_all(CloseCause cause) {
  for (auto& c : conns) close_conn(*c, cause);
  sweep_closed();
}

// Removes the connections closed this turn: each one's place in `conns` and `pfds` is taken by
// the last connection, so a removal costs the same however many connections there are.
void EchoServer::Loop::sweep_closed() {
  for (Connection* c : closing) {
    std::size_t i = c->slot;
    std::size_t last = conns.size() - 1;
    if (i != last) {
      conns[i] = std::move(conns[last]);
      conns[i]->slot = i;
      pfds[i + kFixedSlots] = pfds[last + kFixedSlots];
    }
    conns.pop_back();  // destroys *c
    pfds.pop_back();
  }
  closing.clear();
  stats.active = conns.size();
}

// ppoll() failed. EINVAL means more entries than RLIMIT_NOFILE allows: the limit was lowered
// while the server ran (prlimit). Shed the newest connections to fit under it, lower the
// connection limit to match, and say so. Any other failure (ENOMEM) cannot be waited out in
// ppoll(): stop accepting for a while, sleep briefly so the loop does not spin, and shed half
// the connections if it keeps failing. Either way the loop lives on.
void EchoServer::Loop::poll_failed(int err, Clock::time_point now) {
  ++stats.loop_errors;
  ++consecutive_poll_errors;
  std::size_t before = conns.size();
  if (err == EINVAL) {
    limit = std::min(limit, descriptor_budget());
    stats.limit = limit;
    shed_to(limit, CloseCause::kShed);
  } else if (consecutive_poll_errors >= 3) {
    shed_to(conns.size() / 2, CloseCause::kShed);
  }
  pause_accepting(now + kAcceptBackoff);
  if (consecutive_poll_errors == 1 || consecutive_poll_errors % 100 == 0 ||
      before != conns.size()) {
    std::fprintf(stderr,
                 "echo_server: ppoll: %s (%zu descriptors, RLIMIT_NOFILE %zu): closed %zu "
                 "connections, %zu open, limit now %zu\n",
                 std::strerror(err), before + kFixedSlots, soft_limit(RLIMIT_NOFILE),
                 before - conns.size(), conns.size(), limit);
  }
  if (err != EINVAL) sleep_for(kErrorBackoff);
}

// Closes the newest connections until at most `keep` are open.
void EchoServer::Loop::shed_to(std::size_t keep, CloseCause cause) {
  for (std::size_t i = conns.size(); i > keep; --i) close_conn(*conns[i - 1], cause);
  sweep_closed();
}

void EchoServer::Loop::start_stall(Clock::time_point now, Clock::duration d) {
  if (!stalled()) {
    stall_started = now;
    stats.stalled = true;
    ++stats.stalls;
    for (auto& c : conns) update_interest(*c, now);
    update_listener();
  }
  stall_until = std::max(stall_until, now + d);
}

// A stall pauses every connection timer: when it ends, shift them by its length.
void EchoServer::Loop::end_stall(Clock::time_point now) {
  auto shift = now - stall_started;
  for (auto& c : conns) {
    c->accepted_at += shift;
    c->last_active += shift;
    c->for_each_delayed([&](Connection::Delayed& d) { d.due += shift; });
  }
  timers.update_all([&](Timer& t) {
    if (t.kind != Timer::kStallEvery) t.due += shift;
  });
  stats.stalled = false;
  for (auto& c : conns) update_interest(*c, now);
  update_listener();
}

std::expected<void, std::error_code> EchoServer::Loop::restart(Clock::time_point now,
                                                               Clock::duration downtime) {
  ++stats.restarts;
  // The listener first, as a server that stops stops accepting first: a client that sees its
  // connection close and dials again at once must find the port refusing (or the new
  // listener), never the old listener's backlog, which would reset it a moment later.
  listener.reset();
  stats.listening = false;
  update_listener();
  close_all(CloseCause::kRestart);
  if (downtime > Clock::duration::zero()) {
    timers.schedule(relisten_timer, now + downtime);
    return {};
  }
  return relisten(now);
}

std::expected<void, std::error_code> EchoServer::Loop::relisten(Clock::time_point now) {
  auto s = net::listen_on(endpoint, opts.backlog);
  if (!s) {
    timers.schedule(relisten_timer, now + kRelistenRetry);
    return std::unexpected(s.error());
  }
  timers.cancel(relisten_timer);
  listener = std::move(*s);
  stats.listening = true;
  update_listener();
  return {};
}

void EchoServer::Loop::apply_faults(const Faults& f, Clock::time_point now) {
  bool stall_changed = f.stall != faults.stall || f.stall_every != faults.stall_every;
  bool restart_changed = f.restart_every != faults.restart_every;
  faults = f;
  for (auto& c : conns) schedule_conn_timers(*c);
  if (stall_changed || stall_timer.heap_index == kNotQueued) {
    if (f.stall_every.count() > 0) {
      timers.schedule(stall_timer, now + f.stall_every);
    } else {
      timers.cancel(stall_timer);
    }
  }
  if (restart_changed || restart_timer.heap_index == kNotQueued) {
    if (f.restart_every.count() > 0) {
      timers.schedule(restart_timer, now + f.restart_every);
    } else {
      timers.cancel(restart_timer);
    }
  }
  if (f.accept_delay.count() == 0 && accept_timer.heap_index != kNotQueued) {
    timers.cancel(accept_timer);  // a pause from an earlier delay ends with it
  }
  update_listener();
}

void EchoServer::Loop::schedule_conn_timers(Connection& c) {
  if (faults.idle_close.count() > 0) {
    timers.schedule(c.idle, c.last_active + faults.idle_close);
  } else {
    timers.cancel(c.idle);
  }
  if (faults.max_age.count() > 0) {
    timers.schedule(c.age, c.accepted_at + faults.max_age);
  } else {
    timers.cancel(c.age);
  }
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
  net::Socket wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake) return fail_errno();
  net::Socket spare = net::open_spare_descriptor();
  if (!spare) return fail_errno();
  std::size_t per_connection = options.buffer_bytes + sizeof(Connection);
  std::size_t limit = std::max<std::size_t>(
      1, std::min(descriptor_budget(), memory_budget(options) / per_connection));
  net::Endpoint bound = where->with_port(*port);
  try {
    auto loop = std::make_unique<Loop>(options, bound, limit, std::move(*listener), std::move(wake),
                                       std::move(spare));
    return std::unique_ptr<EchoServer>(new EchoServer(options, bound, limit, std::move(loop)));
  } catch (const std::system_error& e) {  // the loop thread could not be started
    return std::unexpected(e.code());
  } catch (const std::bad_alloc&) {
    return fail_errno(ENOMEM);
  }
}

EchoServer::EchoServer(const Options& options, net::Endpoint bound, std::size_t limit,
                       std::unique_ptr<Loop> loop)
    : options_(options), endpoint_(bound), limit_(limit), loop_(std::move(loop)) {
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
  faults.validate();
  run_in_loop([&faults](Loop& loop) { loop.apply_faults(faults, Clock::now()); });
}

void EchoServer::stall_for(Clock::duration duration) {
  check_range("stall_for", duration, Clock::duration::zero(), Limits::kMaxStall);
  run_in_loop([duration](Loop& loop) { loop.start_stall(Clock::now(), duration); });
}

std::expected<void, std::error_code> EchoServer::restart(Clock::duration downtime) {
  check_range("restart: downtime", downtime, Clock::duration::zero(), Limits::kMaxStall);
  std::expected<void, std::error_code> result;
  bool ran = run_in_loop([&](Loop& loop) { result = loop.restart(Clock::now(), downtime); });
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
