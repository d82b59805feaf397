// stage6-metrics/metrics_http.cpp: the request parser and the poll() loop behind MetricsServer.
//
// The parser is a pure function of the bytes (parse_request()); the loop decides when to call
// it. Each turn of the loop: close the connections whose deadline has passed, publish the
// counters, ppoll() until the earliest deadline, accept, then read and write whatever is ready.
// Nothing blocks but ppoll() and the render callback.
#include "metrics_http.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>
#include <optional>
#include <stop_token>
#include <utility>
#include <vector>

#include "common/net/duration.hpp"
#include "common/net/error.hpp"
#include "common/net/socket.hpp"
#include "common/net/tcp.hpp"

namespace tcppool::stage6 {

using namespace std::chrono_literals;
using net::Clock;

std::string_view reason_phrase(HttpStatus status) noexcept {
  switch (status) {
    case HttpStatus::kOk:
      return "OK";
    case HttpStatus::kBadRequest:
      return "Bad Request";
    case HttpStatus::kNotFound:
      return "Not Found";
    case HttpStatus::kMethodNotAllowed:
      return "Method Not Allowed";
    case HttpStatus::kContentTooLarge:
      return "Content Too Large";
    case HttpStatus::kUriTooLong:
      return "URI Too Long";
    case HttpStatus::kHeadersTooLarge:
      return "Request Header Fields Too Large";
    case HttpStatus::kInternalError:
      return "Internal Server Error";
    case HttpStatus::kNotImplemented:
      return "Not Implemented";
    case HttpStatus::kVersionNotSupported:
      return "HTTP Version Not Supported";
  }
  return "Unknown";
}

// ---- the parser ------------------------------------------------------------------------------

namespace {

// tchar (RFC 9110, 5.6.2): the characters of a method or a field name.
bool is_tchar(unsigned char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// A request target is visible ASCII: no space, no control byte, nothing above 0x7e.
bool is_target_char(unsigned char c) noexcept { return c > 0x20 && c < 0x7f; }

// field-value bytes: visible ASCII, SP, HTAB and obs-text (0x80-0xff); no other control byte.
bool is_value_char(unsigned char c) noexcept { return c == '\t' || (c >= 0x20 && c != 0x7f); }

template <typename Pred>
bool all_of(std::string_view s, Pred pred) noexcept {
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return pred(static_cast<unsigned char>(c)); });
}

bool is_token(std::string_view s) noexcept { return !s.empty() && all_of(s, is_tchar); }

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// ASCII case-insensitive comparison with a lower-case `word`.
bool iequals(std::string_view s, std::string_view word) noexcept {
  return s.size() == word.size() &&
         std::equal(s.begin(), s.end(), word.begin(), [](char a, char b) { return lower(a) == b; });
}

bool istarts_with(std::string_view s, std::string_view word) noexcept {
  return s.size() >= word.size() && iequals(s.substr(0, word.size()), word);
}

// Drops the CR of a CRLF line end; a CR anywhere else stays, for the checks to refuse.
std::string_view chomp(std::string_view line) noexcept {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// Drops optional whitespace (SP, HTAB) at both ends.
std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

ParseResult rejected(HttpStatus status) noexcept {
  return {.state = ParseState::kRejected, .status = status};
}

// Returns the path of a request target, or nullopt for a target of no form the server takes.
std::optional<std::string_view> path_of(std::string_view target) noexcept {
  if (target == "*") return target;
  if (target.front() == '/') return target.substr(0, target.find('?'));
  for (std::string_view scheme : {"http://", "https://"}) {
    if (!istarts_with(target, scheme)) continue;
    std::string_view rest = target.substr(scheme.size());
    std::size_t end_of_authority = rest.find_first_of("/?");
    if (end_of_authority == std::string_view::npos) return rest.substr(rest.size());
    rest = rest.substr(end_of_authority);
    return rest.substr(0, rest.front() == '?' ? 0 : rest.find('?'));
  }
  return std::nullopt;
}

// "HTTP/" DIGIT "." DIGIT: 400 if it is not of that form, 505 for a major version other than 1.
HttpStatus parse_version(std::string_view v, int& minor) noexcept {
  if (v.size() != 8 || !v.starts_with("HTTP/") || v[6] != '.') return HttpStatus::kBadRequest;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!digit(v[5]) || !digit(v[7])) return HttpStatus::kBadRequest;
  if (v[5] != '1') return HttpStatus::kVersionNotSupported;
  minor = v[7] - '0';
  return HttpStatus::kOk;
}

HttpStatus parse_request_line(std::string_view line, HttpRequest& r) noexcept {
  std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return HttpStatus::kBadRequest;
  std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return HttpStatus::kBadRequest;  // HTTP/0.9: no version
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (!is_token(method)) return HttpStatus::kBadRequest;
  if (target.empty() || !all_of(target, is_target_char)) return HttpStatus::kBadRequest;
  if (HttpStatus s = parse_version(line.substr(sp2 + 1), r.minor_version); s != HttpStatus::kOk) {
    return s;
  }
  std::optional<std::string_view> path = path_of(target);
  if (!path) return HttpStatus::kBadRequest;
  r.method_name = method;
  r.method = method == "GET"    ? HttpMethod::kGet
             : method == "HEAD" ? HttpMethod::kHead
                                : HttpMethod::kOther;
  r.target = target;
  r.path = *path;
  return HttpStatus::kOk;
}

// Could `partial`, a first line that has not ended yet, still become a valid request line?
// Lets a client that sends binary (a TLS handshake, say) be answered 400 at once rather than
// dropped at its read timeout.
bool plausible_request_line(std::string_view partial) noexcept {
  std::size_t sp1 = partial.find(' ');
  if (sp1 == 0 || !all_of(partial.substr(0, sp1), is_tchar)) return false;
  if (sp1 == std::string_view::npos) return true;
  std::string_view rest = partial.substr(sp1 + 1);
  std::size_t sp2 = rest.find(' ');
  if (sp2 == 0 || !all_of(rest.substr(0, sp2), is_target_char)) return false;
  if (sp2 == std::string_view::npos) return true;
  std::string_view version = rest.substr(sp2 + 1);
  static constexpr std::string_view kShape = "HTTP/0.0\r";  // 0 stands for any digit
  if (version.size() > kShape.size()) return false;
  for (std::size_t i = 0; i < version.size(); ++i) {
    char c = version[i];
    if (kShape[i] == '0' ? !(c >= '0' && c <= '9') : c != kShape[i]) return false;
  }
  return true;
}

// What the header lines seen so far have said.
struct Fields {
  bool host = false;
  bool content_length = false;
};

HttpStatus parse_field(std::string_view line, HttpRequest& r, Fields& seen) noexcept {
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return HttpStatus::kBadRequest;
  // A name that is not a token covers "Host : x" (RFC 9112 5.1: MUST be refused) and a folded
  // line, which starts with SP or HTAB (obs-fold; refusing it is allowed).
  std::string_view name = line.substr(0, colon);
  if (!is_token(name)) return HttpStatus::kBadRequest;
  std::string_view value = trim_ows(line.substr(colon + 1));
  if (!all_of(value, is_value_char)) return HttpStatus::kBadRequest;
  if (iequals(name, "host")) {
    if (seen.host) return HttpStatus::kBadRequest;  // RFC 9112 3.2: exactly one
    seen.host = true;
    r.host = value;
  } else if (iequals(name, "content-length")) {
    // Digits only: no sign, no list ("5, 5"); 19 digits always fit in 64 bits.
    if (value.empty() || value.size() > 19 ||
        !all_of(value, [](unsigned char c) { return c >= '0' && c <= '9'; })) {
      return HttpStatus::kBadRequest;
    }
    std::uint64_t n = 0;
    for (char c : value) n = n * 10 + static_cast<std::uint64_t>(c - '0');
    if (seen.content_length && n != r.content_length) return HttpStatus::kBadRequest;
    seen.content_length = true;
    r.content_length = n;
  } else if (iequals(name, "transfer-encoding")) {
    return HttpStatus::kNotImplemented;  // a body of unknown length: not taken
  }
  return HttpStatus::kOk;
}

}  // namespace

