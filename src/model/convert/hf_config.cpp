#include "model/convert/hf_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

namespace specula::model {
namespace {

using nlohmann::json;

constexpr const char* kConditional = "Gemma4ForConditionalGeneration";
constexpr const char* kCausal = "Gemma4ForCausalLM";

// Reads fields of one JSON object, recording every problem instead of stopping at the first.
class FieldReader {
 public:
  FieldReader(const json& obj, std::string scope, std::vector<std::string>& problems)
      : obj_(obj), scope_(std::move(scope)), problems_(problems) {}

  // Fields that were missing or mistyped (their derived checks would only repeat the problem).
  const std::set<std::string>& bad() const { return bad_; }

  const json* get(const char* key) const {
    const auto it = obj_.find(key);
    return (it == obj_.end() || it->is_null()) ? nullptr : &*it;
  }
  // A required integer (bool is not an integer here).
  int integer(const char* key) {
    const json* v = get(key);
    if (v == nullptr) {
      problems_.push_back(fmt::format("missing field {}{}", scope_, key));
      bad_.insert(key);
      return 0;
    }
    return as_int(*v, key);
  }
  int integer_or(const char* key, int fallback) {
    const json* v = get(key);
    return v == nullptr ? fallback : as_int(*v, key);
  }
  double number_or(const char* key, double fallback) {
    const json* v = get(key);
    if (v == nullptr) return fallback;
    if (!v->is_number()) {
      problems_.push_back(fmt::format("field {}{} must be a number, got {}", scope_, key, v->dump()));
      return fallback;
    }
    return v->get<double>();
  }
  bool boolean_or(const char* key, bool fallback) {
    const json* v = get(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) {
      problems_.push_back(fmt::format("field {}{} must be true or false, got {}", scope_, key, v->dump()));
      return fallback;
    }
    return v->get<bool>();
  }
  std::string string_or(const char* key, std::string fallback) {
    const json* v = get(key);
    if (v == nullptr) return fallback;
    if (!v->is_string()) {
      problems_.push_back(fmt::format("field {}{} must be a string, got {}", scope_, key, v->dump()));
      return fallback;
    }
    return v->get<std::string>();
  }
  bool present(const char* key) const { return obj_.find(key) != obj_.end(); }
  void problem(std::string p) { problems_.push_back(std::move(p)); }
  void mark_bad(const char* key) { bad_.insert(key); }
  const std::string& scope() const { return scope_; }

 private:
  int as_int(const json& v, const char* key) {
    if (!v.is_number_integer() || v.get<int64_t>() < INT32_MIN || v.get<int64_t>() > INT32_MAX) {
      problems_.push_back(fmt::format("field {}{} must be an integer, got {}", scope_, key, v.dump()));
      bad_.insert(key);
      return 0;
    }
    return static_cast<int>(v.get<int64_t>());
  }

