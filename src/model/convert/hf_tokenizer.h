// Reads an HF tokenizer (tokenizer.json + tokenizer_config.json [+ special_tokens_map.json,
// chat_template.jinja]) into a GgufVocab the way llama.cpp's gemma4 converter does (gguf-py LlamaHfVocab +
// SpecialVocab): pieces in id order, scores -1000, byte / control / normal types with the chat-parser
// tokens (<|channel>, <|tool_call>, ...) user-defined, merges, special ids, add flags and chat template.
#pragma once

#include <optional>
#include <string>

#include "base/result.h"
#include "model/convert/tokenizer_keys.h"

namespace specula::model {

struct HfTokenizer {
  GgufVocab vocab;
  // llama.cpp keeps only this many rows of token_embd: len(model.vocab) + len(added_tokens).
  size_t embedding_rows_kept = 0;
};

// dir: the HF model folder. std::nullopt when it has no tokenizer.json. config_json: the text of
// config.json (its top-level <kind>_token_id fields fill special ids the tokenizer config lacks).
// Errors: malformed JSON, a tokenizer that is not byte-fallback BPE, ids with gaps (kInvalidArgument /
// kCorruptData, naming the file).
Result<std::optional<HfTokenizer>> read_hf_tokenizer(const std::string& dir, const std::string& config_json);

}  // namespace specula::model
