// Tests for stage6-metrics/metrics_http.hpp: the request parser on its own, then the server over
// real loopback connections: the page, every bad request, slow and greedy clients, a failing
// render, many clients at once, the options, stop(), and curl.
#include "metrics_http.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/echo/echo_client.hpp"
#include "common/echo/echo_server.hpp"
#include "common/net/error.hpp"
#include "common/net/io.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/child_process.hpp"
#include "common/testing/fd_count.hpp"
#include "exposition.hpp"
#include "pool.hpp"

namespace tcppool::stage6 {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr auto kIoTimeout = 10s;
constexpr std::string_view kPage =
    "# HELP tcppool_test_up Whether the test is up.\n# TYPE tcppool_test_up gauge\n"
    "tcppool_test_up 1\n";
constexpr std::string_view kGet = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

// ---- the parser ------------------------------------------------------------------------------

ParseResult parse(std::string_view data, std::size_t max = 8192) {
  return parse_request(data, max);
}

// Returns the status a whole request is rejected with, or kOk if it is accepted.
HttpStatus verdict(std::string_view data, std::size_t max = 8192) {
  ParseResult r = parse(data, max);
  EXPECT_NE(r.state, ParseState::kIncomplete) << net::quoted(data);
  return r.status;
}

TEST(Stage6MetricsHttpParse, ReadsARequestHead) {
  std::string data =
      "GET /metrics?name[]=up HTTP/1.1\r\nHost: example:9464 \r\nContent-Length: 3\r\n"
      "User-Agent: test\r\n\r\nabcGET";
  ParseResult r = parse(data);
  ASSERT_EQ(r.state, ParseState::kComplete);
  EXPECT_EQ(r.status, HttpStatus::kOk);
  const HttpRequest& q = r.request;
  EXPECT_EQ(q.method, HttpMethod::kGet);
  EXPECT_EQ(q.method_name, "GET");
  EXPECT_EQ(q.target, "/metrics?name[]=up");
  EXPECT_EQ(q.path, "/metrics");
  EXPECT_EQ(q.minor_version, 1);
  EXPECT_EQ(q.host, "example:9464");
  EXPECT_EQ(q.content_length, 3u);
  EXPECT_EQ(q.head_size, data.size() - 6);
  // Every view lies in the head.
  for (std::string_view v : {q.method_name, q.target, q.path, q.host}) {
    EXPECT_GE(v.data(), data.data());
    EXPECT_LE(v.data() + v.size(), data.data() + q.head_size);
  }
}

TEST(Stage6MetricsHttpParse, AcceptsHttp10WithoutHostBareLfAndAbsoluteTargets) {
  ParseResult r = parse("HEAD /metrics HTTP/1.0\n\n");
  ASSERT_EQ(r.state, ParseState::kComplete);
  EXPECT_EQ(r.request.method, HttpMethod::kHead);
  EXPECT_EQ(r.request.minor_version, 0);
  EXPECT_EQ(r.request.host, "");

  r = parse("GET http://127.0.0.1:9464/metrics?x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  ASSERT_EQ(r.state, ParseState::kComplete);
  EXPECT_EQ(r.request.path, "/metrics");
  r = parse("GET HTTPS://host HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(r.state, ParseState::kComplete);
  EXPECT_EQ(r.request.path, "");
  r = parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(r.state, ParseState::kComplete);
  EXPECT_EQ(r.request.path, "*");
  EXPECT_EQ(r.request.method, HttpMethod::kOther);
  r = parse("GET /metrics HTTP/1.7\r\nHost: h\r\n\r\n");  // a later 1.x reads as 1.1
  ASSERT_EQ(r.state, ParseState::kComplete);
  EXPECT_EQ(r.request.minor_version, 7);
  r = parse("GET /metrics HTTP/1.1\r\nHost:\r\ncontent-length: 0\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(r.state, ParseState::kComplete) << "an empty Host; a repeated, equal Content-Length";
}

// A request that arrives a byte at a time is never turned away on the way.
TEST(Stage6MetricsHttpParse, EveryStrictPrefixOfAValidHeadIsIncomplete) {
  for (std::string_view head :
       {kGet, std::string_view("GET /metrics HTTP/1.0\n\n"),
        std::string_view("POST http://h/metrics?a=b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n"
                         "X-Tab:\ta\tb \r\n\r\n")}) {
    ASSERT_EQ(parse(head).state, ParseState::kComplete) << head;
    for (std::size_t n = 0; n < head.size(); ++n) {
      EXPECT_EQ(parse(head.substr(0, n)).state, ParseState::kIncomplete)
          << net::quoted(head.substr(0, n));
    }
  }
}

TEST(Stage6MetricsHttpParse, MalformedRequestsAre400) {
  for (std::string_view bad : {
           std::string_view("\r\n\r\n"),                                   // no request line
           std::string_view("GARBAGE\r\n\r\n"),                            // one word
           std::string_view("GET /metrics\r\n\r\n"),                       // HTTP/0.9
           std::string_view("GET  /metrics HTTP/1.1\r\nHost: h\r\n\r\n"),  // two spaces
           std::string_view("GET /metrics HTTP/1.1 \r\nHost: h\r\n\r\n"),  // trailing space
           std::string_view("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n"),       // space in target
           std::string_view("GET metrics HTTP/1.1\r\nHost: h\r\n\r\n"),    // not origin form
           std::string_view("G(T /metrics HTTP/1.1\r\nHost: h\r\n\r\n"),   // not a token
           std::string_view("GET /metrics HTTP/1.1x\r\nHost: h\r\n\r\n"),
           std::string_view("GET /metrics http/1.1\r\nHost: h\r\n\r\n"),
           std::string_view("GET /metrics HTTP/11\r\nHost: h\r\n\r\n"),
           std::string_view("GET /metrics HTTP/1.1\r\n\r\n"),                        // no Host
           std::string_view("GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),  // two
           std::string_view("GET /metrics HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"),
           std::string_view("GET /metrics HTTP/1.1\r\nHost : h\r\n\r\n"),  // space before colon
           std::string_view("GET /metrics HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n"),
           std::string_view("GET /metrics HTTP/1.1\r\nHost: h\r\n: empty name\r\n\r\n"),
           std::string_view("GET /metrics HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"),      // bare CR
           std::string_view("GET /metrics HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", 46),  // NUL
           std::string_view("GET /metrics HTTP/1.1\r\r\nHost: h\r\n\r\n"),
           std::string_view("GET /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"),
           std::string_view("GET /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n"),
           std::string_view("GET /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
                            "Content-Length: 2\r\n\r\n"),
           std::string_view("GET /metrics HTTP/1.1\r\nHost: h\r\n"
                            "Content-Length: 99999999999999999999\r\n\r\n"),
       }) {
    EXPECT_EQ(verdict(bad), HttpStatus::kBadRequest) << net::quoted(bad);
  }
}

// Bytes no request line has are refused as they come, without waiting for a line end: a TLS
// handshake sent to the plain-HTTP port gets its 400 at once.
TEST(Stage6MetricsHttpParse, BinaryIsRefusedBeforeTheLineEnds) {
  EXPECT_EQ(parse("\x16\x03\x01\x02\x00").status, HttpStatus::kBadRequest);
  EXPECT_EQ(parse("GET /metrics\t").status, HttpStatus::kBadRequest);
  EXPECT_EQ(parse("GET /metrics HTTP/1.1X").status, HttpStatus::kBadRequest);
  EXPECT_EQ(parse(" GET").status, HttpStatus::kBadRequest);
  EXPECT_EQ(parse("GET /metrics HTTP/1.1\r\nHost: h\r\nNoColon\r\n").status,
            HttpStatus::kBadRequest)
      << "a bad header line is refused before the head ends";
}

TEST(Stage6MetricsHttpParse, OversizedHeadsAndBodiesAndUnsupportedFeatures) {
  std::string long_line = "GET /" + std::string(300, 'a');
  EXPECT_EQ(verdict(long_line, 256), HttpStatus::kUriTooLong);
  std::string long_header = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(300, 'a');
  EXPECT_EQ(verdict(long_header, 256), HttpStatus::kHeadersTooLarge);
  EXPECT_EQ(verdict(long_header + "\r\n\r\n", 256), HttpStatus::kHeadersTooLarge)
      << "bytes past the bound do not count, even if they would end the head";

  // A head that ends exactly at the bound is accepted; one byte more is not.
  std::string head = "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n";
  EXPECT_EQ(parse(head, head.size()).state, ParseState::kComplete);
  EXPECT_EQ(verdict(head, head.size() - 1), HttpStatus::kHeadersTooLarge);

  std::string with_body = "GET /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n";
  EXPECT_EQ(parse(with_body, with_body.size() + 10).state, ParseState::kComplete);
  EXPECT_EQ(verdict(with_body, with_body.size() + 9), HttpStatus::kContentTooLarge);

  EXPECT_EQ(verdict("POST /metrics HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"),
            HttpStatus::kNotImplemented);
  EXPECT_EQ(verdict("GET /metrics HTTP/2.0\r\nHost: h\r\n\r\n"), HttpStatus::kVersionNotSupported);
  EXPECT_EQ(parse("", 0).status, HttpStatus::kUriTooLong) << "a zero bound is total, too";
}

// The guarantees parse_request() documents, checked on 20,000 mutations of valid requests
// (fixed seed): what a fuzz target checks, run as a test so they cannot rot.
TEST(Stage6MetricsHttpParse, ItsGuaranteesHoldForMutatedRequests) {
  const std::vector<std::string> seeds = {
      std::string(kGet), "HEAD /metrics?x=1 HTTP/1.0\n\n",
      "POST http://h:1/metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody",
      "GET /metrics HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"};
  constexpr std::string_view kBytes("\r\n :\t\0\x7f\x80/?*HTTP1.0GETabcz", 25);
  std::mt19937 rng(12);
  auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  auto same = [](const ParseResult& a, const ParseResult& b) {
    return a.state == b.state && a.status == b.status && a.request.head_size == b.request.head_size;
  };
  for (int i = 0; i < 20000; ++i) {
    std::string d = seeds[pick(seeds.size())];
    for (std::size_t m = pick(4); m > 0; --m) {  // up to 3 mutations
      std::size_t at = pick(d.size() + 1);
      char c = kBytes[pick(kBytes.size())];
      switch (pick(3)) {
        case 0:
          d.insert(at, 1, c);
          break;
        case 1:
          if (at < d.size()) d.erase(at, 1);
          break;
        default:
          if (at < d.size()) d[at] = c;
      }
    }
    std::size_t max = pick(2) == 0 ? 8192 : pick(120);
    SCOPED_TRACE(net::quoted(d) + " max " + std::to_string(max));
    ParseResult r = parse_request(d, max);
    if (r.state == ParseState::kRejected) {
      ASSERT_THAT(static_cast<int>(r.status), ::testing::AnyOf(400, 413, 414, 431, 501, 505));
    } else {
      ASSERT_EQ(r.status, HttpStatus::kOk);
    }
    ASSERT_TRUE(same(r, parse_request(std::string_view(d).substr(0, max), max)));
    if (r.state == ParseState::kIncomplete) continue;
    ASSERT_TRUE(same(r, parse_request(d + "GET / HTTP/1.1\r\n\r\n", max))) << "appended bytes";
    if (r.state != ParseState::kComplete) continue;
    const HttpRequest& q = r.request;
    ASSERT_LE(q.head_size, std::min(d.size(), max));
    ASSERT_LE(q.head_size + q.content_length, max);
    for (std::string_view v : {q.method_name, q.target, q.path, q.host}) {
      ASSERT_TRUE(v.empty() ||
                  (v.data() >= d.data() && v.data() + v.size() <= d.data() + q.head_size));
    }
    std::size_t n = pick(q.head_size);
    ASSERT_EQ(parse_request(std::string_view(d).substr(0, n), max).state, ParseState::kIncomplete)
        << "prefix of " << n;
  }
}

TEST(Stage6MetricsHttpParse, RouteServesOnlyGetAndHeadOfMetrics) {
  auto route_of = [](std::string_view request) {
    ParseResult r = parse(request);
    EXPECT_EQ(r.state, ParseState::kComplete) << request;
    return route(r.request);
  };
  EXPECT_EQ(route_of("GET /metrics HTTP/1.0\r\n\r\n"), HttpStatus::kOk);
  EXPECT_EQ(route_of("HEAD /metrics?x HTTP/1.0\r\n\r\n"), HttpStatus::kOk);
  EXPECT_EQ(route_of("GET / HTTP/1.0\r\n\r\n"), HttpStatus::kNotFound);
  EXPECT_EQ(route_of("GET /metrics/ HTTP/1.0\r\n\r\n"), HttpStatus::kNotFound);
  EXPECT_EQ(route_of("GET /Metrics HTTP/1.0\r\n\r\n"), HttpStatus::kNotFound);
  EXPECT_EQ(route_of("POST /other HTTP/1.0\r\n\r\n"), HttpStatus::kNotFound);
  EXPECT_EQ(route_of("POST /metrics HTTP/1.0\r\n\r\n"), HttpStatus::kMethodNotAllowed);
  EXPECT_EQ(route_of("get /metrics HTTP/1.0\r\n\r\n"), HttpStatus::kMethodNotAllowed)
      << "methods are case-sensitive";
}

// ---- the server: helpers ---------------------------------------------------------------------

// A response the server wrote, split up.
struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

// What reading a connection to its end brought.
struct Received {
  std::string bytes;
  bool eof = false;         // it ended with EOF (not a reset, an error or the timeout)
  std::error_code error{};  // the failure, if it did not
};

Received read_to_end(int fd, net::Deadline deadline = net::Deadline::after(kIoTimeout)) {
  Received r;
  char buf[64 * 1024];
  for (;;) {
    if (auto ready = net::wait_ready(fd, POLLIN, deadline); !ready) {
      r.error = ready.error();
      return r;
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) {
      r.eof = true;
      return r;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      r.error = std::error_code(errno, std::system_category());
      return r;
    }
    r.bytes.append(buf, static_cast<std::size_t>(n));
  }
}

// Splits a response; fails the test (returns nullopt) unless it is HTTP/1.1 with headers that
// end, a Content-Length, and (unless `head`) a body of exactly that length.
std::optional<Response> parse_response(const std::string& raw, bool head = false) {
  std::size_t end = raw.find("\r\n\r\n");
  if (!raw.starts_with("HTTP/1.1 ") || end == std::string::npos || raw.size() < 12) {
    ADD_FAILURE() << "not an HTTP/1.1 response: " << net::quoted(raw.substr(0, 200));
    return std::nullopt;
  }
  Response r;
  r.status = std::stoi(raw.substr(9, 3));
  std::size_t pos = raw.find("\r\n") + 2;
  while (pos < end) {
    std::size_t eol = raw.find("\r\n", pos);
    std::string line = raw.substr(pos, eol - pos);
    std::size_t colon = line.find(": ");
    if (colon == std::string::npos) {
      ADD_FAILURE() << "bad header line: " << net::quoted(line);
      return std::nullopt;
    }
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = line.substr(colon + 2);
    pos = eol + 2;
  }
  r.body = raw.substr(end + 4);
  if (!r.headers.contains("content-length")) {
    ADD_FAILURE() << "no Content-Length";
    return std::nullopt;
  }
  std::size_t length = std::stoul(r.headers["content-length"]);
  if (head ? !r.body.empty() : r.body.size() != length) {
    ADD_FAILURE() << "Content-Length " << length << " but a body of " << r.body.size();
    return std::nullopt;
  }
  return r;
}

net::Socket connect_to(const MetricsServer& server) {
  auto s = net::dial(server.endpoint(), net::Deadline::after(kIoTimeout));
  if (!s) {
    ADD_FAILURE() << "dial: " << s.error().message();
    return {};
  }
  return std::move(*s);
}

bool send_text(int fd, std::string_view text) {
  return net::send_all(fd, std::as_bytes(std::span(text.data(), text.size())),
                       net::Deadline::after(kIoTimeout))
      .has_value();
}

// Sends `request` on a new connection and reads the response to the server's close. The send
// may fail when the server answers before taking all of it (that is the point of some tests).
std::optional<Response> ask(const MetricsServer& server, std::string_view request,
                            bool head = false) {
  net::Socket s = connect_to(server);
  if (!s) return std::nullopt;
  (void)send_text(s.fd(), request);
  Received got = read_to_end(s.fd());
  EXPECT_TRUE(got.eof) << "the server closes after its response: " << got.error.message();
  return parse_response(got.bytes, head);
}

// Starts servers and checks, once each has stopped, that the test left no descriptor open.
class Stage6MetricsHttp : public ::testing::Test {
 protected:
  void SetUp() override { fds_before_ = testing::open_fd_count(); }

  void TearDown() override {
    if (server_) server_->stop();
    server_.reset();
    EXPECT_EQ(testing::open_fd_count(), fds_before_) << "file descriptors leaked";
  }

  // Starts the server; `options.render`, if empty, serves kPage and counts its calls.
  MetricsServer& start(MetricsServerOptions options = {}) {
    if (!options.render) {
      options.render = [this] {
        render_calls_.fetch_add(1);
        return std::string(kPage);
      };
    }
    auto started = MetricsServer::start(std::move(options));
    if (!started) throw std::runtime_error("start: " + started.error().message);
    server_ = std::move(*started);
    return *server_;
  }

  MetricsServer& server() { return *server_; }

  std::atomic<int> render_calls_{0};

 private:
  std::size_t fds_before_ = 0;
  std::unique_ptr<MetricsServer> server_;
};

// ---- the page ------------------------------------------------------------------------------

TEST_F(Stage6MetricsHttp, ServesThePageWithTheExpositionContentType) {
  MetricsServer& s = start();
  EXPECT_NE(s.port(), 0);
  EXPECT_EQ(s.endpoint().to_string(), "127.0.0.1:" + std::to_string(s.port()));
  auto r = ask(s, kGet);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r->headers["content-length"], std::to_string(kPage.size()));
  EXPECT_EQ(r->headers["connection"], "close");
  EXPECT_THAT(r->headers["date"], ::testing::MatchesRegex("[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} "
                                                          "[0-9]{4} [0-9:]{8} GMT"));
  EXPECT_EQ(r->body, kPage);
  ASSERT_TRUE(s.wait_until([](const MetricsServerStats& st) { return st.closed == 1; }));
  MetricsServerStats st = s.stats();
  EXPECT_EQ(st.accepted, 1u);
  EXPECT_EQ(st.requests, 1u);
  EXPECT_EQ(st.responses_with(HttpStatus::kOk), 1u);
  EXPECT_EQ(st.active, 0u);
  EXPECT_EQ(render_calls_.load(), 1);
}

TEST_F(Stage6MetricsHttp, IgnoresTheQueryAndServesHttp10) {
  MetricsServer& s = start();
  auto r = ask(s, "GET /metrics?name[]=tcppool_up&x HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, kPage);
  r = ask(s, "GET /metrics HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, kPage);
  r = ask(s, "GET /metrics HTTP/1.0\n\n");  // what `printf ... | nc` sends
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(s.stats().responses_with(HttpStatus::kOk), 3u);
}

TEST_F(Stage6MetricsHttp, HeadSendsTheHeadersOfGetWithoutTheBody) {
  MetricsServer& s = start();
  auto r = ask(s, "HEAD /metrics HTTP/1.1\r\nHost: h\r\n\r\n", /*head=*/true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers["content-length"], std::to_string(kPage.size()));
  EXPECT_EQ(r->headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r->body, "");
}

// ---- bad requests ----------------------------------------------------------------------------

TEST_F(Stage6MetricsHttp, OtherPathsAre404) {
  MetricsServer& s = start();
  for (std::string_view path : {"/", "/metricsx", "/metrics/", "/favicon.ico"}) {
    auto r = ask(s, "GET " + std::string(path) + " HTTP/1.1\r\nHost: h\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << path;
    EXPECT_EQ(r->headers["content-type"], "text/plain; charset=utf-8");
  }
  EXPECT_EQ(s.stats().responses_with(HttpStatus::kNotFound), 4u);
  EXPECT_EQ(render_calls_.load(), 0) << "nothing is rendered for a page that is not served";
}

TEST_F(Stage6MetricsHttp, OtherMethodsAre405WithAllow) {
  MetricsServer& s = start();
  for (std::string_view request :
       {"POST /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
        "PUT /metrics HTTP/1.1\r\nHost: h\r\n\r\n", "DELETE /metrics HTTP/1.0\r\n\r\n"}) {
    auto r = ask(s, request);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405) << request;
    EXPECT_EQ(r->headers["allow"], "GET, HEAD");
  }
  EXPECT_EQ(s.stats().responses_with(HttpStatus::kMethodNotAllowed), 3u);
  EXPECT_EQ(render_calls_.load(), 0);
}

TEST_F(Stage6MetricsHttp, MalformedRequestsAre400) {
  MetricsServer& s = start();
  std::vector<std::string_view> bad = {
      "GARBAGE\r\n\r\n",
      "GET /metrics\r\n\r\n",
      "GET /metrics HTTP/1.1\r\n\r\n",  // HTTP/1.1 without Host
      "GET /metrics HTTP/1.1\r\nHost : h\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
      "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",  // the start of a TLS ClientHello
  };
  for (std::string_view request : bad) {
    auto r = ask(s, request);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << net::quoted(request);
  }
  EXPECT_EQ(s.stats().responses_with(HttpStatus::kBadRequest), bad.size());
  EXPECT_EQ(s.stats().read_timeouts, 0u) << "answered, not left to time out";
}

TEST_F(Stage6MetricsHttp, HeadersLargerThanTheBoundAre431) {
  MetricsServer& s = start();  // max_request_bytes: 8 KiB
  std::string request =
      "GET /metrics HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n";
  auto r = ask(s, request);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  std::string long_target = "GET /metrics?" + std::string(9000, 'q') + " HTTP/1.1\r\n\r\n";
  r = ask(s, long_target);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 414);
  MetricsServerStats st = s.stats();
  EXPECT_EQ(st.responses_with(HttpStatus::kHeadersTooLarge), 1u);
  EXPECT_EQ(st.responses_with(HttpStatus::kUriTooLong), 1u);
}

TEST_F(Stage6MetricsHttp, ABodyPastTheBoundIs413AndASmallOneIsIgnored) {
  MetricsServer& s = start({.max_request_bytes = 1024});
  auto r = ask(s, "GET /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n" +
                      std::string(2000, 'b'));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  r = ask(s, "GET /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, kPage);
  r = ask(s, "POST /metrics HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 501);
  r = ask(s, "GET /metrics HTTP/2.0\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 505);
  MetricsServerStats st = s.stats();
  EXPECT_EQ(st.responses_with(HttpStatus::kContentTooLarge), 1u);
  EXPECT_EQ(st.responses_with(HttpStatus::kNotImplemented), 1u);
  EXPECT_EQ(st.responses_with(HttpStatus::kVersionNotSupported), 1u);
  EXPECT_EQ(st.requests, 4u);
}

// ---- slow and greedy clients ---------------------------------------------------------------

// A client that sends part of its head and stops is dropped at the read timeout; meanwhile the
// server goes on serving everyone else.
TEST_F(Stage6MetricsHttp, ASlowlorisIsDroppedByTheReadTimeout) {
  MetricsServer& s = start({.read_timeout = 300ms});
  net::Socket slow = connect_to(s);
  ASSERT_TRUE(send_text(slow.fd(), "GET /metrics HTTP/1.1\r\nHost: h\r\n"));
  auto r = ask(s, kGet);  // served while the slow one waits
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  Received got = read_to_end(slow.fd());
  EXPECT_TRUE(got.eof) << got.error.message();
  EXPECT_EQ(got.bytes, "") << "dropped without an answer";
  ASSERT_TRUE(s.wait_until([](const MetricsServerStats& st) { return st.read_timeouts == 1; }));
  EXPECT_EQ(s.stats().requests, 1u);
}

// The read timeout counts from the accept, not from the last byte: a client that trickles a
// byte every 20 ms, which would keep a per-read timeout from ever firing, is dropped all the
// same.
TEST_F(Stage6MetricsHttp, ATricklingClientIsDroppedAllTheSame) {
  MetricsServer& s = start({.read_timeout = 300ms});
  net::Socket slow = connect_to(s);
  std::string head = "GET /metrics HTTP/1.1\r\nHost: h\r\nX-Slow: " + std::string(1000, 'a');
  bool dropped = false;
  std::size_t sent = 0;
  for (; sent < head.size() && !dropped; ++sent) {
    if (!send_text(slow.fd(), head.substr(sent, 1))) {
      dropped = true;  // reset: the server closed with our last bytes unread
      break;
    }
    // The pace of the trickle: wait 20 ms for the server's close.
    if (net::wait_ready(slow.fd(), POLLIN, net::Deadline::after(20ms))) {
      char c;
      dropped = ::recv(slow.fd(), &c, 1, 0) <= 0;
    }
  }
  EXPECT_TRUE(dropped) << "still connected after " << sent << " bytes";
  EXPECT_LT(sent, head.size());
  ASSERT_TRUE(s.wait_until([](const MetricsServerStats& st) { return st.read_timeouts == 1; }));
}

// A client that asks and never reads is reset at the write timeout, once its receive window and
// the server's send buffer are full; the server does not wait on it.
TEST_F(Stage6MetricsHttp, AClientThatDoesNotReadIsResetByTheWriteTimeout) {
  std::string big(32 << 20, 'x');  // far more than the socket buffers hold
  MetricsServer& s = start({.write_timeout = 300ms, .render = [&big] { return big; }});
  net::Socket c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(c);
  int small = 4096;
  ASSERT_EQ(::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  ASSERT_EQ(::connect(c.fd(), s.endpoint().address(), s.endpoint().address_length()), 0)
      << std::strerror(errno);
  ASSERT_TRUE(send_text(c.fd(), kGet));
  ASSERT_TRUE(s.wait_until([](const MetricsServerStats& st) { return st.write_timeouts == 1; }));
  auto r = ask(s, "GET /nothing HTTP/1.0\r\n\r\n");  // the server is free again
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  Received got = read_to_end(c.fd());
  EXPECT_FALSE(got.eof) << "reset, not closed";
  EXPECT_LT(got.bytes.size(), big.size());
  EXPECT_EQ(s.stats().responses_with(HttpStatus::kOk), 1u);
}

// Beyond max_connections a connection is accepted and closed at once, and counted; the open
// ones are served as usual, and once they are gone a new one is served too.
TEST_F(Stage6MetricsHttp, ConnectionsBeyondTheLimitAreRefused) {
  MetricsServer& s = start({.max_connections = 2});
  net::Socket a = connect_to(s);
  net::Socket b = connect_to(s);
  ASSERT_TRUE(s.wait_until([](const MetricsServerStats& st) { return st.active == 2; }));
  net::Socket extra = connect_to(s);
  ASSERT_TRUE(s.wait_until([](const MetricsServerStats& st) { return st.refused == 1; }));
  Received refused = read_to_end(extra.fd());
  EXPECT_EQ(refused.bytes, "");
  EXPECT_TRUE(refused.eof || refused.error == std::errc::connection_reset)
      << refused.error.message();
  for (net::Socket* held : {&a, &b}) {
    ASSERT_TRUE(send_text(held->fd(), kGet));
    auto r = parse_response(read_to_end(held->fd()).bytes);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    held->reset();
  }
  ASSERT_TRUE(s.wait_until([](const MetricsServerStats& st) { return st.active == 0; }));
  auto r = ask(s, kGet);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  MetricsServerStats st = s.stats();
  EXPECT_EQ(st.accepted, 4u);
  EXPECT_EQ(st.refused, 1u);
  EXPECT_EQ(st.accepted, st.refused + st.closed + st.active);
}

// At the descriptor limit accept() fails with EMFILE. The server gives up a spare descriptor to
// accept and close the waiting connection (the client sees EOF, not silence), and serves again
// once descriptors are free.
TEST_F(Stage6MetricsHttp, AtTheDescriptorLimitConnectionsAreRefusedNotLeftWaiting) {
  MetricsServer& s = start();
  net::Socket client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));  // made while we can
  ASSERT_TRUE(client);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  int lowest_free = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
  ASSERT_GE(lowest_free, 0);
  ::close(lowest_free);
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(lowest_free);  // every descriptor below it is taken
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  int rc = ::connect(client.fd(), s.endpoint().address(), s.endpoint().address_length());
  int err = errno;
  bool refused = s.wait_until([](const MetricsServerStats& st) { return st.refused == 1; });
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_EQ(rc, 0) << std::strerror(err);
  ASSERT_TRUE(refused);
  Received got = read_to_end(client.fd());
  EXPECT_TRUE(got.eof) << got.error.message();
  auto r = ask(s, kGet);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// ---- render -----------------------------------------------------------------------------------

TEST_F(Stage6MetricsHttp, ARenderThatThrowsIs500AndTheServerKeepsServing) {
  std::atomic<int> calls{0};
  MetricsServer& s = start({.render = [&calls]() -> std::string {
    switch (calls.fetch_add(1)) {
      case 0:
        throw std::runtime_error("stats() failed");
      case 1:
        throw 42;  // not even a std::exception
      default:
        return std::string(kPage);
    }
  }});
  auto r = ask(s, kGet);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->headers["content-type"], "text/plain; charset=utf-8");
  EXPECT_EQ(r->body, "Internal Server Error\n") << "the exception's text stays in the stats";
  EXPECT_EQ(s.stats().last_render_error, "stats() failed");
  r = ask(s, kGet);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  r = ask(s, kGet);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, kPage);
  MetricsServerStats st = s.stats();
  EXPECT_EQ(st.render_failures, 2u);
  EXPECT_EQ(st.responses_with(HttpStatus::kInternalError), 2u);
  EXPECT_EQ(st.responses_with(HttpStatus::kOk), 1u);
  EXPECT_EQ(st.last_render_error, "an exception not derived from std::exception");
  EXPECT_EQ(st.loop_errors, 0u);
}

// 32 clients scrape at once, 10 times each, while another thread keeps changing what render
// reports: every scrape is answered 200 with a fresh rendering (never cached, never torn), and
// nobody is refused.
TEST_F(Stage6MetricsHttp, ManyClientsAtOnceAreAllServedFreshPages) {
  constexpr int kClients = 32;
  constexpr int kScrapes = 10;
  std::atomic<std::uint64_t> generation{0};
  std::atomic<bool> done{false};
  std::jthread worker([&] {  // stands in for the pool: busy, and never waits for the server
    while (!done.load()) {
      generation.fetch_add(1);
      std::this_thread::yield();
    }
  });
  MetricsServer& s =
      start({.max_connections = 256, .render = [&] {
               return "tcppool_test_generation " + std::to_string(generation.load()) + "\n";
             }});
  std::atomic<int> ok{0};
  {
    std::vector<std::jthread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&] {
        std::uint64_t last = 0;
        for (int i = 0; i < kScrapes; ++i) {
          auto r = ask(s, kGet);
          if (!r || r->status != 200) continue;
          constexpr std::string_view kName = "tcppool_test_generation ";
          EXPECT_TRUE(r->body.starts_with(kName) && r->body.ends_with("\n")) << r->body;
          std::uint64_t g = std::stoull(r->body.substr(kName.size()));
          EXPECT_GE(g, last) << "a later scrape saw an older page";
          last = g;
          ok.fetch_add(1);
        }
      });
    }
  }
  done = true;
  EXPECT_EQ(ok.load(), kClients * kScrapes);
  MetricsServerStats st = s.stats();
  EXPECT_EQ(st.responses_with(HttpStatus::kOk), std::uint64_t{kClients * kScrapes});
  EXPECT_EQ(st.refused, 0u);
  EXPECT_EQ(st.loop_errors, 0u);
}

// The real thing: a pool under load while 16 scrapers ask for its page as fast as they can.
// The scrapes read stats() on the server's thread, which takes no lock a lease takes: the
// pool's requests all succeed, every scrape is a valid page, and the last one counts every lease.
TEST_F(Stage6MetricsHttp, ScrapesUnderLoadNeitherStallNorBreakThePool) {
  auto echo = echo::EchoServer::start({});
  ASSERT_TRUE(echo);
  Pool pool({.endpoint = (*echo)->endpoint().to_string(),
             .max_idle = 4,
             .max_open = 4,
             .name = "scraped"});
  MetricsServer& s = start({.max_connections = 64, .render = [&] {
                              const Stats stats[] = {pool.stats()};
                              return prometheus_text(stats);
                            }});
  constexpr int kWorkers = 4, kEach = 500, kScrapers = 16, kScrapes = 20;
  std::atomic<int> failed{0}, pages{0};
  {
    std::vector<std::jthread> threads;
    for (int w = 0; w < kWorkers; ++w) {
      threads.emplace_back([&, w] {
        std::array<std::byte, 64> request{}, reply{};
        for (int i = 0; i < kEach; ++i) {
          echo::fill_pattern(request, static_cast<std::uint64_t>(w) << 32 | i);
          auto r = pool.run([&](Lease& lease) {
            return echo::round_trip(lease.fd(), request, reply, net::Deadline::after(10s));
          });
          if (!r) ++failed;
        }
      });
    }
    for (int c = 0; c < kScrapers; ++c) {
      threads.emplace_back([&] {
        for (int i = 0; i < kScrapes; ++i) {
          auto r = ask(s, kGet);
          if (r && r->status == 200 &&
              r->body.find("tcppool_acquires_total{pool=\"scraped\"} ") != std::string::npos) {
            ++pages;
          }
        }
      });
    }
  }
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(pages.load(), kScrapers * kScrapes);
  auto last = ask(s, kGet);
  ASSERT_TRUE(last && last->status == 200);
  EXPECT_NE(last->body.find("tcppool_acquires_total{pool=\"scraped\"} " +
                            std::to_string(kWorkers * kEach) + "\n"),
            std::string::npos)
      << last->body.substr(0, 2000);
}

// ---- options, start and stop --------------------------------------------------------------

std::string rejection(const MetricsServerOptions& o) {
  auto v = o.validate();
  if (v) return "";
  EXPECT_EQ(v.error().code, std::errc::invalid_argument);
  return v.error().message;
}

TEST_F(Stage6MetricsHttp, InvalidOptionsAreRefusedNamingTheOption) {
  auto render = [] { return std::string(kPage); };
  MetricsServerOptions good{.render = render};
  EXPECT_EQ(rejection(good), "");
  auto with = [&](auto change) {
    MetricsServerOptions o = good;
    change(o);
    return rejection(o);
  };
  EXPECT_EQ(with([](auto& o) { o.address = "0.0.0.0"; }),
            "MetricsServerOptions.address: 0.0.0.0 is not a loopback address (set "
            "allow_non_loopback to serve it)");
  EXPECT_EQ(with([](auto& o) { o.address = "10.1.2.3"; }).substr(0, 29),
            "MetricsServerOptions.address:");
  EXPECT_EQ(with([](auto& o) {
              o.address = "0.0.0.0";
              o.allow_non_loopback = true;
            }),
            "")
      << "allowed when asked for (validated only: the test binds nothing but loopback)";
  EXPECT_EQ(with([](auto& o) { o.address = "::1"; }), "");
  EXPECT_EQ(with([](auto& o) { o.address = "127.0.0.2"; }), "");
  EXPECT_THAT(with([](auto& o) { o.address = "not a host"; }),
              HasSubstr("MetricsServerOptions.address: \"not a host\" is not a host"));
  EXPECT_EQ(with([](auto& o) { o.max_request_bytes = 0; }),
            "MetricsServerOptions.max_request_bytes: must be between 256 and 1048576, got 0");
  EXPECT_THAT(with([](auto& o) { o.max_request_bytes = 2 << 20; }),
              HasSubstr("MetricsServerOptions.max_request_bytes:"));
  EXPECT_EQ(with([](auto& o) { o.read_timeout = 0ms; }),
            "MetricsServerOptions.read_timeout: must be between 1ms and 1h, got 0s");
  EXPECT_EQ(with([](auto& o) { o.write_timeout = std::chrono::milliseconds::max(); }).substr(0, 53),
            "MetricsServerOptions.write_timeout: must be between 1");
  EXPECT_EQ(with([](auto& o) { o.max_connections = 0; }),
            "MetricsServerOptions.max_connections: must be between 1 and 4096, got 0");
  EXPECT_EQ(with([](auto& o) { o.backlog = 0; }),
            "MetricsServerOptions.backlog: must be between 1 and 65535, got 0");
  EXPECT_EQ(with([](auto& o) { o.render = nullptr; }),
            "MetricsServerOptions.render: must be set: it writes the page");

  // start() returns the same error, and throws nothing.
  auto started = MetricsServer::start({.max_connections = 0, .render = render});
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, std::errc::invalid_argument);
  EXPECT_THAT(started.error().message, HasSubstr("max_connections"));
}

TEST_F(Stage6MetricsHttp, StartReturnsBindFailuresAndResolvesLoopbackNames) {
  auto taken = net::listen_on(net::Endpoint::loopback(0));
  ASSERT_TRUE(taken);
  auto port = net::local_port(taken->fd());
  ASSERT_TRUE(port);
  auto render = [] { return std::string(kPage); };
  auto started = MetricsServer::start({.port = *port, .render = render});
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, std::errc::address_in_use);
  EXPECT_EQ(started.error().message,
            "MetricsServer: cannot listen on 127.0.0.1:" + std::to_string(*port) + ": " +
                started.error().code.message());
  taken->reset();

  MetricsServer& s = start({.address = "localhost"});
  auto r = ask(s, kGet);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// stop() closes every connection, whatever its phase, and returns once the thread is gone; the
// fixture checks no descriptor is left.
TEST_F(Stage6MetricsHttp, StopClosesEveryConnectionAndIsIdempotent) {
  MetricsServer& s = start({.read_timeout = std::chrono::hours(1)});
  net::Socket idle = connect_to(s);
  net::Socket partial = connect_to(s);
  ASSERT_TRUE(send_text(partial.fd(), "GET /metr"));
  ASSERT_TRUE(s.wait_until([](const MetricsServerStats& st) { return st.active == 2; }));
  s.stop();
  for (net::Socket* c : {&idle, &partial}) {
    Received got = read_to_end(c->fd());
    EXPECT_TRUE(got.eof || got.error == std::errc::connection_reset) << got.error.message();
  }
  s.stop();
  MetricsServerStats st = s.stats();
  EXPECT_EQ(st.active, 0u);
  EXPECT_EQ(st.closed, 2u);
  EXPECT_FALSE(net::dial(s.endpoint(), net::Deadline::after(kIoTimeout))) << "the port is closed";
}

// ---- curl ---------------------------------------------------------------------------------

// Returns curl's path, searched for in PATH as a shell would; "" when it is not installed.
std::string find_curl() {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    std::size_t colon = dirs.find(':');
    std::string candidate = std::string(dirs.substr(0, colon)) + "/curl";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
  }
  return "";
}

struct CurlRun {
  std::optional<int> status;
  std::string out;
  std::string err;
};

CurlRun curl(const std::string& path, std::vector<std::string> args) {
  // --noproxy: an http_proxy in the environment must not take loopback traffic elsewhere.
  args.insert(args.begin(), {"-sS", "--noproxy", "*", "--max-time", "10"});
  testing::ChildProcess child(path, args);
  CurlRun run;
  run.out = child.rest_of_stdout();
  run.err = child.rest_of_stderr();
  run.status = child.wait_exit();
  return run;
}

TEST_F(Stage6MetricsHttp, WorksWithCurl) {
  std::string path = find_curl();
  ASSERT_NE(path, "") << "curl is not installed: scripts/ensure-deps.sh build installs it";
  MetricsServer& s = start();
  std::string url = "http://127.0.0.1:" + std::to_string(s.port()) + "/metrics";

  CurlRun get = curl(path, {url});
  EXPECT_TRUE(testing::exited_with(get.status, 0)) << testing::describe(get.status) << get.err;
  EXPECT_EQ(get.out, kPage);

  CurlRun type = curl(path, {"-o", "/dev/null", "-w", "%{http_code} %{content_type}", url});
  EXPECT_TRUE(testing::exited_with(type.status, 0)) << type.err;
  EXPECT_EQ(type.out, "200 text/plain; version=0.0.4; charset=utf-8");

  CurlRun post = curl(path, {"-X", "POST", "-o", "/dev/null", "-w", "%{http_code}", url});
  EXPECT_TRUE(testing::exited_with(post.status, 0)) << post.err;
  EXPECT_EQ(post.out, "405");

  CurlRun http10 = curl(path, {"--http1.0", url});
  EXPECT_TRUE(testing::exited_with(http10.status, 0)) << http10.err;
  EXPECT_EQ(http10.out, kPage);

  CurlRun head = curl(path, {"-I", url});
  EXPECT_TRUE(testing::exited_with(head.status, 0)) << head.err;
  EXPECT_THAT(head.out, HasSubstr("Content-Length: " + std::to_string(kPage.size()) + "\r\n"));

  CurlRun missing = curl(path, {"-o", "/dev/null", "-w", "%{http_code}", url + "x"});
  EXPECT_EQ(missing.out, "404");

  MetricsServerStats st = s.stats();
  EXPECT_EQ(st.responses_with(HttpStatus::kOk), 4u);
  EXPECT_EQ(st.responses_with(HttpStatus::kMethodNotAllowed), 1u);
  EXPECT_EQ(st.responses_with(HttpStatus::kNotFound), 1u);
  EXPECT_EQ(st.responses_with(HttpStatus::kBadRequest), 0u);
}

}  // namespace
}  // namespace tcppool::stage6
