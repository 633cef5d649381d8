// Subcommand registry of the `specula` binary. Each subcommand lives in tools/cmd_<name>.cpp and
// returns the process exit code: 0 on success, 1 on a user error (message already printed), 2 on usage.
#pragma once

#include <string>
#include <vector>

namespace specula::tools {

using Args = std::vector<std::string>;  // arguments after the subcommand name

struct Subcommand {
  const char* name;
  const char* summary;
  int (*run)(const Args& args);
};

// All subcommands, in the order `specula --help` lists them.
const std::vector<Subcommand>& subcommands();

// Prints "specula <cmd>: <message>" to stderr and returns 1.
int fail(const std::string& command, const std::string& message);

}  // namespace specula::tools
