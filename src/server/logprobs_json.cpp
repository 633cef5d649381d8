#include "server/logprobs_json.h"

#include "tokenizer/utf8.h"

namespace specula::server {
namespace {

using json = nlohmann::json;

std::string piece_of(const tokenizer::Tokenizer& tok, int32_t id) {
  auto piece = tok.token_to_piece(id, /*render_special=*/false);
  return piece.ok() ? std::move(piece.value()) : std::string();
}

json bytes_of(const std::string& piece) {
  json out = json::array();
  for (const char c : piece) out.push_back(static_cast<int>(static_cast<unsigned char>(c)));
  return out;
}

// The text of a piece: without a cut-off character at its end, other ill-formed bytes as U+FFFD.
std::string token_text(const std::string& piece) {
  return tokenizer::utf8_sanitize(std::string_view(piece).substr(0, complete_utf8_prefix(piece)));
}

json entry(int32_t id, float logprob, const std::string& piece) {
  return {{"id", id}, {"token", token_text(piece)}, {"logprob", logprob}, {"bytes", bytes_of(piece)}};
}

size_t count_chars(const std::string& bytes) {
  size_t n = 0;
  for (const char c : bytes) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace

size_t complete_utf8_prefix(std::string_view text) { return text.size() - tokenizer::utf8_incomplete_tail(text); }

json token_logprob_entries(std::span<const runtime::TokenLogprobs> tokens, const tokenizer::Tokenizer& tok) {
  json out = json::array();
  for (const auto& t : tokens) {
    json e = entry(t.id, t.logprob, piece_of(tok, t.id));
    json top = json::array();
    for (const auto& p : t.top) top.push_back(entry(p.id, p.logprob, piece_of(tok, p.id)));
    e["top_logprobs"] = std::move(top);
    out.push_back(std::move(e));
  }
  return out;
}

json completions_logprobs(std::span<const runtime::TokenLogprobs> tokens, const tokenizer::Tokenizer& tok,
                          size_t* char_offset) {
  json texts = json::array(), logprobs = json::array(), tops = json::array(), offsets = json::array();
  for (const auto& t : tokens) {
    const std::string piece = piece_of(tok, t.id);
    texts.push_back(token_text(piece));
    logprobs.push_back(t.logprob);
    json top = json::object();
    for (const auto& p : t.top) {  // tokens of equal text share a key: the most likely one keeps it
      const std::string key = token_text(piece_of(tok, p.id));
      if (!top.contains(key)) top[key] = p.logprob;
    }
    tops.push_back(std::move(top));
    offsets.push_back(*char_offset);
    *char_offset += count_chars(piece);
  }
  return {{"tokens", std::move(texts)}, {"token_logprobs", std::move(logprobs)}, {"top_logprobs", std::move(tops)},
          {"text_offset", std::move(offsets)}};
}

json logprobs_json(Api api, std::span<const runtime::TokenLogprobs> tokens, const tokenizer::Tokenizer& tok,
                   size_t* char_offset) {
  switch (api) {
    case Api::kChat: return {{"content", token_logprob_entries(tokens, tok)}};
    case Api::kCompletions: return completions_logprobs(tokens, tok, char_offset);
    default: return token_logprob_entries(tokens, tok);
  }
}

}  // namespace specula::server
