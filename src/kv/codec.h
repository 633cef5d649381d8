// KV codecs: how one head vector (head_dim floats) of K or V is stored. The scalar encode/decode here are the
// format spec (the oracle); the attention kernels read the same bytes.
//
// Storage domain: f32/f16/bf16/q8_0/q4_0 decode to the original vector. Turbo types decode to the vector in
// the *rotated* domain (R x, see rotation.h): attention rotates queries into it (K) and rotates the weighted
// sum of V back once (V). Exact bytes per head vector: kv_type.h head_bytes(); layouts below.
//
// Turbo block per group of G = min(head_dim, 128) values (little-endian), j = coordinate in the rotated group:
//   turbo4: [fp16 norm][G/2 B: idx of j in byte j/2, low nibble for even j]                 (G=128: 66 B)
//   turbo3: [fp16 norm][G/4 B: low 2 bits of idx of j at byte j/4, bits 2(j%4)]
//           [G/8 B: bit 2 of idx of j at byte j/8, bit j%8]                                  (G=128: 50 B)
//   turbo2: [fp16 norm][G/4 B: idx of j at byte j/4, bits 2(j%4)]                           (G=128: 34 B)
// value_j = codebook[idx_j] · norm; norm = ‖x_group‖ / ‖codebook[idx]‖ (norm correction: the reconstruction
// has the input's norm). A group with ‖x‖ < 1e-20 stores norm 0 and indices 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/result.h"
#include "kv/codebook.h"
#include "kv/kv_type.h"
#include "kv/rotation.h"

namespace specula::kv {

class KvCodec {
 public:
  KvCodec() = default;
  // One codec per (layer, K or V). seed: the layer's rotation seed (layer_rotation_seed); K and V of a
  // layer get the same seed so that one rotated query serves both. Errors: head dims the type cannot
  // store (the message names `what`, e.g. "layer 3 K").
  static Result<KvCodec> create(KvType type, int head_dim, uint64_t seed, const std::string& what);

  KvType type() const { return type_; }
  int head_dim() const { return head_dim_; }
  size_t head_bytes() const { return head_bytes_; }
  bool rotated() const { return is_turbo(type_); }
  int group() const { return group_; }
  const Codebook* codebook() const { return codebook_; }  // turbo types only
  const Rotation& rotation() const { return rotation_; }

  // x: head_dim floats (finite) -> head_bytes() bytes at dst.
  void encode(const float* x, uint8_t* dst) const;
  // head_bytes() bytes -> head_dim floats in the storage domain.
  void decode(const uint8_t* src, float* out) const;
  // decode() followed by the inverse rotation: the original-domain vector.
  void decode_original(const uint8_t* src, float* out) const;
  // Original -> storage domain and back, in place on head_dim floats (identity for non-turbo types).
  void to_storage(float* x) const;
  void to_original(float* x) const;

 private:
  void encode_turbo(const float* x, uint8_t* dst) const;
  void decode_turbo(const uint8_t* src, float* out) const;

  KvType type_ = KvType::kF32;
  int head_dim_ = 0;
  int group_ = 0;
  size_t head_bytes_ = 0;
  const Codebook* codebook_ = nullptr;
  Rotation rotation_;
};

// Packing helpers shared by the scalar codec and its tests: index j of a turbo group (G values).
int turbo_index(int bits, int group, const uint8_t* block, int j);

}  // namespace specula::kv
