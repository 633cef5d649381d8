#include "tokenizer/tokenizer.h"

#include <limits>

#include "base/check.h"
#include "format/gguf_reader.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_gpt2.h"
#include "tokenizer/chunker.h"
#include "tokenizer/presplit.h"
#include "tokenizer/spm.h"

namespace specula::tokenizer {
namespace {

constexpr std::string_view kEscapedSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// A piece of the input after special-token matching: a special token, or a range of raw text.
struct Fragment {
  TokenId token;  // >= 0 for a special token; -1 for text
  size_t begin;
  size_t size;
};

bool is_c_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// Cuts every occurrence of one special piece out of the text fragments (llama.cpp's order: each special
// token in turn, longest first, over what earlier ones left).
void split_on_special(std::string_view text, TokenId id, std::string_view piece, const TokenInfo& info,
                      const std::vector<Fragment>& in, std::vector<Fragment>& out) {
  out.clear();
  for (const Fragment& f : in) {
    if (f.token >= 0) {
      out.push_back(f);
      continue;
    }
    const size_t end = f.begin + f.size;
    const std::string_view window = text.substr(0, end);
    size_t pos = f.begin;
    for (size_t m = window.find(piece, pos); m != std::string_view::npos; m = window.find(piece, pos)) {
      size_t left_end = m;
      if (info.lstrip) {
        while (left_end > pos && is_c_space(text[left_end - 1])) --left_end;
      }
      if (left_end > pos) out.push_back({-1, pos, left_end - pos});
      out.push_back({id, 0, 0});
      pos = m + piece.size();
      if (info.rstrip) {
        while (pos < end && is_c_space(text[pos])) ++pos;
      }
    }
    if (pos < end) out.push_back({-1, pos, end - pos});
  }
}

void escape_spaces(std::string_view text, std::string& out) {
  out.clear();
  out.reserve(text.size() + text.size() / 4);
  for (const char c : text) {
    if (c == ' ') {
      out.append(kEscapedSpace);
    } else {
      out += c;
    }
  }
}

void append_unescaped(std::string_view piece, std::string& out) {
  for (size_t pos = 0; pos < piece.size();) {
    const size_t hit = piece.find(kEscapedSpace, pos);
    const size_t stop = hit == std::string_view::npos ? piece.size() : hit;
    out.append(piece.substr(pos, stop - pos));
    if (hit == std::string_view::npos) break;
    out += ' ';
    pos = hit + kEscapedSpace.size();
  }
}

}  // namespace

struct Tokenizer::Impl {
  explicit Impl(Vocab v) : vocab(std::move(v)) {}
  Vocab vocab;
  std::optional<BpeModel> bpe;              // present for VocabKind::kGemma4Bpe
  std::optional<PresplitMatcher> presplit;  // Gemma's user-defined pieces, matched before BPE
  std::optional<Chunker> chunker;
  std::optional<Gpt2Bpe> gpt2;              // present for VocabKind::kGpt2Bpe

  struct Scratch {
    std::string escaped;
    BpeScratch bpe;
    SpmScratch spm;
    ChunkScratch chunks;
    Gpt2Scratch gpt2;
  };
  void encode_gemma4(std::string_view fragment, std::vector<TokenId>& out, Scratch& s) const;
  void encode_gemma4_text(std::string_view fragment, std::vector<TokenId>& out, Scratch& s) const;
  void encode_spm(std::string_view fragment, bool prefix_space, std::vector<TokenId>& out, Scratch& s) const;
};

// Gemma 4: user-defined pieces are cut out first (leftmost, longest), then every gap is BPE-encoded.
void Tokenizer::Impl::encode_gemma4(std::string_view fragment, std::vector<TokenId>& out, Scratch& s) const {
  size_t pos = 0;
  while (pos < fragment.size()) {
    const auto match = presplit->next(fragment, pos);
    const size_t gap_end = match ? match->begin : fragment.size();
    if (gap_end > pos) encode_gemma4_text(fragment.substr(pos, gap_end - pos), out, s);
    if (!match) break;
    out.push_back(match->id);
    pos = match->begin + match->size;
  }
}

// Runs of newlines and runs of everything else are encoded separately (llama.cpp's pre-split); a newline
// run that is itself a piece is emitted whole.
void Tokenizer::Impl::encode_gemma4_text(std::string_view fragment, std::vector<TokenId>& out, Scratch& s) const {
  escape_spaces(fragment, s.escaped);
  const std::string_view text = s.escaped;
  for (size_t pos = 0; pos < text.size();) {
    const bool newlines = text[pos] == '\n';
    size_t end = pos;
    while (end < text.size() && (text[end] == '\n') == newlines) ++end;
    const std::string_view run = text.substr(pos, end - pos);
    pos = end;
    if (newlines) {
      if (const auto id = vocab.find(run)) {
        out.push_back(*id);
        continue;
      }
    }
    chunker->encode(run, out, s.chunks,
                    [&](std::string_view chunk, std::vector<TokenId>& o) { bpe->encode(vocab, chunk, o, s.bpe); });
  }
}

void Tokenizer::Impl::encode_spm(std::string_view fragment, bool prefix_space, std::vector<TokenId>& out,
                                 Scratch& s) const {
  escape_spaces(fragment, s.escaped);
  if (prefix_space) s.escaped.insert(0, kEscapedSpace);
  chunker->encode(s.escaped, out, s.chunks,
                  [&](std::string_view chunk, std::vector<TokenId>& o) { spm_encode(vocab, chunk, o, s.spm); });
}

Result<Tokenizer> Tokenizer::from_gguf(const format::GgufFile& file) {
  SPECULA_TRY(Vocab vocab, Vocab::from_gguf(file));
  auto tok = from_vocab(std::move(vocab));
  if (!tok.ok()) return tok.error().with_context(file.path());
  return tok;
}

Result<Tokenizer> Tokenizer::from_vocab(Vocab vocab) {
  auto impl = std::make_shared<Impl>(std::move(vocab));
  if (impl->vocab.kind() == VocabKind::kGemma4Bpe) {
    SPECULA_TRY(impl->bpe, BpeModel::build(impl->vocab));
    impl->presplit = PresplitMatcher::for_gemma(impl->vocab);
  }
  if (impl->vocab.kind() == VocabKind::kGpt2Bpe) {
    SPECULA_TRY(impl->gpt2, Gpt2Bpe::build(impl->vocab));
  }
  // SentencePiece merges only into normal pieces; BPE merges may produce any piece the merges name.
  impl->chunker = Chunker::build(impl->vocab, impl->vocab.kind() == VocabKind::kLlamaSpm);
  return Tokenizer(std::move(impl));
}

const Vocab& Tokenizer::vocab() const { return impl_->vocab; }

Result<std::vector<TokenId>> Tokenizer::tokenize(std::string_view text, const TokenizeOptions& options) const {
  if (text.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return make_error(ErrorCode::kOutOfRange, "text of {} bytes is too long to tokenize (at most 2 GiB)", text.size());
  }
  const Vocab& v = impl_->vocab;
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 2);
  if (options.add_special && v.add_bos()) out.push_back(*v.bos_id());

