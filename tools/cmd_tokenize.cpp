// specula tokenize -m M.gguf (-p TEXT | -f FILE): prints the token ids of a text with the model's tokenizer.
#include <cstdio>
#include <string>

#include "base/mapped_file.h"
#include "base/timer.h"
#include "config/flags.h"
#include "format/gguf_reader.h"
#include "subcommand.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace specula::tools {
namespace {

// A C-style quoted rendering of a piece: printable text as is, controls and ill-formed bytes as escapes.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  uint32_t cp = 0;
  for (size_t pos = 0; pos < s.size();) {
    const auto c = static_cast<unsigned char>(s[pos]);
    if (c >= 0x80) {
      const size_t n = tokenizer::utf8_decode(s, pos, &cp);
      if (n > 0) {
        out.append(s, pos, n);
        pos += n;
        continue;
      }
    }
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out += fmt::format("\\x{:02x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
    ++pos;
  }
  return out + "\"";
}

config::FlagParser make_parser() {
  config::FlagParser p("tokenize", "-m MODEL.gguf (-p TEXT | -f FILE) [options]");
  p.add({{"-m", "--model"}, config::FlagKind::kValue, "GGUF file whose tokenizer to use", "", "FILE"});
  p.add({{"-p", "--prompt"}, config::FlagKind::kValue, "text to tokenize", "", "TEXT"});
  p.add({{"-f", "--file"}, config::FlagKind::kValue, "read the text from a file (bytes as they are)", "", "FILE"});
  p.add({{"--no-bos"}, config::FlagKind::kSwitch, "do not add the BOS token the vocabulary asks for", ""});
  p.add({{"--no-parse-special"}, config::FlagKind::kSwitch,
         "treat special-token text such as <|turn> as plain characters", ""});
  p.add({{"--pieces"}, config::FlagKind::kSwitch, "print one token per line: id and its text", ""});
  p.add({{"--stats"}, config::FlagKind::kSwitch, "print timing and throughput (one thread) to stderr", ""});
  return p;
}

}  // namespace

int cmd_tokenize(const Args& args) {
  const config::FlagParser parser = make_parser();
  if (config::FlagParser::help_requested(args)) {
    std::printf("%s", parser.help().c_str());
    return 0;
  }
  auto flags = parser.parse(args);
  if (!flags.ok()) return fail("tokenize", flags.error().message());
  const auto model = flags->get("--model");
  if (!model) return fail("tokenize", "missing -m MODEL.gguf");
  const auto prompt = flags->get("--prompt");
  const auto file = flags->get("--file");
  if (prompt.has_value() == file.has_value()) return fail("tokenize", "give exactly one of -p TEXT or -f FILE");
  std::string text;
  if (file) {
    auto content = read_file(*file);
    if (!content.ok()) return fail("tokenize", content.error().message());
    text = std::move(content).value();
  } else {
    text = *prompt;
  }
  Timer load_timer;
  auto gguf = format::GgufFile::open(*model);
  if (!gguf.ok()) return fail("tokenize", gguf.error().message());
  auto tok = tokenizer::Tokenizer::from_gguf(gguf.value());
  if (!tok.ok()) return fail("tokenize", tok.error().message());
  const double load_ms = load_timer.elapsed_ms();

  tokenizer::TokenizeOptions options;
  options.add_special = !flags->has("--no-bos");
  options.parse_special = !flags->has("--no-parse-special");
  Timer timer;
  auto ids = tok->tokenize(text, options);
  const double tokenize_s = timer.elapsed_s();
  if (!ids.ok()) return fail("tokenize", ids.error().message());

  std::string out;
  if (flags->has("--pieces")) {
    for (const auto id : ids.value()) out += fmt::format("{} {}\n", id, quoted(tok->token_to_piece(id, true).value()));
  } else {
    for (size_t i = 0; i < ids->size(); ++i) out += fmt::format("{}{}", i == 0 ? "" : " ", (*ids)[i]);
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (flags->has("--stats")) {
    std::fprintf(stderr, "tokenize: %zu bytes -> %zu tokens in %.1f ms (%.2f MB/s, 1 thread); vocab load %.1f ms\n",
                 text.size(), ids->size(), tokenize_s * 1e3, static_cast<double>(text.size()) / 1e6 / tokenize_s,
                 load_ms);
  }
  return 0;
}

}  // namespace specula::tools

SPECULA_SUBCOMMAND(tokenize, 80, "print the token ids of a text (the model's tokenizer)", specula::tools::cmd_tokenize);
