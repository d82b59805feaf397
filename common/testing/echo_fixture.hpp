// common/testing/echo_fixture.hpp: a GoogleTest fixture with an in-process echo server and an
// fd-leak check, and helpers for one verified echo.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/echo/echo_client.hpp"
#include "common/echo/echo_server.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/fd_count.hpp"

namespace tcppool::testing {

/// The deadline every test-side echo uses, so a broken pool or server fails a test instead of
/// hanging it (ctest's TIMEOUT is the second line of defence).
inline constexpr std::chrono::seconds kTestIoTimeout{10};

/// Sends `size` pattern bytes on `fd` and checks the echo; fails as echo::round_trip() does.
inline std::expected<void, std::error_code> echo_once(int fd, std::size_t size = 64,
                                                      std::uint64_t seed = 1) {
  std::vector<std::byte> request(size), reply(size);
  echo::fill_pattern(request, seed);
  return echo::round_trip(fd, request, reply, net::Deadline::after(kTestIoTimeout));
}

/// Starts an echo server on 127.0.0.1 and a free port before each test, and checks after each
/// that the test closed every descriptor it opened: the descriptor count is taken before the
/// server starts and compared after it has stopped, so server-side leaks count too.
///
///     class Stage2Pool : public tcppool::testing::EchoServerTest {};
///     TEST_F(Stage2Pool, Echoes) { Pool pool({.endpoint = endpoint()}); ... }
class EchoServerTest : public ::testing::Test {
 protected:
  /// The options the server starts with; override to start with faults.
  virtual echo::Options server_options() const { return {}; }

  /// Records the open descriptor count, then starts the server.
  void SetUp() override {
    fds_before_ = open_fd_count();
    auto started = echo::EchoServer::start(server_options());
    ASSERT_TRUE(started) << "echo server: " << started.error().message();
    server_ = std::move(*started);
  }

  /// Stops the server and checks that no descriptor leaked.
  void TearDown() override {
    if (server_) server_->stop();
    server_.reset();
    EXPECT_EQ(open_fd_count(), fds_before_) << "file descriptors leaked";
  }

  /// Returns the server.
  echo::EchoServer& server() { return *server_; }

  /// Returns the server's "127.0.0.1:port", as pool options take it.
  std::string endpoint() const { return server_->endpoint().to_string(); }

  /// Dials the server directly (no pool), failing the test if that fails.
  net::Socket connect() {
    auto s = net::dial(server_->endpoint(), net::Deadline::after(kTestIoTimeout));
    EXPECT_TRUE(s) << "dial: " << s.error().message();
    return s ? std::move(*s) : net::Socket();
  }

  /// Waits (up to 10 s) until the server has accepted `n` connections in all.
  bool wait_accepted(std::uint64_t n) {
    return server_->wait_until([n](const echo::Stats& s) { return s.accepted >= n; },
                               std::chrono::seconds(10));
  }

 private:
  std::size_t fds_before_ = 0;
  std::unique_ptr<echo::EchoServer> server_;
};

}  // namespace tcppool::testing
