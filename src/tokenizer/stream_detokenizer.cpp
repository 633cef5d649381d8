#include "tokenizer/stream_detokenizer.h"

#include "tokenizer/utf8.h"

namespace specula::tokenizer {

StreamDetokenizer::StreamDetokenizer(Tokenizer tokenizer, DetokenizeOptions options)
    : tokenizer_(std::move(tokenizer)), options_(options) {}

Result<std::string> StreamDetokenizer::push(TokenId id) {
  if (!tokenizer_.vocab().valid_id(id)) {
    return make_error(ErrorCode::kOutOfRange, "token id {} is out of range (vocabulary of {})", id,
                      tokenizer_.n_vocab());
  }
  const size_t start = pending_.size();
  tokenizer_.append_piece(id, options_.render_special, pending_);
  if (first_ && options_.strip_leading_space && tokenizer_.vocab().add_space_prefix() && pending_.size() > start &&
      pending_[start] == ' ') {
    pending_.erase(start, 1);
  }
  first_ = false;
  const size_t hold = utf8_incomplete_tail(pending_);
  const std::string_view ready = std::string_view(pending_).substr(0, pending_.size() - hold);
  std::string out = utf8_sanitize(ready);
  pending_.erase(0, ready.size());
  return out;
}

std::string StreamDetokenizer::finish() {
  std::string out = utf8_sanitize(pending_);
  pending_.clear();
  first_ = true;
  return out;
}

}  // namespace specula::tokenizer
