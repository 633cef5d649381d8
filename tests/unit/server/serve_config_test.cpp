// specula serve's command line: defaults, the reference command line, contradictions and refusals.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "config/serve_config.h"
#include "test_paths.h"

namespace specula::config {
namespace {

Result<ServeConfig> parse(std::vector<std::string> args) {
  SPECULA_TRY(auto flags, serve_flags().parse(args));
  return make_serve_config(flags);
}

TEST(ServeConfig, DefaultsAreLlamaServers) {
  auto c = parse({"-m", "/models/gemma.gguf"});
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->alias, "gemma.gguf");
  EXPECT_EQ(c->host, "127.0.0.1");
  EXPECT_EQ(c->port, 8080);
  EXPECT_EQ(c->n_parallel, 1);
  EXPECT_EQ(c->n_ctx, 4096);
  EXPECT_EQ(c->n_predict, -1);
  EXPECT_DOUBLE_EQ(c->sampling.temperature, 0.8);
  EXPECT_EQ(c->sampling.top_k, 40);
  EXPECT_FALSE(c->sampling.seed.has_value());
  EXPECT_TRUE(std::holds_alternative<SpecOff>(c->spec));
  EXPECT_TRUE(std::holds_alternative<VisionOff>(c->vision));
  EXPECT_TRUE(c->slots_endpoint);
  EXPECT_FALSE(c->metrics);
  EXPECT_EQ(c->describe().size(), 7u);
}

TEST(ServeConfig, ReferenceCommandLine) {
  const std::string mmproj = test::temp_dir() + "/mmproj.gguf";
  std::ofstream(mmproj) << "GGUF";
  auto c = parse({"-m", "gemma-4-E4B-it-Q4_K_M.gguf", "--mtp-head", "assistant.gguf", "--spec-type", "mtp",
                  "--draft-block-size", "3", "--mmproj", mmproj, "--host", "127.0.0.1", "--port", "8090", "-t", "4",
                  "-c", "4096", "-ctk", "turbo4", "-ctv", "turbo4", "-ctkd", "turbo4", "-ctvd", "turbo4"});
  ASSERT_TRUE(c.ok()) << c.error().message();
  const auto* mtp = std::get_if<SpecMtp>(&c->spec);
  ASSERT_NE(mtp, nullptr);
  EXPECT_EQ(mtp->drafter_path, "assistant.gguf");
  EXPECT_EQ(mtp->n_draft, 3);
  ASSERT_TRUE(std::holds_alternative<VisionOn>(c->vision));
  EXPECT_EQ(std::get<VisionOn>(c->vision).mmproj_path, mmproj);
  EXPECT_EQ(c->port, 8090);
  EXPECT_EQ(c->threads, 4);
  EXPECT_EQ(c->cache_type_k, "turbo4");
  EXPECT_EQ(c->cache_type_v_draft, "turbo4");
  EXPECT_EQ(std::get<VisionOn>(c->vision).image_max_tokens, 280);  // Gemma 4's processor default
  EXPECT_EQ(c->max_body_bytes, kMaxBodyBytesVision);
  auto budget = parse({"-m", "m.gguf", "--mmproj", mmproj, "--image-max-tokens", "560"});
  ASSERT_TRUE(budget.ok()) << budget.error().message();
  EXPECT_EQ(std::get<VisionOn>(budget->vision).image_max_tokens, 560);
  auto odd = parse({"-m", "m.gguf", "--mmproj", mmproj, "--image-max-tokens", "100"});
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(odd.error().message().find("70, 140, 280, 560 or 1120"), std::string::npos);
}

TEST(ServeConfig, ErrorsNameTheFlags) {
  auto none_with_head = parse({"-m", "m.gguf", "--spec-type", "none", "--mtp-head", "a.gguf"});
  ASSERT_FALSE(none_with_head.ok());
  EXPECT_NE(none_with_head.error().message().find("--spec-type"), std::string::npos);
  EXPECT_NE(none_with_head.error().message().find("--mtp-head"), std::string::npos);
  auto ub = parse({"-m", "m.gguf", "-ub", "1024", "-b", "256"});
  ASSERT_FALSE(ub.ok());
  EXPECT_NE(ub.error().message().find("-b/--batch-size"), std::string::npos);
  auto slots = parse({"-m", "m.gguf", "--slots", "--no-slots"});
  ASSERT_FALSE(slots.ok());
  EXPECT_NE(slots.error().message().find("--no-slots"), std::string::npos);
  auto missing = parse({"--port", "1"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("-m"), std::string::npos);
  auto unknown = serve_flags().parse({"-m", "m.gguf", "--frobnicate"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message().find("--frobnicate"), std::string::npos);
  EXPECT_FALSE(parse({"-m", "m.gguf", "--image-max-tokens", "64"}).ok());  // needs --mmproj
  EXPECT_FALSE(parse({"-m", "m.gguf", "--mmproj", "/no/such/mmproj.gguf"}).ok());
  EXPECT_FALSE(parse({"-m", "m.gguf", "--log-format", "xml"}).ok());
  EXPECT_FALSE(parse({"-m", "m.gguf", "-np", "0"}).ok());
}

TEST(ServeConfig, UnsupportedLlamaServerFlagsAreRefusedByName) {
  const auto lora = unsupported_serve_flag("--lora");
  ASSERT_TRUE(lora.has_value());
  EXPECT_NE(lora->find("--lora"), std::string::npos);
  EXPECT_TRUE(unsupported_serve_flag("--n-gpu-layers=99").has_value());
  EXPECT_FALSE(unsupported_serve_flag("--port").has_value());
}

TEST(ServeConfig, ApiKeysFromFlagsAndFile) {
  const std::string path = test::temp_dir() + "/keys.txt";
  std::ofstream(path) << "k1\r\n\nk2\n";
  auto c = parse({"-m", "m.gguf", "--api-key", "k0,kx", "--api-key-file", path});
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->api_keys, (std::vector<std::string>{"k0", "kx", "k1", "k2"}));
  EXPECT_FALSE(parse({"-m", "m.gguf", "--api-key", "a,,b"}).ok());
  EXPECT_FALSE(parse({"-m", "m.gguf", "--api-key", ""}).ok());
  EXPECT_FALSE(parse({"-m", "m.gguf", "--api-key-file", "/no/such/keys"}).ok());
}

TEST(ServeConfig, ChatTemplateFileIsRead) {
  const std::string path = test::shared_dir() + "/assets/gemma/google-gemma-4-31B-it.jinja";
  auto c = parse({"-m", "m.gguf", "--chat-template-file", path});
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->chat_template_file, path);
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(c->chat_template_text, text);
  EXPECT_FALSE(unsupported_serve_flag("--chat-template-file").has_value());
  auto missing = parse({"-m", "m.gguf", "--chat-template-file", "/no/such/template.jinja"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("/no/such/template.jinja"), std::string::npos);
  EXPECT_FALSE(parse({"-m", "m.gguf", "--chat-template-file", test::temp_dir()}).ok());  // a directory
  const std::string empty = test::temp_dir() + "/empty.jinja";
  std::ofstream(empty).flush();
  EXPECT_FALSE(parse({"-m", "m.gguf", "--chat-template-file", empty}).ok());
}

}  // namespace
}  // namespace specula::config
