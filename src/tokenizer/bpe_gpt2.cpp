#include "tokenizer/bpe_gpt2.h"

#include <algorithm>
#include <array>

#include "tokenizer/bpe_gpt2_unicode.h"
#include "tokenizer/utf8.h"

namespace specula::tokenizer {
namespace {

struct Cp {
  uint32_t cp;  // code point (ill-formed bytes: 0xFFFFFFFF, class kOther)
  uint32_t begin;
  uint32_t size;
  CodepointClass cls;
};

constexpr uint32_t kBadByte = 0xFFFFFFFFu;

void decode_codepoints(std::string_view text, std::vector<Cp>& cps) {
  cps.clear();
  for (size_t pos = 0; pos < text.size();) {
    uint32_t cp = 0;
    size_t n = utf8_decode(text, pos, &cp);
    CodepointClass cls = CodepointClass::kOther;
    if (n == 0) {
      n = 1;
      cp = kBadByte;
    } else {
      cls = classify_codepoint(cp);
    }
    cps.push_back({cp, static_cast<uint32_t>(pos), static_cast<uint32_t>(n), cls});
    pos += n;
  }
}

bool is_contraction_letter(uint32_t c) { return c == 's' || c == 't' || c == 'm' || c == 'd'; }

// Length (in code points) of the gpt-2 regex match that starts at i, within [i, end).
size_t gpt2_match(const std::vector<Cp>& c, size_t i, size_t end) {
  const uint32_t c0 = c[i].cp;
  // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive)
  if (c0 == '\'' && i + 1 < end) {
    const uint32_t c1 = c[i + 1].cp;
    if (is_contraction_letter(c1)) return 2;
    if (i + 2 < end) {
      const uint32_t c2 = c[i + 2].cp;
      if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
    }
  }
  //  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+ : an optional ASCII space, then a run of one class.
  size_t j = i;
  if (c0 == ' ' && i + 1 < end && c[i + 1].cls != CodepointClass::kWhitespace) ++j;
  const CodepointClass cls = c[j].cls;
  if (cls != CodepointClass::kWhitespace) {
    size_t k = j + 1;
    while (k < end && c[k].cls == cls) ++k;
    return k - i;
  }
  // \s+(?!\S) | \s+ : a whitespace run; before a non-space character it gives up its last character unless
  // that would leave it empty.
  size_t k = i;
  while (k < end && c[k].cls == CodepointClass::kWhitespace) ++k;
  if (k == end || k - i == 1) return k - i;
  return k - i - 1;
}

void gpt2_split_range(std::string_view text, const std::vector<Cp>& c, size_t begin, size_t end,
                      std::vector<std::string_view>& words) {
  for (size_t i = begin; i < end;) {
    const size_t n = gpt2_match(c, i, end);
    const size_t last = i + n - 1;
    words.push_back(text.substr(c[i].begin, c[last].begin + c[last].size - c[i].begin));
    i += n;
  }
}

// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in order.
struct ByteTable {
  std::array<std::string, 256> utf8;
  std::array<int16_t, 512> byte_of_cp;  // code point < 512 -> byte, or -1
  ByteTable() {
    byte_of_cp.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
      const uint32_t cp = printable ? b : next++;
      utf8_append(utf8[b], cp);
      byte_of_cp[cp] = static_cast<int16_t>(b);
    }
  }
};

const ByteTable& byte_table() {
  static const ByteTable table;
  return table;
}

}  // namespace

Result<Gpt2PreTokenizer> parse_gpt2_pre_tokenizer(std::string_view pre) {
  if (pre == "gpt-2" || pre == "gpt2") return Gpt2PreTokenizer::kGpt2;
  if (pre == "smollm") return Gpt2PreTokenizer::kSmollm;
  return make_error(ErrorCode::kUnsupported,
                    "byte-level BPE pre-tokenizer '{}' (tokenizer.ggml.pre) is not supported (supported: gpt-2, smollm)",
                    pre);
}

void gpt2_pre_split(std::string_view text, Gpt2PreTokenizer pre, std::vector<std::string_view>& words) {
  thread_local std::vector<Cp> cps;
  decode_codepoints(text, cps);
  if (pre == Gpt2PreTokenizer::kGpt2) {
    gpt2_split_range(text, cps, 0, cps.size(), words);
    return;
  }
  // smollm: each \p{N} code point alone, the gpt-2 regex between them.
  size_t start = 0;
  for (size_t i = 0; i < cps.size(); ++i) {
    if (cps[i].cls != CodepointClass::kNumber) continue;
    gpt2_split_range(text, cps, start, i, words);
    words.push_back(text.substr(cps[i].begin, cps[i].size));
    start = i + 1;
  }
  gpt2_split_range(text, cps, start, cps.size(), words);
}

void byte_level_encode(std::string_view bytes, std::string& out) {
  const ByteTable& t = byte_table();
  for (const char ch : bytes) out.append(t.utf8[static_cast<uint8_t>(ch)]);
}

void byte_level_decode(std::string_view piece, std::string& out) {
  const ByteTable& t = byte_table();
  for (size_t pos = 0; pos < piece.size();) {
    uint32_t cp = 0;
    const size_t n = utf8_decode(piece, pos, &cp);
    if (n == 0) {  // not UTF-8: copy the byte through
      out += piece[pos++];
      continue;
    }
    if (cp < t.byte_of_cp.size() && t.byte_of_cp[cp] >= 0) {
      out += static_cast<char>(t.byte_of_cp[cp]);
    } else {
      out.append(piece.substr(pos, n));
    }
    pos += n;
  }
}

Result<Gpt2Bpe> Gpt2Bpe::build(const Vocab& vocab) {
  SPECULA_TRY(const Gpt2PreTokenizer pre, parse_gpt2_pre_tokenizer(vocab.pre()));
  SPECULA_TRY(BpeModel bpe, BpeModel::build(vocab));
  return Gpt2Bpe(pre, std::move(bpe));
}

void Gpt2Bpe::encode(const Vocab& vocab, std::string_view text, std::vector<TokenId>& out, Gpt2Scratch& s) const {
  s.words.clear();
  gpt2_pre_split(text, pre_, s.words);
  for (const std::string_view word : s.words) {
    s.mapped.clear();
    byte_level_encode(word, s.mapped);
    const size_t before = out.size();
    bpe_.encode(vocab, s.mapped, out, s.bpe);
    // A byte whose character is not in the vocabulary (SmolLM2 lacks some control bytes) stays a symbol that
    // merges with nothing and is then dropped, as HF tokenizers (no unk token) and llama.cpp do. BpeModel
    // emits the unk id for it; no merge result or byte character is ever the unk token, so removing unk ids
    // from this word's output removes exactly those bytes.
    if (const auto unk = vocab.unk_id(); unk && vocab.type(*unk) != TokenType::kNormal) {
      out.erase(std::remove(out.begin() + static_cast<std::ptrdiff_t>(before), out.end(), *unk), out.end());
    }
  }
}

}  // namespace specula::tokenizer
