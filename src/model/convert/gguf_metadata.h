// Gemma4Hparams -> the GGUF metadata keys llama.cpp's gemma4 converter writes (gemma4-spec.md §5.1), with
// its value types and key order, plus specula's own `gemma4.attention.bidirectional_vision`. The one
// function both `convert` and `synth` use, so their files are interchangeable with llama.cpp's.
#pragma once

#include <string>

#include "base/result.h"
#include "format/gguf_writer.h"
#include "model/convert/gemma4_hparams.h"
#include "quant/recipe.h"

namespace specula::model {

inline constexpr const char* kBidirectionalVisionKey = "gemma4.attention.bidirectional_vision";

// Appends general.* and gemma4.* keys, ending with general.quantization_version; tokenizer keys come
// after (the caller adds them). h must have passed validate_hparams. Errors only from the writer
// (e.g. a key that is already present).
Status add_gemma4_metadata(const Gemma4Hparams& h, const std::string& model_name, quant::FileType file_type,
                           format::GgufWriter& w);

}  // namespace specula::model
