// Fills a KernelTable with the SIMD kernels of the including translation unit (simd_vec_impl.h and
// quant_dot_impl.h). Included by isa_avx2.cpp / isa_avx512.cpp outside their target region, inside an
// anonymous namespace: building the table must not execute ISA-specific instructions. No include guard.

KernelTable make_simd_table(Isa isa, const char* name) {
  using format::GgmlType;
  KernelTable t;
  t.isa = isa;
  t.name = name;
  auto set = [&t](GgmlType type, TileFn fn, ActKind act) {
    t.tile[static_cast<size_t>(type)] = fn;
    t.act[static_cast<size_t>(type)] = act;
  };
  set(GgmlType::kF32, &tile_float<LoadF32>, ActKind::kF32);
  set(GgmlType::kF16, &tile_float<LoadF16>, ActKind::kF32);
  set(GgmlType::kBF16, &tile_float<LoadBF16>, ActKind::kF32);
  set(GgmlType::kQ8_0, &tile_quant<K32<FmtQ8_0>>, ActKind::kQ8x32);
  set(GgmlType::kQ4_0, &tile_quant<K32<FmtQ4_0>>, ActKind::kQ8x32);
  set(GgmlType::kQ4_1, &tile_quant<K32<FmtQ4_1>>, ActKind::kQ8x32);
  set(GgmlType::kQ5_0, &tile_quant<K32<FmtQ5_0>>, ActKind::kQ8x32);
  set(GgmlType::kQ5_1, &tile_quant<K32<FmtQ5_1>>, ActKind::kQ8x32);
  set(GgmlType::kIQ4_NL, &tile_quant<K32<FmtIq4Nl>>, ActKind::kQ8x32);
  set(GgmlType::kQ4_K, &tile_quant<KQ45<false>>, ActKind::kQ8x256);
  set(GgmlType::kQ5_K, &tile_quant<KQ45<true>>, ActKind::kQ8x256);
  set(GgmlType::kQ6_K, &tile_quant<KQ6>, ActKind::kQ8x256);
  set(GgmlType::kQ8_K, &tile_quant<KQ8K>, ActKind::kQ8x256);
  t.quantize_act32 = &q_quantize_act32;
  t.quantize_act256 = &q_quantize_act256;
  t.f16_to_f32 = &v_f16_to_f32;
  t.bf16_to_f32 = &v_bf16_to_f32;
  t.rms_norm_row = &v_rms_norm_row;
  t.softmax_row = &v_softmax_row;
  t.gelu_tanh = &v_gelu_tanh;
  t.silu = &v_silu;
  t.gelu_tanh_mul = &v_gelu_tanh_mul;
  t.silu_mul = &v_silu_mul;
  return t;
}
