// common/echo/echo_client.cpp: one verified echo round trip.
#include "common/echo/echo_client.hpp"

#include <algorithm>
#include <cassert>

#include "common/net/error.hpp"
#include "common/net/io.hpp"

namespace tcppool::echo {

void fill_pattern(std::span<std::byte> buffer, std::uint64_t seed) noexcept {
  // splitmix64: cheap, and every seed gives a different sequence.
  std::uint64_t state = seed;
  std::uint64_t word = 0;
  for (std::size_t i = 0; i < buffer.size(); ++i) {
    if (i % 8 == 0) {
      state += 0x9e3779b97f4a7c15ULL;
      word = state;
      word = (word ^ (word >> 30)) * 0xbf58476d1ce4e5b9ULL;
      word = (word ^ (word >> 27)) * 0x94d049bb133111ebULL;
      word ^= word >> 31;
    }
    buffer[i] = static_cast<std::byte>(word >> (8 * (i % 8)));
  }
}

std::expected<void, std::error_code> round_trip(int fd, std::span<const std::byte> request,
                                                std::span<std::byte> reply,
                                                net::Deadline deadline) {
  assert(reply.size() == request.size());
  if (auto sent = net::send_all(fd, request, deadline); !sent) return sent;
  if (auto got = net::recv_exact(fd, reply, deadline); !got) return got;
  if (!std::ranges::equal(request, reply)) return fail(Errc::kBadReply);
  return {};
}

}  // namespace tcppool::echo
