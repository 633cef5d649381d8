// SpecStats: acceptance counters of the speculative loop.
#include <fmt/format.h>

#include "runtime/speculative.h"

namespace specula::runtime {

void SpecStats::add(int sequence, int drafted, int accepted, bool record) {
  ++n_rounds;
  n_drafted += drafted;
  n_accepted += accepted;
  const size_t n = static_cast<size_t>(drafted);
  if (drafted_at.size() < n) {
    drafted_at.resize(n, 0);
    accepted_at.resize(n, 0);
  }
  for (size_t i = 0; i < n; ++i) ++drafted_at[i];
  for (size_t i = 0; i < static_cast<size_t>(accepted); ++i) ++accepted_at[i];
  if (record) rounds.push_back({sequence, drafted, accepted});
}

double SpecStats::acceptance() const {
  return n_drafted > 0 ? static_cast<double>(n_accepted) / static_cast<double>(n_drafted) : 0.0;
}

double SpecStats::mean_accepted() const {
  return n_rounds > 0 ? static_cast<double>(n_accepted) / static_cast<double>(n_rounds) : 0.0;
}

std::string SpecStats::summary() const {
  std::string s = fmt::format("speculation: {} rounds, {} drafted, {} accepted ({:.1f}%), {:.2f} accepted per round, "
                              "{:.2f} tokens per target pass\n", n_rounds, n_drafted, n_accepted, 100.0 * acceptance(),
                              mean_accepted(), n_rounds > 0 ? 1.0 + mean_accepted() : 0.0);
  if (!drafted_at.empty()) {
    s += "acceptance by draft position:";
    for (size_t i = 0; i < drafted_at.size(); ++i) {
      const double rate = drafted_at[i] > 0 ? static_cast<double>(accepted_at[i]) / static_cast<double>(drafted_at[i]) : 0.0;
      s += fmt::format(" {}:{:.1f}% ({}/{})", i + 1, 100.0 * rate, accepted_at[i], drafted_at[i]);
    }
    s += "\n";
  }
  return s;
}

}  // namespace specula::runtime
