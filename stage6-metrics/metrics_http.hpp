// stage6-metrics/metrics_http.hpp: MetricsServer, a small HTTP/1.1 server on poll() that serves
// the pool's Prometheus exposition at /metrics, and parse_request(), the pure function it reads
// requests with.
//
// Technique: the echo server's hardened loop (common/echo/echo_server.cpp), cut down to one
// request per connection. One thread owns every socket; it waits in ppoll() for the sockets, an
// eventfd that stop() signals, and the earliest deadline of any connection. A connection's
// life is three phases, each bounded: reading the request head (at most max_request_bytes,
// within read_timeout of the accept, however slowly the bytes come: a slowloris client is
// dropped), writing the response (within write_timeout), and a short lingering close (the
// server shuts its side down and discards what the client still sends, so that closing with
// bytes unread does not reset the connection under a response the client has not read yet,
// RFC 9112 9.6). Beyond
// max_connections a connection is accepted and closed at once, and so is one accepted at the
// descriptor limit, so a flood gets fast refusals instead of a stalled backlog. Everything the
// server does is counted (MetricsServerStats).
//
// Why every response says `Connection: close` rather than keeping the connection alive: a
// scraper asks once every 15 s or so, and a loopback connect costs microseconds, so reuse would
// save nothing worth having; and one request per connection is what keeps the server small and
// hard to abuse. A connection's whole life is one read deadline, one write deadline and a close,
// so no client can hold a slot by trickling requests, and there is no pipelining and no body
// framing to get wrong (request smuggling needs a second request on the connection). Go's
// HTTP client, which Prometheus scrapes with, dials again when the server closes.
//
// The page comes from a callback (MetricsServerOptions::render), so the server knows nothing of
// the pool: the pool hands it a function that renders its stats(). The callback runs on the
// server's thread, one call at a time, and holds no lock of the server's.
//
// New in stage 6.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include "common/net/deadline.hpp"
#include "common/net/endpoint.hpp"