  std::vector<Fragment> fragments;
  if (!text.empty()) fragments.push_back({-1, 0, text.size()});
  // Control and unknown tokens are cut out only with parse_special. SentencePiece vocabularies' user-defined
  // pieces always are (llama.cpp's rule, and HF's for added non-special tokens): they are ordinary text
  // pieces, e.g. Gemma 3's "\n" and whitespace runs, which the merges alone would spell differently.
  const bool text_pieces = v.kind() == VocabKind::kLlamaSpm;
  {
    std::vector<Fragment> next;
    for (const TokenId id : v.special_ids()) {
      if (!options.parse_special && !(text_pieces && v.type(id) == TokenType::kUserDefined)) continue;
      split_on_special(text, id, v.piece(id), v.info(id), fragments, next);
      fragments.swap(next);
    }
  }

  Impl::Scratch scratch;
  bool prev_special = true;  // llama vocabs prefix a space at the start and after each special token
  for (const Fragment& f : fragments) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    const std::string_view piece = text.substr(f.begin, f.size);
    if (v.kind() == VocabKind::kGemma4Bpe) {
      impl_->encode_gemma4(piece, out, scratch);
    } else if (v.kind() == VocabKind::kGpt2Bpe) {
      impl_->gpt2->encode(v, piece, out, scratch.gpt2);
    } else {
      impl_->encode_spm(piece, v.add_space_prefix() && prev_special, out, scratch);
    }
    prev_special = false;
  }
  if (options.add_special && v.add_eos()) out.push_back(*v.eos_id());
  return out;
}

void Tokenizer::append_piece(TokenId id, bool render_special, std::string& out) const {
  const Vocab& v = impl_->vocab;
  SPECULA_CHECK(v.valid_id(id), "token id {} out of range", id);
  switch (v.type(id)) {
    case TokenType::kControl:
    case TokenType::kUnknown:
      if (render_special) out.append(v.piece(id));
      return;
    case TokenType::kUserDefined: out.append(v.piece(id)); return;
    case TokenType::kNormal:
      if (v.kind() == VocabKind::kGpt2Bpe) {
        byte_level_decode(v.piece(id), out);
      } else {
        append_unescaped(v.piece(id), out);
      }
      return;
    case TokenType::kByte: out += static_cast<char>(v.token_byte(id)); return;
    case TokenType::kUnused:
    case TokenType::kUndefined: return;  // llama.cpp renders nothing for these
  }
}

Result<std::string> Tokenizer::token_to_piece(TokenId id, bool render_special) const {
  if (!impl_->vocab.valid_id(id)) {
    return make_error(ErrorCode::kOutOfRange, "token id {} is out of range (vocabulary of {})", id, n_vocab());
  }
  std::string out;
  append_piece(id, render_special, out);
  return out;
}

Result<std::string> Tokenizer::detokenize(const std::vector<TokenId>& ids, const DetokenizeOptions& options) const {
  const Vocab& v = impl_->vocab;
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    const TokenId id = ids[i];
    if (!v.valid_id(id)) {
      return make_error(ErrorCode::kOutOfRange, "token id {} (position {}) is out of range (vocabulary of {})", id, i,
                        n_vocab());
    }
    const size_t start = out.size();
    append_piece(id, options.render_special, out);
    // llama.cpp strips the space from the first token only (even when that token rendered nothing).
    if (i == 0 && options.strip_leading_space && v.add_space_prefix() && out.size() > start && out[start] == ' ') {
      out.erase(start, 1);
    }
  }
  return out;
}

}  // namespace specula::tokenizer
