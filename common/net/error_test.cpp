// Tests for common/net/error.hpp: the tcppool error category.
#include "common/net/error.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace tcppool {
namespace {

TEST(ErrorCategory, NamesItselfAndEveryCode) {
  EXPECT_STREQ(error_category().name(), "tcppool");
  std::set<std::string> messages;
  constexpr auto kLast = Errc::kServerUnavailable;  // the last enumerator
  for (int v = static_cast<int>(Errc::kTimeout); v <= static_cast<int>(kLast); ++v) {
    std::string m = make_error_code(static_cast<Errc>(v)).message();
    EXPECT_EQ(m.find("unknown"), std::string::npos) << "code " << v << " has no message";
    messages.insert(m);
  }
  EXPECT_EQ(messages.size(), static_cast<std::size_t>(kLast)) << "messages must differ";
}

TEST(ErrorCategory, PoolOutcomesAreDistinctFromEachOtherAndFromErrno) {
  std::error_code timeout = Errc::kTimeout;
  EXPECT_EQ(timeout, Errc::kTimeout);
  EXPECT_NE(timeout, Errc::kCancelled);
  EXPECT_NE(make_error_code(Errc::kPoolClosed), Errc::kPoolExhausted);
  EXPECT_NE(make_error_code(Errc::kPoolClosed), Errc::kPoolDraining);
  EXPECT_NE(make_error_code(Errc::kAcquireTimeout), Errc::kTimeout)
      << "waiting for a connection is not a dial or an I/O timing out";
  // The pool's timeout is not the kernel's ETIMEDOUT, and a closed pool is not EBADF.
  EXPECT_NE(timeout, std::error_code(ETIMEDOUT, std::system_category()));
  EXPECT_NE(timeout, std::errc::timed_out);
  EXPECT_NE(make_error_code(Errc::kPoolClosed), std::errc::bad_file_descriptor);
}

TEST(ErrorCategory, FailHelpersMakeUnexpectedValues) {
  std::expected<int, std::error_code> a = fail(Errc::kPeerClosed);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error(), Errc::kPeerClosed);
  std::expected<int, std::error_code> b = fail_errno(ECONNREFUSED);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), std::errc::connection_refused);
  EXPECT_EQ(b.error().category(), std::system_category());
}

TEST(ErrorCategory, UnknownValueSaysSo) {
  EXPECT_NE(error_category().message(999).find("999"), std::string::npos);
}

}  // namespace
}  // namespace tcppool
