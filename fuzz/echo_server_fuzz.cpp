// fuzz/echo_server_fuzz.cpp: fuzz target for the echo server's connection handling
// (common/echo/echo_server.hpp): an in-process EchoServer on 127.0.0.1, started afresh for each
// input, and four client connections driven by actions decoded from the input.
//
// The input: one byte for the server's buffer ('0'..'4': 1, 7, 64, 4096 or 65536 bytes),
// then up to kMaxActions actions, each a letter and its operands. K is a client (b % 4, so
// '0'..'3' are clients 0..3) and N a number (b % 16, so '0'..'9' are 0..9). A byte that is not
// one of the letters picks an action by its value, so that every input means something.
//
//   c K        connect (if not connected)      x K        reset: SO_LINGER 0, then close
//   s K text.  send up to 64 bytes, up to "."  q K        close
//   b K N      send N * 16 KiB, what fits      t N        stall_for(N * 250us)
//   r K        read what has come              o N        restart(downtime N * 250us)
//   w K N      wait N * 500us at most, read    f F N      set one fault (below)
//   h K        half-close (shutdown SHUT_WR)
//
// Faults (F): l latency N * 100us, i idle close N ms, a max age N ms, r reset probability
// N / 15, m max connections N % 4 (0: off), p accepting paused when N is odd, d accept delay
// N * 100us, s a stall of N % 9 ms every 10 ms (0: off). Every value is within Limits. Waits,
// stalls and downtimes share a budget of kTimeBudget per input, and the bytes sent one of
// kTurnsOfBytes server buffers (a 1-byte buffer echoes a byte a loop turn), so an input costs
// milliseconds.
//
// What every input checks:
//   - the bytes each connection receives are a prefix of the bytes it sent (after every read);
//   - with no fault that closes connections set (idle close, max age, resets, max connections,
//     restarts), every byte sent comes back: a connection is never cut short, and after the
//     client half-closes it reads all it sent, then EOF;
//   - the published counters stay consistent (every accepted connection is open or counted in
//     one close cause; bytes out never exceed bytes in, which never exceed bytes sent) and the
//     loop reports no failures (loop_errors 0);
//   - every action returns within kActionLimit;
//   - at the end, with the faults cleared, every connection closes (active and buffered reach
//     0), a fresh connection still echoes, the counters still move, and once the server has
//     stopped the process has as many descriptors open as before it started.
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iterator>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "common/echo/cli.hpp"
#include "common/echo/echo_client.hpp"
#include "common/echo/echo_server.hpp"
#include "common/net/io.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/fd_count.hpp"
#include "fuzz/fuzz.hpp"

namespace {

using namespace std::chrono_literals;
namespace echo = tcppool::echo;
namespace net = tcppool::net;
using tcppool::fuzz::check;
using tcppool::fuzz::fail;
using tcppool::fuzz::Input;
using Clock = net::Clock;

constexpr std::size_t kMaxActions = 64;
constexpr std::size_t kClients = 4;
constexpr std::size_t kMaxSend = 64;
// Waits, stalls and downtimes together, per input.
constexpr Clock::duration kTimeBudget = 10ms;
// The bytes sent per input, in server buffers: about as many loop turns as it takes to echo.
constexpr std::size_t kTurnsOfBytes = 512;
// Generous, for a loaded machine: an action that takes this long is stuck, not slow.
constexpr Clock::duration kActionLimit = 5s;
// The same for the checks at the end: each connection's drain, the server's last closes.
constexpr Clock::duration kSettleLimit = 5s;
// Indexed by b % 5, so that '0'..'4' pick 1, 7, 64, 4096 and 65536 bytes.
constexpr std::size_t kBufferSizes[] = {64, 4096, 65536, 1, 7};
constexpr std::string_view kActions = "csbrwhxqtof";
constexpr std::string_view kFaultFields = "liarmpds";

// Picks a letter's index in `letters`, or else the byte's value modulo their number.
std::size_t pick(std::uint8_t b, std::string_view letters) {
  auto at = letters.find(static_cast<char>(b));
  return at != std::string_view::npos ? at : b % letters.size();
}

struct Client {
  net::Socket socket;
  std::string sent;           // every byte the kernel took from send()
  std::size_t received = 0;   // how many of them have come back
  bool write_closed = false;  // half-closed by us
  bool ended = false;         // EOF or an error seen: nothing more will come
};

class Session {
 public:
  explicit Session(std::size_t buffer_bytes) : bytes_left_(kTurnsOfBytes * buffer_bytes) {
    echo::Options options;
    options.buffer_bytes = buffer_bytes;
    auto started = echo::EchoServer::start(options);
    if (!started) fail("the echo server did not start: " + started.error().message());
    server_ = std::move(*started);
  }

