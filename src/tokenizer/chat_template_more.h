// Renderers of the non-Gemma-4 chat formats (Gemma 3, SmolLM2 / ChatML) and the SmolLM2 template detector.
// Internal to the tokenizer layer: callers use render_chat() and classify_chat_template() (chat_template.h).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "base/result.h"
#include "tokenizer/chat_template.h"

namespace specula::tokenizer {

// The official Gemma 3 template (gemma3-tokenizer_config.json), byte for byte for the conversations it accepts:
//   [<bos>] then per message "<start_of_turn>ROLE\n" CONTENT "<end_of_turn>\n" (assistant -> "model"), then
//   "<start_of_turn>model\n" with add_generation_prompt. A leading system message is not a turn: its
//   first text part (untrimmed) + "\n\n" prefixes the first remaining turn. Text parts are trimmed (Python
//   str.strip()); images render as "<start_of_image>". Errors (the template raises, or would drop content):
//   roles that do not alternate user/assistant starting with user, audio/video parts.
Result<std::string> render_chat_gemma3(std::span<const ChatMessage> messages, const ChatRenderOptions& options);

// ChatML as SmolLM2-Instruct's template writes it: per message "<|im_start|>ROLE\n" CONTENT "<|im_end|>\n"
// (role names verbatim, text parts concatenated untrimmed), then "<|im_start|>assistant\n" with
// add_generation_prompt. kSmolLm2 first inserts the default system turn ("You are a helpful AI assistant named
// SmolLM, trained by Hugging Face") when the first message is not a system message. Errors: media parts.
Result<std::string> render_chat_chatml(std::span<const ChatMessage> messages, const ChatRenderOptions& options);

// True for SmolLM2-Instruct's template text (ChatML framing plus its default system prompt literal).
bool is_smollm2_template(std::string_view text);

}  // namespace specula::tokenizer
