// common/echo/echo_client.hpp: one verified echo round trip, the unit of work of every test and
// benchmark.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <system_error>

#include "common/net/deadline.hpp"

namespace tcppool::echo {

/// Fills `buffer` with bytes derived from `seed`, so that consecutive requests differ and a
/// stale or misrouted reply is caught by the comparison in round_trip().
void fill_pattern(std::span<std::byte> buffer, std::uint64_t seed) noexcept;

/// Sends `request` on `fd`, reads the same number of bytes into `reply`, and checks they are
/// equal. Any size works: a request the kernel takes in one send is sent, then its echo read;
/// a larger one is sent piece by piece while what has come back is read in between, so that
/// neither side's buffers fill and block the other. Every wait ends at `deadline`.
/// REQUIRES: reply.size() == request.size(). Fails with Errc::kBadReply when the bytes
/// differ, and otherwise as net::send_all() and net::recv_exact() do: Errc::kPeerClosed,
/// ECONNRESET or EPIPE when the connection was gone before any byte of the echo came (a stale
/// connection), Errc::kTruncated when it ended after some had, Errc::kTimeout. After a failure
/// the connection is in an unknown state and must be discarded.
std::expected<void, std::error_code> round_trip(int fd, std::span<const std::byte> request,
                                                std::span<std::byte> reply,
                                                net::Deadline deadline = net::Deadline::never());

}  // namespace tcppool::echo