// [http_request_parse]
ParseResult parse_request(std::string_view data, std::size_t max_request_bytes) noexcept {
  std::string_view window = data.substr(0, std::min(data.size(), max_request_bytes));
  bool full = window.size() == max_request_bytes;
  std::size_t eol = window.find('\n');
  if (eol == std::string_view::npos) {  // the request line has not ended yet
    if (!plausible_request_line(window)) return rejected(HttpStatus::kBadRequest);
    return full ? rejected(HttpStatus::kUriTooLong) : ParseResult{};
  }
  HttpRequest request;
  if (HttpStatus s = parse_request_line(chomp(window.substr(0, eol)), request);
      s != HttpStatus::kOk) {
    return rejected(s);
  }
  Fields seen;
  std::size_t pos = eol + 1;
  for (;;) {  // header lines, each checked as soon as it has ended
    std::size_t end = window.find('\n', pos);
    if (end == std::string_view::npos) {
      return full ? rejected(HttpStatus::kHeadersTooLarge) : ParseResult{};
    }
    std::string_view line = chomp(window.substr(pos, end - pos));
    pos = end + 1;
    if (line.empty()) break;  // the empty line: the head is complete
    if (HttpStatus s = parse_field(line, request, seen); s != HttpStatus::kOk) return rejected(s);
  }
  if (request.minor_version >= 1 && !seen.host) return rejected(HttpStatus::kBadRequest);
  if (request.content_length > max_request_bytes - pos) {
    return rejected(HttpStatus::kContentTooLarge);
  }
  request.head_size = pos;
  return {.state = ParseState::kComplete, .status = HttpStatus::kOk, .request = request};
}
// [http_request_parse]

