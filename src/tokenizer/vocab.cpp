#include "tokenizer/vocab.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace specula::tokenizer {
namespace {

// Tokens that end generation when they are control or user-defined tokens (llama.cpp keeps the same
// list of names; the GGUF has no per-token "end of generation" flag).
constexpr std::array<std::string_view, 12> kStopNames = {
    "<eos>", "<turn|>", "<|tool_response>", "<end_of_turn>", "<|eot_id|>", "<|eom_id|>", "<|im_end|>",
    "<|end|>", "<|endoftext|>", "<|end_of_text|>", "</s>", "<EOT>"};

// Names that mark the end of a turn, when the GGUF has no tokenizer.ggml.eot_token_id.
constexpr std::array<std::string_view, 5> kEndOfTurnNames = {"<turn|>", "<end_of_turn>", "<|eot_id|>",
                                                             "<|im_end|>", "<|end|>"};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// "<0xNN>" -> NN, or -1 when the piece has another form.
int parse_byte_piece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  const int hi = hex_digit(piece[3]);
  const int lo = hex_digit(piece[4]);
  return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

std::string lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

const char* vocab_kind_name(VocabKind kind) {
  switch (kind) {
    case VocabKind::kGemma4Bpe: return "gemma4 (BPE)";
    case VocabKind::kLlamaSpm: return "llama (SentencePiece)";
    case VocabKind::kGpt2Bpe: return "gpt2 (byte-level BPE)";
  }
  return "?";
}

Result<Vocab> Vocab::build(VocabData data) {
  const size_t n = data.pieces.size();
  if (n == 0) return make_error(ErrorCode::kCorruptData, "tokenizer vocabulary is empty");
  if (n > static_cast<size_t>(INT32_MAX)) {
    return make_error(ErrorCode::kOutOfRange, "tokenizer vocabulary has {} tokens (at most 2^31-1)", n);
  }
  if (!data.scores.empty() && data.scores.size() != n) {
    return make_error(ErrorCode::kCorruptData, "tokenizer has {} scores for {} tokens", data.scores.size(), n);
  }
  if (!data.types.empty() && data.types.size() != n) {
    return make_error(ErrorCode::kCorruptData, "tokenizer has {} token types for {} tokens", data.types.size(), n);
  }
  if (data.kind != VocabKind::kLlamaSpm && data.merges.empty()) {
    return make_error(ErrorCode::kCorruptData, "BPE tokenizer has no merges (tokenizer.ggml.merges)");
  }
  Vocab v;
  v.kind_ = data.kind;
  v.pieces_ = std::move(data.pieces);
  v.scores_ = std::move(data.scores);
  v.merges_ = std::move(data.merges);
  v.pre_ = std::move(data.pre);
  v.info_.resize(n);
  v.token_bytes_.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    TokenType t = data.types.empty() ? TokenType::kNormal : data.types[i];
    if (static_cast<uint8_t>(t) > static_cast<uint8_t>(TokenType::kByte)) t = TokenType::kUndefined;
    v.info_[i].type = t;
    if (t == TokenType::kByte) {
      const int b = parse_byte_piece(v.pieces_[i]);
      if (b < 0) {
        return make_error(ErrorCode::kCorruptData, "byte token {} has piece '{}', expected the form <0xNN>", i,
                          v.pieces_[i]);
      }
      v.token_bytes_[i] = static_cast<uint8_t>(b);
    }
  }
  SPECULA_RETURN_IF_ERROR(v.index_pieces());
  SPECULA_RETURN_IF_ERROR(v.resolve_special_ids(data));
  // Gemma 4 always starts with <bos> (llama.cpp forces it too; the model misbehaves without it).
  // Byte-level BPE vocabularies add no BOS unless they say so (llama.cpp's default for "gpt2").
  v.add_bos_ = data.kind == VocabKind::kGemma4Bpe ? true : data.add_bos.value_or(data.kind == VocabKind::kLlamaSpm);
  v.add_eos_ = data.add_eos.value_or(false);
  v.add_space_prefix_ = data.add_space_prefix.value_or(data.kind == VocabKind::kLlamaSpm);
  if (v.add_bos_ && !v.bos_id_) return make_error(ErrorCode::kCorruptData, "tokenizer adds BOS but has no BOS id");
  if (v.add_eos_ && !v.eos_id_) return make_error(ErrorCode::kCorruptData, "tokenizer adds EOS but has no EOS id");
  v.build_stop_set();
  v.build_special_list(data.model_name);
  return v;
}

