// StopMatcher: finds stop strings in streamed text that arrives in arbitrary pieces (a stop string may span
// several tokens) and decides which text is safe to emit now.
//
// Contract: feed() returns text that can never become part of a stop string, in order, exactly once. It holds back
// (a) the longest tail of the text so far that is a proper prefix of some stop string and (b) a trailing incomplete
// UTF-8 sequence, so that streamed chunks never split a character. When a stop string is complete, the text before
// its first occurrence is emitted, the stop string and everything after it are dropped, and the matcher stays
// stopped. If several stop strings are complete, the one that starts first wins (the earliest listed on a tie).
// finish() returns whatever is still held back when generation ends for another reason.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace specula::runtime {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);  // empty strings are ignored (StopConfig refuses them)

  struct Output {
    std::string text;                     // safe to emit now
    std::optional<std::size_t> stop_index;  // set once a stop string matched (index into the stops)
  };

  // Appends a decoded piece. After a stop, returns empty output with the same stop_index.
  Output feed(std::string_view piece);

  // Flushes the held-back text (end of generation without a stop string). Empty after a stop.
  std::string finish();

  bool stopped() const { return stop_index_.has_value(); }
  std::size_t held_bytes() const { return pending_.size(); }

 private:
  std::size_t hold_length() const;

  std::vector<std::string> stops_;
  std::string pending_;  // text received but not yet emitted
  std::optional<std::size_t> stop_index_;
};

}  // namespace specula::runtime
