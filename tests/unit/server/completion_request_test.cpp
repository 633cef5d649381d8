// Request bodies -> typed CompletionRequest: field types and ranges, the allow-list, refusals, prompts.
#include <gtest/gtest.h>

#include <algorithm>

#include "../tokenizer/tokenizer_test_util.h"
#include "format/gguf_reader.h"
#include "server/completion_request.h"
#include "test_paths.h"

namespace specula::server {
namespace {

class CompletionRequestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tok = tokenizer::testing::load_tokenizer(tokenizer::testing::vocab_dir() + "/ggml-vocab-llama-spm.gguf");
    ASSERT_TRUE(tok.ok()) << tok.error().message();
    tok_.emplace(std::move(tok.value()));
    config_.n_parallel = 2;
    ctx_ = {&*tok_, tokenizer::ChatTemplateVariant::kChatml, &config_};
  }
  Result<CompletionRequest> parse(Api api, const std::string& body) { return parse_completion(api, body, ctx_); }
  std::string error(Api api, const std::string& body) {
    auto r = parse(api, body);
    return r.ok() ? "" : r.error().message();
  }

  std::optional<tokenizer::Tokenizer> tok_;
  config::ServeConfig config_;
  ParseContext ctx_;
};

TEST_F(CompletionRequestTest, ChatFieldsAreRead) {
  auto r = parse(Api::kChat, R"({"model":"x","messages":[{"role":"user","content":"hi"}],"max_tokens":5,
    "max_completion_tokens":7,"temperature":0,"top_p":0.5,"top_k":3,"min_p":0.1,"seed":42,"stop":"END",
    "presence_penalty":0.5,"frequency_penalty":-0.5,"logit_bias":{"13":-100},"stream":true,
    "stream_options":{"include_usage":true},"user":"ignored","n":1})");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->stop.max_tokens, 7);  // max_completion_tokens wins over the deprecated max_tokens
  EXPECT_EQ(r->sampling.temperature, 0.0f);
  EXPECT_EQ(r->sampling.top_p, 0.5f);
  EXPECT_EQ(r->sampling.top_k, 3);
  EXPECT_EQ(r->sampling.seed, 42u);
  EXPECT_EQ(r->stop.stop, std::vector<std::string>{"END"});
  ASSERT_EQ(r->sampling.logit_bias.size(), 1u);
  EXPECT_EQ(r->sampling.logit_bias[0].token, 13);
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  // ChatML rendering, tokenized without an extra BOS: "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n".
  auto expected = tok_->tokenize("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
                                 {.add_special = false, .parse_special = true});
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(r->prompt, expected.value());
}

TEST_F(CompletionRequestTest, LlamaCompletionPrompts) {
  auto text = parse(Api::kLlamaCompletion, R"({"prompt":"Hello","n_predict":3,"logit_bias":[[5,false],[6,1.5]],
    "cache_prompt":false,"id_slot":1})");
  ASSERT_TRUE(text.ok()) << text.error().message();
  EXPECT_EQ(text->prompt.front(), *tok_->vocab().bos_id());
  EXPECT_EQ(text->stop.max_tokens, 3);
  EXPECT_FALSE(text->cache_prompt);
  EXPECT_EQ(text->id_slot, 1);
  ASSERT_EQ(text->sampling.logit_bias.size(), 2u);
  EXPECT_TRUE(std::isinf(text->sampling.logit_bias[0].bias));
  auto ids = parse(Api::kLlamaCompletion, R"({"prompt":[10,11,12]})");
  ASSERT_TRUE(ids.ok()) << ids.error().message();
  EXPECT_EQ(ids->prompt, (std::vector<int32_t>{10, 11, 12}));  // token ids are taken as given
}