HttpStatus route(const HttpRequest& request) noexcept {
  if (request.path != "/metrics") return HttpStatus::kNotFound;
  if (request.method == HttpMethod::kGet || request.method == HttpMethod::kHead) {
    return HttpStatus::kOk;
  }
  return HttpStatus::kMethodNotAllowed;
}

// ---- responses --------------------------------------------------------------------------------

namespace {

constexpr std::string_view kExpositionType = "text/plain; version=0.0.4; charset=utf-8";

// The Date header's value (RFC 9110 5.6.7, IMF-fixdate), written without the C locale's help.
std::string http_date(std::time_t now) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday % 7],
                tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

// The whole response. Every response closes the connection; a HEAD gets the headers a GET
// would, without the body.
std::string format_response(HttpStatus status, std::string_view body, bool send_body,
                            std::time_t now) {
  std::string out;
  out.reserve(200 + (send_body ? body.size() : 0));
  out += "HTTP/1.1 ";
  out += std::to_string(static_cast<int>(status));
  out += ' ';
  out += reason_phrase(status);
  out += "\r\nContent-Type: ";
  out += status == HttpStatus::kOk ? kExpositionType : "text/plain; charset=utf-8";
  out += "\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += "\r\nDate: ";
  out += http_date(now);
  if (status == HttpStatus::kMethodNotAllowed) out += "\r\nAllow: GET, HEAD";
  out += "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
  if (send_body) out += body;
  return out;
}

std::string error_body(HttpStatus status) {
  std::string body(reason_phrase(status));
  if (status == HttpStatus::kNotFound) body += ": the page is at /metrics";
  body += '\n';
  return body;
}

}  // namespace

// ---- options ------------------------------------------------------------------------------

