// Speculative decoding mode as a validated sum type (ARCHITECTURE.md §3 rule 1): off, the Gemma 4 MTP assistant
// (its GGUF path lives inside SpecMtp, so "speculation off with a drafter path" cannot be expressed), or n-gram
// prompt lookup. Built from the command line (llama-server spellings included) by one function.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "base/result.h"
#include "config/flags.h"

namespace specula::config {

inline constexpr int kDefaultDraftTokens = 3;
inline constexpr int kMaxDraftTokens = 32;
inline constexpr int kDefaultNgramMin = 1;
inline constexpr int kDefaultNgramMax = 4;
inline constexpr int kMaxNgram = 16;

struct SpecOff {};

struct SpecMtp {
  std::string drafter_path;          // the gemma4-assistant GGUF (--mtp-head)
  int n_draft = kDefaultDraftTokens; // drafts per round
};

struct SpecNgram {
  int n_draft = kDefaultDraftTokens;
  int ngram_min = kDefaultNgramMin;  // shortest suffix that may match
  int ngram_max = kDefaultNgramMax;  // longest suffix tried first
};

using SpecConfig = std::variant<SpecOff, SpecMtp, SpecNgram>;

// Raw values as given; `spelled_*` is the flag as the user typed it (for messages).
struct SpecFlags {
  std::optional<std::string> spec_type;
  std::optional<std::string> drafter_path;
  std::optional<long long> n_draft;
  std::optional<long long> ngram_min, ngram_max;
  std::string spelled_type = "--spec-type", spelled_drafter = "--mtp-head", spelled_n_draft = "--draft-block-size";
};

// Validates: --spec-type none|mtp|ngram (also draft-mtp, ngram-simple, off); --mtp-head alone implies mtp.
// Errors (kInvalidArgument) name the flags: a drafter path with none/ngram, mtp without a drafter, a draft size
// outside [1, 32], a draft size or n-gram sizes where they have no effect, unknown or unsupported types.
Result<SpecConfig> make_spec_config(const SpecFlags& flags);

// The flags of make_spec_config for a subcommand's parser, and reading them back.
void add_spec_flags(FlagParser& parser);
Result<SpecConfig> spec_config_from_flags(const FlagValues& values);

// Drafts per round (0 when off): a cache must take 1 + this many rows of one sequence per batch.
int draft_tokens(const SpecConfig& config);

// "off", "mtp (assistant.gguf, 3 drafts)", "ngram (3 drafts, n-gram 1..4)": for startup logs.
std::string describe(const SpecConfig& config);

}  // namespace specula::config