namespace tcppool::stage6 {

/// The statuses the metrics server answers with.
enum class HttpStatus : std::uint16_t {
  kOk = 200,                  ///< GET or HEAD of /metrics: the page.
  kBadRequest = 400,          ///< A malformed request line or header, or HTTP/1.1 without Host.
  kNotFound = 404,            ///< A path other than /metrics.
  kMethodNotAllowed = 405,    ///< /metrics with a method other than GET or HEAD.
  kContentTooLarge = 413,     ///< A Content-Length that takes the request past the bound.
  kUriTooLong = 414,          ///< A request line that does not end within the bound.
  kHeadersTooLarge = 431,     ///< A request head that does not end within the bound.
  kInternalError = 500,       ///< The render callback threw.
  kNotImplemented = 501,      ///< A Transfer-Encoding (the server takes no request bodies).
  kVersionNotSupported = 505  ///< An HTTP major version other than 1 ("HTTP/2.0").
};

/// Every HttpStatus, in order: MetricsServerStats::responses is indexed by position here.
inline constexpr std::array<HttpStatus, 10> kHttpStatuses = {HttpStatus::kOk,
                                                             HttpStatus::kBadRequest,
                                                             HttpStatus::kNotFound,
                                                             HttpStatus::kMethodNotAllowed,
                                                             HttpStatus::kContentTooLarge,
                                                             HttpStatus::kUriTooLong,
                                                             HttpStatus::kHeadersTooLarge,
                                                             HttpStatus::kInternalError,
                                                             HttpStatus::kNotImplemented,
                                                             HttpStatus::kVersionNotSupported};

/// Returns the position of `status` in kHttpStatuses.
constexpr std::size_t index_of(HttpStatus status) noexcept {
  for (std::size_t i = 0; i < kHttpStatuses.size(); ++i) {
    if (kHttpStatuses[i] == status) return i;
  }
  return 0;
}

/// Returns the status's reason phrase: "OK", "Not Found", "Request Header Fields Too Large".
std::string_view reason_phrase(HttpStatus status) noexcept;

/// The method of a request, as far as the server cares. Methods are case-sensitive: "get" is
/// kOther.
enum class HttpMethod : std::uint8_t {
  kGet,   ///< "GET".
  kHead,  ///< "HEAD": answered as GET, without the body.
  kOther  ///< Any other token: "POST", "PUT", "PROPFIND", ...
};

/// A request head parse_request() accepted. Every view points into the bytes it was given.
struct HttpRequest {
  HttpMethod method = HttpMethod::kOther;  ///< What method_name is.
  std::string_view method_name;            ///< The method as sent: "GET", "POST".
  std::string_view target;                 ///< The request target as sent: "/metrics?x=1".
  /// The target's path, without the query, compared byte for byte (no percent-decoding):
  /// "/metrics" for "/metrics?x=1" and for "http://host:9464/metrics"; empty for an
  /// absolute-form target with no path ("http://host"); `*` for the asterisk form (`OPTIONS *
  /// HTTP/1.1`).
  std::string_view path;
  int minor_version = 1;             ///< 0 for HTTP/1.0, 1 for HTTP/1.1 (HTTP/1.2 gives 2).
  std::string_view host;             ///< The Host header's value, trimmed; "" when absent.
  std::uint64_t content_length = 0;  ///< The Content-Length header's value; 0 when absent.
  /// Bytes of the head: the request line, the header lines and the empty line that ends them.
  /// Any bytes after it (a body, a second request) are the caller's business.
  std::size_t head_size = 0;
};

/// What parse_request() made of the bytes.
enum class ParseState : std::uint8_t {
  kIncomplete,  ///< Well-formed so far; the head has not ended yet: read more and call again.
  kComplete,    ///< A whole, valid head (ParseResult::request).
  kRejected     ///< Answer ParseResult::status and close; more bytes would not help.
};

/// The result of parse_request().
struct ParseResult {
  ParseState state = ParseState::kIncomplete;  ///< See ParseState.
  HttpStatus status = HttpStatus::kOk;         ///< kRejected: the status to answer; otherwise kOk.
  HttpRequest request{};                       ///< kComplete: the request; otherwise empty.
};

/// Parses the head of one HTTP/1.x request from the first bytes a client sent (RFC 9112):
///
///     request-line = method SP request-target SP "HTTP/" DIGIT "." DIGIT CRLF
///     header-line  = field-name ":" OWS field-value OWS CRLF
///     head         = request-line *header-line CRLF
///
/// Strict where leniency hides bugs or attacks: exactly one SP between the parts of the request
/// line; a method and field names that are tokens; a target of visible ASCII in origin form
/// ("/metrics?x"), absolute form ("http://host/metrics") or `*`; no whitespace before a colon
/// and no folded lines; no control bytes in values (a CR only as part of a line end); one Host,
/// required for HTTP/1.1; Content-Length digits only, repeated only with the same value. A bare
/// LF ends a line as CRLF does (RFC 9112 allows it; `printf ... | nc` sends it).
///
/// Only the first `max_request_bytes` bytes count: a head that does not end within them is
/// rejected with 414 (the request line did not end) or 431 (a header line did not), and one
/// whose Content-Length would take the request past them with 413. A Transfer-Encoding is
/// rejected with 501, a major version other than 1 with 505, anything else malformed with
/// 400. Routing (404, 405) is route()'s business, not the parser's.
///
/// Pure and total, for fuzzing: no allocation, no exception, no state, any input (NUL bytes,
/// any `max_request_bytes`, 0 included). What it guarantees, for any `data` and any bound:
/// - it reads nothing outside data[0, min(data.size(), max_request_bytes));
/// - kComplete: head_size <= min(data.size(), max_request_bytes), every view of the request
///   lies within data[0, head_size), and head_size + content_length <= max_request_bytes;
/// - the result depends on data[0, max_request_bytes) only, and a kRejected or kComplete
///   verdict stays the same when bytes are appended (a kComplete head_size too);
/// - every strict prefix of a head it accepts is kIncomplete, so a request that arrives one
///   byte at a time is never rejected on the way;
/// - status is kOk unless state is kRejected, and then one of 400, 413, 414, 431, 501, 505.
ParseResult parse_request(std::string_view data, std::size_t max_request_bytes) noexcept;

/// Returns the status the server answers a parsed request with: 200 for GET or HEAD of
/// /metrics (any query), 404 for any other path whatever the method, and 405 for /metrics with
/// another method. Pure.
HttpStatus route(const HttpRequest& request) noexcept;

/// Why MetricsServer::start() or MetricsServerOptions::validate() failed.
struct MetricsServerError {
  /// std::errc::invalid_argument for an invalid option; the errno of a failed bind or listen
  /// (EADDRINUSE), of a descriptor the server needs (EMFILE) or of a thread it cannot start
  /// (EAGAIN); an error in net::resolver_category() for an address that does not resolve.
  std::error_code code;
  /// One line naming what failed and why: "MetricsServerOptions.read_timeout: must be between
  /// 1ms and 1h, got 0s", or "MetricsServer: cannot listen on 127.0.0.1:9464: Address already in
  /// use".
  std::string message;

