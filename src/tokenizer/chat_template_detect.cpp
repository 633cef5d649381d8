// classify_chat_template(): recognises the supported Gemma 4 template revisions from their Jinja source.
//
// The three official revisions differ, for tool-free conversations, in exactly three rendered details, and each
// detail has a distinctive literal in the source (Jinja string literals, so "\n" is a backslash and an n):
//   think marker      '<|think|>\n' (gemma4-it, interleaved)        vs '<|think|>' (early)
//   image placeholder '<|image|>'   (gemma4-it, interleaved)        vs '\n\n<|image|>\n\n' (early)
//   model-turn merge  continue_same_model_turn (gemma4-it only); the interleaved revision is recognised by its
//                     last_user_message bookkeeping.
// A template must show every literal of exactly one revision, plus the Gemma 4 framing, or it is refused: a
// renderer that guessed wrong would silently feed the model a prompt format it was not trained on.
#include <string_view>

#include "format/gguf_reader.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/chat_template_more.h"

namespace specula::tokenizer {
namespace {

bool has(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

}  // namespace

Result<ChatTemplateVariant> classify_chat_template(std::string_view text) {
  if (is_smollm2_template(text)) return ChatTemplateVariant::kSmolLm2;
  constexpr std::string_view kFraming[] = {"'<|turn>system\\n'", "'<turn|>\\n'", "'<|turn>model\\n'",
                                           "'<|channel>thought\\n<channel|>'", "strip_thinking"};
  for (const std::string_view marker : kFraming) {
    if (!has(text, marker)) {
      return make_error(ErrorCode::kUnsupported,
                        "the chat template is not a supported Gemma 4 template (it lacks {}); supported: "
                        "gemma4-it, gemma4-it-interleaved, gemma4-early",
                        marker);
    }
  }
  const bool think_nl = has(text, "'<|think|>\\n'");
  const bool think_bare = has(text, "'<|think|>'");
  const bool image_bare = has(text, "'<|image|>'");
  const bool image_padded = has(text, "'\\n\\n<|image|>\\n\\n'");
  const bool merges_turns = has(text, "continue_same_model_turn");
  const bool interleaved = has(text, "ns.last_user_message");
  if (think_nl && !think_bare && image_bare && !image_padded) {
    if (merges_turns && !interleaved) return ChatTemplateVariant::kGemma4It;
    if (interleaved && !merges_turns) return ChatTemplateVariant::kGemma4ItInterleaved;
  }
  if (think_bare && !think_nl && image_padded && !image_bare && !merges_turns && !interleaved) {
    return ChatTemplateVariant::kGemma4Early;
  }
  return make_error(ErrorCode::kUnsupported,
                    "the chat template looks like Gemma 4 but matches none of the supported revisions "
                    "(gemma4-it, gemma4-it-interleaved, gemma4-early); choose one explicitly");
}

Result<ChatTemplateVariant> chat_template_of(const format::GgufFile& file) {
  if (const auto* t = file.find("tokenizer.chat_template"); t != nullptr && t->as_string() != nullptr) {
    return classify_chat_template(*t->as_string());
  }
  if (file.architecture() == "gemma4") return ChatTemplateVariant::kGemma4It;
  if (file.architecture() == "gemma3") return ChatTemplateVariant::kGemma3It;
  return make_error(ErrorCode::kUnsupported, "the model has no chat template specula can render; use --chat-template");
}

}  // namespace specula::tokenizer
