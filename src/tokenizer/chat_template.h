// Native renderer of the Gemma 4 chat format: typed messages -> the prompt TEXT the official Jinja templates produce.
// Also renders the Gemma 3 and ChatML formats of the small real models (chat_template_more.cpp: "gemma3-it", the
// official Gemma 3 template; "smollm2", SmolLM2-Instruct's ChatML template with its default system prompt;
// "chatml", the same without the default system prompt); see there for what they support.
//
// Supported (byte-identical to HF `apply_chat_template(tokenize=False)` with the official templates, verified
// against tests/data/chat/gemma4_chat_cases.json):
//   * template variants (ChatTemplateVariant): the current google/gemma-4-*-it template ("gemma4-it"), the
//     "interleaved" thinking template ("gemma4-it-interleaved") and the early template stored in llama.cpp's
//     Gemma 4 vocab GGUF ("gemma4-early"); classify_chat_template() picks one from a GGUF's
//     `tokenizer.chat_template` text.
//   * bos ("<bos>" text, optional), a leading system or developer message (text only; its text parts are
//     joined and then trimmed as one string, as the templates expect a string there), later system/developer
//     messages as ordinary "<|turn>system" turns, multi-turn user/assistant ("model") conversations,
//   * image/audio/video parts rendered as the template's placeholder ("<|image|>", "<|audio|>", "<|video|>";
//     "\n\n<|image|>\n\n" and "\n\n<|video|>\n\n" in gemma4-early) at their position in the content list,
//   * thinking on (`<|think|>` in the system turn) and off (the empty-thought prefill
//     "<|channel>thought\n<channel|>" after the generation prompt),
//   * user/system text trimmed with Python's str.strip() rules; assistant text with earlier thoughts
//     (<|channel>...<channel|>) removed and trimmed; consecutive assistant messages merged into one model turn
//     in gemma4-it (as that template does).
// Refused with an error: an empty conversation, role "tool" or any unknown role (tool declarations, calls and
// responses are not rendered), media parts in the leading system/developer message, text that is not UTF-8.
// Text is inserted verbatim: special-token look-alikes in user text are NOT escaped (neither do the templates).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace specula::format {
class GgufFile;
}  // namespace specula::format

namespace specula::tokenizer {

enum class ChatRole { kSystem, kDeveloper, kUser, kAssistant };

// "system", "developer", "user", "assistant". "tool" is kUnsupported; anything else kInvalidArgument.
Result<ChatRole> parse_chat_role(std::string_view name);
const char* chat_role_name(ChatRole role);

enum class ChatPartKind { kText, kImage, kAudio, kVideo };

// One item of a message's content list. Media parts carry no payload: the caller keeps the media in the
// same order and expands each placeholder after tokenization.
struct ChatPart {
  ChatPartKind kind = ChatPartKind::kText;
  std::string text;  // only for kText

  static ChatPart make_text(std::string t) { return ChatPart{ChatPartKind::kText, std::move(t)}; }
  static ChatPart image() { return ChatPart{ChatPartKind::kImage, {}}; }
  static ChatPart audio() { return ChatPart{ChatPartKind::kAudio, {}}; }
  static ChatPart video() { return ChatPart{ChatPartKind::kVideo, {}}; }
};

struct ChatMessage {
  ChatRole role = ChatRole::kUser;
  std::vector<ChatPart> parts;
};

enum class ChatTemplateVariant {
  kGemma4It,             // google-gemma-4-31B-it.jinja (current official template)
  kGemma4ItInterleaved,  // google-gemma-4-31B-it-interleaved.jinja
  kGemma4Early,          // the template in llama.cpp's ggml-vocab-gemma-4.gguf (older revision)
  kGemma3It,             // the Gemma 3 template (gemma3-tokenizer_config.json); chosen by name only
  kSmolLm2,              // SmolLM2-Instruct's ChatML template (default system prompt when none is given)
  kChatml,               // plain ChatML: <|im_start|>role\ncontent<|im_end|>\n; chosen by name only
};

// "gemma4-it", "gemma4-it-interleaved", "gemma4-early", "gemma3-it", "smollm2", "chatml".
const char* chat_template_variant_name(ChatTemplateVariant variant);
Result<ChatTemplateVariant> parse_chat_template_variant(std::string_view name);

// Classifies Jinja template source (e.g. a GGUF's tokenizer.chat_template) by the constructs that distinguish
// the supported variants: the Gemma 4 revisions and SmolLM2's ChatML template. kUnsupported for anything that is
// not recognisably one of them (Gemma 2/3 templates, custom templates, a future revision with a different shape;
// Gemma 3 and plain ChatML are selected by name).
Result<ChatTemplateVariant> classify_chat_template(std::string_view template_text);

// The chat format of a model file: its `tokenizer.chat_template` classified, or, for files without one, the
// architecture's own format (gemma4 -> gemma4-it, gemma3 -> gemma3-it). kUnsupported when neither applies.
Result<ChatTemplateVariant> chat_template_of(const format::GgufFile& file);

struct ChatRenderOptions {
  ChatTemplateVariant variant = ChatTemplateVariant::kGemma4It;
  bool add_generation_prompt = true;  // end with the opened model turn (and the empty thought if thinking is off)
  bool enable_thinking = false;       // `<|think|>` in the system turn; no empty-thought prefill
  bool add_bos = true;                // start with the "<bos>" text (tokenize with special tokens parsed, no extra BOS);
                                      // Gemma templates only (the ChatML templates have no BOS)
};

// Renders the conversation to prompt text. Errors: empty conversation, media in the leading system message,
// invalid UTF-8 (kInvalidArgument, naming the message and part index).
Result<std::string> render_chat(std::span<const ChatMessage> messages, const ChatRenderOptions& options);

}  // namespace specula::tokenizer