  /// Writes the message, for logs and test output.
  friend std::ostream& operator<<(std::ostream& out, const MetricsServerError& e) {
    return out << e.message;
  }
};

/// How to start a MetricsServer. Every field but `render` has a default.
struct MetricsServerOptions {
  /// Smallest max_request_bytes: room for a request line and a few short headers (curl sends
  /// about 90 bytes, Prometheus about 300).
  static constexpr std::size_t kMinRequestBytes = 256;
  /// Largest max_request_bytes.
  static constexpr std::size_t kMaxRequestBytes = std::size_t{1} << 20;
  /// Largest max_connections: each turn of the loop looks at every connection, which is cheap
  /// for the few connections a metrics endpoint has and not meant for more.
  static constexpr std::size_t kMaxConnections = 4096;
  /// Longest read_timeout or write_timeout.
  static constexpr std::chrono::milliseconds kMaxTimeout = std::chrono::hours(1);

  /// The address to listen on: an IPv4 or IPv6 address, or a name (resolved once, at start()).
  /// Loopback by default; any other address is refused unless allow_non_loopback is set.
  std::string address = "127.0.0.1";
  /// The port; 0 picks a free one (MetricsServer::port() tells which). Prometheus's registry of
  /// default ports has none for this program: pick one, such as 9464, in production.
  std::uint16_t port = 0;
  /// Set to serve an address other than loopback (0.0.0.0, a LAN address). The page tells
  /// anyone who can reach it how the pool is doing: an explicit choice, not a default.
  bool allow_non_loopback = false;
  /// Most bytes a request may have: its head (request line and headers) must end within them,
  /// body included. Between kMinRequestBytes and kMaxRequestBytes.
  std::size_t max_request_bytes = 8 * 1024;
  /// Longest time from the accept to the end of the request head, however the bytes trickle in;
  /// then the connection is dropped (MetricsServerStats::read_timeouts). 1 ms to kMaxTimeout.
  std::chrono::milliseconds read_timeout = std::chrono::seconds(5);
  /// Longest time to hand the whole response to the client; then the connection is reset
  /// (MetricsServerStats::write_timeouts). 1 ms to kMaxTimeout.
  std::chrono::milliseconds write_timeout = std::chrono::seconds(5);
  /// Most connections open at once; one accepted beyond it is closed at once
  /// (MetricsServerStats::refused). 1 to kMaxConnections. With max_request_bytes it bounds the
  /// server's memory: each connection holds at most its request, then its response.
  std::size_t max_connections = 64;
  /// listen() backlog, 1 to 65535 (the kernel caps it).
  int backlog = 128;
  /// Writes the page: called for every GET or HEAD of /metrics, on the server's thread, one
  /// call at a time; the server waits for it, so it should take microseconds, as rendering a
  /// pool's stats() does. An exception it throws is answered 500 and counted
  /// (MetricsServerStats::render_failures); the server goes on. Required.
  std::function<std::string()> render{};