TEST_F(CompletionRequestTest, LogprobsOfEachApi) {
  const std::string msg = R"({"messages":[{"role":"user","content":"x"}])";
  auto n_probs = [&](Api api, const std::string& body) {
    auto r = parse(api, body);
    EXPECT_TRUE(r.ok()) << body << ": " << (r.ok() ? "" : r.error().message());
    return r.ok() ? r->n_probs : -100;
  };
  EXPECT_EQ(n_probs(Api::kChat, msg + "}"), -1);
  EXPECT_EQ(n_probs(Api::kChat, msg + R"(,"logprobs":false})"), -1);
  EXPECT_EQ(n_probs(Api::kChat, msg + R"(,"logprobs":true})"), 0);
  EXPECT_EQ(n_probs(Api::kChat, msg + R"(,"logprobs":true,"top_logprobs":20})"), 20);
  EXPECT_EQ(n_probs(Api::kChat, msg + R"(,"logprobs":null,"top_logprobs":null})"), -1);
  // OpenAI: top_logprobs needs logprobs: true; at most 20.
  EXPECT_NE(error(Api::kChat, msg + R"(,"top_logprobs":2})").find("'top_logprobs' requires"), std::string::npos);
  EXPECT_NE(error(Api::kChat, msg + R"(,"logprobs":false,"top_logprobs":2})").find("requires"), std::string::npos);
  EXPECT_NE(error(Api::kChat, msg + R"(,"logprobs":true,"top_logprobs":21})").find("'top_logprobs'"),
            std::string::npos);
  EXPECT_NE(error(Api::kChat, msg + R"(,"logprobs":true,"top_logprobs":-1})").find("'top_logprobs'"),
            std::string::npos);
  EXPECT_NE(error(Api::kChat, msg + R"(,"logprobs":1})").find("'logprobs'"), std::string::npos);
  EXPECT_EQ(n_probs(Api::kCompletions, R"({"prompt":"x"})"), -1);
  EXPECT_EQ(n_probs(Api::kCompletions, R"({"prompt":"x","logprobs":0})"), 0);
  EXPECT_EQ(n_probs(Api::kCompletions, R"({"prompt":"x","logprobs":5})"), 5);
  EXPECT_NE(error(Api::kCompletions, R"({"prompt":"x","logprobs":21})").find("'logprobs'"), std::string::npos);
  EXPECT_NE(error(Api::kCompletions, R"({"prompt":"x","logprobs":true})").find("'logprobs'"), std::string::npos);
  EXPECT_NE(error(Api::kCompletions, R"({"prompt":"x","top_logprobs":2})").find("'top_logprobs'"),
            std::string::npos);
  EXPECT_EQ(n_probs(Api::kLlamaCompletion, R"({"prompt":"x","n_probs":0})"), -1);  // llama-server: 0 = none
  EXPECT_EQ(n_probs(Api::kLlamaCompletion, R"({"prompt":"x","n_probs":3,"post_sampling_probs":false})"), 3);
  EXPECT_NE(error(Api::kLlamaCompletion, R"({"prompt":"x","n_probs":21})").find("'n_probs'"), std::string::npos);
  EXPECT_NE(error(Api::kLlamaCompletion, R"({"prompt":"x","n_probs":2,"post_sampling_probs":true})")
                .find("'post_sampling_probs'"), std::string::npos);
  EXPECT_NE(error(Api::kChat, msg + R"(,"n_probs":2})").find("'n_probs'"), std::string::npos);
}

