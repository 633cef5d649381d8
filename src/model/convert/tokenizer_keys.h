// A vocabulary as llama.cpp's gemma4 converter stores it (tokenizer.ggml.*), and the function that writes
// it, in llama.cpp's key order, after the model keys. Filled from an HF tokenizer.json (hf_tokenizer.h),
// from synth's tiny vocabulary, or copied from another GGUF.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "format/gguf_reader.h"
#include "format/gguf_writer.h"

namespace specula::model {

// llama.cpp token types (tokenizer.ggml.token_type).
enum class GgufTokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6
};

struct GgufVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;        // one per token
  std::vector<int32_t> types;       // one per token (GgufTokenType values)
  std::vector<std::string> merges;  // "left right"
  // Special ids in the order llama.cpp's SpecialVocab finds them; kind is one of bos, eos, unk, sep, pad,
  // cls, mask (written as tokenizer.ggml.<bos|eos|unknown|seperator|padding|cls|mask>_token_id).
  std::vector<std::pair<std::string, uint32_t>> special_ids;
  // add_<kind>_token flags from tokenizer_config.json (bos, eos, sep are written; add_bos is forced true).
  std::vector<std::pair<std::string, bool>> add_flags;
  std::string chat_template;                                              // tokenizer.chat_template ("" = none)
  std::vector<std::pair<std::string, std::string>> named_chat_templates;  // tokenizer.chat_template.<name>
};

// Writes tokenizer.ggml.model "gemma4", tokens, scores, token_type, merges, the special ids, the add_*
// flags, the chat template(s), add_space_prefix false and add_bos_token true. Errors: inconsistent
// lengths, an id outside the vocabulary, an unknown kind (kInvalidArgument).
Status add_tokenizer_metadata(const GgufVocab& vocab, format::GgufWriter& w);

// Copies every tokenizer.* key of a GGUF file (for `synth --vocab`). Returns the number of tokens.
Result<size_t> copy_tokenizer_metadata(const format::GgufFile& from, format::GgufWriter& w);

}  // namespace specula::model
