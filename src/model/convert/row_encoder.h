// Encodes a tensor row by row into its GGUF type and streams it into a GgufStreamWriter: rows are produced
// as float32 by a caller-given function (read from safetensors, or random), converted with quant/'s
// reference codecs in parallel over the thread pool, and written in chunks of bounded size, so memory stays
// at one chunk whatever the tensor size. The bytes depend only on the row values, not on the thread count.
#pragma once

#include <cstdint>
#include <functional>

#include "base/result.h"
#include "base/thread_pool.h"
#include "format/ggml_type.h"
#include "model/convert/gguf_stream_writer.h"

namespace specula::model {

// Fills out[0..cols) with row `row` of the tensor. Called concurrently from several threads (with
// different rows); must not fail (validate the source before encoding).
using RowSource = std::function<void(int64_t row, float* out)>;

// Writes rows x cols values of `type` (cols a multiple of the type's block size, checked by the writer's
// declaration) to w. chunk_bytes bounds the encoded bytes held at once.
Status encode_rows(GgufStreamWriter& w, ThreadPool& pool, format::GgmlType type, int64_t cols, int64_t rows,
                   const RowSource& source, size_t chunk_bytes = size_t{64} << 20);

// Fills out[0..row_bytes) with the encoded bytes of row `row`. Called concurrently (different rows).
using EncodedRowSource = std::function<void(int64_t row, uint8_t* out)>;

// As encode_rows, for a source that produces encoded bytes directly.
Status write_encoded_rows(GgufStreamWriter& w, ThreadPool& pool, size_t row_bytes, int64_t rows,
                          const EncodedRowSource& source, size_t chunk_bytes = size_t{64} << 20);

}  // namespace specula::model
