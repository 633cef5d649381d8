#include "model/convert/tokenizer_keys.h"

#include <algorithm>

namespace specula::model {
namespace {

const char* special_key(const std::string& kind) {
  static const std::pair<const char*, const char*> kKeys[] = {
      {"bos", "tokenizer.ggml.bos_token_id"},     {"eos", "tokenizer.ggml.eos_token_id"},
      {"unk", "tokenizer.ggml.unknown_token_id"}, {"sep", "tokenizer.ggml.seperator_token_id"},
      {"pad", "tokenizer.ggml.padding_token_id"}, {"cls", "tokenizer.ggml.cls_token_id"},
      {"mask", "tokenizer.ggml.mask_token_id"},
  };
  for (const auto& [k, key] : kKeys) {
    if (kind == k) return key;
  }
  return nullptr;
}

}  // namespace

Status add_tokenizer_metadata(const GgufVocab& v, format::GgufWriter& w) {
  const size_t n = v.tokens.size();
  if (n == 0 || v.scores.size() != n || v.types.size() != n) {
    return make_error(ErrorCode::kInvalidArgument, "vocabulary has {} tokens, {} scores and {} types", n,
                      v.scores.size(), v.types.size());
  }
  SPECULA_RETURN_IF_ERROR(w.set_string("tokenizer.ggml.model", "gemma4"));
  SPECULA_RETURN_IF_ERROR(w.set_array("tokenizer.ggml.tokens", v.tokens));
  SPECULA_RETURN_IF_ERROR(w.set_array("tokenizer.ggml.scores", v.scores));
  SPECULA_RETURN_IF_ERROR(w.set_array("tokenizer.ggml.token_type", v.types));
  if (!v.merges.empty()) SPECULA_RETURN_IF_ERROR(w.set_array("tokenizer.ggml.merges", v.merges));
  for (const auto& [kind, id] : v.special_ids) {
    const char* key = special_key(kind);
    if (key == nullptr) return make_error(ErrorCode::kInvalidArgument, "unknown special token kind '{}'", kind);
    if (id >= n)
      return make_error(ErrorCode::kInvalidArgument, "{} token id {} is outside the vocabulary of {}", kind, id, n);
    SPECULA_RETURN_IF_ERROR(w.set_u32(key, id));
  }
  bool wrote_add_bos = false;
  for (const auto& [kind, on] : v.add_flags) {
    if (kind != "bos" && kind != "eos" && kind != "sep") continue;  // llama.cpp has no key for the others
    // The gemma4 converter overwrites add_bos_token with true, keeping the key's position.
    SPECULA_RETURN_IF_ERROR(w.set_bool("tokenizer.ggml.add_" + kind + "_token", kind == "bos" ? true : on));
    wrote_add_bos = wrote_add_bos || kind == "bos";
  }
  for (const auto& [name, text] : v.named_chat_templates) {
    SPECULA_RETURN_IF_ERROR(w.set_string("tokenizer.chat_template." + name, text));
  }
  if (!v.named_chat_templates.empty()) {
    std::vector<std::string> names;
    for (const auto& [name, text] : v.named_chat_templates) names.push_back(name);
    SPECULA_RETURN_IF_ERROR(w.set_array("tokenizer.chat_templates", names));
  }
  if (!v.chat_template.empty()) SPECULA_RETURN_IF_ERROR(w.set_string("tokenizer.chat_template", v.chat_template));
  SPECULA_RETURN_IF_ERROR(w.set_bool("tokenizer.ggml.add_space_prefix", false));
  if (!wrote_add_bos) SPECULA_RETURN_IF_ERROR(w.set_bool("tokenizer.ggml.add_bos_token", true));
  return ok_status();
}

Result<size_t> copy_tokenizer_metadata(const format::GgufFile& from, format::GgufWriter& w) {
  const format::GgufValue* tokens = from.find("tokenizer.ggml.tokens");
  if (tokens == nullptr || tokens->as_array() == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, "{}: no tokenizer.ggml.tokens array", from.path());
  }
  for (const auto& [key, value] : from.metadata()) {
    if (key.rfind("tokenizer.", 0) == 0) SPECULA_RETURN_IF_ERROR(w.set(key, value));
  }
  return tokens->as_array()->items.size();
}

}  // namespace specula::model
