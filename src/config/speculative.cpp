#include "config/speculative.h"

#include <fmt/format.h>

namespace specula::config {
namespace {

enum class SpecKind { kOff, kMtp, kNgram };

// Accepted --spec-type spellings (specula's and llama-server's).
Result<SpecKind> parse_kind(const std::string& v, const std::string& flag) {
  if (v == "none" || v == "off") return SpecKind::kOff;
  if (v == "mtp" || v == "draft-mtp") return SpecKind::kMtp;
  if (v == "ngram" || v == "ngram-simple") return SpecKind::kNgram;
  if (v.find(',') != std::string::npos) {
    return make_error(ErrorCode::kUnsupported, "{} {}: chains of speculators are not supported; give one of none, mtp, "
                      "ngram", flag, v);
  }
  for (const char* known : {"draft-simple", "draft-eagle3", "draft-dflash", "draft-dspark", "ngram-map-k",
                            "ngram-map-k4v", "ngram-mod", "ngram-cache"}) {
    if (v == known) {
      return make_error(ErrorCode::kUnsupported, "{} {} is not supported by specula; use mtp (with --mtp-head) or ngram",
                        flag, v);
    }
  }
  return make_error(ErrorCode::kInvalidArgument, "{} '{}' is unknown; choose none, mtp (alias draft-mtp) or ngram "
                    "(alias ngram-simple)", flag, v);
}

Result<int> draft_count(const SpecFlags& f) {
  const long long n = f.n_draft.value_or(kDefaultDraftTokens);
  if (n < 1 || n > kMaxDraftTokens) {
    return make_error(ErrorCode::kInvalidArgument, "{} must be in [1, {}], got {}", f.spelled_n_draft, kMaxDraftTokens, n);
  }
  return static_cast<int>(n);
}

Result<SpecConfig> make_ngram(const SpecFlags& f) {
  SpecNgram c;
  SPECULA_TRY(c.n_draft, draft_count(f));
  const long long lo = f.ngram_min.value_or(kDefaultNgramMin);
  const long long hi = f.ngram_max.value_or(std::max<long long>(kDefaultNgramMax, lo));
  if (lo < 1 || hi > kMaxNgram || lo > hi) {
    return make_error(ErrorCode::kInvalidArgument, "--spec-ngram-min {} / --spec-ngram-max {} must satisfy 1 <= min <= "
                      "max <= {}", lo, hi, kMaxNgram);
  }
  c.ngram_min = static_cast<int>(lo);
  c.ngram_max = static_cast<int>(hi);
  return SpecConfig(c);
}

}  // namespace

Result<SpecConfig> make_spec_config(const SpecFlags& f) {
  SpecKind kind = f.drafter_path ? SpecKind::kMtp : SpecKind::kOff;  // --mtp-head alone implies mtp
  if (f.spec_type) {
    SPECULA_TRY(kind, parse_kind(*f.spec_type, f.spelled_type));
  }
  const bool ngram_sizes = f.ngram_min.has_value() || f.ngram_max.has_value();
  if (ngram_sizes && kind != SpecKind::kNgram) {
    return make_error(ErrorCode::kInvalidArgument, "--spec-ngram-min/--spec-ngram-max need {} ngram", f.spelled_type);
  }
  switch (kind) {
    case SpecKind::kOff:
      if (f.drafter_path) {
        return make_error(ErrorCode::kInvalidArgument, "{} {} conflicts with {} {}: drop {} or use {} mtp",
                          f.spelled_drafter, *f.drafter_path, f.spelled_type, *f.spec_type, f.spelled_drafter,
                          f.spelled_type);
      }
      if (f.n_draft) {
        return make_error(ErrorCode::kInvalidArgument, "{} has no effect without speculation; add {} mtp (with "
                          "--mtp-head) or {} ngram", f.spelled_n_draft, f.spelled_type, f.spelled_type);
      }
      return SpecConfig(SpecOff{});
    case SpecKind::kMtp: {
      if (!f.drafter_path || f.drafter_path->empty()) {
        return make_error(ErrorCode::kInvalidArgument, "{} {} needs the assistant drafter: add --mtp-head ASSISTANT.gguf",
                          f.spelled_type, f.spec_type.value_or("mtp"));
      }
      SpecMtp c;
      c.drafter_path = *f.drafter_path;
      SPECULA_TRY(c.n_draft, draft_count(f));
      return SpecConfig(c);
    }
    case SpecKind::kNgram:
      if (f.drafter_path) {
        return make_error(ErrorCode::kInvalidArgument, "{} {} conflicts with {} {}: n-gram drafting uses no model",
                          f.spelled_drafter, *f.drafter_path, f.spelled_type, *f.spec_type);
      }
      return make_ngram(f);
  }
  return SpecConfig(SpecOff{});
}

void add_spec_flags(FlagParser& p) {
  p.add({{"--spec-type"}, FlagKind::kValue,
         "speculative decoding: none, mtp (alias draft-mtp; needs --mtp-head) or ngram (prompt lookup, alias "
         "ngram-simple)", "none, or mtp when --mtp-head is given", "TYPE"});
  p.add({{"--mtp-head", "-md", "--model-draft", "--spec-draft-model"}, FlagKind::kValue,
         "Gemma 4 MTP assistant GGUF (gemma4-assistant); implies --spec-type mtp", "", "FILE"});
  p.add({{"--draft-block-size", "--spec-draft-n-max", "--draft-max", "--draft"}, FlagKind::kValue,
         "tokens drafted per round (the target verifies N + 1 per pass), 1-32", std::to_string(kDefaultDraftTokens)});
  p.add({{"--spec-ngram-min"}, FlagKind::kValue, "shortest suffix an n-gram draft may match", "1"});
  p.add({{"--spec-ngram-max"}, FlagKind::kValue, "longest suffix an n-gram draft tries first", "4"});
}

Result<SpecConfig> spec_config_from_flags(const FlagValues& v) {
  SpecFlags f;
  f.spec_type = v.get("--spec-type");
  f.drafter_path = v.get("--spec-draft-model");
  SPECULA_TRY(f.n_draft, v.get_int("--draft-block-size", -(1LL << 40), 1LL << 40));
  SPECULA_TRY(f.ngram_min, v.get_int("--spec-ngram-min", -(1LL << 40), 1LL << 40));
  SPECULA_TRY(f.ngram_max, v.get_int("--spec-ngram-max", -(1LL << 40), 1LL << 40));
  if (v.has("--spec-type")) f.spelled_type = v.spelled("--spec-type");
  if (v.has("--spec-draft-model")) f.spelled_drafter = v.spelled("--spec-draft-model");
  if (v.has("--draft-block-size")) f.spelled_n_draft = v.spelled("--draft-block-size");
  return make_spec_config(f);
}

int draft_tokens(const SpecConfig& config) {
  if (const auto* m = std::get_if<SpecMtp>(&config)) return m->n_draft;
  if (const auto* n = std::get_if<SpecNgram>(&config)) return n->n_draft;
  return 0;
}

std::string describe(const SpecConfig& config) {
  struct Visitor {
    std::string operator()(const SpecOff&) const { return "off"; }
    std::string operator()(const SpecMtp& m) const {
      return fmt::format("mtp ({}, {} drafts per round)", m.drafter_path, m.n_draft);
    }
    std::string operator()(const SpecNgram& n) const {
      return fmt::format("ngram ({} drafts per round, n-gram {}..{})", n.n_draft, n.ngram_min, n.ngram_max);
    }
  };
  return std::visit(Visitor{}, config);
}

}  // namespace specula::config
