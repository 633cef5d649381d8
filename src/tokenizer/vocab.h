// The token vocabulary of a model: pieces, scores, token types, special ids, the stop set and the flags
// that decide how text is tokenized. Built from GGUF `tokenizer.ggml.*` metadata (vocab_gguf.cpp) or from
// a VocabData (tests); every count, id and piece is validated so that a malformed vocab is an Error.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace specula::format {
class GgufFile;
}

namespace specula::tokenizer {

using TokenId = int32_t;

// GGUF token types (llama.cpp's llama_token_type values).
enum class TokenType : uint8_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

enum class VocabKind {
  kGemma4Bpe,  // tokenizer.ggml.model "gemma4": BPE merges over SentencePiece-style pieces
  kLlamaSpm,   // tokenizer.ggml.model "llama": SentencePiece scores, llama.cpp's merge loop
  kGpt2Bpe,    // tokenizer.ggml.model "gpt2": byte-level BPE after a pre-tokenizer regex (bpe_gpt2.h)
};

const char* vocab_kind_name(VocabKind kind);

// Raw vocabulary description, as read from a file; Vocab::build validates it.
struct VocabData {
  VocabKind kind = VocabKind::kGemma4Bpe;
  std::vector<std::string> pieces;
  std::vector<float> scores;                // empty, or one per piece
  std::vector<TokenType> types;             // empty (all normal), or one per piece
  std::vector<std::string> merges;          // BPE only: "left right", rank = index
  std::string pre;                          // kGpt2Bpe: tokenizer.ggml.pre (the pre-tokenizer regex's name)
  std::optional<int64_t> bos_id, eos_id, eot_id, eom_id, unk_id, pad_id;
  std::optional<bool> add_bos, add_eos, add_space_prefix;
  std::string model_name;                   // general.name (llama.cpp keys the Phi-3 rstrip rule on it)
};

struct TokenInfo {
  TokenType type = TokenType::kNormal;
  bool lstrip = false;  // when matched as a special token, eat whitespace to its left / right
  bool rstrip = false;
};

class Vocab {
 public:
  static Result<Vocab> build(VocabData data);
  Vocab(Vocab&&) = default;
  Vocab& operator=(Vocab&&) = default;
  Vocab(const Vocab&) = delete;  // large; share through Tokenizer instead
  Vocab& operator=(const Vocab&) = delete;
  static Result<Vocab> from_gguf(const format::GgufFile& file);

  VocabKind kind() const { return kind_; }
  int32_t n_tokens() const { return static_cast<int32_t>(pieces_.size()); }
  bool valid_id(int64_t id) const { return id >= 0 && id < n_tokens(); }

  // The stored piece text (SentencePiece form, with U+2581 for spaces), as in the file.
  std::string_view piece(TokenId id) const { return pieces_[static_cast<size_t>(id)]; }
  float score(TokenId id) const { return scores_.empty() ? 0.0f : scores_[static_cast<size_t>(id)]; }
  TokenType type(TokenId id) const { return info_[static_cast<size_t>(id)].type; }
  const TokenInfo& info(TokenId id) const { return info_[static_cast<size_t>(id)]; }
  // Control, user-defined and unknown tokens: the ones that special-token parsing can match in text.
  bool is_special(TokenId id) const;

  // Exact piece lookup over all tokens; std::nullopt when absent.
  std::optional<TokenId> find(std::string_view piece) const;
  // The <0xNN> byte-fallback token for a byte, or -1 when the vocab has none.
  TokenId byte_token(uint8_t byte) const { return byte_tokens_[byte]; }
  // The byte a kByte token stands for.
  uint8_t token_byte(TokenId id) const { return token_bytes_[static_cast<size_t>(id)]; }

  std::optional<TokenId> bos_id() const { return bos_id_; }
  std::optional<TokenId> eos_id() const { return eos_id_; }
  std::optional<TokenId> eot_id() const { return eot_id_; }  // end of turn (<turn|> for Gemma 4)
  std::optional<TokenId> eom_id() const { return eom_id_; }
  std::optional<TokenId> unk_id() const { return unk_id_; }
  std::optional<TokenId> pad_id() const { return pad_id_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool add_space_prefix() const { return add_space_prefix_; }

  // Tokens that end generation: EOS, EOT, EOM and the end-of-turn/end-of-text tokens known by name
  // (Gemma 4: <eos>, <turn|>, <|tool_response>). Sorted ascending.
  const std::vector<TokenId>& stop_ids() const { return stop_ids_; }
  bool is_stop(TokenId id) const;
  // Special tokens (is_special) ordered longest piece first, ties by id: the matching order.
  const std::vector<TokenId>& special_ids() const { return special_ids_; }
  const std::vector<std::string>& merges() const { return merges_; }
  const std::string& pre() const { return pre_; }

 private:
  Vocab() = default;
  Status index_pieces();
  Status resolve_special_ids(const VocabData& data);
  void build_stop_set();
  void build_special_list(const std::string& model_name);

  VocabKind kind_ = VocabKind::kGemma4Bpe;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::vector<TokenInfo> info_;
  std::vector<uint8_t> token_bytes_;
  std::vector<std::string> merges_;
  std::string pre_;
  // Piece -> id: open addressing over ids (linear probing, power-of-two size, id -1 = empty), with the
  // piece hash kept in the slot so that most probes compare no bytes.
  struct IndexSlot {
    uint32_t hash;
    TokenId id;
  };
  std::vector<IndexSlot> index_;
  size_t index_mask_ = 0;
  TokenId byte_tokens_[256];
  std::optional<TokenId> bos_id_, eos_id_, eot_id_, eom_id_, unk_id_, pad_id_;
  bool add_bos_ = true;
  bool add_eos_ = false;
  bool add_space_prefix_ = false;
  std::vector<TokenId> stop_ids_;
  std::vector<TokenId> special_ids_;
};

}  // namespace specula::tokenizer
