// Tests of the echo server when memory runs out: a connection whose buffer cannot be allocated
// is refused and counted, and every other connection keeps being served.
//
// Under `ulimit -v` the allocation of a connection's buffer fails first: it is the one large
// allocation the server makes per connection (`--buffer 268435456` under `ulimit -v 1500000`
// failed on the third connection). This binary reproduces that without a process limit, which
// the sanitizers' shadow memory would not survive: it replaces the array forms of operator new
// and delete (a replacement the C++ standard provides for) with ones that refuse requests at or
// above a size the test sets, exactly as a failing malloc would. Nothing in the server changes.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include "common/echo/echo_server.hpp"
#include "common/net/tcp.hpp"
#include "common/testing/echo_fixture.hpp"

namespace {

std::atomic<std::size_t> g_refuse_from{SIZE_MAX};  // refuse array allocations this large
std::atomic<int> g_refused{0};

void* allocate(std::size_t n) noexcept {
  if (n >= g_refuse_from.load()) {
    ++g_refused;
    return nullptr;
  }
  return std::malloc(n != 0 ? n : 1);
}

}  // namespace

void* operator new[](std::size_t n) {
  if (void* p = allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace tcppool::echo {
namespace {

using namespace std::chrono_literals;
using testing::echo_once;

constexpr std::size_t kBuffer = 256 * 1024;

class EchoOutOfMemory : public testing::EchoServerTest {
 protected:
  Options server_options() const override { return {.buffer_bytes = kBuffer}; }
  void TearDown() override {
    g_refuse_from = SIZE_MAX;
    testing::EchoServerTest::TearDown();
  }
};

TEST_F(EchoOutOfMemory, AConnectionWhoseBufferCannotBeAllocatedIsRefusedAndCounted) {
  std::vector<net::Socket> served;
  for (int i = 0; i < 2; ++i) served.push_back(connect());
  ASSERT_TRUE(server().wait_until([](const Stats& s) { return s.active == 2; }));

  g_refuse_from = kBuffer;  // from now on no buffer can be had
  const int refused_before = g_refused.load();
  net::Socket refused = connect();  // the handshake completes in the kernel
  auto r = echo_once(refused.fd());
  ASSERT_FALSE(r) << "served without a buffer";
  EXPECT_TRUE(server().wait_until(
      [](const Stats& s) { return s.closed(CloseCause::kNoMemory) == 1 && s.active == 2; }));
  EXPECT_GT(g_refused.load(), refused_before) << "the server asked for a buffer and got none";
  for (auto& s : served) EXPECT_TRUE(echo_once(s.fd())) << "the others keep being served";

  g_refuse_from = SIZE_MAX;  // memory is back: so is service
  net::Socket later = connect();
  EXPECT_TRUE(echo_once(later.fd()));
  EXPECT_EQ(server().stats().closed(CloseCause::kNoMemory), 1u);
}

}  // namespace
}  // namespace tcppool::echo
