// Stop-string matching over streamed text (see stop_matcher.h).
#include "runtime/stop_matcher.h"

#include <algorithm>
#include <cstdint>

namespace specula::runtime {
namespace {

// Bytes at the end of `text` that start a UTF-8 sequence but do not complete it (0..3).
std::size_t incomplete_utf8_tail(std::string_view text) {
  const std::size_t n = text.size();
  for (std::size_t back = 1; back <= std::min<std::size_t>(3, n); ++back) {
    const auto b = static_cast<uint8_t>(text[n - back]);
    if ((b & 0xc0) == 0x80) continue;  // continuation byte: keep looking for the lead
    const std::size_t need = (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3 : (b & 0xf8) == 0xf0 ? 4 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

}  // namespace

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (std::string& s : stops) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

std::size_t StopMatcher::hold_length() const {
  std::size_t hold = incomplete_utf8_tail(pending_);
  const std::string_view text = pending_;
  for (const std::string& stop : stops_) {
    const std::size_t max_len = std::min(stop.size() - 1, text.size());
    for (std::size_t len = max_len; len > hold; --len) {
      if (text.substr(text.size() - len) == std::string_view(stop).substr(0, len)) {
        hold = len;
        break;
      }
    }
  }
  return hold;
}

StopMatcher::Output StopMatcher::feed(std::string_view piece) {
  if (stopped()) return {{}, stop_index_};
  // Only a match that ends inside the new piece can be new; start the search far enough back to catch it.
  std::size_t longest = 0;
  for (const std::string& s : stops_) longest = std::max(longest, s.size());
  const std::size_t old_size = pending_.size();
  pending_.append(piece);
  const std::size_t from = old_size >= longest ? old_size - longest + 1 : 0;
  std::size_t best_pos = std::string::npos;
  for (std::size_t i = 0; i < stops_.size(); ++i) {
    const std::size_t pos = pending_.find(stops_[i], from);
    if (pos < best_pos) {
      best_pos = pos;
      stop_index_ = i;
    }
  }
  if (stopped()) {
    Output out{pending_.substr(0, best_pos), stop_index_};
    pending_.clear();
    return out;
  }
  const std::size_t emit = pending_.size() - hold_length();
  Output out{pending_.substr(0, emit), std::nullopt};
  pending_.erase(0, emit);
  return out;
}

std::string StopMatcher::finish() {
  std::string out = std::move(pending_);
  pending_.clear();
  return out;
}

}  // namespace specula::runtime
