#include "kv/codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/check.h"
#include "base/half.h"
#include "quant/quant.h"

namespace specula::kv {

Result<KvCodec> KvCodec::create(KvType type, int head_dim, uint64_t seed, const std::string& what) {
  if (Status st = check_head_dim(type, head_dim); !st.ok()) {
    return make_error(ErrorCode::kUnsupported, "{}: cache type {}: {}", what, kv_type_name(type), st.error().message());
  }
  KvCodec c;
  c.type_ = type;
  c.head_dim_ = head_dim;
  c.head_bytes_ = kv::head_bytes(type, head_dim);
  if (is_turbo(type)) {
    c.group_ = turbo_group(head_dim);
    c.codebook_ = &lloyd_max_codebook(turbo_bits(type), c.group_);
    c.rotation_ = Rotation(head_dim, c.group_, seed);
  }
  return c;
}

int turbo_index(int bits, int group, const uint8_t* block, int j) {
  const uint8_t* qs = block + 2;
  switch (bits) {
    case 4: return (qs[j / 2] >> (4 * (j % 2))) & 0xf;
    case 3: return ((qs[j / 4] >> (2 * (j % 4))) & 3) | (((qs[group / 4 + j / 8] >> (j % 8)) & 1) << 2);
    default: return (qs[j / 4] >> (2 * (j % 4))) & 3;
  }
}

void KvCodec::encode(const float* x, uint8_t* dst) const {
  const int64_t d = head_dim_;
  switch (type_) {
    case KvType::kF32: std::memcpy(dst, x, static_cast<size_t>(d) * sizeof(float)); return;
    case KvType::kF16: {
      for (int64_t i = 0; i < d; ++i) {
        const uint16_t h = fp32_to_fp16(x[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    }
    case KvType::kBF16: {
      for (int64_t i = 0; i < d; ++i) {
        const uint16_t h = fp32_to_bf16(x[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    }
    case KvType::kQ8_0: quant::quantize_row_q8_0(x, reinterpret_cast<quant::BlockQ8_0*>(dst), d); return;
    case KvType::kQ4_0: quant::quantize_row_q4_0(x, reinterpret_cast<quant::BlockQ4_0*>(dst), d); return;
    default: encode_turbo(x, dst); return;
  }
}

void KvCodec::decode(const uint8_t* src, float* out) const {
  const int64_t d = head_dim_;
  switch (type_) {
    case KvType::kF32: std::memcpy(out, src, static_cast<size_t>(d) * sizeof(float)); return;
    case KvType::kF16:
    case KvType::kBF16: {
      for (int64_t i = 0; i < d; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = type_ == KvType::kF16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
      }
      return;
    }
    case KvType::kQ8_0: quant::dequantize_row_q8_0(reinterpret_cast<const quant::BlockQ8_0*>(src), out, d); return;
    case KvType::kQ4_0: quant::dequantize_row_q4_0(reinterpret_cast<const quant::BlockQ4_0*>(src), out, d); return;
    default: decode_turbo(src, out); return;
  }
}

void KvCodec::decode_original(const uint8_t* src, float* out) const {
  decode(src, out);
  to_original(out);
}

void KvCodec::to_storage(float* x) const {
  if (rotated()) rotation_.forward(x);
}

void KvCodec::to_original(float* x) const {
  if (rotated()) rotation_.inverse(x);
}

// turboquant.md §6.1 steps 1-5, one group at a time on the rotated vector.
void KvCodec::encode_turbo(const float* x, uint8_t* dst) const {
  const int g_size = group_;
  const int bits = codebook_->bits;
  const int n_thr = codebook_->n_levels - 1;
  const size_t block_bytes = head_bytes_ / static_cast<size_t>(head_dim_ / g_size);
  // The rotated copy: on the stack for the head dims models use (<= 512), so writes do not allocate.
  float stack[512];
  std::vector<float> heap;
  float* y = stack;
  if (head_dim_ > 512) {
    heap.resize(static_cast<size_t>(head_dim_));
    y = heap.data();
  }
  std::copy(x, x + head_dim_, y);
  rotation_.forward(y);
  for (int g0 = 0; g0 < head_dim_; g0 += g_size) {
    uint8_t* block = dst + static_cast<size_t>(g0 / g_size) * block_bytes;
    std::memset(block, 0, block_bytes);
    double sum_sq = 0;
    for (int j = 0; j < g_size; ++j) sum_sq += static_cast<double>(x[g0 + j]) * static_cast<double>(x[g0 + j]);
    const float n = static_cast<float>(std::sqrt(sum_sq));
    if (!(n >= 1e-20f)) continue;  // zero (or non-finite) group: norm 0, indices 0
    const float inv = 1.0f / n;
    uint8_t* qs = block + 2;
    double c_sq = 0;
    for (int j = 0; j < g_size; ++j) {
      const float u = y[g0 + j] * inv;
      int idx = 0;
      for (int k = 0; k < n_thr; ++k) idx += u > codebook_->thresholds[static_cast<size_t>(k)] ? 1 : 0;
      const double c = codebook_->centroids[static_cast<size_t>(idx)];
      c_sq += c * c;
      if (bits == 4) {
        qs[j / 2] = static_cast<uint8_t>(qs[j / 2] | (idx << (4 * (j % 2))));
      } else {
        qs[j / 4] = static_cast<uint8_t>(qs[j / 4] | ((idx & 3) << (2 * (j % 4))));
        if (bits == 3) qs[g_size / 4 + j / 8] = static_cast<uint8_t>(qs[g_size / 4 + j / 8] | ((idx >> 2) << (j % 8)));
      }
    }
    const uint16_t norm = fp32_to_fp16(static_cast<float>(static_cast<double>(n) / std::sqrt(c_sq)));
    std::memcpy(block, &norm, 2);
  }
}

void KvCodec::decode_turbo(const uint8_t* src, float* out) const {
  const int g_size = group_;
  const size_t block_bytes = head_bytes_ / static_cast<size_t>(head_dim_ / g_size);
  for (int g0 = 0; g0 < head_dim_; g0 += g_size) {
    const uint8_t* block = src + static_cast<size_t>(g0 / g_size) * block_bytes;
    uint16_t h;
    std::memcpy(&h, block, 2);
    const float norm = fp16_to_fp32(h);
    for (int j = 0; j < g_size; ++j) {
      out[g0 + j] = codebook_->centroids[static_cast<size_t>(turbo_index(codebook_->bits, g_size, block, j))] * norm;
    }
  }
}

}  // namespace specula::kv
