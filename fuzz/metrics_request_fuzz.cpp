// fuzz/metrics_request_fuzz.cpp: fuzz target for stage 6's HTTP request parser,
// stage6::parse_request() (stage6-metrics/metrics_http.hpp), on arbitrary bytes.
//
// The first two bytes pick the bound (max_request_bytes, 0 to 65535, so that every branch of
// the bound is reached); the rest is what a client sent. Beyond not crashing, each call is
// checked against what metrics_http.hpp promises, for any bytes and any bound:
//   - the verdict depends on data[0, bound) only: the same bytes past the bound, or none,
//     change nothing;
//   - kComplete: head_size <= min(size, bound), every view lies within data[0, head_size),
//     head_size + content_length <= bound; the verdict and head_size stay when bytes are
//     appended; every strict prefix of the head is kIncomplete;
//   - kRejected: one of 400, 413, 414, 431, 501, 505, and the verdict stays when bytes are
//     appended; status is 200 otherwise;
//   - route() of a complete request is 200, 404 or 405 only, and 200 only for GET or HEAD of
//     /metrics.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz.hpp"
#include "stage6-metrics/metrics_http.hpp"

namespace {

using tcppool::fuzz::check;
using tcppool::fuzz::fail;
using tcppool::fuzz::shown;
namespace stage6 = tcppool::stage6;

bool same(const stage6::ParseResult& a, const stage6::ParseResult& b) {
  return a.state == b.state && a.status == b.status &&
         (a.state != stage6::ParseState::kComplete || a.request.head_size == b.request.head_size);
}

bool within(std::string_view view, std::string_view head) {
  return view.empty() ||
         (view.data() >= head.data() && view.data() + view.size() <= head.data() + head.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t bound = static_cast<std::size_t>(data[0]) << 8 | data[1];
  const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);
  const stage6::ParseResult r = stage6::parse_request(text, bound);

  // Only data[0, bound) counts.
  if (text.size() > bound) {
    check(same(r, stage6::parse_request(text.substr(0, bound), bound)),
          "bytes past the bound changed the verdict: " + shown(text.substr(0, 200)));
  }
  // Appending bytes changes no final verdict.
  std::string longer(text);
  longer += "X-Extra: 1\r\n\r\nGET / HTTP/1.1\r\n";
  const stage6::ParseResult appended = stage6::parse_request(longer, bound);
  switch (r.state) {
    case stage6::ParseState::kIncomplete:
      check(r.status == stage6::HttpStatus::kOk, "an incomplete head has a status");
      break;
    case stage6::ParseState::kRejected: {
      const int code = static_cast<int>(r.status);
      check(code == 400 || code == 413 || code == 414 || code == 431 || code == 501 || code == 505,
            "rejected with " + std::to_string(code) + ": " + shown(text.substr(0, 200)));
      check(same(r, appended),
            "appending bytes changed a rejection: " + shown(text.substr(0, 200)));
      break;
    }
    case stage6::ParseState::kComplete: {
      const stage6::HttpRequest& q = r.request;
      check(r.status == stage6::HttpStatus::kOk, "a complete head has a status");
      check(q.head_size <= std::min(text.size(), bound) && q.head_size > 0,
            "head_size outside the input or the bound");
      check(q.head_size + q.content_length <= bound, "the body would pass the bound");
      const std::string_view head = text.substr(0, q.head_size);
      check(within(q.method_name, head) && within(q.target, head) && within(q.path, head) &&
                within(q.host, head),
            "a view outside the head: " + shown(head.substr(0, 200)));
      check(same(r, appended), "appending bytes changed an accepted head: " + shown(head));
      // Every strict prefix of an accepted head is incomplete: a request that arrives a byte
      // at a time is never refused on the way (heads are short: this stays cheap).
      for (std::size_t n = 0; n < q.head_size; ++n) {
        auto p = stage6::parse_request(head.substr(0, n), bound);
        if (p.state != stage6::ParseState::kIncomplete) {
          fail("a prefix of " + std::to_string(n) +
               " bytes of an accepted head is not incomplete: " + shown(head));
        }
      }
      const stage6::HttpStatus routed = stage6::route(q);
      const int code = static_cast<int>(routed);
      check(code == 200 || code == 404 || code == 405, "route() gave " + std::to_string(code));
      if (routed == stage6::HttpStatus::kOk) {
        check(q.path == "/metrics" &&
                  (q.method == stage6::HttpMethod::kGet || q.method == stage6::HttpMethod::kHead),
              "route() served something other than GET or HEAD of /metrics");
      }
      break;
    }
  }
  return 0;
}
