// Scalar reference codecs for the ggml weight formats: one dequantize and (where supported) one
// quantize per type. These are the format spec: SIMD/CUDA kernels must agree with them bit for bit.
// Quantizers follow llama.cpp's reference (non-imatrix) algorithms, so files written with them hold the
// bytes users get from llama.cpp's quantizer (compiled without floating-point contraction).
//
// Contracts for every row function: n is a multiple of the type's block size (checked); src and dst
// do not overlap; quantizer inputs are finite (non-finite input gives unspecified but memory-safe output).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "format/ggml_type.h"
#include "quant/blocks.h"

namespace specula::quant {

using format::GgmlType;

// Types dequantize_row understands: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K..Q8_K, IQ4_NL.
bool can_dequantize(GgmlType type);
// Types quantize_row can produce: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q4_K, Q5_K, Q6_K, Q8_K.
bool can_quantize(GgmlType type);
std::vector<GgmlType> quantizable_types();

// dst: n floats. type must satisfy can_dequantize (checked).
void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n);
// dst: ggml_row_bytes(type, n) bytes. type must satisfy can_quantize (checked).
void quantize_row(GgmlType type, const float* src, void* dst, int64_t n);

// A user-given weight type name ("q8_0", "Q4_K", "bf16", case-insensitive) that quantize_row supports.
Result<GgmlType> parse_weight_type(std::string_view name);

// Typed entry points (the kernels' activation quantizers are quantize_row_q8_0 and quantize_row_q8_k).
void quantize_row_f16(const float* x, uint16_t* y, int64_t n);   // IEEE binary16, round to nearest even
void quantize_row_bf16(const float* x, uint16_t* y, int64_t n);  // bfloat16, round to nearest even
void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t n);
void quantize_row_q4_1(const float* x, BlockQ4_1* y, int64_t n);
void quantize_row_q5_0(const float* x, BlockQ5_0* y, int64_t n);
void quantize_row_q5_1(const float* x, BlockQ5_1* y, int64_t n);
void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n);
void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n);
void quantize_row_q4_k(const float* x, BlockQ4_K* y, int64_t n);
void quantize_row_q5_k(const float* x, BlockQ5_K* y, int64_t n);
void quantize_row_q6_k(const float* x, BlockQ6_K* y, int64_t n);
void quantize_row_q8_k(const float* x, BlockQ8_K* y, int64_t n);

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n);
void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t n);
void dequantize_row_q5_0(const BlockQ5_0* x, float* y, int64_t n);
void dequantize_row_q5_1(const BlockQ5_1* x, float* y, int64_t n);
void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n);
void dequantize_row_q8_1(const BlockQ8_1* x, float* y, int64_t n);
void dequantize_row_q2_k(const BlockQ2_K* x, float* y, int64_t n);
void dequantize_row_q3_k(const BlockQ3_K* x, float* y, int64_t n);
void dequantize_row_q4_k(const BlockQ4_K* x, float* y, int64_t n);
void dequantize_row_q5_k(const BlockQ5_K* x, float* y, int64_t n);
void dequantize_row_q6_k(const BlockQ6_K* x, float* y, int64_t n);
void dequantize_row_q8_k(const BlockQ8_K* x, float* y, int64_t n);
void dequantize_row_iq4_nl(const BlockIQ4_NL* x, float* y, int64_t n);

}  // namespace specula::quant
