// Incremental detokenization for streaming generated text: feed one token at a time, get the text that
// is final so far. Only well-formed UTF-8 is ever returned: bytes of a character split across byte-fallback
// tokens are held until the character is complete; bytes that can never become valid are replaced by
// U+FFFD. For token sequences whose full text is valid UTF-8, the concatenation of everything returned
// (including finish()) equals Tokenizer::detokenize with the same options.
#pragma once

#include <string>

#include "base/result.h"
#include "tokenizer/tokenizer.h"

namespace specula::tokenizer {

class StreamDetokenizer {
 public:
  // The tokenizer is shared (cheap copy). options.strip_leading_space applies to the first token fed.
  explicit StreamDetokenizer(Tokenizer tokenizer, DetokenizeOptions options = {});

  // Adds a token; returns the newly completed text (possibly empty). kOutOfRange for an invalid id.
  Result<std::string> push(TokenId id);
  // Ends the stream: returns held bytes (an incomplete character becomes U+FFFD) and resets the state.
  std::string finish();
  // Bytes currently held back (an incomplete UTF-8 sequence).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  Tokenizer tokenizer_;
  DetokenizeOptions options_;
  std::string pending_;
  bool first_ = true;
};

}  // namespace specula::tokenizer
