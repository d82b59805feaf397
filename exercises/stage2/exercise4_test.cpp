// exercises/stage2/exercise4_test.cpp: the grader of stage 2's exercise 4, "Hardcore: a
// lock-free stack" (docs/stage2-mutex-queue.md#exercises): IdleStack, in idle_stack.hpp, keeps
// up to `capacity` idle sockets in a stack pushed and popped with compare-and-swap. The stress
// test catches the ABA problem: a naive pop hands one socket to two threads, or loses one.
// `make workshop-test STAGE=2 EXERCISE=4` runs it, and `make workshop-test STAGE=2` checks
// that the pool built on it still passes; it fails on the reference stage 2 (no idle_stack.hpp)
// and passes with exercises/stage2/exercise4.patch.
#include "idle_stack.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <set>
#include <thread>
#include <vector>

namespace stage = tcppool::stage2;

namespace {

using tcppool::net::Socket;

Socket new_socket() { return Socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)); }

TEST(Stage2Exercise4, PopsInTheReverseOrderOfPushes) {
  stage::IdleStack stack(4);
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    Socket s = new_socket();
    fds.push_back(s.fd());
    ASSERT_TRUE(stack.push(std::move(s)));
  }
  EXPECT_EQ(stack.size(), 3u);
  for (int i = 2; i >= 0; --i) {
    auto s = stack.pop();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->fd(), fds[i]);
  }
  EXPECT_FALSE(stack.pop());
  EXPECT_EQ(stack.size(), 0u);
}

TEST(Stage2Exercise4, APushBeyondCapacityFailsAndKeepsTheSocket) {
  stage::IdleStack stack(1);
  ASSERT_TRUE(stack.push(new_socket()));
  Socket extra = new_socket();
  int fd = extra.fd();
  EXPECT_FALSE(stack.push(std::move(extra)));
  EXPECT_EQ(extra.fd(), fd) << "a failed push must leave the socket with the caller";  // NOLINT
  stage::IdleStack none(0);
  EXPECT_FALSE(none.push(std::move(extra)));
  EXPECT_FALSE(none.pop());
}

TEST(Stage2Exercise4, TheHeadIsLockFree) {
  stage::IdleStack stack(8);
  EXPECT_TRUE(stack.is_lock_free());
}

// Eight sockets, four threads popping and pushing them back as fast as they can: no socket is
// ever held by two threads at once, and none is lost.
TEST(Stage2Exercise4, StressNeverHandsOutOneSocketTwice) {
  constexpr int kSockets = 8, kThreads = 4, kRounds = 20'000;
  stage::IdleStack stack(kSockets);
  std::set<int> fds;
  for (int i = 0; i < kSockets; ++i) {
    Socket s = new_socket();
    fds.insert(s.fd());
    ASSERT_TRUE(stack.push(std::move(s)));
  }
  int top = *fds.rbegin();
  auto held = std::make_unique<std::atomic<bool>[]>(top + 1);
  std::atomic<int> twice{0}, lost{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        for (int r = 0; r < kRounds; ++r) {
          auto s = stack.pop();
          if (!s) continue;  // all eight held by the others for a moment
          int fd = s->fd();
          if (fd < 0 || fd > top || held[fd].exchange(true)) {
            ++twice;
            s->release();  // not ours to close
            continue;
          }
          held[fd] = false;
          if (!stack.push(std::move(*s))) ++lost;
        }
      });
    }
  }
  EXPECT_EQ(twice.load(), 0) << "a socket handed to two threads at once (ABA?)";
  EXPECT_EQ(lost.load(), 0) << "a push failed below capacity";
  std::set<int> back;
  while (auto s = stack.pop()) back.insert(s->fd());
  EXPECT_EQ(back, fds) << "every socket is back, once";
}

}  // namespace
