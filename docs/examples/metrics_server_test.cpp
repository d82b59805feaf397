// Runs docs/examples/metrics_server.cpp as a user would: waits for the address it prints,
// scrapes /metrics over a plain socket as Prometheus would, checks what the page says about
// both pools against what the example did, then stops it with SIGTERM.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <optional>
#include <span>
#include <string>

#include "common/net/endpoint.hpp"
#include "common/net/io.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/child_process.hpp"

namespace {

using namespace std::chrono_literals;
using tcppool::testing::ChildProcess;
using tcppool::testing::describe;
using tcppool::testing::exited_with;
namespace net = tcppool::net;

constexpr const char* kExample = METRICS_SERVER_PATH;

// GET /metrics from 127.0.0.1:port; the whole response, headers included ("" on failure).
std::string scrape(std::uint16_t port) {
  auto conn = net::dial(net::Endpoint::loopback(port), net::Deadline::after(5s));
  if (!conn) return "";
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
  if (!net::send_all(conn->fd(), std::as_bytes(std::span(request)), net::Deadline::after(5s))) {
    return "";
  }
  std::string out;
  std::array<std::byte, 4096> buf{};
  const auto deadline = net::Deadline::after(10s);
  for (;;) {  // the server closes after its response
    if (!net::wait_ready(conn->fd(), POLLIN, deadline)) break;
    ssize_t n = ::recv(conn->fd(), buf.data(), buf.size(), 0);
    if (n <= 0) break;
    out.append(reinterpret_cast<const char*>(buf.data()), static_cast<std::size_t>(n));
  }
  return out;
}

// The value of the sample whose line starts with `series` followed by a space, or nullopt.
std::optional<double> sample(const std::string& page, const std::string& series) {
  auto at = page.find("\n" + series + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::stod(page.substr(at + series.size() + 2));
}

TEST(DocsExamples, MetricsServerServesBothPoolsPages) {
  ChildProcess child(kExample, {"--requests", "50", "--port", "0", "--serve", "60s"});
  ASSERT_GT(child.pid(), 0);
  auto line = child.stdout_line();
  ASSERT_TRUE(line) << "no address printed; stderr: " << child.rest_of_stderr();
  const std::string prefix = "serving http://127.0.0.1:";
  ASSERT_EQ(line->rfind(prefix, 0), 0u) << *line;
  auto port = static_cast<std::uint16_t>(std::stoi(line->substr(prefix.size())));

  std::string page = scrape(port);
  ASSERT_NE(page.find("HTTP/1.1 200"), std::string::npos) << page;
  ASSERT_NE(page.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << page;

  // fast: 8 workers x 50 requests, every one served, never a timeout, nothing waited past 5 ms.
  EXPECT_EQ(sample(page, "tcppool_acquires_total{pool=\"fast\"}"), 400 + 0.0) << page;
  EXPECT_EQ(sample(page, "tcppool_connection_timeouts_total{pool=\"fast\"}"), 0.0);
  EXPECT_EQ(sample(page, "tcppool_connection_max{pool=\"fast\"}"), 8.0);
  // starved: 2 connections for 8 workers and a 5 ms acquire timeout: at least some waited,
  // every request is a lease or a timeout, and the one lease held 100 ms was a leak.
  auto starved_acquires = sample(page, "tcppool_acquires_total{pool=\"starved\"}");
  auto starved_timeouts = sample(page, "tcppool_connection_timeouts_total{pool=\"starved\"}");
  ASSERT_TRUE(starved_acquires && starved_timeouts) << page;
  EXPECT_EQ(*starved_acquires + *starved_timeouts, 400 + 1.0) << "the leaked lease is one more";
  EXPECT_GT(sample(page, "tcppool_acquires_waited_total{pool=\"starved\"}").value_or(0), 0.0);
  EXPECT_EQ(sample(page, "tcppool_leaks_suspected_total{pool=\"starved\"}"), 1.0);
  EXPECT_EQ(sample(page, "tcppool_connection_wait_time_seconds_count{pool=\"starved\"}"),
            *starved_acquires);

  ASSERT_TRUE(child.signal(SIGTERM));
  std::string err = child.rest_of_stderr();  // to EOF: the pools' events, read as they exit
  auto status = child.wait_exit();
  EXPECT_TRUE(exited_with(status, 0)) << describe(status);
  EXPECT_NE(err.find("event suspected_leak pool=starved: a lease taken at "), std::string::npos)
      << err;
  EXPECT_NE(err.find("metrics_server.cpp:"), std::string::npos) << err;
  EXPECT_EQ(err.find("event suspected_leak pool=fast"), std::string::npos) << err;
}

TEST(DocsExamples, MetricsServerRejectsABadFlagNamingIt) {
  ChildProcess child(kExample, {"--requests", "0"});
  auto status = child.wait_exit();
  EXPECT_TRUE(exited_with(status, 2)) << describe(status);
  EXPECT_NE(child.rest_of_stderr().find("--requests: 1 to 1000000, got 0"), std::string::npos);
}

}  // namespace
