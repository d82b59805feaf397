// common/net/error.cpp: the tcppool error category.
#include "common/net/error.hpp"

#include <string>

namespace tcppool {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tcppool"; }

  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::kTimeout:
        return "deadline exceeded";
      case Errc::kCancelled:
        return "operation cancelled";
      case Errc::kPoolClosed:
        return "pool is closed";
      case Errc::kPoolExhausted:
        return "pool exhausted: every connection is in use and no more may be opened";
      case Errc::kAcquireTimeout:
        return "timed out waiting for a connection";
      case Errc::kPoolDraining:
        return "pool is draining: it hands out no more connections";
      case Errc::kChannelClosed:
        return "channel is closed";
      case Errc::kChannelFull:
        return "channel is full";
      case Errc::kChannelEmpty:
        return "channel is empty";
      case Errc::kPeerClosed:
        return "peer closed the connection";
      case Errc::kTruncated:
        return "connection ended in the middle of a message";
      case Errc::kBadReply:
        return "reply does not match the request";
      case Errc::kBadAddress:
        return "malformed endpoint: expected host:port or [ipv6]:port";
      case Errc::kBadHost:
        return "bad host: expected a dotted-quad IPv4 address, [IPv6 address] or host name";
      case Errc::kBadPort:
        return "bad port: expected a number in 1..65535 without leading zeros";
      case Errc::kServerUnavailable:
        return "server unavailable: recent dials failed, and the pool fails fast until one "
               "succeeds";
    }
    return "unknown tcppool error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), error_category()}; }

}  // namespace tcppool