TEST_F(CompletionRequestTest, BadFieldsAreNamed) {
  const std::string msg = R"("messages":[{"role":"user","content":"x"}])";
  EXPECT_NE(error(Api::kChat, "{" + msg + R"(,"frobnicate":1})").find("'frobnicate'"), std::string::npos);
  EXPECT_NE(error(Api::kChat, "{" + msg + R"(,"max_tokens":-1})").find("'max_tokens'"), std::string::npos);
  EXPECT_NE(error(Api::kChat, "{" + msg + R"(,"max_tokens":1e3})").find("'max_tokens'"), std::string::npos);
  EXPECT_NE(error(Api::kChat, "{" + msg + R"(,"max_tokens":99999999999999999999})").find("'max_tokens'"),
            std::string::npos);
  EXPECT_NE(error(Api::kChat, "{" + msg + R"(,"temperature":"hot"})").find("'temperature'"), std::string::npos);
  EXPECT_NE(error(Api::kChat, "{" + msg + R"(,"n":3})").find("'n'"), std::string::npos);
  EXPECT_NE(error(Api::kChat, "{" + msg + R"(,"tools":[{"type":"function"}]})").find("'tools'"), std::string::npos);
  EXPECT_NE(error(Api::kChat, "{" + msg + R"(,"id_slot":2})").find("'id_slot'"), std::string::npos);
  EXPECT_NE(error(Api::kChat, R"({"messages":[]})").find("'messages'"), std::string::npos);
  EXPECT_NE(error(Api::kChat, "{not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error(Api::kCompletions, R"({"prompt":"x","messages":[]})").find("'messages'"), std::string::npos);
  EXPECT_NE(error(Api::kLlamaCompletion, R"({"prompt":[1,-2]})").find("'prompt'"), std::string::npos);
}

TEST_F(CompletionRequestTest, ImagesWithoutMmprojAreRefused) {
  auto r = parse(Api::kChat, R"({"messages":[{"role":"user","content":[{"type":"text","text":"what"},
    {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find("--mmproj"), std::string::npos);
}

// Image parts with a vision-capable vocabulary (the vision fixture's: <|image|> = 6) and the Gemma 4 template.
class ImageRequestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto file = format::GgufFile::open(test::shared_dir() + "/fixtures/llamacpp/vision/llamacpp-f32.gguf");
    ASSERT_TRUE(file.ok()) << file.error().message();
    auto tok = tokenizer::Tokenizer::from_gguf(file.value());
    ASSERT_TRUE(tok.ok()) << tok.error().message();
    tok_.emplace(std::move(tok.value()));
    ctx_ = {&*tok_, tokenizer::ChatTemplateVariant::kGemma4It, &config_, true};
  }
  Result<CompletionRequest> parse(Api api, const std::string& body) { return parse_completion(api, body, ctx_); }
  std::string error(Api api, const std::string& body) {
    auto r = parse(api, body);
    return r.ok() ? "" : r.error().message();
  }
  static std::string image_part(const std::string& url) {
    return R"({"type":"image_url","image_url":{"url":")" + url + R"("}})";
  }

  std::optional<tokenizer::Tokenizer> tok_;
  config::ServeConfig config_;
  ParseContext ctx_;
};

constexpr int32_t kSoftToken = 6;  // <|image|> in the fixture's vocabulary (fixtures README)

TEST_F(ImageRequestTest, ImagePartsBecomePlaceholdersAndBytesInOrder) {
  auto r = parse(Api::kChat, R"({"messages":[{"role":"user","content":[{"type":"text","text":"compare"},)" +
                                 image_part("data:image/png;base64,Zm9v") + "," +
                                 image_part("YmFy") + R"(]}]})");
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->images.size(), 2u);
  EXPECT_EQ(std::string(r->images[0].begin(), r->images[0].end()), "foo");
  EXPECT_EQ(std::string(r->images[1].begin(), r->images[1].end()), "bar");
  EXPECT_EQ(std::count(r->prompt.begin(), r->prompt.end(), kSoftToken), 2);
  // The string form of image_url (some clients) is accepted too.
  auto s = parse(Api::kChat, R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":"Zm9v"}]}]})");
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->images.size(), 1u);
}

TEST_F(ImageRequestTest, MultimodalDataMarkersOfTheNativeEndpoint) {
  auto r = parse(Api::kLlamaCompletion,
                 R"({"prompt":{"prompt_string":"a <__media__> b <__media__>","multimodal_data":["Zm9v","YmFy"]}})");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->images.size(), 2u);
  EXPECT_EQ(std::count(r->prompt.begin(), r->prompt.end(), kSoftToken), 2);
  EXPECT_NE(error(Api::kLlamaCompletion, R"({"prompt":{"prompt_string":"<__media__>","multimodal_data":[]}})")
                .find("1 <__media__> marker(s) but 0"), std::string::npos);
  EXPECT_NE(error(Api::kLlamaCompletion, R"({"prompt":{"prompt_string":"x","multimodal_data":[1]}})")
                .find("marker"), std::string::npos);
  EXPECT_NE(error(Api::kCompletions, R"({"prompt":{"prompt_string":"x"}})").find("'prompt'"), std::string::npos);
}

TEST_F(ImageRequestTest, RefusalsNameThePart) {
  const std::string head = R"({"messages":[{"role":"user","content":[{"type":"text","text":"x"},)";
  EXPECT_NE(error(Api::kChat, head + image_part("https://a.b/c.png") + "]}]}").find("messages[0].content[1]: remote"),
            std::string::npos);
  EXPECT_NE(error(Api::kChat, head + image_part("file:///x.png") + "]}]}").find("file://"), std::string::npos);
  EXPECT_NE(error(Api::kChat, head + image_part("data:image/png;base64,Zm9v=") + "]}]}").find("invalid base64"),
            std::string::npos);
  EXPECT_NE(error(Api::kChat, head + R"({"type":"image_url","image_url":{"url":5}}]}]})").find("image_url.url"),
            std::string::npos);
  ctx_.vision = false;
  EXPECT_NE(error(Api::kChat, head + image_part("Zm9v") + "]}]}").find("--mmproj"), std::string::npos);
  EXPECT_NE(error(Api::kLlamaCompletion, R"({"prompt":{"prompt_string":"<__media__>","multimodal_data":["Zm9v"]}})")
                .find("--mmproj"), std::string::npos);
}

}  // namespace
}  // namespace specula::server