namespace {

std::unexpected<MetricsServerError> invalid(std::string message) {
  return std::unexpected(MetricsServerError{std::make_error_code(std::errc::invalid_argument),
                                            "MetricsServerOptions." + std::move(message)});
}

bool is_loopback(const net::Endpoint& ep) noexcept {
  if (ep.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(ep.address());
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(ep.address());
  if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
  return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
}

std::unexpected<MetricsServerError> not_loopback(const std::string& address) {
  return invalid("address: " + address +
                 " is not a loopback address (set allow_non_loopback to serve it)");
}

std::expected<void, MetricsServerError> check_duration(const char* name,
                                                       std::chrono::milliseconds d) {
  if (d < 1ms || d > MetricsServerOptions::kMaxTimeout) {
    return invalid(std::string(name) + ": must be between 1ms and " +
                   net::format_duration(MetricsServerOptions::kMaxTimeout) + ", got " +
                   net::format_duration(d));
  }
  return {};
}

}  // namespace

std::expected<void, MetricsServerError> MetricsServerOptions::validate() const {
  auto host = net::HostPort::parse_host(address, port);
  if (!host) {
    return invalid("address: " + net::quoted(address) + " is not a host (" +
                   host.error().message() + ")");
  }
  if (host->kind() != net::HostPort::Kind::kName && !allow_non_loopback) {
    auto ep = host->resolve();  // numeric: converted in place, never blocks
    if (!ep) return invalid("address: " + net::quoted(address) + ": " + ep.error().message());
    if (!is_loopback(*ep)) return not_loopback(address);
  }
  if (max_request_bytes < kMinRequestBytes || max_request_bytes > kMaxRequestBytes) {
    return invalid("max_request_bytes: must be between " + std::to_string(kMinRequestBytes) +
                   " and " + std::to_string(kMaxRequestBytes) + ", got " +
                   std::to_string(max_request_bytes));
  }
  if (auto ok = check_duration("read_timeout", read_timeout); !ok) return ok;
  if (auto ok = check_duration("write_timeout", write_timeout); !ok) return ok;
  if (max_connections < 1 || max_connections > kMaxConnections) {
    return invalid("max_connections: must be between 1 and " + std::to_string(kMaxConnections) +
                   ", got " + std::to_string(max_connections));
  }
  if (backlog < 1 || backlog > 65535) {
    return invalid("backlog: must be between 1 and 65535, got " + std::to_string(backlog));
  }
  if (!render) return invalid("render: must be set: it writes the page");
  return {};
}

// ---- the loop -------------------------------------------------------------------------------

namespace {

// Accepting more than this per turn would let a connection storm starve the connections open.
constexpr int kMaxAcceptsPerTurn = 64;
// After accept() fails for want of descriptors or memory the listener stays readable; the loop
// stops polling it for this long rather than spin on it.
constexpr auto kAcceptBackoff = 100ms;
// After a failure the loop cannot wait out in ppoll(), it sleeps this long, so it cannot spin.
constexpr auto kErrorBackoff = 10ms;
// Longest lingering close, and most bytes discarded in it (at most read_timeout, too).
constexpr auto kMaxLinger = 1s;
constexpr std::size_t kMaxDiscard = std::size_t{1} << 20;
// pfds[0] is the eventfd stop() signals, pfds[1] the listener; connection i is pfds[i + 2].
constexpr std::size_t kFixedSlots = 2;

void sleep_for(Clock::duration d) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

// A byte no request line has (a control byte other than the CR of a line end, or a byte above
// 0x7e): worth asking the parser at once, before the line ends.
bool alien(char ch) {
  auto c = static_cast<unsigned char>(ch);
  return (c < 0x20 && c != '\r') || c >= 0x7f;
}

}  // namespace

struct MetricsServer::Loop {
  // One client connection: read the head, write the response, linger, close.
  struct Connection {
    enum class Phase { kReading, kWriting, kLingering };

    explicit Connection(net::Socket s, Clock::time_point read_deadline)
        : socket(std::move(s)), deadline(read_deadline) {}

