// --spec-type / --mtp-head / --draft-block-size: the valid combinations and every contradiction as a clear error.
#include <gtest/gtest.h>

#include "config/speculative.h"

namespace specula::config {
namespace {

Result<SpecConfig> parse(std::vector<std::string> args) {
  FlagParser p("test", "");
  add_spec_flags(p);
  auto v = p.parse(args);
  if (!v.ok()) return v.error();
  return spec_config_from_flags(v.value());
}

std::string error_of(std::vector<std::string> args) {
  auto r = parse(std::move(args));
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.error().message();
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(SpecConfig, DefaultsToOff) {
  auto r = parse({});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(std::holds_alternative<SpecOff>(r.value()));
  EXPECT_EQ(describe(r.value()), "off");
}

TEST(SpecConfig, MtpHeadAloneImpliesMtp) {
  auto r = parse({"--mtp-head", "a.gguf"});
  ASSERT_TRUE(r.ok());
  const auto& m = std::get<SpecMtp>(r.value());
  EXPECT_EQ(m.drafter_path, "a.gguf");
  EXPECT_EQ(m.n_draft, kDefaultDraftTokens);
}

TEST(SpecConfig, LlamaServerSpellings) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--spec-type", "mtp", "--mtp-head", "a.gguf", "--draft-block-size", "5"},
           {"--spec-type", "draft-mtp", "--spec-draft-model", "a.gguf", "--spec-draft-n-max", "5"},
           {"--spec-type", "draft-mtp", "-md", "a.gguf", "--draft-max", "5"},
           {"--model-draft", "a.gguf", "--draft", "5"}}) {
    auto r = parse(args);
    ASSERT_TRUE(r.ok()) << args[0] << ": " << r.error().message();
    const auto& m = std::get<SpecMtp>(r.value());
    EXPECT_EQ(m.drafter_path, "a.gguf");
    EXPECT_EQ(m.n_draft, 5);
  }
  auto n = parse({"--spec-type", "ngram-simple", "--spec-draft-n-max", "8", "--spec-ngram-min", "2"});
  ASSERT_TRUE(n.ok()) << n.error().message();
  const auto& g = std::get<SpecNgram>(n.value());
  EXPECT_EQ(g.n_draft, 8);
  EXPECT_EQ(g.ngram_min, 2);
  EXPECT_EQ(g.ngram_max, kDefaultNgramMax);
  EXPECT_TRUE(std::holds_alternative<SpecOff>(parse({"--spec-type", "none"}).value()));
}

TEST(SpecConfig, ContradictionsAreErrorsNamingTheFlags) {
  std::string e = error_of({"--spec-type", "none", "--mtp-head", "a.gguf"});
  EXPECT_TRUE(has(e, "--mtp-head a.gguf") && has(e, "--spec-type none")) << e;
  e = error_of({"--spec-type", "ngram", "-md", "a.gguf"});
  EXPECT_TRUE(has(e, "-md a.gguf") && has(e, "ngram")) << e;
  e = error_of({"--spec-type", "mtp"});
  EXPECT_TRUE(has(e, "--mtp-head")) << e;
  e = error_of({"--spec-type", "draft-mtp", "--spec-draft-model", ""});
  EXPECT_TRUE(has(e, "--mtp-head")) << e;
  e = error_of({"--mtp-head", "a.gguf", "--draft-block-size", "0"});
  EXPECT_TRUE(has(e, "--draft-block-size") && has(e, "[1, 32]") && has(e, "got 0")) << e;
  e = error_of({"--mtp-head", "a.gguf", "--spec-draft-n-max", "33"});
  EXPECT_TRUE(has(e, "--spec-draft-n-max") && has(e, "got 33")) << e;
  e = error_of({"--draft-block-size", "3"});
  EXPECT_TRUE(has(e, "--draft-block-size") && has(e, "no effect")) << e;
  e = error_of({"--mtp-head", "a.gguf", "--spec-ngram-max", "3"});
  EXPECT_TRUE(has(e, "--spec-ngram")) << e;
  e = error_of({"--spec-type", "ngram", "--spec-ngram-min", "5", "--spec-ngram-max", "3"});
  EXPECT_TRUE(has(e, "min <= max")) << e;
  e = error_of({"--spec-type", "medusa"});
  EXPECT_TRUE(has(e, "'medusa' is unknown")) << e;
  e = error_of({"--spec-type", "draft-eagle3"});
  EXPECT_TRUE(has(e, "not supported")) << e;
  e = error_of({"--spec-type", "ngram-mod,mtp"});
  EXPECT_TRUE(has(e, "chains")) << e;
  e = error_of({"--mtp-head", "a.gguf", "--draft-block-size", "x"});
  EXPECT_TRUE(has(e, "integer")) << e;
}

}  // namespace
}  // namespace specula::config
