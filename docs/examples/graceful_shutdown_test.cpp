// Runs docs/examples/graceful_shutdown.cpp as a user would: under load, then SIGTERM. It must
// exit on its own within its drain deadline, and say what it did; exit 0 only when nothing was
// lost. The second test makes its requests outlast the drain deadline, so the pool must force
// the connections still out and the example must say so and fail.
#include <gtest/gtest.h>
#include <signal.h>

#include <cctype>
#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "common/testing/child_process.hpp"

namespace {

using namespace std::chrono_literals;
using tcppool::testing::ChildProcess;
using tcppool::testing::describe;
using tcppool::testing::exited_with;

constexpr const char* kExample = GRACEFUL_SHUTDOWN_PATH;

// The numbers of the example's summary ("... 1234 requests echoed, 0 failed, ...").
struct Summary {
  long in_flight = -1, forced = -1, echoed = -1, failed = -1, drained_ms = -1;
};

// The number just after `phrase` in `text`, or just before it.
std::optional<long> number_after(const std::string& text, const std::string& phrase) {
  auto at = text.find(phrase);
  if (at == std::string::npos) return std::nullopt;
  auto from = at + phrase.size(), to = from;
  while (to < text.size() && std::isdigit(static_cast<unsigned char>(text[to]))) ++to;
  if (to == from) return std::nullopt;
  return std::stol(text.substr(from, to - from));
}

std::optional<long> number_before(const std::string& text, const std::string& phrase) {
  auto at = text.find(phrase);
  if (at == std::string::npos) return std::nullopt;
  auto from = at;
  while (from > 0 && std::isdigit(static_cast<unsigned char>(text[from - 1]))) --from;
  if (from == at) return std::nullopt;
  return std::stol(text.substr(from, at - from));
}

Summary parse(const std::string& out) {
  Summary s;
  s.in_flight = number_after(out, "stopping with ").value_or(-1);
  s.forced = number_before(out, " connections forced").value_or(-1);
  s.echoed = number_before(out, " requests echoed").value_or(-1);
  s.failed = number_before(out, " failed,").value_or(-1);
  // format_duration() writes "18ms" or "1.2s"; whole milliseconds are enough here.
  if (auto d = number_after(out, "drained in ")) {
    auto unit =
        out.find("drained in ") + std::string("drained in ").size() + std::to_string(*d).size();
    s.drained_ms = out.compare(unit, 2, "ms") == 0 ? *d : *d * 1000;
  }
  return s;
}

// Starts the example, waits until every worker has had a request echoed, sends SIGTERM.
void run_until_sigterm(ChildProcess& child) {
  ASSERT_GT(child.pid(), 0);
  ASSERT_TRUE(child.stdout_line()) << child.rest_of_stderr();  // "8 workers on ..."
  auto ready = child.stdout_line();
  ASSERT_TRUE(ready && ready->find("ready") != std::string::npos)
      << (ready ? *ready : "no ready line") << "\n"
      << child.rest_of_stderr();
  ASSERT_TRUE(child.signal(SIGTERM));
}

TEST(GracefulShutdownExample, SigtermUnderLoadFinishesEveryRequestInFlightAndExitsZero) {
  // Every echo takes 20 ms, so at the signal nearly every worker has one in flight; the
  // drain deadline is far longer than one echo.
  ChildProcess child(kExample,
                     {"--workers", "8", "--max-open", "4", "--latency", "20ms", "--drain", "5s"});
  run_until_sigterm(child);
  if (HasFatalFailure()) return;
  auto status = child.wait_exit(15s);  // bounded: the drain deadline plus a wide margin
  std::string out = child.rest_of_stdout(), err = child.rest_of_stderr();
  ASSERT_TRUE(exited_with(status, 0)) << describe(status) << "\n" << out << err;
  Summary s = parse(out);
  EXPECT_GT(s.in_flight, 0) << out;  // the test is only worth something if this holds
  EXPECT_EQ(s.forced, 0) << out;
  EXPECT_EQ(s.failed, 0) << out << err;  // no echo lost or truncated
  EXPECT_GT(s.echoed, 0) << out;
  EXPECT_GE(s.drained_ms, 0) << out;
  EXPECT_LE(s.drained_ms, 5000) << out;
  EXPECT_NE(out.find("Terminated: stopping"), std::string::npos) << out;
  EXPECT_TRUE(err.empty()) << err;
}

TEST(GracefulShutdownExample, RequestsThatOutlastTheDrainDeadlineAreForcedAndReported) {
  // Every echo takes 3 s, the drain waits 200 ms: the connections in flight must be forced,
  // their requests fail at once (not at their own 10 s deadline), and the exit status says so.
  ChildProcess child(kExample,
                     {"--workers", "4", "--max-open", "4", "--latency", "3s", "--drain", "200ms"});
  // "ready" comes when the last worker's first echo does: the others are 3 s into their next.
  run_until_sigterm(child);
  if (HasFatalFailure()) return;
  auto status = child.wait_exit(15s);
  std::string out = child.rest_of_stdout(), err = child.rest_of_stderr();
  ASSERT_TRUE(exited_with(status, 1)) << describe(status) << "\n" << out << err;
  Summary s = parse(out);
  EXPECT_GE(s.forced, 1) << out;
  EXPECT_EQ(s.failed, s.forced) << "each forced connection fails its own request\n" << out;
  EXPECT_LT(s.drained_ms, 3000) << "the drain must not wait for the echoes" << out;
}

}  // namespace