    net::Socket socket;  // empty once closed; sweep() then removes the connection
    Phase phase = Phase::kReading;
    Clock::time_point deadline;  // of the phase: read, write or linger
    std::string in;              // the request so far: at most max_request_bytes
    bool line_checked = false;   // the parser has seen the request line end
    std::string out;             // the response
    std::size_t sent = 0;        // bytes of `out` written
    std::size_t discarded = 0;   // bytes read and dropped while lingering
  };

  Loop(MetricsServerOptions o, net::Socket listen, net::Socket wake, net::Socket spare)
      : opts(std::move(o)),
        listener(std::move(listen)),
        wake_fd(std::move(wake)),
        spare_fd(std::move(spare)) {
    // Room for every connection up front: accepting never allocates.
    conns.reserve(opts.max_connections);
    pfds.reserve(opts.max_connections + kFixedSlots);
  }

  const MetricsServerOptions opts;
  net::Socket listener;
  net::Socket wake_fd;
  // Kept open so that at the descriptor limit a waiting connection can still be accepted and
  // closed (refuse_at_fd_limit()) instead of waiting unanswered in the backlog.
  net::Socket spare_fd;
  std::vector<Connection> conns;
  std::vector<pollfd> pfds;
  Clock::time_point accept_paused_until{};
  std::array<char, 16 * 1024> scratch{};  // what one recv() reads into
  MetricsServerStats stats;               // the loop's own; published for other threads

  // The snapshot other threads read. Guarded by stats_mu.
  mutable std::mutex stats_mu;
  mutable std::condition_variable stats_cv;
  MetricsServerStats published;

  void run(const std::stop_token& stop);
  void turn(const std::stop_token& stop);
  Clock::time_point next_deadline(Clock::time_point now) const;
  void expire(Clock::time_point now);
  void accept_new(Clock::time_point now);
  void refuse_at_fd_limit();
  void service(Connection& c, Clock::time_point now);
  void read_request(Connection& c, Clock::time_point now);
  bool worth_parsing(Connection& c, std::size_t old_size) const;
  void answer(Connection& c, const ParseResult& parsed, Clock::time_point now);
  void respond(Connection& c, HttpStatus status, std::string_view body, bool send_body,
               Clock::time_point now);
  void write_response(Connection& c, Clock::time_point now);
  void linger(Connection& c);
  void close_conn(Connection& c);
  void sweep();
  void publish();

  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd.fd(), &one, sizeof one);
  }
};

void MetricsServer::Loop::run(const std::stop_token& stop) {
  std::stop_callback on_stop(stop, [this] { wake(); });
  while (!stop.stop_requested()) {
    // No exception may leave the thread (it would end the process): a turn that throws
    // (std::bad_alloc, say) is counted and followed by the next turn.
    try {
      turn(stop);
    } catch (...) {
      ++stats.loop_errors;
      sleep_for(kErrorBackoff);
    }
  }
  for (auto& c : conns) close_conn(c);
  sweep();
  listener.reset();
  publish();
}

// [http_turn]
void MetricsServer::Loop::turn(const std::stop_token& stop) {
  Clock::time_point now = Clock::now();
  expire(now);
  sweep();
  publish();  // before blocking, so that a waiting test sees everything handled so far

  pfds.clear();
  pfds.push_back({wake_fd.fd(), POLLIN, 0});
  pfds.push_back({now >= accept_paused_until ? listener.fd() : -1, POLLIN, 0});
  for (const Connection& c : conns) {
    short events = c.phase == Connection::Phase::kWriting ? POLLOUT : POLLIN;
    pfds.push_back({c.socket.fd(), events, 0});
  }
  timespec ts;
  int n = ::ppoll(pfds.data(), pfds.size(), net::Deadline::at(next_deadline(now)).to_timespec(ts),
                  nullptr);
  if (n < 0) {
    if (errno == EINTR) return;
    // Cannot be waited out in ppoll() (ENOMEM; EINVAL if RLIMIT_NOFILE was lowered below the
    // array): drop the connections, which are one request each, and back off.
    ++stats.loop_errors;
    for (auto& c : conns) close_conn(c);
    sleep_for(kErrorBackoff);
    return;
  }
  now = Clock::now();
  if (pfds[0].revents != 0) {
    std::uint64_t count;
    [[maybe_unused]] auto r = ::read(wake_fd.fd(), &count, sizeof count);
    if (stop.stop_requested()) return;
  }
  std::size_t polled = conns.size();  // accept_new() appends; those have no pollfd yet
  if (pfds[1].revents != 0) accept_new(now);
  for (std::size_t i = 0; i < polled; ++i) {
    if (pfds[i + kFixedSlots].revents != 0) service(conns[i], now);
  }
  sweep();
}
// [http_turn]

