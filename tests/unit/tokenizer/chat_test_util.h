// Shared by the chat-template tests: reading fixture files and HF-format messages -> typed ChatMessages.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/chat_template.h"

namespace specula::tokenizer::test_util {

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// HF message format -> typed messages. A string content is one text part; a list maps item by item.
inline std::vector<ChatMessage> to_messages(const nlohmann::json& messages) {
  std::vector<ChatMessage> out;
  for (const nlohmann::json& m : messages) {
    auto role = parse_chat_role(m.at("role").get<std::string>());
    EXPECT_TRUE(role.ok());
    ChatMessage message{role.ok() ? *role : ChatRole::kUser, {}};
    const nlohmann::json& content = m.at("content");
    if (content.is_string()) {
      message.parts.push_back(ChatPart::make_text(content.get<std::string>()));
    } else {
      for (const nlohmann::json& item : content) {
        const std::string type = item.at("type").get<std::string>();
        if (type == "text") message.parts.push_back(ChatPart::make_text(item.at("text").get<std::string>()));
        if (type == "image") message.parts.push_back(ChatPart::image());
        if (type == "audio") message.parts.push_back(ChatPart::audio());
        if (type == "video") message.parts.push_back(ChatPart::video());
      }
    }
    out.push_back(std::move(message));
  }
  return out;
}

}  // namespace specula::tokenizer::test_util