  const json& obj_;
  std::string scope_;
  std::vector<std::string>& problems_;
  std::set<std::string> bad_;
};

void read_layer_types(FieldReader& r, Gemma4Hparams& h) {
  const json* types = r.get("layer_types");
  if (types == nullptr || !types->is_array()) {
    r.problem(
        fmt::format("missing field {}layer_types (a list of \"sliding_attention\" / \"full_attention\")", r.scope()));
    r.mark_bad("layer_types");
    return;
  }
  for (size_t i = 0; i < types->size(); ++i) {
    const json& t = (*types)[i];
    if (t == "sliding_attention")
      h.sliding.push_back(true);
    else if (t == "full_attention")
      h.sliding.push_back(false);
    else
      r.problem(fmt::format("{}layer_types[{}] = {} is not \"sliding_attention\" or \"full_attention\"", r.scope(), i,
                            t.dump()));
  }
}

void read_rope(FieldReader& r, Gemma4Hparams& h, std::vector<std::string>& problems) {
  const json* rope = r.get("rope_parameters");
  if (rope == nullptr || !rope->is_object() || !rope->contains("sliding_attention") ||
      !rope->contains("full_attention")) {
    r.problem(fmt::format("missing field {}rope_parameters with \"sliding_attention\" and \"full_attention\" entries",
                          r.scope()));
    return;
  }
  FieldReader swa((*rope)["sliding_attention"], r.scope() + "rope_parameters.sliding_attention.", problems);
  FieldReader full((*rope)["full_attention"], r.scope() + "rope_parameters.full_attention.", problems);
  if (const auto t = swa.string_or("rope_type", "default"); t != "default") {
    swa.problem(fmt::format("{}rope_type \"{}\" is not supported (expected \"default\")", swa.scope(), t));
  }
  if (swa.number_or("partial_rotary_factor", 1.0) != 1.0) {
    swa.problem(fmt::format("{}partial_rotary_factor other than 1.0 is not supported", swa.scope()));
  }
  if (const auto t = full.string_or("rope_type", ""); t != "proportional") {
    full.problem(fmt::format("{}rope_type \"{}\" is not supported (expected \"proportional\")", full.scope(), t));
  }
  if (!full.present("partial_rotary_factor"))
    full.problem(fmt::format("missing field {}partial_rotary_factor", full.scope()));
  if (!swa.present("rope_theta")) swa.problem(fmt::format("missing field {}rope_theta", swa.scope()));
  if (!full.present("rope_theta")) full.problem(fmt::format("missing field {}rope_theta", full.scope()));
  h.rope_theta_swa = swa.number_or("rope_theta", 10000.0);
  h.rope_theta_full = full.number_or("rope_theta", 1000000.0);
  h.partial_rotary_full = full.number_or("partial_rotary_factor", 1.0);
}

void read_text_config(FieldReader& r, const json& root, Gemma4Hparams& h, std::vector<std::string>& problems) {
  h.vocab = r.integer("vocab_size");
  h.hidden = r.integer("hidden_size");
  h.n_layers = r.integer("num_hidden_layers");
  h.n_heads = r.integer("num_attention_heads");
  h.n_kv_heads = r.integer("num_key_value_heads");
  h.head_dim = r.integer("head_dim");
  if (!r.present("global_head_dim")) {
    r.problem(
        fmt::format("missing field {}global_head_dim (the full-attention head size; configs re-saved by "
                    "transformers >= 5.15 drop it: copy it from the original config.json)",
                    r.scope()));
    r.mark_bad("global_head_dim");
  }
  h.head_dim_full = r.integer_or("global_head_dim", 0);
  h.ffn = r.integer("intermediate_size");
  h.context_length = r.integer_or("max_position_embeddings", 131072);
  h.rms_eps = static_cast<float>(r.number_or("rms_norm_eps", 1e-6));
  h.sliding_window = r.integer("sliding_window");
  read_layer_types(r, h);
  h.n_kv_shared = r.integer_or("num_kv_shared_layers", 0);
  h.double_wide_mlp = r.boolean_or("use_double_wide_mlp", false);
  h.k_eq_v = r.boolean_or("attention_k_eq_v", false);
  h.n_kv_heads_full = r.integer_or("num_global_key_value_heads", 0);
  if (!r.present("hidden_size_per_layer_input")) {
    r.problem(
        fmt::format("missing field {}hidden_size_per_layer_input (0 or null for no per-layer embeddings)", r.scope()));
  }
  h.ple_dim = r.integer_or("hidden_size_per_layer_input", 0);
  h.ple_vocab = r.integer_or("vocab_size_per_layer_input", h.vocab);
  h.final_softcap = static_cast<float>(r.number_or("final_logit_softcapping", 0.0));
  read_rope(r, h, problems);
  h.moe = r.boolean_or("enable_moe_block", false);
  if (h.moe) {
    h.n_experts = r.integer("num_experts");
    h.n_experts_used = r.integer("top_k_experts");
    h.expert_ffn = r.integer("moe_intermediate_size");
  }
  // The top-level flag governs the lm_head of the multimodal class; the text config's otherwise.
  h.tied_embeddings = root.contains("tie_word_embeddings") && root["tie_word_embeddings"].is_boolean()
                          ? root["tie_word_embeddings"].get<bool>()
                          : r.boolean_or("tie_word_embeddings", true);
  const std::string bidir = r.string_or("use_bidirectional_attention", "");
  if (bidir == "vision")
    h.bidirectional = BidirectionalMode::kVision;
  else if (bidir == "all")
    h.bidirectional = BidirectionalMode::kAll;
  else if (!bidir.empty())
    r.problem(fmt::format("{}use_bidirectional_attention = \"{}\" is unknown", r.scope(), bidir));
  if (const auto act = r.string_or("hidden_activation", "gelu_pytorch_tanh"); act != "gelu_pytorch_tanh") {
    r.problem(
        fmt::format("{}hidden_activation \"{}\" is not supported (Gemma 4 uses gelu_pytorch_tanh)", r.scope(), act));
  }
  if (r.boolean_or("attention_bias", false))
    r.problem(fmt::format("{}attention_bias = true is not supported", r.scope()));
}

}  // namespace

Result<HfModelConfig> parse_hf_config(const std::string& json_text, const std::string& where) {
  const json root = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object())
    return make_error(ErrorCode::kCorruptData, "{}: not a JSON object", where);
  HfModelConfig out;
  const auto archs = root.find("architectures");
  if (archs == root.end() || !archs->is_array() || archs->size() != 1 || !(*archs)[0].is_string()) {
    return make_error(ErrorCode::kInvalidArgument, "{}: \"architectures\" must list exactly one class ({} or {})",
                      where, kConditional, kCausal);
  }
  out.architecture = (*archs)[0].get<std::string>();
  const json* text = &root;
  if (out.architecture == kConditional) {
    const auto tc = root.find("text_config");
    if (tc == root.end() || !tc->is_object()) {
      return make_error(ErrorCode::kInvalidArgument, "{}: {} needs a \"text_config\" object", where, kConditional);
    }
    text = &*tc;
    out.tensor_prefix = "model.language_model.";
    out.ignored_prefixes = {"model.vision_tower.", "model.embed_vision.", "model.audio_tower.", "model.embed_audio."};
  } else if (out.architecture == kCausal) {
    out.tensor_prefix = "model.";
  } else {
    return make_error(ErrorCode::kUnsupported, "{}: architecture \"{}\" is not supported (convert handles {} and {})",
                      where, out.architecture, kConditional, kCausal);
  }
  std::vector<std::string> problems;
  try {
    FieldReader r(*text, text == &root ? "" : "text_config.", problems);
    read_text_config(r, root, out.hparams, problems);
    // The relations between fields, except those about fields already reported missing or mistyped.
    for (auto& p : hparams_problems(out.hparams)) {
      const std::string field = p.substr(0, p.find_first_of(" :"));
      if (r.bad().count(field) == 0) problems.push_back(r.scope() + p);
    }
  } catch (const json::exception& e) {
    problems.push_back(std::string("unexpected JSON layout: ") + e.what());
  }
  if (!problems.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "{}: {} problem{}: {}", where, problems.size(),
                      problems.size() == 1 ? "" : "s", fmt::join(problems, "; "));
  }
  return out;
}

}  // namespace specula::model
