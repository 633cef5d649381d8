// kv::ref::packed_attention: the oracle for the packed-cache attention kernel.
#include <algorithm>
#include <cmath>
#include <vector>

#include "base/check.h"
#include "kv/attention.h"

namespace specula::kv::ref {

void packed_attention(const PackedSlot& slot, int n_heads, const PackedRows& rows, const float* q, float scale,
                      float* out) {
  const KvCodec& kc = *slot.k_codec;
  const KvCodec& vc = *slot.v_codec;
  const int d = kc.head_dim();
  const int group = n_heads / slot.n_kv_heads;
  std::vector<float> qr(static_cast<size_t>(d)), kbuf(static_cast<size_t>(d)), vbuf(static_cast<size_t>(d));
  std::vector<double> scores, acc(static_cast<size_t>(d));
  for (size_t r = 0; r < rows.n_rows(); ++r) {
    for (int h = 0; h < n_heads; ++h) {
      const size_t off = (r * static_cast<size_t>(n_heads) + static_cast<size_t>(h)) * static_cast<size_t>(d);
      const size_t kh = static_cast<size_t>(h / group);
      std::copy(q + off, q + off + d, qr.begin());
      kc.to_storage(qr.data());
      scores.clear();
      for (uint32_t i = rows.run_begin[r]; i < rows.run_begin[r + 1]; ++i) {
        const KvRun& run = rows.runs[i];
        const KvCodec& rkc = run.recent ? *slot.k_recent : kc;
        const size_t stride = run.recent ? slot.recent_stride : slot.k_stride;
        const float* shift = run.raw && rows.shift(r) != nullptr ? rows.shift(r) + kh * static_cast<size_t>(d) : nullptr;
        for (int e = 0; e < run.n; ++e) {
          rkc.decode(run.k + static_cast<size_t>(e) * stride + kh * rkc.head_bytes(), kbuf.data());
          double s = 0;
          for (int j = 0; j < d; ++j) {
            const double k = static_cast<double>(kbuf[static_cast<size_t>(j)]) - (shift ? static_cast<double>(shift[j]) : 0.0);
            s += static_cast<double>(qr[static_cast<size_t>(j)]) * k;
          }
          scores.push_back(s * static_cast<double>(scale));
        }
      }
      SPECULA_CHECK(!scores.empty(), "attention row {} sees no entries", r);
      const double m = *std::max_element(scores.begin(), scores.end());
      double sum = 0;
      for (double& s : scores) sum += (s = std::exp(s - m));
      std::fill(acc.begin(), acc.end(), 0.0);
      size_t t = 0;
      for (uint32_t i = rows.run_begin[r]; i < rows.run_begin[r + 1]; ++i) {
        const KvRun& run = rows.runs[i];
        const KvCodec& rvc = run.recent ? *slot.v_recent : vc;
        const size_t stride = run.recent ? slot.recent_stride : slot.v_stride;
        for (int e = 0; e < run.n; ++e, ++t) {
          rvc.decode(run.v + static_cast<size_t>(e) * stride + kh * rvc.head_bytes(), vbuf.data());
          const double p = scores[t] / sum;
          for (int j = 0; j < d; ++j) acc[static_cast<size_t>(j)] += p * static_cast<double>(vbuf[static_cast<size_t>(j)]);
        }
      }
      for (int j = 0; j < d; ++j) out[off + static_cast<size_t>(j)] = static_cast<float>(acc[static_cast<size_t>(j)]);
      vc.to_original(out + off);
    }
  }
}

}  // namespace specula::kv::ref
