// fuzz/fuzz.hpp: what every fuzz target uses: check() and fail() to state a property, and
// Input to decode the fuzzer's bytes.
//
// A fuzz target is one function, LLVMFuzzerTestOneInput(), built twice: with libFuzzer (clang,
// make fuzz), which calls it millions of times with mutated inputs, and with replay_main.cpp
// (any compiler, make test), which calls it once for each file of the committed corpus and
// regressions. A broken property aborts the process in both: libFuzzer saves the input that did
// it, and the replay test fails on it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <source_location>
#include <string>
#include <string_view>
#include <utility>

/// The entry point libFuzzer calls with each input; every target defines it.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace tcppool::fuzz {

/// Reports that the input broke a property (`what`, with where it was checked) and aborts.
[[noreturn]] inline void fail(std::string_view what,
                              std::source_location where = std::source_location::current()) {
  std::fprintf(stderr, "%s:%u: property violated: %.*s\n", where.file_name(), where.line(),
               static_cast<int>(what.size()), what.data());
  std::abort();
}

/// Fails with `what` unless `ok`. Build a message that costs something only on failure:
/// `if (!ok) fail("... " + detail);`.
inline void check(bool ok, std::string_view what,
                  std::source_location where = std::source_location::current()) {
  if (!ok) fail(what, where);
}

/// Returns `text` for a message: in double quotes, every byte that is not printable ASCII
/// written as \xNN, so that a failure report shows exactly what the input held.
inline std::string shown(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && c != '"' && c != '\\') {
      out += c;
    } else {
      out.append("\\x").append(1, kHex[byte >> 4]).append(1, kHex[byte & 0xf]);
    }
  }
  return out + "\"";
}

/// The fuzzer's bytes, read from the front. Reading past the end yields zeros and empty
/// views, so a decoder never needs to check before it reads; done() says when to stop.
///
///     fuzz::Input in(data, size);
///     while (!in.done()) act(in.byte(), in.until('.', 64));
///
/// Not thread-safe; views point into the caller's buffer.
class Input {
 public:
  /// Reads `size` bytes at `data`.
  Input(const std::uint8_t* data, std::size_t size) noexcept
      : text_(reinterpret_cast<const char*>(data), size) {}

  /// Returns true when every byte has been read.
  bool done() const noexcept { return text_.empty(); }

  /// Returns the next byte, or 0 when there is none.
  std::uint8_t byte() noexcept {
    if (text_.empty()) return 0;
    auto b = static_cast<std::uint8_t>(text_.front());
    text_.remove_prefix(1);
    return b;
  }

  /// Returns the bytes up to the next `end` (which is read but not returned), at most `max`
  /// of them; fewer at the end of the input.
  std::string_view until(char end, std::size_t max) noexcept {
    auto n = std::min(text_.find(end), std::min(max, text_.size()));
    auto out = text_.substr(0, n);
    text_.remove_prefix(n);
    if (!text_.empty() && text_.front() == end) text_.remove_prefix(1);
    return out;
  }

  /// Returns every byte not read yet, and reads them.
  std::string_view rest() noexcept { return std::exchange(text_, {}); }

 private:
  std::string_view text_;
};

}  // namespace tcppool::fuzz
