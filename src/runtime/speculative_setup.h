// What a validated speculation config needs at run time: the MTP assistant (loaded and checked against the
// target) or the n-gram matcher, behind one DraftSource, plus the draft size. "Is speculation on?" is answered
// by the config variant alone; this is built only for SpecMtp / SpecNgram.
#pragma once

#include <memory>

#include "base/result.h"
#include "config/speculative.h"
#include "model/mtp/mtp_drafter.h"
#include "model/text/text_model.h"
#include "runtime/speculative_drafter.h"

namespace specula::runtime {

class Speculator {
 public:
  // Errors: SpecOff (nothing to build; a caller bug surfaced as kInvalidArgument), the drafter file's errors
  // (unreadable, not an assistant, incompatible with the target: both values named, prefixed by the path).
  static Result<std::unique_ptr<Speculator>> create(const config::SpecConfig& config, const model::TextModel& target);

  DraftSource& source() { return *source_; }
  int n_draft() const { return n_draft_; }
  // The loaded assistant for SpecMtp, nullptr for n-gram drafting.
  const model::MtpDrafter* drafter() const { return drafter_.get(); }

 private:
  Speculator() = default;

  std::unique_ptr<model::MtpDrafter> drafter_;  // SpecMtp only; outlives source_ (declared first)
  std::unique_ptr<DraftSource> source_;
  int n_draft_ = 0;
};

}  // namespace specula::runtime
