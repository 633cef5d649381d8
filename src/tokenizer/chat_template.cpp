// Gemma 4 chat rendering (see chat_template.h for what is supported and why).
#include "tokenizer/chat_template.h"

#include <array>

#include "tokenizer/chat_template_more.h"
#include "tokenizer/chat_text.h"

namespace specula::tokenizer {
namespace {

constexpr std::string_view kBos = "<bos>";
constexpr std::string_view kTurnOpen = "<|turn>";
constexpr std::string_view kTurnClose = "<turn|>\n";
constexpr std::string_view kEmptyThought = "<|channel>thought\n<channel|>";

bool is_system_like(ChatRole role) { return role == ChatRole::kSystem || role == ChatRole::kDeveloper; }

// The role name inside "<|turn>NAME\n": the templates map "assistant" to "model" and pass others through.
std::string_view turn_name(ChatRole role) {
  return role == ChatRole::kAssistant ? std::string_view("model") : std::string_view(chat_role_name(role));
}

std::string_view placeholder(ChatPartKind kind, ChatTemplateVariant variant) {
  const bool padded = variant == ChatTemplateVariant::kGemma4Early;
  switch (kind) {
    case ChatPartKind::kImage: return padded ? "\n\n<|image|>\n\n" : "<|image|>";
    case ChatPartKind::kVideo: return padded ? "\n\n<|video|>\n\n" : "<|video|>";
    case ChatPartKind::kAudio: return "<|audio|>";
    case ChatPartKind::kText: break;
  }
  return "";
}

Status validate(std::span<const ChatMessage> messages) {
  if (messages.empty()) return make_error(ErrorCode::kInvalidArgument, "the conversation has no messages");
  for (std::size_t m = 0; m < messages.size(); ++m) {
    for (std::size_t p = 0; p < messages[m].parts.size(); ++p) {
      const ChatPart& part = messages[m].parts[p];
      if (part.kind == ChatPartKind::kText && !is_valid_utf8(part.text)) {
        return make_error(ErrorCode::kInvalidArgument, "messages[{}] content part {}: text is not valid UTF-8", m, p);
      }
      if (m == 0 && is_system_like(messages[m].role) && part.kind != ChatPartKind::kText) {
        return make_error(ErrorCode::kInvalidArgument,
                          "messages[0] ({} prompt) content part {}: only text is allowed in the leading {} message",
                          chat_role_name(messages[m].role), p, chat_role_name(messages[m].role));
      }
    }
  }
  return ok_status();
}

// "<|turn>system\n[<|think|>][system text]<turn|>\n" when thinking is on or the first message is system-like.
void render_system_turn(const ChatMessage& first, const ChatRenderOptions& options, std::string& out) {
  const bool has_system = is_system_like(first.role);
  if (!options.enable_thinking && !has_system) return;
  out += kTurnOpen;
  out += "system\n";
  if (options.enable_thinking) out += options.variant == ChatTemplateVariant::kGemma4Early ? "<|think|>" : "<|think|>\n";
  if (has_system) {
    std::string joined;
    for (const ChatPart& part : first.parts) joined += part.text;
    out += trim_python_whitespace(joined);
  }
  out += kTurnClose;
}

void render_content(const ChatMessage& message, ChatTemplateVariant variant, std::string& out) {
  for (const ChatPart& part : message.parts) {
    if (part.kind != ChatPartKind::kText) {
      out += placeholder(part.kind, variant);
    } else if (message.role == ChatRole::kAssistant) {
      out += strip_thinking(part.text);
    } else {
      out += trim_python_whitespace(part.text);
    }
  }
}

}  // namespace

Result<ChatRole> parse_chat_role(std::string_view name) {
  if (name == "system") return ChatRole::kSystem;
  if (name == "developer") return ChatRole::kDeveloper;
  if (name == "user") return ChatRole::kUser;
  if (name == "assistant") return ChatRole::kAssistant;
  if (name == "tool" || name == "function") {
    return make_error(ErrorCode::kUnsupported,
                      "role \"{}\": tool calls and tool responses are not supported by the chat renderer", name);
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "unknown message role \"{}\" (expected system, developer, user or assistant)", name);
}

const char* chat_role_name(ChatRole role) {
  switch (role) {
    case ChatRole::kSystem: return "system";
    case ChatRole::kDeveloper: return "developer";
    case ChatRole::kUser: return "user";
    case ChatRole::kAssistant: return "assistant";
  }
  return "?";
}

const char* chat_template_variant_name(ChatTemplateVariant variant) {
  switch (variant) {
    case ChatTemplateVariant::kGemma4It: return "gemma4-it";
    case ChatTemplateVariant::kGemma4ItInterleaved: return "gemma4-it-interleaved";
    case ChatTemplateVariant::kGemma4Early: return "gemma4-early";
    case ChatTemplateVariant::kGemma3It: return "gemma3-it";
    case ChatTemplateVariant::kSmolLm2: return "smollm2";
    case ChatTemplateVariant::kChatml: return "chatml";
  }
  return "?";
}

Result<ChatTemplateVariant> parse_chat_template_variant(std::string_view name) {
  for (const auto v : {ChatTemplateVariant::kGemma4It, ChatTemplateVariant::kGemma4ItInterleaved,
                       ChatTemplateVariant::kGemma4Early, ChatTemplateVariant::kGemma3It, ChatTemplateVariant::kSmolLm2,
                       ChatTemplateVariant::kChatml}) {
    if (name == chat_template_variant_name(v)) return v;
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "unknown chat template \"{}\" (expected gemma4-it, gemma4-it-interleaved, gemma4-early, gemma3-it, "
                    "smollm2 or chatml)", name);
}

Result<std::string> render_chat(std::span<const ChatMessage> messages, const ChatRenderOptions& options) {
  SPECULA_RETURN_IF_ERROR(validate(messages));
  switch (options.variant) {
    case ChatTemplateVariant::kGemma3It: return render_chat_gemma3(messages, options);
    case ChatTemplateVariant::kSmolLm2:
    case ChatTemplateVariant::kChatml: return render_chat_chatml(messages, options);
    default: break;
  }
  std::string out;
  if (options.add_bos) out += kBos;
  render_system_turn(messages[0], options, out);
  const std::size_t first = is_system_like(messages[0].role) ? 1 : 0;
  for (std::size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    // gemma4-it continues the open model turn when an assistant message follows another assistant message.
    const bool continues = options.variant == ChatTemplateVariant::kGemma4It && i > first &&
                           message.role == ChatRole::kAssistant && messages[i - 1].role == ChatRole::kAssistant;
    if (!continues) {
      out += kTurnOpen;
      out += turn_name(message.role);
      out += '\n';
    }
    render_content(message, options.variant, out);
    out += kTurnClose;
  }
  if (options.add_generation_prompt) {
    out += kTurnOpen;
    out += "model\n";
    if (!options.enable_thinking) out += kEmptyThought;
  }
  return out;
}

}  // namespace specula::tokenizer
