// common/stress/payload.hpp: the requests of a stress run, each stamped with its sender and
// sequence number, and the check of every reply against its request, byte for byte.
//
// A reply that is wrong says how it is wrong, because the stamp is in the bytes: a reply that
// carries the sender's own earlier stamp is stale (a reply left unread on a connection by an
// earlier request came back to a later one: the bug a pool has when it keeps a connection whose
// exchange was cut short); one that carries another thread's stamp crossed over (two threads
// shared a connection); one still holding the poison the driver wrote before the call was never
// received at all (the call reported success without a reply); anything else is corrupt.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace tcppool::stress {

/// Who sent a request, which of its requests it is, and how long it is.
struct Stamp {
  std::uint32_t thread = 0;  ///< The sending thread's index.
  std::uint64_t seq = 0;     ///< The thread's request number, from 1.
  std::uint32_t size = 0;    ///< Bytes in the request (and in its echo), at least kHeaderBytes.

  /// Compares all three fields.
  friend bool operator==(const Stamp&, const Stamp&) = default;
};

/// Bytes the stamp takes at the front of every request: a magic number, the thread, the
/// sequence number and the size.
inline constexpr std::size_t kHeaderBytes = 20;

/// Returns the size of request `seq` of `thread`: between `min_size` and `max_size`, varying
/// from one request to the next, so that a reply read at the wrong offset never lines up.
/// REQUIRES: kHeaderBytes <= min_size <= max_size.
std::uint32_t request_size(std::uint32_t thread, std::uint64_t seq, std::uint32_t min_size,
                           std::uint32_t max_size) noexcept;

/// Writes the request `stamp` names into `out`: the header, then bytes derived from the stamp.
/// REQUIRES: out.size() == stamp.size and stamp.size >= kHeaderBytes.
void encode(const Stamp& stamp, std::span<std::byte> out) noexcept;

/// Fills `buffer` with the poison byte, so that a reply nobody wrote is recognised.
void poison(std::span<std::byte> buffer) noexcept;

/// Reads the stamp at the front of `bytes`; nullopt when they do not start with one.
std::optional<Stamp> read_stamp(std::span<const std::byte> bytes) noexcept;

/// How a reply compares with the request it answers.
enum class Verdict {
  kOk,       ///< Byte for byte the request.
  kLost,     ///< Still the poison: nothing was received, yet the call succeeded.
  kStale,    ///< Starts with an earlier request of the same thread.
  kCrossed,  ///< Starts with another thread's request.
  kCorrupt,  ///< Anything else: a byte differs.
};

/// Returns "ok", "lost", "stale", "crossed" or "corrupt".
const char* to_string(Verdict verdict) noexcept;

/// The verdict on one reply, and what it found.
struct Check {
  Verdict verdict = Verdict::kOk;  ///< See Verdict.
  std::size_t first_bad = 0;       ///< Offset of the first byte that differs (not for kOk).
  std::optional<Stamp> found;      ///< The stamp the reply carries, if it carries one.
};

/// Compares `reply` with the request `sent` names, every byte of it, and classifies a
/// mismatch. REQUIRES: reply.size() == sent.size.
Check verify(const Stamp& sent, std::span<const std::byte> reply);

/// Returns one line for a report: "stale reply to thread 3 #17 (300 bytes): it carries #15,
/// first differing byte at 8".
std::string describe(const Stamp& sent, const Check& check);

}  // namespace tcppool::stress