  void act(Input& in) {
    std::uint8_t op = in.byte();
    auto begin = Clock::now();
    switch (kActions[pick(op, kActions)]) {
      case 'c':
        connect(client(in));
        break;
      case 's': {
        Client& c = client(in);
        send(c, in.until('.', kMaxSend));
        break;
      }
      case 'b': {
        Client& c = client(in);
        static const std::string bulk(15 * 16 * 1024, 'b');
        send(c, std::string_view(bulk).substr(0, 16 * 1024 * (in.byte() % 16)));
        break;
      }
      case 'r':
        read_available(client(in));
        break;
      case 'w': {
        Client& c = client(in);
        wait_and_read(c, spend(500us * (in.byte() % 16)));
        break;
      }
      case 'h':
        half_close(client(in));
        break;
      case 'x':
        reset(client(in));
        break;
      case 'q':
        client(in).socket.reset();
        break;
      case 't':
        server_->stall_for(spend(250us * (in.byte() % 16)));
        break;
      case 'o':
        restart(spend(250us * (in.byte() % 16)));
        break;
      case 'f':
        set_fault(in.byte(), in.byte() % 16);
        break;
    }
    if (Clock::now() - begin > kActionLimit) {
      fail(std::string("action '") + kActions[pick(op, kActions)] + "' took too long");
    }
    check_counters();
  }

  // The checks at the end (see the file comment); leaves nothing open.
  void finish() {
    server_->set_faults({});
    for (auto& c : clients_) drain(c);
    bool settled = server_->wait_until(
        [](const echo::Stats& s) { return s.active == 0 && s.buffered == 0; }, kSettleLimit);
    if (!settled) fail("connections left open: " + echo::format_stats(server_->stats()));
    check_counters();
    check(server_->stats().loop_errors == 0, "the loop reported failures");
    fresh_connection_echoes();
    server_->stop();
    server_.reset();
  }

 private:
  Client& client(Input& in) { return clients_[in.byte() % kClients]; }

  // Takes `d` from the time budget; returns what is left of it when less.
  template <typename Duration>
  Clock::duration spend(Duration d) {
    Clock::duration granted = std::min<Clock::duration>(d, budget_);
    budget_ -= granted;
    return granted;
  }

  void connect(Client& c) {
    if (c.socket) return;
    c = Client{};
    auto s = net::dial(server_->endpoint(), net::Deadline::after(kActionLimit));
    if (!s) {
      // Refused while a restart keeps the port closed; nothing else may go wrong on loopback.
      if (s.error() != std::errc::connection_refused) fail("dial: " + s.error().message());
      return;
    }
    (void)net::set_nodelay(s->fd());  // no Nagle: a small send never waits for an ACK
    c.socket = std::move(*s);
  }

