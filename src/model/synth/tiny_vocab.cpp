#include "model/synth/tiny_vocab.h"

#include <fmt/format.h>

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/check.h"

namespace specula::model {
namespace {

constexpr const char* kSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's space

// {piece, user_defined}: the Gemma 4 special tokens (gemma4-spec.md §6.1) in the real vocabulary's order.
// user_defined: the tokens llama.cpp's converter makes visible to the chat parser.
const std::pair<const char*, bool> kSpecials[] = {
    {"<pad>", false},       {"<eos>", false},           {"<bos>", false},           {"<unk>", false},
    {"<mask>", false},      {"<|tool>", false},         {"<tool|>", false},         {"<|tool_call>", true},
    {"<tool_call|>", true}, {"<|tool_response>", true}, {"<tool_response|>", true}, {"<|\"|>", true},
    {"<|think|>", false},   {"<|channel>", true},       {"<channel|>", true},       {"<|turn>", false},
    {"<turn|>", false},     {"<|image>", false},        {"<|audio>", false},        {"<|image|>", false},
    {"<|audio|>", false},   {"<image|>", false},        {"<audio|>", false},        {"<|video|>", false},
};

// Text the merges are learned from (written for this purpose).
constexpr const char* kCorpus =
    "Hello! How can I help you today? The user asks a question and the model gives an answer. What is the capital "
    "of France? The capital of France is Paris. Write a short story about a cat who lives in a small house near the "
    "sea. Once upon a time there was a little cat. The cat liked to sit in the sun and watch the boats on the water. "
    "Every morning the cat would walk to the harbor and say hello to the fishermen. Can you explain how this works? "
    "Sure, here is a simple explanation. First, the input text is split into tokens. Then the model reads the tokens "
    "and predicts the next one. Thank you for your help. You are welcome. Please tell me more about the weather. It "
    "is sunny and warm in the afternoon, with a light wind from the west. What time is it now? I do not know the "
    "time, but I can help you find it. This is a test of the tokenizer with some numbers: 1, 2, 3, 10, 42, 100, "
    "2024. The quick brown fox jumps over the lazy dog. Translate this sentence into another language. Summarize "
    "the following text in one sentence. The results of the experiment were better than expected. We should think "
    "about this step by step. Let me think. The answer is yes. The answer is no. Good morning, good evening, and "
    "good night. Describe the image in detail. There is a red car in front of a white building, and a person is "
    "standing next to it. I would like to know more about the history of the city. The city was founded a long "
    "time ago by people who came from the north.";

// A Gemma 4 chat template (the official gemma4-it format for conversations without tools: optional system
// turn with <|think|>, user/model turns, thoughts stripped from model text, consecutive model messages in
// one turn, media placeholders, the empty-thought prefill when thinking is off).
constexpr const char* kChatTemplate = R"JINJA({#- specula tiny model: Gemma 4 chat format, no tool calling -#}
{%- macro strip_thinking(text) -%}
    {%- set acc = namespace(text='') -%}
    {%- for chunk in text.split('<channel|>') -%}
        {%- set acc.text = acc.text + chunk.split('<|channel>')[0] -%}
    {%- endfor -%}
    {{- acc.text | trim -}}
{%- endmacro -%}
{%- set thinking = enable_thinking is defined and enable_thinking -%}
{%- set turns = messages -%}
{{- bos_token -}}
{%- if thinking or messages[0]['role'] in ['system', 'developer'] -%}
    {{- '<|turn>system\n' -}}
    {%- if thinking -%}
        {{- '<|think|>\n' -}}
    {%- endif -%}
    {%- if messages[0]['role'] in ['system', 'developer'] -%}
        {{- messages[0]['content'] | trim -}}
        {%- set turns = messages[1:] -%}
    {%- endif -%}
    {{- '<turn|>\n' -}}
{%- endif -%}
{%- for message in turns -%}
    {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
    {%- set continue_same_model_turn = role == 'model' and loop.index0 > 0 and turns[loop.index0 - 1]['role'] == 'assistant' -%}
    {%- if not continue_same_model_turn -%}
        {{- '<|turn>' + role + '\n' -}}
    {%- endif -%}
    {%- if message['content'] is string -%}
        {%- if role == 'model' -%}
            {{- strip_thinking(message['content']) -}}
        {%- else -%}
            {{- message['content'] | trim -}}
        {%- endif -%}
    {%- elif message['content'] is sequence -%}
        {%- for part in message['content'] -%}
            {%- if part['type'] == 'text' -%}
                {%- if role == 'model' -%}
                    {{- strip_thinking(part['text']) -}}
                {%- else -%}
                    {{- part['text'] | trim -}}
                {%- endif -%}
            {%- elif part['type'] == 'image' -%}
                {{- '<|image|>' -}}
            {%- elif part['type'] == 'audio' -%}
                {{- '<|audio|>' -}}
            {%- elif part['type'] == 'video' -%}
                {{- '<|video|>' -}}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{- '<turn|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|turn>model\n' -}}
    {%- if not thinking -%}
        {{- '<|channel>thought\n<channel|>' -}}
    {%- endif -%}
{%- endif -%}
)JINJA";

// The corpus as SentencePiece-style words (each starts at a U+2581), split into characters.
std::map<std::vector<std::string>, int> corpus_words() {
  std::string s;
  for (const char* p = kCorpus; *p != '\0'; ++p) s += *p == ' ' ? std::string(kSpace) : std::string(1, *p);
  std::map<std::vector<std::string>, int> words;
  std::vector<std::string> cur;
  for (size_t i = 0; i < s.size();) {
    const bool space = s.compare(i, 3, kSpace) == 0;
    if (space && !cur.empty()) {
      ++words[cur];
      cur.clear();
    }
    const size_t len = space ? 3 : 1;
    cur.push_back(s.substr(i, len));
    i += len;
  }
  if (!cur.empty()) ++words[cur];
  return words;
}

// Byte-pair merges learned greedily: the most frequent adjacent pair (ties: smallest pair), until the
// vocabulary reaches `target` pieces or no pair occurs twice.
void learn_merges(GgufVocab& v, std::set<std::string>& pieces, size_t target) {
  auto words = corpus_words();
  while (v.tokens.size() < target) {
    std::map<std::pair<std::string, std::string>, int> counts;
    for (const auto& [w, n] : words) {
      for (size_t i = 0; i + 1 < w.size(); ++i) counts[{w[i], w[i + 1]}] += n;
    }
    const std::pair<std::string, std::string>* best = nullptr;
    int best_n = 1;
    for (const auto& [pair, n] : counts) {
      if (n > best_n) best = &pair, best_n = n;
    }
    if (best == nullptr) break;
    const auto [a, b] = *best;
    v.merges.push_back(a + " " + b);
    if (pieces.insert(a + b).second) {
      v.tokens.push_back(a + b);
      v.scores.push_back(-1000.0f);
      v.types.push_back(static_cast<int32_t>(GgufTokenType::kNormal));
    }
    std::map<std::vector<std::string>, int> next;
    for (const auto& [w, n] : words) {
      std::vector<std::string> out;
      for (size_t i = 0; i < w.size(); ++i) {
        if (i + 1 < w.size() && w[i] == a && w[i + 1] == b)
          out.push_back(a + b), ++i;
        else
          out.push_back(w[i]);
      }
      next[out] += n;
    }
    words = std::move(next);
  }
}

GgufVocab build() {
  GgufVocab v;
  std::set<std::string> pieces;
  auto add = [&](std::string piece, GgufTokenType type) {
    pieces.insert(piece);
    v.tokens.push_back(std::move(piece));
    v.scores.push_back(-1000.0f);
    v.types.push_back(static_cast<int32_t>(type));
  };
  for (const auto& [piece, visible] : kSpecials)
    add(piece, visible ? GgufTokenType::kUserDefined : GgufTokenType::kControl);
  for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), GgufTokenType::kByte);
  add(kSpace, GgufTokenType::kNormal);
  for (char c = 0x21; c < 0x7f; ++c) add(std::string(1, c), GgufTokenType::kNormal);
  learn_merges(v, pieces, kTinyVocabSize);
  SPECULA_CHECK(v.tokens.size() == kTinyVocabSize, "tiny vocab has {} tokens", v.tokens.size());
  v.special_ids = {{"bos", 2}, {"eos", 1}, {"unk", 3}, {"pad", 0}, {"mask", 4}};
  v.chat_template = kChatTemplate;
  return v;
}

}  // namespace

size_t tiny_vocab_size() { return kTinyVocabSize; }

const GgufVocab& tiny_vocab() {
  static const GgufVocab kVocab = build();
  return kVocab;
}

}  // namespace specula::model
