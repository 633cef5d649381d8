#include <algorithm>
#include <cstdio>

#include "subcommand.h"

namespace specula::tools {
namespace {
std::vector<Subcommand>& registry() {
  static std::vector<Subcommand> commands;
  return commands;
}
}  // namespace

SubcommandRegistrar::SubcommandRegistrar(const Subcommand& cmd) { registry().push_back(cmd); }

std::vector<Subcommand> subcommands() {
  auto commands = registry();
  std::sort(commands.begin(), commands.end(), [](const Subcommand& a, const Subcommand& b) { return a.order < b.order; });
  return commands;
}

int fail(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "specula %s: %s\n", command.c_str(), message.c_str());
  return 1;
}

}  // namespace specula::tools
