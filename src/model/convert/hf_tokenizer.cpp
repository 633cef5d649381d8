#include "model/convert/hf_tokenizer.h"

#include <cctype>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "base/mapped_file.h"

namespace specula::model {
namespace {

using nlohmann::json;

constexpr const char* kKinds[] = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};

// Tokens the gemma4 converter marks user-defined so that llama.cpp always renders them (chat parsing).
const std::set<std::string>& visible_tokens() {
  static const std::set<std::string> kVisible = {"<|channel>",       "<channel|>",       "<|tool_call>", "<tool_call|>",
                                                 "<|tool_response>", "<tool_response|>", "<|\"|>"};
  return kVisible;
}

Result<json> read_json(const std::string& path, bool required) {
  if (!std::filesystem::exists(path)) {
    if (required) return make_error(ErrorCode::kNotFound, "{}: not found", path);
    return json(nullptr);
  }
  SPECULA_TRY(const std::string text, read_file(path));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return make_error(ErrorCode::kCorruptData, "{}: not valid JSON", path);
  return j;
}

// The content of a special-token entry: "text" or {"content": "text", ...}.
std::optional<std::string> token_content(const json& entry) {
  if (entry.is_string()) return entry.get<std::string>();
  if (entry.is_object() && entry.contains("content") && entry["content"].is_string())
    return entry["content"].get<std::string>();
  return std::nullopt;
}

// transformers' all_special_tokens: the named *_token entries, additional_special_tokens and
// extra_special_tokens of tokenizer_config.json and special_tokens_map.json.
std::set<std::string> special_contents(const json& config, const json& map) {
  std::set<std::string> out;
  for (const json* j : {&config, &map}) {
    if (!j->is_object()) continue;
    for (const auto& [key, value] : j->items()) {
      if (key.size() > 6 && key.compare(key.size() - 6, 6, "_token") == 0 && key.rfind("add_", 0) != 0) {
        if (auto c = token_content(value)) out.insert(*c);
      }
      if (key == "additional_special_tokens" || key == "extra_special_tokens") {
        if (value.is_array()) {
          for (const auto& e : value) {
            if (auto c = token_content(e)) out.insert(*c);
          }
        } else if (value.is_object()) {
          for (const auto& [name, e] : value.items()) {
            if (auto c = token_content(e)) out.insert(*c);
          }
        }
      }
    }
  }
  return out;
}

// "<0xNN>" with two hex digits: a byte-fallback token.
bool is_byte_piece(const std::string& s) {
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && std::isxdigit(static_cast<unsigned char>(s[3])) &&
         std::isxdigit(static_cast<unsigned char>(s[4])) && s[5] == '>';
}

struct Pieces {
  std::vector<std::string> by_id;  // ids 0..n-1
  size_t base = 0;                 // model.vocab size
  std::unordered_map<std::string, int64_t> ids;
};

Result<Pieces> collect_pieces(const json& tok, const std::string& path) {
  const json& model = tok["model"];
  if (!model.contains("vocab") || !model["vocab"].is_object()) {
    return make_error(ErrorCode::kCorruptData, "{}: model.vocab is not an object", path);
  }
  const json& vocab = model["vocab"];
  std::map<int64_t, std::string> by_id;
  for (const auto& [piece, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0) {
      return make_error(ErrorCode::kCorruptData, "{}: vocab entry '{}' has an invalid id", path, piece);
    }
    by_id[id.get<int64_t>()] = piece;
  }
  Pieces p;
  p.base = vocab.size();
  if (tok.contains("added_tokens") && tok["added_tokens"].is_array()) {
    for (const auto& a : tok["added_tokens"]) {
      if (!a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") || !a["content"].is_string()) {
        return make_error(ErrorCode::kCorruptData, "{}: an added_tokens entry lacks id or content", path);
      }
      const int64_t id = a["id"].get<int64_t>();
      if (id < 0) return make_error(ErrorCode::kCorruptData, "{}: added token with id {}", path, id);
      by_id[id] = a["content"].get<std::string>();  // added tokens win, as in the HF tokenizer's get_vocab()
    }
  }
  int64_t expect = 0;
  for (auto& [id, piece] : by_id) {
    if (id != expect) return make_error(ErrorCode::kCorruptData, "{}: token ids have a gap at {}", path, expect);
    p.ids.emplace(piece, id);
    p.by_id.push_back(std::move(piece));
    ++expect;
  }
  return p;
}

std::vector<std::string> read_merges(const json& merges) {
  std::vector<std::string> out;
  if (!merges.is_array()) return out;
  for (const auto& m : merges) {
    if (m.is_string()) {
      out.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      // gguf-py joins pairs with a space and encodes spaces inside the parts as U+0120.
      std::string s;
      for (size_t k = 0; k < 2; ++k) {
        if (k == 1) s += ' ';
        for (const char c : m[k].get<std::string>()) s += c == ' ' ? std::string("\xc4\xa0") : std::string(1, c);
      }
      out.push_back(std::move(s));
    }
  }
  return out;
}

Status read_chat_template(const std::string& dir, const json& config, GgufVocab& v) {
  json tmpl = config.is_object() && config.contains("chat_template") ? config["chat_template"] : json(nullptr);
  if (tmpl.is_null()) {
    const std::string jinja = dir + "/chat_template.jinja";
    if (std::filesystem::exists(jinja)) {
      SPECULA_TRY(v.chat_template, read_file(jinja));
      return ok_status();
    }
    SPECULA_TRY(const json alt, read_json(dir + "/chat_template.json", false));
    if (alt.is_object() && alt.contains("chat_template")) tmpl = alt["chat_template"];
  }
  if (tmpl.is_string()) {
    v.chat_template = tmpl.get<std::string>();
  } else if (tmpl.is_array()) {
    std::map<std::string, std::string> named;
    for (const auto& e : tmpl) {
      if (!e.is_object() || !e.contains("name") || !e.contains("template") || !e["template"].is_string()) continue;
      std::string name = e["name"].is_string() ? e["name"].get<std::string>() : "";
      for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      if (name == "default")
        v.chat_template = e["template"].get<std::string>();
      else if (!name.empty())
        named[name] = e["template"].get<std::string>();
    }
    v.named_chat_templates.assign(named.begin(), named.end());
  }
  return ok_status();
}

// gguf-py SpecialVocab: add_<kind>_token flags and <kind>_token of tokenizer_config.json (looked up among
// tokenizer.json's added_tokens), then the <kind>_token_id fields of config.json for kinds still unset.
void read_special_ids(const json& tok, const json& config, const json& model_config, GgufVocab& v) {
  const json& added = tok.contains("added_tokens") ? tok["added_tokens"] : json::array();
  auto has_kind = [&](const std::string& k) {
    for (const auto& [kind, id] : v.special_ids)
      if (kind == k) return true;
    return false;
  };
  for (const char* kind : kKinds) {
    if (!config.is_object()) break;
    const std::string k = kind;
    if (auto f = config.find("add_" + k + "_token"); f != config.end() && f->is_boolean())
      v.add_flags.emplace_back(k, f->get<bool>());
    const auto entry = config.find(k + "_token");
    if (entry == config.end()) continue;
    const auto content = token_content(*entry);
    if (!content) continue;
    for (const auto& a : added) {
      if (a.value("content", "") == *content && a["id"].is_number_integer()) {
        if (!has_kind(k)) v.special_ids.emplace_back(k, a["id"].get<uint32_t>());
        break;
      }
    }
  }
  for (const char* kind : kKinds) {
    const auto f = model_config.is_object() ? model_config.find(std::string(kind) + "_token_id") : model_config.end();
    if (model_config.is_object() && f != model_config.end() && f->is_number_integer() && f->get<int64_t>() >= 0 &&
        !has_kind(kind)) {
      v.special_ids.emplace_back(kind, f->get<uint32_t>());
    }
  }
}

Result<HfTokenizer> build(const std::string& dir, const json& tok, const json& config, const json& map,
                          const json& model_config) {
  const std::string path = dir + "/tokenizer.json";
  const json& model = tok["model"];
  const bool bpe = model.is_object() && model.value("type", "") == "BPE" && model.value("byte_fallback", false);
  const bool seq_decoder =
      tok.contains("decoder") && tok["decoder"].is_object() && tok["decoder"].value("type", "") == "Sequence";
  if (!bpe || !seq_decoder) {
    return make_error(ErrorCode::kUnsupported,
                      "{}: not a byte-fallback BPE tokenizer (as Gemma 4's); llama.cpp's "
                      "gemma4 converter would refuse it too",
                      path);
  }
  SPECULA_TRY(Pieces pieces, collect_pieces(tok, path));
  HfTokenizer out;
  out.embedding_rows_kept = pieces.base + (tok.contains("added_tokens") ? tok["added_tokens"].size() : 0);
  std::set<int64_t> special_ids;
  for (const auto& c : special_contents(config, map)) {
    if (auto it = pieces.ids.find(c); it != pieces.ids.end()) special_ids.insert(it->second);
  }
  GgufVocab& v = out.vocab;
  for (size_t id = 0; id < pieces.by_id.size(); ++id) {
    const std::string& piece = pieces.by_id[id];
    GgufTokenType type = GgufTokenType::kNormal;
    if (id >= pieces.base) {
      type = special_ids.count(static_cast<int64_t>(id)) ? GgufTokenType::kControl : GgufTokenType::kUserDefined;
    } else if (is_byte_piece(piece)) {
      type = GgufTokenType::kByte;
    } else if (special_ids.count(static_cast<int64_t>(id))) {
      type = GgufTokenType::kControl;
    }
    if (visible_tokens().count(piece)) type = GgufTokenType::kUserDefined;
    v.tokens.push_back(piece);
    v.scores.push_back(-1000.0f);
    v.types.push_back(static_cast<int32_t>(type));
  }
  v.merges = read_merges(model.contains("merges") ? model["merges"] : json(nullptr));
  read_special_ids(tok, config, model_config, v);
  SPECULA_RETURN_IF_ERROR(read_chat_template(dir, config, v));
  return out;
}

}  // namespace

Result<std::optional<HfTokenizer>> read_hf_tokenizer(const std::string& dir, const std::string& config_json) {
  const std::string path = dir + "/tokenizer.json";
  if (!std::filesystem::exists(path)) return std::optional<HfTokenizer>();
  SPECULA_TRY(const json tok, read_json(path, true));
  if (!tok.is_object() || !tok.contains("model") || !tok["model"].is_object()) {
    return make_error(ErrorCode::kCorruptData, "{}: no \"model\" object", path);
  }
  SPECULA_TRY(const json config, read_json(dir + "/tokenizer_config.json", false));
  SPECULA_TRY(const json map, read_json(dir + "/special_tokens_map.json", false));
  json model_config = json::parse(config_json, nullptr, false);
  if (model_config.is_discarded()) model_config = json(nullptr);
  try {
    SPECULA_TRY(HfTokenizer t, build(dir, tok, config, map, model_config));
    return std::optional<HfTokenizer>(std::move(t));
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kCorruptData, "{}: unexpected JSON layout: {}", path, e.what());
  }
}

}  // namespace specula::model
