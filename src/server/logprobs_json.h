// The JSON of generated tokens' logprobs in each API's shape (pure functions of their inputs):
//   chat (OpenAI):        {"content": [{"id", "token", "logprob", "bytes", "top_logprobs": [{"id", "token",
//                          "logprob", "bytes"}, ...]}, ...]}
//   /v1/completions:      {"tokens": [...], "token_logprobs": [...], "top_logprobs": [{token: logprob}, ...],
//                          "text_offset": [...]}
//   /completion (llama):  completion_probabilities = [{"id", "token", "logprob", "bytes", "top_logprobs": [...]}]
// "token" is the token's text as llama-server gives it: its piece (control tokens render as "") with a trailing
// incomplete UTF-8 sequence cut off (other ill-formed bytes, e.g. a lone continuation byte, become U+FFFD);
// "bytes" holds the piece's raw bytes. In /v1/completions' top_logprobs, tokens of equal text share one key (the
// most likely keeps it).
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/sampler_logprobs.h"
#include "server/completion_request.h"
#include "tokenizer/tokenizer.h"

namespace specula::server {

// The length of `text` without a multi-byte UTF-8 sequence cut off at its end (llama-server's validate_utf8).
size_t complete_utf8_prefix(std::string_view text);

// The array of per-token entries (chat's "content", llama's "completion_probabilities").
nlohmann::json token_logprob_entries(std::span<const runtime::TokenLogprobs> tokens, const tokenizer::Tokenizer& tok);

// The /v1/completions object. text_offset[i] is the character offset of token i in the completion text, counted
// from `*char_offset` (0 for a whole response; a stream passes the running count), which is advanced past the
// tokens (code points: the pieces' bytes that are not UTF-8 continuation bytes).
nlohmann::json completions_logprobs(std::span<const runtime::TokenLogprobs> tokens, const tokenizer::Tokenizer& tok,
                                    size_t* char_offset);

// The API's logprobs value for these tokens (see the top of this file); `char_offset` as in completions_logprobs.
nlohmann::json logprobs_json(Api api, std::span<const runtime::TokenLogprobs> tokens, const tokenizer::Tokenizer& tok,
                             size_t* char_offset);

}  // namespace specula::server
