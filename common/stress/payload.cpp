// common/stress/payload.cpp: stamping requests and checking replies.
#include "common/stress/payload.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace tcppool::stress {
namespace {

constexpr std::uint32_t kMagic = 0x53545253;  // "STRS"
constexpr std::byte kPoison{0xA5};

// splitmix64's finaliser: every input gives a different, well-mixed word.
std::uint64_t mix(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t key(std::uint32_t thread, std::uint64_t seq) noexcept {
  return mix((static_cast<std::uint64_t>(thread) << 40) ^ seq);
}

template <typename T>
void put(std::span<std::byte> out, std::size_t at, T value) noexcept {
  std::memcpy(out.data() + at, &value, sizeof value);
}

template <typename T>
T get(std::span<const std::byte> in, std::size_t at) noexcept {
  T value;
  std::memcpy(&value, in.data() + at, sizeof value);
  return value;
}

}  // namespace

std::uint32_t request_size(std::uint32_t thread, std::uint64_t seq, std::uint32_t min_size,
                           std::uint32_t max_size) noexcept {
  std::uint64_t span = static_cast<std::uint64_t>(max_size - min_size) + 1;
  return min_size + static_cast<std::uint32_t>(mix(key(thread, seq)) % span);
}

void encode(const Stamp& stamp, std::span<std::byte> out) noexcept {
  put(out, 0, kMagic);
  put(out, 4, stamp.thread);
  put(out, 8, stamp.seq);
  put(out, 16, stamp.size);
  std::uint64_t state = key(stamp.thread, stamp.seq);
  std::uint64_t word = 0;
  for (std::size_t i = kHeaderBytes; i < out.size(); ++i) {
    if ((i - kHeaderBytes) % 8 == 0) word = mix(state++);
    out[i] = static_cast<std::byte>(word >> (8 * ((i - kHeaderBytes) % 8)));
  }
}

void poison(std::span<std::byte> buffer) noexcept { std::ranges::fill(buffer, kPoison); }

std::optional<Stamp> read_stamp(std::span<const std::byte> bytes) noexcept {
  if (bytes.size() < kHeaderBytes || get<std::uint32_t>(bytes, 0) != kMagic) return std::nullopt;
  return Stamp{.thread = get<std::uint32_t>(bytes, 4),
               .seq = get<std::uint64_t>(bytes, 8),
               .size = get<std::uint32_t>(bytes, 16)};
}

const char* to_string(Verdict verdict) noexcept {
  switch (verdict) {
    case Verdict::kOk:
      return "ok";
    case Verdict::kLost:
      return "lost";
    case Verdict::kStale:
      return "stale";
    case Verdict::kCrossed:
      return "crossed";
    case Verdict::kCorrupt:
      return "corrupt";
  }
  return "?";
}

Check verify(const Stamp& sent, std::span<const std::byte> reply) {
  // The expected bytes are made again from the stamp rather than taken from the request
  // buffer: a pool that wrote into the request would not go unseen.
  std::byte small[1024];
  std::vector<std::byte> large;
  std::span<std::byte> want(small, std::min(reply.size(), sizeof small));
  if (reply.size() > sizeof small) {
    large.resize(reply.size());
    want = large;
  }
  encode(sent, want);
  Check check;
  auto [mine, theirs] = std::ranges::mismatch(want, reply);
  if (mine == want.end()) return check;
  check.first_bad = static_cast<std::size_t>(mine - want.begin());
  check.found = read_stamp(reply);
  if (std::ranges::all_of(reply, [](std::byte b) { return b == kPoison; })) {
    check.verdict = Verdict::kLost;
  } else if (check.found && check.found->thread == sent.thread && check.found->seq < sent.seq) {
    check.verdict = Verdict::kStale;
  } else if (check.found && check.found->thread != sent.thread) {
    check.verdict = Verdict::kCrossed;
  } else {
    check.verdict = Verdict::kCorrupt;
  }
  return check;
}

std::string describe(const Stamp& sent, const Check& check) {
  std::string line = std::string(to_string(check.verdict)) + " reply to thread " +
                     std::to_string(sent.thread) + " #" + std::to_string(sent.seq) + " (" +
                     std::to_string(sent.size) + " bytes)";
  if (check.verdict == Verdict::kOk) return line;
  if (check.found) {
    line += ": it carries thread " + std::to_string(check.found->thread) + " #" +
            std::to_string(check.found->seq);
  }
  line += (check.found ? ", " : ": ") + std::string("first differing byte at ") +
          std::to_string(check.first_bad);
  return line;
}

}  // namespace tcppool::stress
