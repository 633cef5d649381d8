#include <cstdio>

#include "subcommand.h"

namespace specula::tools {

int cmd_info(const Args& args);

int fail(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "specula %s: %s\n", command.c_str(), message.c_str());
  return 1;
}

const std::vector<Subcommand>& subcommands() {
  static const std::vector<Subcommand> kCommands = {
      {"info", "print a GGUF file's architecture, metadata, tensors and tokenizer", cmd_info},
  };
  return kCommands;
}

}  // namespace specula::tools
