#include "runtime/speculative_setup.h"

#include "runtime/ngram_drafter.h"
#include "runtime/speculative_mtp.h"

namespace specula::runtime {

Result<std::unique_ptr<Speculator>> Speculator::create(const config::SpecConfig& config, const model::TextModel& target) {
  std::unique_ptr<Speculator> s(new Speculator());
  if (const auto* mtp = std::get_if<config::SpecMtp>(&config)) {
    SPECULA_TRY(s->drafter_, model::MtpDrafter::load(mtp->drafter_path, target));
    s->source_ = std::make_unique<MtpDraftSource>(*s->drafter_);
    s->n_draft_ = mtp->n_draft;
    return s;
  }
  if (const auto* ngram = std::get_if<config::SpecNgram>(&config)) {
    s->source_ = std::make_unique<NgramDraftSource>(ngram->ngram_min, ngram->ngram_max);
    s->n_draft_ = ngram->n_draft;
    return s;
  }
  return make_error(ErrorCode::kInvalidArgument, "speculation is off: there is no drafter to build");
}

}  // namespace specula::runtime