  /// Checks every option; fails with std::errc::invalid_argument and a message naming the
  /// first invalid one and why ("MetricsServerOptions.address: 0.0.0.0 is not a loopback
  /// address (set allow_non_loopback to serve it)"). Never blocks: a name is checked for
  /// syntax only, and whether it is loopback once start() has resolved it.
  std::expected<void, MetricsServerError> validate() const;
};

/// What the server has done since it started, read together as one consistent snapshot
/// (MetricsServer::stats()). accepted == refused + closed + active.
struct MetricsServerStats {
  std::uint64_t accepted = 0;  ///< Connections accepted, refused ones included.
  std::uint64_t refused = 0;   ///< Closed at once: over max_connections, or at the fd limit.
  std::uint64_t closed = 0;    ///< Connections closed after they were admitted, for any reason.
  std::uint64_t active = 0;    ///< Connections open now.
  std::uint64_t requests = 0;  ///< Requests answered, with any status (the sum of responses).
  /// Responses by status, indexed by position in kHttpStatuses (see responses_with()).
  std::array<std::uint64_t, kHttpStatuses.size()> responses{};
  std::uint64_t read_timeouts = 0;    ///< Dropped: no whole request head within read_timeout.
  std::uint64_t write_timeouts = 0;   ///< Reset: the response not taken within write_timeout.
  std::uint64_t incomplete = 0;       ///< Closed or reset by the client, or a read failed, before
                                      ///< a whole request head came.
  std::uint64_t write_errors = 0;     ///< Responses cut short by a failed write (the client left).
  std::uint64_t render_failures = 0;  ///< Calls of render that threw, each answered 500.
  std::string last_render_error;      ///< What the last failed call threw (its what()).
  std::uint64_t loop_errors = 0;      ///< Failures the loop survived: ppoll() errors, exceptions.

  /// Returns the number of responses with `status`.
  std::uint64_t responses_with(HttpStatus status) const noexcept {
    return responses[index_of(status)];
  }
};

/// A small HTTP/1.1 server for the /metrics page, on a thread of its own.
///
///     auto server = stage6::MetricsServer::start({.port = 9464, .render = [&pool] {
///       stage6::Stats s = pool.stats();
///       return stage6::prometheus_text({&s, 1});
///     }});
///     if (!server) return std::unexpected(server.error().code);  // message: what and why
///     // curl http://127.0.0.1:9464/metrics
///     (*server)->stop();  // or let it go out of scope
///
/// GET /metrics (and HEAD) answers 200 with the page, `Content-Type: text/plain;
/// version=0.0.4; charset=utf-8`; HTTP/1.0 and HTTP/1.1 are both served, one request per
/// connection (`Connection: close`; the file comment says why). parse_request() and route()
/// say what every other request gets.
///
/// A misbehaving client costs only its own connection: it is dropped at its deadline, answered
/// 4xx and closed, or refused; nothing it does blocks the loop. No exception leaves the
/// server's thread: one from render is answered 500, any other is counted in loop_errors and
/// the loop goes on.
///
/// Thread-safe: every member may be called from any thread but the server's own (so not from
/// render). Owns its thread, its listening socket and every connection; destroying it stops it.
class MetricsServer {
 public:
  /// Validates `options`, resolves the address, binds, listens and starts the thread. Never
  /// throws: every failure is returned, with the message saying what and why (see
  /// MetricsServerError), and leaves nothing open.
  static std::expected<std::unique_ptr<MetricsServer>, MetricsServerError> start(
      MetricsServerOptions options);

  /// Stops the server (see stop()).
  ~MetricsServer();

  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  /// Returns the port the server listens on.
  std::uint16_t port() const noexcept { return endpoint_.port(); }

  /// Returns the address and port it listens on: "127.0.0.1:9464".
  const net::Endpoint& endpoint() const noexcept { return endpoint_; }

  /// Returns a snapshot of the counters, as the loop published it before it last waited: it
  /// reflects every event the loop has handled. A response is published before its first byte
  /// is sent, so a client that has read one finds it counted (with the render failure, if it
  /// is a 500); a close is published by the turn after it.
  MetricsServerStats stats() const;

  /// Waits until `predicate(stats())` holds or `timeout` passes; returns whether it held.
  /// Evaluated whenever the loop publishes its counters, so a test waits for an event, not for
  /// a sleep. The predicate runs with the counters' lock held: it must only read its argument.
  bool wait_until(const std::function<bool(const MetricsServerStats&)>& predicate,
                  net::Clock::duration timeout = std::chrono::seconds(5)) const;

  /// Closes the listening socket and every connection, and stops the thread; returns once it
  /// has. Prompt: the loop wakes at once (an eventfd), unless a render call is under way, which
  /// it waits for. Idempotent. REQUIRES: not called from render.
  void stop();

 private:
  struct Loop;

  MetricsServer(net::Endpoint bound, std::unique_ptr<Loop> loop);

  const net::Endpoint endpoint_;
  std::unique_ptr<Loop> loop_;
  std::jthread thread_;
  std::once_flag stopped_;  // stop() joins the thread once, whoever calls it
};

}  // namespace tcppool::stage6