Clock::time_point MetricsServer::Loop::next_deadline(Clock::time_point now) const {
  Clock::time_point next = Clock::time_point::max();
  if (accept_paused_until > now) next = accept_paused_until;
  for (const Connection& c : conns) next = std::min(next, c.deadline);
  return next;
}

void MetricsServer::Loop::expire(Clock::time_point now) {
  for (Connection& c : conns) {
    if (c.deadline > now) continue;
    switch (c.phase) {
      case Connection::Phase::kReading:
        ++stats.read_timeouts;
        break;
      case Connection::Phase::kWriting:
        // Reset, not closed: a response the client does not read would otherwise stay in the
        // kernel, retransmitted to a zero window, long after the server has given up on it.
        ++stats.write_timeouts;
        (void)net::set_reset_on_close(c.socket.fd());
        break;
      case Connection::Phase::kLingering:
        break;  // the response went out; the client just did not close first
    }
    close_conn(c);
  }
}

void MetricsServer::Loop::accept_new(Clock::time_point now) {
  for (int i = 0; i < kMaxAcceptsPerTurn; ++i) {
    net::Socket s(::accept4(listener.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!s) {
      int err = errno;
      if (err == EINTR || err == ECONNABORTED) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) return;  // the backlog is empty
      if (err == EMFILE || err == ENFILE) refuse_at_fd_limit();
      accept_paused_until = now + kAcceptBackoff;
      return;
    }
    ++stats.accepted;
    if (conns.size() >= opts.max_connections) {
      ++stats.refused;
      continue;  // `s` closes here: the client sees EOF (or a reset, if it had sent bytes)
    }
    conns.emplace_back(std::move(s), now + opts.read_timeout);  // reserved: never allocates
  }
}

// At the descriptor limit: net::refuse_at_fd_limit() closes the waiting connections on the spare
// descriptor, as the echo server does, so the clients see EOF instead of silence.
void MetricsServer::Loop::refuse_at_fd_limit() {
  std::size_t n = net::refuse_at_fd_limit(listener, spare_fd, kMaxAcceptsPerTurn);
  stats.accepted += n;
  stats.refused += n;
}

// POLLERR and POLLHUP need no case of their own: they show in the recv() or send() that follows.
void MetricsServer::Loop::service(Connection& c, Clock::time_point now) {
  // An exception here (std::bad_alloc building a response) costs this connection only.
  try {
    switch (c.phase) {
      case Connection::Phase::kReading:
        read_request(c, now);
        break;
      case Connection::Phase::kWriting:
        write_response(c, now);
        break;
      case Connection::Phase::kLingering:
        linger(c);
        break;
    }
  } catch (...) {
    ++stats.loop_errors;
    close_conn(c);
  }
}

// [http_handle_request]
void MetricsServer::Loop::read_request(Connection& c, Clock::time_point now) {
  std::size_t old_size = c.in.size();
  std::size_t room = std::min(opts.max_request_bytes - old_size, scratch.size());
  ssize_t n = ::recv(c.socket.fd(), scratch.data(), room, MSG_DONTWAIT);
  if (n < 0 && would_block(errno)) return;
  if (n <= 0) {  // EOF or an error before the head was complete: nobody to answer
    ++stats.incomplete;
    close_conn(c);
    return;
  }
  c.in.append(scratch.data(), static_cast<std::size_t>(n));
  if (!worth_parsing(c, old_size)) return;
  ParseResult parsed = parse_request(c.in, opts.max_request_bytes);
  if (parsed.state != ParseState::kIncomplete) answer(c, parsed, now);
}

