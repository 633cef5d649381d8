// A small declarative command-line parser. llama-server's flags include multi-letter single-dash names
// (-ctk, -np, -ub), which common parsers split into letters, so specula parses argv itself:
// every flag is declared with all its spellings, its help text and its default; anything undeclared is an
// error naming the flag. Parsing produces raw strings only; typed validation happens in the config
// builders that consume a FlagValues.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace specula::config {

enum class FlagKind { kValue, kSwitch, kRepeated };

struct FlagSpec {
  std::vector<std::string> names;  // e.g. {"-ctk", "--cache-type-k"}; the first long name is canonical
  FlagKind kind = FlagKind::kValue;
  std::string help;
  std::string default_text;  // shown by --help; empty when there is no default
  std::string metavar = "N";
};

// Parsed flags keyed by canonical name (the longest spelling).
class FlagValues {
 public:
  bool has(const std::string& name) const;
  std::optional<std::string> get(const std::string& name) const;  // last value
  std::vector<std::string> all(const std::string& name) const;   // every value of a repeated flag
  const std::vector<std::string>& positionals() const { return positionals_; }
  // The spelling the user typed for a canonical name (for messages such as "-ctk ... conflicts with ...").
  std::string spelled(const std::string& name) const;

  // Typed getters: an unparsable value is an error naming the flag.
  Result<std::optional<long long>> get_int(const std::string& name, long long min, long long max) const;
  Result<std::optional<double>> get_double(const std::string& name, double min, double max) const;

 private:
  friend class FlagParser;
  std::map<std::string, std::vector<std::string>> values_;
  std::map<std::string, std::string> spelled_;
  std::vector<std::string> positionals_;
};

class FlagParser {
 public:
  FlagParser(std::string command, std::string usage) : command_(std::move(command)), usage_(std::move(usage)) {}

  FlagParser& add(FlagSpec spec);
  // Positionals are allowed only when max_positionals > 0.
  FlagParser& allow_positionals(int max_positionals, std::string metavar);

  // Parses args. "--help"/"-h" is reported through help_requested(). Errors: unknown flag, missing value,
  // too many positionals.
  Result<FlagValues> parse(const std::vector<std::string>& args) const;
  std::string help() const;
  static bool help_requested(const std::vector<std::string>& args);

 private:
  static std::string canonical(const FlagSpec& spec);
  const FlagSpec* find(const std::string& name) const;

  std::string command_;
  std::string usage_;
  std::vector<FlagSpec> specs_;
  int max_positionals_ = 0;
  std::string positional_metavar_;
};

}  // namespace specula::config
