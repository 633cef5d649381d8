// specula: one binary, one subcommand per task (ARCHITECTURE.md §1).
#include <cstdio>
#include <cstring>
#include <string>

#include "subcommand.h"

namespace {

void print_usage() {
  std::printf("specula — Gemma 4 inference engine and OpenAI-compatible server\n\n");
  std::printf("usage: specula <command> [options]   (specula <command> --help for its options)\n\ncommands:\n");
  for (const auto& cmd : specula::tools::subcommands()) std::printf("  %-12s %s\n", cmd.name, cmd.summary);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  for (const auto& cmd : specula::tools::subcommands()) {
    if (name == cmd.name) return cmd.run(specula::tools::Args(argv + 2, argv + argc));
  }
  std::fprintf(stderr, "specula: unknown command '%s' (see specula --help)\n", name.c_str());
  return 2;
}