void MetricsServer::Loop::answer(Connection& c, const ParseResult& parsed, Clock::time_point now) {
  if (parsed.state == ParseState::kRejected) {
    respond(c, parsed.status, error_body(parsed.status), true, now);
    return;
  }
  const HttpRequest& request = parsed.request;
  bool send_body = request.method != HttpMethod::kHead;
  HttpStatus status = route(request);
  if (status != HttpStatus::kOk) {
    respond(c, status, error_body(status), send_body, now);
    return;
  }
  std::string page;
  try {
    page = opts.render();
  } catch (const std::exception& e) {
    status = HttpStatus::kInternalError;
    stats.last_render_error = e.what();
  } catch (...) {
    status = HttpStatus::kInternalError;
    stats.last_render_error = "an exception not derived from std::exception";
  }
  if (status != HttpStatus::kOk) {
    ++stats.render_failures;
    page = error_body(status);
  }
  respond(c, status, page, send_body, Clock::now());  // render may have taken a while
}
// [http_handle_request]

// The parser is called only when a verdict may have become possible: the request line has just
// ended, or a byte came that no request line has, or the head has just ended, or the buffer is
// full. So a client that sends its request a byte at a time costs a few parses, not one per
// byte, and the bytes are scanned a bounded number of times.
bool MetricsServer::Loop::worth_parsing(Connection& c, std::size_t old_size) const {
  if (c.in.size() >= opts.max_request_bytes) return true;
  std::string_view fresh = std::string_view(c.in).substr(old_size);
  if (!c.line_checked) {
    if (fresh.find('\n') != std::string_view::npos) {
      c.line_checked = true;
      return true;
    }
    return std::any_of(fresh.begin(), fresh.end(), alien);
  }
  // The head ends with "\n\n" or "\n\r\n": look where those can end, in the new bytes.
  std::string_view tail = std::string_view(c.in).substr(old_size >= 2 ? old_size - 2 : 0);
  return tail.find("\n\n") != std::string_view::npos ||
         tail.find("\n\r\n") != std::string_view::npos;
}

void MetricsServer::Loop::respond(Connection& c, HttpStatus status, std::string_view body,
                                  bool send_body, Clock::time_point now) {
  c.out = format_response(status, body, send_body, std::time(nullptr));
  std::string().swap(c.in);  // the request is answered: free it
  c.phase = Connection::Phase::kWriting;
  c.deadline = now + opts.write_timeout;
  ++stats.requests;
  ++stats.responses[index_of(status)];
  publish();  // counted before its first byte goes out: a client that has it sees it counted
  write_response(c, now);
}

void MetricsServer::Loop::write_response(Connection& c, Clock::time_point now) {
  while (c.sent < c.out.size()) {
    ssize_t n = ::send(c.socket.fd(), c.out.data() + c.sent, c.out.size() - c.sent,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (would_block(errno)) return;  // POLLOUT next turn, until the write deadline
      ++stats.write_errors;
      close_conn(c);
      return;
    }
    c.sent += static_cast<std::size_t>(n);
  }
  // All of it is with the kernel. Send FIN, then discard what the client still sends until it
  // closes (RFC 9112 9.6): closing with bytes unread sends RST, and a client's stack may drop
  // the response it has not yet read when the RST comes (Linux keeps it, but ends the stream
  // with ECONNRESET instead of EOF if the FIN has not come first).
  std::string().swap(c.out);
  ::shutdown(c.socket.fd(), SHUT_WR);
  c.phase = Connection::Phase::kLingering;
  c.deadline = now + std::min<Clock::duration>(kMaxLinger, opts.read_timeout);
}

