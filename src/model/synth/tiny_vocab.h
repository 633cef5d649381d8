// The built-in vocabulary of the `tiny` synth presets: a small Gemma 4-style byte-fallback BPE (the Gemma 4
// control tokens the chat format needs, the 256 <0xNN> byte tokens, U+2581 and printable ASCII, and merges
// learned from a short built-in English text), plus a chat template in the Gemma 4 format (tool-free).
#pragma once

#include <cstddef>

#include "model/convert/tokenizer_keys.h"

namespace specula::model {

inline constexpr size_t kTinyVocabSize = 512;

size_t tiny_vocab_size();
// Built once on first use (thread-safe). Token types, scores and key layout as llama.cpp writes gemma4.
const GgufVocab& tiny_vocab();

}  // namespace specula::model