  void send(Client& c, std::string_view data) {
    data = data.substr(0, bytes_left_);
    if (!c.socket || c.write_closed || c.ended || data.empty()) return;
    ssize_t n = ::send(c.socket.fd(), data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      c.sent.append(data.substr(0, static_cast<std::size_t>(n)));
      sent_total_ += static_cast<std::uint64_t>(n);
      bytes_left_ -= static_cast<std::size_t>(n);
      return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // backpressure: buffers are full
    // The server closed the connection (EPIPE) or reset it (ECONNRESET).
    lost(c, "send: " + std::string(std::strerror(errno)));
  }

  void half_close(Client& c) {
    if (!c.socket || c.write_closed) return;
    ::shutdown(c.socket.fd(), SHUT_WR);
    c.write_closed = true;
  }

  void reset(Client& c) {
    if (!c.socket) return;
    (void)net::set_reset_on_close(c.socket.fd());
    c.socket.reset();
  }

  void restart(Clock::duration downtime) {
    lossy_ = true;
    // Fails only when the port was taken meanwhile (the server then retries); the checks at
    // the end still need it back.
    (void)server_->restart(downtime);
  }

  void set_fault(std::uint8_t field, int n) {
    echo::Faults f = server_->faults();
    switch (kFaultFields[pick(field, kFaultFields)]) {
      case 'l':
        f.latency = 100us * n;
        break;
      case 'i':
        f.idle_close = std::chrono::milliseconds(n);
        break;
      case 'a':
        f.max_age = std::chrono::milliseconds(n);
        break;
      case 'r':
        f.reset_probability = n / 15.0;
        break;
      case 'm':
        f.max_connections = static_cast<std::size_t>(n % 4);
        break;
      case 'p':
        f.accepting = n % 2 == 0;
        break;
      case 'd':
        f.accept_delay = 100us * n;
        break;
      case 's':
        f.stall = std::chrono::milliseconds(n % 9);
        f.stall_every = f.stall.count() > 0 ? echo::Limits::kMinStallEvery : 0ms;
        break;
    }
    lossy_ = lossy_ || f.idle_close.count() > 0 || f.max_age.count() > 0 ||
             f.reset_probability > 0 || f.max_connections > 0;
    try {
      server_->set_faults(f);
    } catch (const std::invalid_argument& e) {
      fail(std::string("set_faults() refused faults within Limits: ") + e.what());
    }
  }

  // Reads whatever has come, without waiting; checks it against what was sent.
  void read_available(Client& c) {
    if (!c.socket || c.ended) return;
    std::array<char, 16 * 1024> buf;
    for (;;) {
      ssize_t n = ::recv(c.socket.fd(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n > 0) {
        received(c, std::string_view(buf.data(), static_cast<std::size_t>(n)));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n == 0) {
        c.ended = true;
        // Without faults the server closes only a connection the client half-closed, and
        // only once everything came back.
        if (!lossy_ && (!c.write_closed || c.received != c.sent.size())) {
          fail("EOF after " + std::to_string(c.received) + " of " + std::to_string(c.sent.size()) +
               " bytes, without a fault that closes connections");
        }
        return;
      }
      lost(c, "recv: " + std::string(std::strerror(errno)));
      return;
    }
  }

  void wait_and_read(Client& c, Clock::duration d) {
    if (!c.socket || c.ended) {
      std::this_thread::sleep_for(d);  // time for the server's timers
      return;
    }
    (void)net::wait_ready(c.socket.fd(), POLLIN, net::Deadline::after(d));
    read_available(c);
  }

  // The prefix property: what comes back is what was sent, in order, and no more.
  void received(Client& c, std::string_view bytes) {
    if (c.received + bytes.size() > c.sent.size()) {
      fail("received " + std::to_string(c.received + bytes.size()) + " bytes, sent only " +
           std::to_string(c.sent.size()));
    }
    if (std::string_view(c.sent).substr(c.received, bytes.size()) != bytes) {
      fail("the echo differs from the bytes sent, at offset " + std::to_string(c.received));
    }
    c.received += bytes.size();
  }

  // The connection failed (reset by the server, most often): allowed only under a fault.
  void lost(Client& c, const std::string& what) {
    c.ended = true;
    if (!lossy_) fail(what + ", without a fault that closes connections");
  }

  // Half-closes and reads to the end: everything sent must come back unless a fault may have
  // closed the connection. Then closes it.
  void drain(Client& c) {
    if (c.socket && !c.ended) {
      half_close(c);
      auto deadline = net::Deadline::after(kSettleLimit);
      while (!c.ended && !deadline.expired()) {
        (void)net::wait_ready(c.socket.fd(), POLLIN, deadline);
        read_available(c);
      }
      if (!c.ended) {
        fail("no EOF within the limit, " + std::to_string(c.received) + " of " +
             std::to_string(c.sent.size()) + " bytes back");
      }
    }
    c.socket.reset();
  }

  // The published counters, whenever they are read: every accepted connection is open or
  // closed for one cause; the server echoes no byte it did not read, reads none it was not sent.
  void check_counters() {
    echo::Stats s = server_->stats();
    std::uint64_t closed =
        std::accumulate(std::begin(s.closes), std::end(s.closes), std::uint64_t{0});
    if (s.accepted != closed + s.active) {
      fail("accepted " + std::to_string(s.accepted) + " != closed " + std::to_string(closed) +
           " + active " + std::to_string(s.active));
    }
    if (s.bytes_out + s.buffered > s.bytes_in || s.bytes_in > sent_total_) {
      fail("bytes: in " + std::to_string(s.bytes_in) + ", out " + std::to_string(s.bytes_out) +
           ", buffered " + std::to_string(s.buffered) + ", sent " + std::to_string(sent_total_));
    }
    if (s.active > s.limit || s.peak < s.active) fail("active, peak and limit disagree");
  }

  // The loop thread lives: a new connection is accepted and echoed, and the counters move.
  void fresh_connection_echoes() {
    auto before = server_->stats().bytes_out;
    auto deadline = net::Deadline::after(kSettleLimit);
    auto s = net::dial(server_->endpoint(), deadline);
    while (!s && s.error() == std::errc::connection_refused && !deadline.expired()) {
      std::this_thread::sleep_for(1ms);  // a restart's downtime is ending
      s = net::dial(server_->endpoint(), deadline);
    }
    if (!s) fail("a fresh connection failed: " + s.error().message());
    std::array<std::byte, 64> request, reply;
    echo::fill_pattern(request, 7);
    auto echoed = echo::round_trip(s->fd(), request, reply, deadline);
    if (!echoed) fail("a fresh connection does not echo: " + echoed.error().message());
    s->reset();
    bool moved = server_->wait_until(
        [&](const echo::Stats& st) { return st.bytes_out >= before + request.size(); },
        kSettleLimit);
    check(moved, "the counters no longer move");
  }

  std::unique_ptr<echo::EchoServer> server_;
  std::array<Client, kClients> clients_;
  Clock::duration budget_ = kTimeBudget;
  std::size_t bytes_left_;        // of the bytes this input may send
  bool lossy_ = false;            // a fault that closes connections was set at some point
  std::uint64_t sent_total_ = 0;  // bytes sent on every connection of this input
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tcppool::testing::FdLeakGuard fds;
  {
    Input in(data, size);
    Session session(kBufferSizes[in.byte() % std::size(kBufferSizes)]);
    for (std::size_t i = 0; i < kMaxActions && !in.done(); ++i) session.act(in);
    session.finish();
  }
  if (long leaked = fds.leaked(); leaked != 0) {
    fail(std::to_string(leaked) + " descriptors left open after the server stopped");
  }
  return 0;
}