void MetricsServer::Loop::linger(Connection& c) {
  ssize_t n = ::recv(c.socket.fd(), scratch.data(), scratch.size(), MSG_DONTWAIT);
  if (n < 0 && would_block(errno)) return;
  if (n > 0) c.discarded += static_cast<std::size_t>(n);
  if (n <= 0 || c.discarded > kMaxDiscard) close_conn(c);  // EOF: the client is done
}

void MetricsServer::Loop::close_conn(Connection& c) {
  if (!c.socket) return;
  c.socket.reset();
  ++stats.closed;
}

void MetricsServer::Loop::sweep() {
  std::erase_if(conns, [](const Connection& c) { return !c.socket; });
  stats.active = conns.size();
}

void MetricsServer::Loop::publish() {
  {
    std::scoped_lock lock(stats_mu);
    published = stats;
  }
  stats_cv.notify_all();
}

// ---- MetricsServer ------------------------------------------------------------------------

std::expected<std::unique_ptr<MetricsServer>, MetricsServerError> MetricsServer::start(
    MetricsServerOptions options) {
  try {
    if (auto ok = options.validate(); !ok) return std::unexpected(ok.error());
    auto where = net::Endpoint::resolve(options.address, options.port);
    if (!where) {
      return std::unexpected(MetricsServerError{
          where.error(), "MetricsServerOptions.address: cannot resolve " +
                             net::quoted(options.address) + ": " + where.error().message()});
    }
    if (!options.allow_non_loopback && !is_loopback(*where)) {
      return not_loopback(options.address + " (" + where->to_string() + ")");
    }
    auto fail = [&](std::error_code ec, const std::string& what) {
      return std::unexpected(
          MetricsServerError{ec, "MetricsServer: " + what + ": " + ec.message()});
    };
    auto listener = net::listen_on(*where, options.backlog);
    if (!listener) return fail(listener.error(), "cannot listen on " + where->to_string());
    auto port = net::local_port(listener->fd());
    if (!port) return fail(port.error(), "getsockname");
    net::Socket wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!wake) return fail(std::error_code(errno, std::system_category()), "eventfd");
    net::Socket spare = net::open_spare_descriptor();
    if (!spare) return fail(std::error_code(errno, std::system_category()), "open /dev/null");
    auto loop = std::make_unique<Loop>(std::move(options), std::move(*listener), std::move(wake),
                                       std::move(spare));
    return std::unique_ptr<MetricsServer>(
        new MetricsServer(where->with_port(*port), std::move(loop)));
  } catch (const std::system_error& e) {  // the thread could not be started
    return std::unexpected(MetricsServerError{e.code(), std::string("MetricsServer: ") + e.what()});
  } catch (const std::bad_alloc&) {
    return std::unexpected(MetricsServerError{std::make_error_code(std::errc::not_enough_memory),
                                              "MetricsServer: out of memory"});
  }
}

MetricsServer::MetricsServer(net::Endpoint bound, std::unique_ptr<Loop> loop)
    : endpoint_(bound), loop_(std::move(loop)) {
  thread_ = std::jthread([loop = loop_.get()](std::stop_token stop) { loop->run(stop); });
}

MetricsServer::~MetricsServer() { stop(); }

MetricsServerStats MetricsServer::stats() const {
  std::scoped_lock lock(loop_->stats_mu);
  return loop_->published;
}

bool MetricsServer::wait_until(const std::function<bool(const MetricsServerStats&)>& predicate,
                               net::Clock::duration timeout) const {
  std::unique_lock lock(loop_->stats_mu);
  return loop_->stats_cv.wait_for(lock, timeout, [&] { return predicate(loop_->published); });
}

void MetricsServer::stop() {
  std::call_once(stopped_, [this] {
    thread_.request_stop();  // the loop's stop_callback signals the eventfd
    if (thread_.joinable()) thread_.join();
  });
}

}  // namespace tcppool::stage6
