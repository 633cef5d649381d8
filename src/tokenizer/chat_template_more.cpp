// Gemma 3 and ChatML chat rendering (see chat_template_more.h for the exact formats and why).
#include "tokenizer/chat_template_more.h"

#include "tokenizer/chat_text.h"

namespace specula::tokenizer {
namespace {

constexpr std::string_view kSmolLm2System = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

Status refuse_media(std::span<const ChatMessage> messages, std::string_view format, bool allow_images) {
  for (size_t m = 0; m < messages.size(); ++m) {
    for (size_t p = 0; p < messages[m].parts.size(); ++p) {
      const ChatPartKind kind = messages[m].parts[p].kind;
      if (kind == ChatPartKind::kText || (allow_images && kind == ChatPartKind::kImage)) continue;
      return make_error(ErrorCode::kInvalidArgument, "messages[{}] content part {}: the {} chat format has no {} input",
                        m, p, format, kind == ChatPartKind::kImage ? "image" : (kind == ChatPartKind::kAudio ? "audio" : "video"));
    }
  }
  return ok_status();
}

}  // namespace

Result<std::string> render_chat_gemma3(std::span<const ChatMessage> messages, const ChatRenderOptions& options) {
  SPECULA_RETURN_IF_ERROR(refuse_media(messages, "Gemma 3", /*allow_images=*/true));
  std::string out;
  if (options.add_bos) out += "<bos>";
  std::string prefix;
  size_t first = 0;
  if (messages[0].role == ChatRole::kSystem) {  // (a leading "developer" message is an ordinary, misplaced turn)
    if (!messages[0].parts.empty()) prefix = messages[0].parts[0].text;
    prefix += "\n\n";
    first = 1;
  }
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    // The template's check: user turns at even positions, anything else at odd positions.
    if ((message.role == ChatRole::kUser) != ((i - first) % 2 == 0)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "messages[{}]: the Gemma 3 chat format needs roles that alternate user/assistant/user/...", i);
    }
    out += "<start_of_turn>";
    out += message.role == ChatRole::kAssistant ? "model" : chat_role_name(message.role);
    out += '\n';
    if (i == first) out += prefix;
    for (const ChatPart& part : message.parts) {
      if (part.kind == ChatPartKind::kImage) {
        out += "<start_of_image>";
      } else {
        out += trim_python_whitespace(part.text);
      }
    }
    out += "<end_of_turn>\n";
  }
  if (options.add_generation_prompt) out += "<start_of_turn>model\n";
  return out;
}

Result<std::string> render_chat_chatml(std::span<const ChatMessage> messages, const ChatRenderOptions& options) {
  SPECULA_RETURN_IF_ERROR(refuse_media(messages, "ChatML", /*allow_images=*/false));
  std::string out;
  if (options.variant == ChatTemplateVariant::kSmolLm2 && messages[0].role != ChatRole::kSystem) {
    out += "<|im_start|>system\n";
    out += kSmolLm2System;
    out += "<|im_end|>\n";
  }
  for (const ChatMessage& message : messages) {
    out += "<|im_start|>";
    out += chat_role_name(message.role);
    out += '\n';
    for (const ChatPart& part : message.parts) out += part.text;
    out += "<|im_end|>\n";
  }
  if (options.add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

bool is_smollm2_template(std::string_view text) {
  // (The template's newlines are literal newline characters inside its string literals, so the markers stop short.)
  constexpr std::string_view kMarkers[] = {"'<|im_start|>' + message['role'] + '",
                                           "' + message['content'] + '<|im_end|>'", kSmolLm2System,
                                           "messages[0]['role'] != 'system'", "'<|im_start|>assistant"};
  for (const std::string_view m : kMarkers) {
    if (text.find(m) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace specula::tokenizer
