// The native Gemma 4 chat renderer against renderings made by jinja2 from the official templates
// (tests/data/chat/gemma4_chat_cases.json, written by tools/reference/render_chat_templates.py).
#include "tokenizer/chat_template.h"

#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chat_test_util.h"
#include "test_paths.h"

namespace specula::tokenizer {
namespace {

using nlohmann::json;

using test_util::to_messages;

std::string read_file(const std::string& path) { return test_util::read_text(path); }

TEST(ChatTemplate, MatchesJinjaRenderingsOfTheOfficialTemplates) {
  const json fixture = json::parse(read_file(test::source_dir() + "/tests/data/chat/gemma4_chat_cases.json"));
  std::map<std::string, std::vector<ChatMessage>> conversations;
  for (const json& c : fixture.at("conversations")) {
    conversations[c.at("name").get<std::string>()] = to_messages(c.at("messages"));
  }
  int n_checked = 0;
  for (const json& c : fixture.at("cases")) {
    const std::string name = c.at("conversation").get<std::string>();
    auto variant = parse_chat_template_variant(c.at("template").get<std::string>());
    ASSERT_TRUE(variant.ok()) << variant.error().message();
    ChatRenderOptions options;
    options.variant = *variant;
    options.add_generation_prompt = c.at("add_generation_prompt").get<bool>();
    options.enable_thinking = c.at("enable_thinking").get<bool>();
    const auto rendered = render_chat(conversations.at(name), options);
    ASSERT_TRUE(rendered.ok()) << name << ": " << rendered.error().message();
    EXPECT_EQ(*rendered, c.at("expected").get<std::string>())
        << name << " template=" << c.at("template") << " gen=" << options.add_generation_prompt
        << " think=" << options.enable_thinking;
    ++n_checked;
  }
  EXPECT_GE(n_checked, 400);
}

TEST(ChatTemplate, ClassifiesTheOfficialTemplateTexts) {
  const std::string dir = test::shared_dir() + "/assets/gemma/";
  const struct {
    const char* file;
    ChatTemplateVariant variant;
  } known[] = {
      {"google-gemma-4-31B-it.jinja", ChatTemplateVariant::kGemma4It},
      {"google-gemma-4-31B-it-interleaved.jinja", ChatTemplateVariant::kGemma4ItInterleaved},
      {"gemma4-26B-A4B-from-vocab-gguf.chat_template.jinja", ChatTemplateVariant::kGemma4Early},
  };
  for (const auto& k : known) {
    const auto v = classify_chat_template(read_file(dir + k.file));
    ASSERT_TRUE(v.ok()) << k.file << ": " << v.error().message();
    EXPECT_EQ(*v, k.variant) << k.file;
  }
}

TEST(ChatTemplate, RefusesOtherTemplates) {
  const std::string dir = test::shared_dir() + "/assets/gemma/";
  const auto gemma2 = classify_chat_template(read_file(dir + "google-gemma-2-2b-it.jinja"));
  ASSERT_FALSE(gemma2.ok());
  EXPECT_EQ(gemma2.error().code(), ErrorCode::kUnsupported);
  const json gemma3 = json::parse(read_file(dir + "gemma3-tokenizer_config.json"));
  EXPECT_FALSE(classify_chat_template(gemma3.at("chat_template").get<std::string>()).ok());
  EXPECT_FALSE(classify_chat_template("").ok());
  // A Gemma 4 shaped template that mixes revisions is refused rather than guessed.
  std::string mixed = read_file(dir + "google-gemma-4-31B-it.jinja");
  mixed.replace(mixed.find("'<|image|>'"), 11, "'\\n\\n<|image|>\\n\\n'");
  const auto m = classify_chat_template(mixed);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("none of the supported revisions"), std::string::npos);
}

TEST(ChatTemplate, ParsesRolesAndVariantNames) {
  EXPECT_EQ(*parse_chat_role("developer"), ChatRole::kDeveloper);
  const auto tool = parse_chat_role("tool");
  ASSERT_FALSE(tool.ok());
  EXPECT_EQ(tool.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(tool.error().message().find("tool"), std::string::npos);
  const auto bogus = parse_chat_role("model");
  ASSERT_FALSE(bogus.ok());
  EXPECT_EQ(bogus.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bogus.error().message().find("\"model\""), std::string::npos);
  for (const auto v : {ChatTemplateVariant::kGemma4It, ChatTemplateVariant::kGemma4ItInterleaved,
                       ChatTemplateVariant::kGemma4Early}) {
    EXPECT_EQ(*parse_chat_template_variant(chat_template_variant_name(v)), v);
  }
  EXPECT_FALSE(parse_chat_template_variant("gemma3").ok());
}

TEST(ChatTemplate, RefusesConversationsItCannotRender) {
  const ChatRenderOptions options;
  const auto empty = render_chat({}, options);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message().find("no messages"), std::string::npos);

  const std::vector<ChatMessage> bad_utf8 = {{ChatRole::kUser, {ChatPart::image(), ChatPart::make_text("a\xff")}}};
  const auto u = render_chat(bad_utf8, options);
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.error().message().find("messages[0] content part 1"), std::string::npos);

  const std::vector<ChatMessage> media_system = {{ChatRole::kSystem, {ChatPart::image()}},
                                                 {ChatRole::kUser, {ChatPart::make_text("hi")}}};
  EXPECT_FALSE(render_chat(media_system, options).ok());
}

TEST(ChatTemplate, WithoutBosAndGenerationPrompt) {
  const std::vector<ChatMessage> m = {{ChatRole::kUser, {ChatPart::make_text(" hi ")}}};
  ChatRenderOptions options;
  options.add_bos = false;
  options.add_generation_prompt = false;
  EXPECT_EQ(*render_chat(m, options), "<|turn>user\nhi<turn|>\n");
  // The leading system message's text parts are joined before trimming (the templates expect one string).
  const std::vector<ChatMessage> sys = {
      {ChatRole::kSystem, {ChatPart::make_text(" a "), ChatPart::make_text(" b ")}},
      {ChatRole::kUser, {ChatPart::make_text("q")}}};
  EXPECT_EQ(*render_chat(sys, options), "<|turn>system\na  b<turn|>\n<|turn>user\nq<turn|>\n");
}

}  // namespace
}  // namespace specula::tokenizer
