// Tests for common/net/socket.hpp: the owning descriptor.
#include "common/net/socket.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <utility>

#include "common/testing/fd_count.hpp"

namespace tcppool::net {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

int new_fd() { return ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); }

TEST(Socket, DefaultIsEmpty) {
  Socket s;
  EXPECT_FALSE(s.valid());
  EXPECT_FALSE(s);
  EXPECT_EQ(s.fd(), -1);
}

TEST(Socket, NegativeDescriptorMakesEmptySocket) {
  Socket s(-5);
  EXPECT_FALSE(s);
  EXPECT_EQ(s.fd(), -1);
}

TEST(Socket, ClosesOnDestruction) {
  testing::FdLeakGuard guard;
  int fd = new_fd();
  {
    Socket s(fd);
    EXPECT_TRUE(s);
    EXPECT_TRUE(is_open(fd));
  }
  EXPECT_FALSE(is_open(fd));
  EXPECT_EQ(guard.leaked(), 0);
}

TEST(Socket, MoveTransfersOwnership) {
  int fd = new_fd();
  Socket a(fd);
  Socket b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): the moved-from state is the contract
  EXPECT_EQ(b.fd(), fd);
  Socket c;
  c = std::move(b);
  EXPECT_FALSE(b);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(c.fd(), fd);
  EXPECT_TRUE(is_open(fd));
}

TEST(Socket, MoveAssignmentClosesTheOldDescriptor) {
  int first = new_fd();
  int second = new_fd();
  Socket a(first);
  a = Socket(second);
  EXPECT_FALSE(is_open(first));
  EXPECT_TRUE(is_open(second));
  EXPECT_EQ(a.fd(), second);
}

TEST(Socket, SelfMoveAssignmentKeepsTheDescriptor) {
  int fd = new_fd();
  Socket a(fd);
  Socket& alias = a;
  a = std::move(alias);
  EXPECT_EQ(a.fd(), fd);
  EXPECT_TRUE(is_open(fd));
}

TEST(Socket, ReleaseGivesUpOwnershipWithoutClosing) {
  int fd = new_fd();
  Socket s(fd);
  EXPECT_EQ(s.release(), fd);
  EXPECT_FALSE(s);
  EXPECT_TRUE(is_open(fd));
  ::close(fd);
}

TEST(Socket, ResetClosesNowAndIsIdempotent) {
  int fd = new_fd();
  Socket s(fd);
  s.reset();
  EXPECT_FALSE(s);
  EXPECT_FALSE(is_open(fd));
  s.reset();
  EXPECT_FALSE(s);
}

}  // namespace
}  // namespace tcppool::net