Status Vocab::index_pieces() {
  size_t capacity = 16;
  while (capacity < pieces_.size() * 2) capacity *= 2;
  index_.assign(capacity, IndexSlot{0, -1});
  index_mask_ = capacity - 1;
  for (size_t i = 0; i < pieces_.size(); ++i) {
    const std::string_view p = pieces_[i];
    if (p.empty()) continue;  // an empty piece can never be produced from text (llama.cpp renames it)
    const size_t h = std::hash<std::string_view>{}(p);
    for (size_t slot = h & index_mask_;; slot = (slot + 1) & index_mask_) {
      IndexSlot& e = index_[slot];
      if (e.id < 0) {
        e = {static_cast<uint32_t>(h >> 32), static_cast<TokenId>(i)};
        break;
      }
      if (e.hash == static_cast<uint32_t>(h >> 32) && pieces_[static_cast<size_t>(e.id)] == p) {
        return make_error(ErrorCode::kCorruptData, "duplicate piece '{}' in the vocabulary (ids {} and {})", p, e.id,
                          i);
      }
    }
  }
  for (int b = 0; b < 256; ++b) {
    const std::string piece = fmt::format("<0x{:02X}>", b);
    const auto id = find(piece);
    byte_tokens_[b] = id ? *id : -1;
  }
  return ok_status();
}

Status Vocab::resolve_special_ids(const VocabData& data) {
  struct Slot {
    const char* name;
    const std::optional<int64_t>& value;
    std::optional<TokenId>& out;
  };
  const Slot slots[] = {{"bos", data.bos_id, bos_id_}, {"eos", data.eos_id, eos_id_}, {"eot", data.eot_id, eot_id_},
                        {"eom", data.eom_id, eom_id_}, {"unknown", data.unk_id, unk_id_},
                        {"padding", data.pad_id, pad_id_}};
  for (const auto& s : slots) {
    if (!s.value) continue;
    // -1 / UINT32_MAX means "none" (llama.cpp's converter writes it for absent tokens).
    if (*s.value == -1 || *s.value == 0xFFFFFFFFll) continue;
    if (!valid_id(*s.value)) {
      return make_error(ErrorCode::kCorruptData, "tokenizer {} token id {} is out of range (vocabulary of {})",
                        s.name, *s.value, n_tokens());
    }
    s.out = static_cast<TokenId>(*s.value);
  }
  if (!eot_id_) {
    for (const auto name : kEndOfTurnNames) {
      const auto id = find(name);
      if (id && (type(*id) == TokenType::kControl || type(*id) == TokenType::kUserDefined)) {
        eot_id_ = id;
        break;
      }
    }
  }
  return ok_status();
}

void Vocab::build_stop_set() {
  for (const auto& id : {eos_id_, eot_id_, eom_id_}) {
    if (id) stop_ids_.push_back(*id);
  }
  for (const auto name : kStopNames) {
    const auto id = find(name);
    if (id && (type(*id) == TokenType::kControl || type(*id) == TokenType::kUserDefined)) stop_ids_.push_back(*id);
  }
  std::sort(stop_ids_.begin(), stop_ids_.end());
  stop_ids_.erase(std::unique(stop_ids_.begin(), stop_ids_.end()), stop_ids_.end());
}

void Vocab::build_special_list(const std::string& model_name) {
  for (TokenId id = 0; id < n_tokens(); ++id) {
    if (is_special(id) && !pieces_[static_cast<size_t>(id)].empty()) special_ids_.push_back(id);
  }
  std::stable_sort(special_ids_.begin(), special_ids_.end(), [this](TokenId a, TokenId b) {
    return pieces_[static_cast<size_t>(a)].size() > pieces_[static_cast<size_t>(b)].size();
  });
  // Phi-3 vocabularies: special tokens swallow the whitespace that follows them, except <unk>, <s> and
  // <|endoftext|> (llama.cpp applies this rule by model name; the GGUF carries no per-token flag).
  const std::string name = lowercase(model_name);
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (const TokenId id : special_ids_) info_[static_cast<size_t>(id)].rstrip = true;
    if (const auto id = find("</s>")) info_[static_cast<size_t>(*id)].rstrip = true;
    for (const char* keep : {"<unk>", "<s>", "<|endoftext|>"}) {
      if (const auto id = find(keep)) info_[static_cast<size_t>(*id)].rstrip = false;
    }
  }
}

bool Vocab::is_special(TokenId id) const {
  const TokenType t = type(id);
  return t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown;
}

std::optional<TokenId> Vocab::find(std::string_view piece) const {
  if (index_.empty()) return std::nullopt;
  const size_t h = std::hash<std::string_view>{}(piece);
  const auto tag = static_cast<uint32_t>(h >> 32);
  for (size_t slot = h & index_mask_;; slot = (slot + 1) & index_mask_) {
    const IndexSlot& e = index_[slot];
    if (e.id < 0) return std::nullopt;
    if (e.hash == tag && pieces_[static_cast<size_t>(e.id)] == piece) return e.id;
  }
}

bool Vocab::is_stop(TokenId id) const { return std::binary_search(stop_ids_.begin(), stop_ids_.end(), id); }

}  // namespace specula::tokenizer
