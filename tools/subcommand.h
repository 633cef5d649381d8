// Subcommand registry of the `specula` binary. Each subcommand lives in its own tools/cmd_<name>.cpp and
// registers itself with SPECULA_SUBCOMMAND, so adding a command touches no shared file. A subcommand
// returns the process exit code: 0 on success, 1 on a user error (message already printed), 2 on usage.
#pragma once

#include <string>
#include <vector>

namespace specula::tools {

using Args = std::vector<std::string>;  // arguments after the subcommand name

struct Subcommand {
  const char* name;
  const char* summary;
  int order;  // position in `specula --help`
  int (*run)(const Args& args);
};

// All registered subcommands, sorted by order.
std::vector<Subcommand> subcommands();

struct SubcommandRegistrar {
  explicit SubcommandRegistrar(const Subcommand& cmd);
};

// Prints "specula <cmd>: <message>" to stderr and returns 1.
int fail(const std::string& command, const std::string& message);

}  // namespace specula::tools

#define SPECULA_SUBCOMMAND(name, order, summary, fn) \
  static const ::specula::tools::SubcommandRegistrar specula_registrar_##name({#name, summary, order, fn})
