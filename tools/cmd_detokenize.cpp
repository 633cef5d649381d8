// specula detokenize -m M.gguf --ids "1 2 3": prints the text of a list of token ids.
#include <cstdio>
#include <string>
#include <vector>

#include "config/flags.h"
#include "format/gguf_reader.h"
#include "subcommand.h"
#include "tokenizer/tokenizer.h"

namespace specula::tools {
namespace {

// Ids separated by spaces and/or commas; anything else is an error naming the bad item.
Result<std::vector<tokenizer::TokenId>> parse_ids(const std::string& text) {
  std::vector<tokenizer::TokenId> ids;
  size_t pos = 0;
  while (pos < text.size()) {
    if (text[pos] == ' ' || text[pos] == ',' || text[pos] == '\t' || text[pos] == '\n') {
      ++pos;
      continue;
    }
    size_t end = pos;
    while (end < text.size() && text[end] != ' ' && text[end] != ',' && text[end] != '\t' && text[end] != '\n') ++end;
    const std::string item = text.substr(pos, end - pos);
    long long value = 0;
    size_t used = 0;
    bool ok = item.size() <= 11;
    if (ok) {
      try {
        value = std::stoll(item, &used);
      } catch (...) {
        ok = false;
      }
    }
    if (!ok || used != item.size() || value < 0 || value > INT32_MAX) {
      return make_error(ErrorCode::kInvalidArgument, "'{}' is not a token id (expected ids like \"2 9259 1902\")", item);
    }
    ids.push_back(static_cast<tokenizer::TokenId>(value));
    pos = end;
  }
  return ids;
}

}  // namespace

int cmd_detokenize(const Args& args) {
  config::FlagParser parser("detokenize", "-m MODEL.gguf --ids \"ID ID ...\" [options]");
  parser.add({{"-m", "--model"}, config::FlagKind::kValue, "GGUF file whose tokenizer to use", "", "FILE"});
  parser.add({{"--ids"}, config::FlagKind::kValue, "token ids separated by spaces or commas", "", "IDS"});
  parser.add({{"--render-special"}, config::FlagKind::kSwitch, "print control tokens such as <bos> as text", ""});
  if (config::FlagParser::help_requested(args)) {
    std::printf("%s", parser.help().c_str());
    return 0;
  }
  auto flags = parser.parse(args);
  if (!flags.ok()) return fail("detokenize", flags.error().message());
  const auto model = flags->get("--model");
  if (!model) return fail("detokenize", "missing -m MODEL.gguf");
  const auto ids_text = flags->get("--ids");
  if (!ids_text) return fail("detokenize", "missing --ids \"ID ID ...\"");
  auto ids = parse_ids(*ids_text);
  if (!ids.ok()) return fail("detokenize", ids.error().message());
  auto gguf = format::GgufFile::open(*model);
  if (!gguf.ok()) return fail("detokenize", gguf.error().message());
  auto tok = tokenizer::Tokenizer::from_gguf(gguf.value());
  if (!tok.ok()) return fail("detokenize", tok.error().message());
  tokenizer::DetokenizeOptions options;
  options.render_special = flags->has("--render-special");
  auto text = tok->detokenize(ids.value(), options);
  if (!text.ok()) return fail("detokenize", text.error().message());
  std::fwrite(text->data(), 1, text->size(), stdout);
  std::fputc('\n', stdout);
  return 0;
}

}  // namespace specula::tools

SPECULA_SUBCOMMAND(detokenize, 81, "print the text of a list of token ids", specula::tools::cmd_detokenize);
