// Vocab::from_gguf: reads the tokenizer.ggml.* metadata keys into a VocabData, checking every type.
#include <string>

#include "format/gguf_reader.h"
#include "tokenizer/vocab.h"

namespace specula::tokenizer {
namespace {

Result<const format::GgufArray*> typed_array(const format::GgufFile& f, std::string_view key, bool required) {
  const format::GgufValue* v = f.find(key);
  if (v == nullptr) {
    if (required) return make_error(ErrorCode::kCorruptData, "{}: tokenizer key '{}' is missing", f.path(), key);
    return static_cast<const format::GgufArray*>(nullptr);
  }
  const format::GgufArray* arr = v->as_array();
  if (arr == nullptr) return make_error(ErrorCode::kCorruptData, "{}: '{}' should be an array", f.path(), key);
  return arr;
}

Result<std::vector<std::string>> string_array(const format::GgufFile& f, std::string_view key, bool required) {
  SPECULA_TRY(const format::GgufArray* arr, typed_array(f, key, required));
  std::vector<std::string> out;
  if (arr == nullptr) return out;
  out.reserve(arr->items.size());
  for (size_t i = 0; i < arr->items.size(); ++i) {
    const std::string* s = arr->items[i].as_string();
    if (s == nullptr) return make_error(ErrorCode::kCorruptData, "{}: '{}'[{}] is not a string", f.path(), key, i);
    out.push_back(*s);
  }
  return out;
}

Result<std::vector<float>> score_array(const format::GgufFile& f) {
  SPECULA_TRY(const format::GgufArray* arr, typed_array(f, "tokenizer.ggml.scores", false));
  std::vector<float> out;
  if (arr == nullptr) return out;
  out.reserve(arr->items.size());
  for (size_t i = 0; i < arr->items.size(); ++i) {
    const auto d = arr->items[i].as_double();
    if (!d) return make_error(ErrorCode::kCorruptData, "{}: tokenizer score {} is not a number", f.path(), i);
    out.push_back(static_cast<float>(*d));
  }
  return out;
}

Result<std::vector<TokenType>> type_array(const format::GgufFile& f) {
  SPECULA_TRY(const format::GgufArray* arr, typed_array(f, "tokenizer.ggml.token_type", false));
  std::vector<TokenType> out;
  if (arr == nullptr) return out;
  out.reserve(arr->items.size());
  for (size_t i = 0; i < arr->items.size(); ++i) {
    const auto t = arr->items[i].as_int();
    if (!t || *t < 0 || *t > 6) {
      return make_error(ErrorCode::kCorruptData, "{}: token {} has type {}, expected 0..6", f.path(), i,
                        arr->items[i].to_display());
    }
    out.push_back(static_cast<TokenType>(*t));
  }
  return out;
}

// Optional integer key: absent -> nullopt; present with the wrong type -> error.
Result<std::optional<int64_t>> optional_id(const format::GgufFile& f, std::string_view key) {
  const format::GgufValue* v = f.find(key);
  if (v == nullptr) return std::optional<int64_t>();
  if (const auto i = v->as_int()) return std::optional<int64_t>(*i);
  if (const auto u = v->as_uint()) return std::optional<int64_t>(static_cast<int64_t>(*u));
  return make_error(ErrorCode::kCorruptData, "{}: '{}' should be an integer token id", f.path(), key);
}

Result<std::optional<bool>> optional_bool(const format::GgufFile& f, std::string_view key) {
  const format::GgufValue* v = f.find(key);
  if (v == nullptr) return std::optional<bool>();
  if (const auto b = v->as_bool()) return std::optional<bool>(*b);
  return make_error(ErrorCode::kCorruptData, "{}: '{}' should be a bool", f.path(), key);
}

}  // namespace

Result<Vocab> Vocab::from_gguf(const format::GgufFile& f) {
  auto model = f.get_string("tokenizer.ggml.model");
  if (!model.ok()) {
    return Error(model.error().code(), "the file has no usable tokenizer: " + model.error().message());
  }
  VocabData d;
  if (model.value() == "gemma4") {
    d.kind = VocabKind::kGemma4Bpe;
  } else if (model.value() == "llama") {
    // Ollama's Gemma 4 files say "llama" (its loader switches to the BPE tokenizer by architecture);
    // llama.cpp's converter says "gemma4". A gemma4 architecture with merges is the Gemma 4 tokenizer.
    const bool gemma4 = f.architecture() == "gemma4" && f.find("tokenizer.ggml.merges") != nullptr;
    d.kind = gemma4 ? VocabKind::kGemma4Bpe : VocabKind::kLlamaSpm;
  } else if (model.value() == "gpt2") {
    d.kind = VocabKind::kGpt2Bpe;
    if (auto pre = f.get_string("tokenizer.ggml.pre"); pre.ok()) d.pre = pre.value();
  } else {
    return make_error(ErrorCode::kUnsupported, "{}: tokenizer model '{}' is not supported (gemma4, llama, gpt2)", f.path(),
                      model.value());
  }
  SPECULA_TRY(d.pieces, string_array(f, "tokenizer.ggml.tokens", true));
  SPECULA_TRY(d.scores, score_array(f));
  SPECULA_TRY(d.types, type_array(f));
  if (d.kind != VocabKind::kLlamaSpm) {
    SPECULA_TRY(d.merges, string_array(f, "tokenizer.ggml.merges", true));
  }
  SPECULA_TRY(d.bos_id, optional_id(f, "tokenizer.ggml.bos_token_id"));
  SPECULA_TRY(d.eos_id, optional_id(f, "tokenizer.ggml.eos_token_id"));
  SPECULA_TRY(d.eot_id, optional_id(f, "tokenizer.ggml.eot_token_id"));
  SPECULA_TRY(d.eom_id, optional_id(f, "tokenizer.ggml.eom_token_id"));
  SPECULA_TRY(d.unk_id, optional_id(f, "tokenizer.ggml.unknown_token_id"));
  SPECULA_TRY(d.pad_id, optional_id(f, "tokenizer.ggml.padding_token_id"));
  SPECULA_TRY(d.add_bos, optional_bool(f, "tokenizer.ggml.add_bos_token"));
  SPECULA_TRY(d.add_eos, optional_bool(f, "tokenizer.ggml.add_eos_token"));
  SPECULA_TRY(d.add_space_prefix, optional_bool(f, "tokenizer.ggml.add_space_prefix"));
  if (d.kind == VocabKind::kLlamaSpm) {
    // llama.cpp's defaults for SentencePiece vocabularies that do not name their special tokens.
    const auto n = static_cast<int64_t>(d.pieces.size());
    if (!d.bos_id && n > 1) d.bos_id = 1;
    if (!d.eos_id && n > 2) d.eos_id = 2;
    if (!d.unk_id && n > 0) d.unk_id = 0;
  }
  if (auto name = f.get_string("general.name"); name.ok()) d.model_name = name.value();
  auto vocab = Vocab::build(std::move(d));
  if (!vocab.ok()) return vocab.error().with_context(f.path());
  return vocab;
}

}  // namespace specula::tokenizer
