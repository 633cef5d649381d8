// Shared helpers of the golden tests on tests/data/vision_fixtures (std_bidir: bidirectional image attention on
// sliding layers, W = 24; e_clip140: causal, 140-token budget): fixture paths, the text GGUF converted once per
// test process by specula's converter, the reference embeddings as ImageEmbeddings, and a chunked prefill that
// keeps image blocks whole the way the runtime does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/thread_pool.h"
#include "kv/kv_cache.h"
#include "model/text/text_model.h"
#include "runtime/multimodal.h"

namespace specula::test {

std::string vision_fixture(const std::string& name);  // tests/data/vision_fixtures/<name>
// The fixture's hf/ folder converted with convert_hf_model to an f32 text GGUF (once per process).
std::string converted_text_model(const std::string& name);
// The reference embeddings <image>.embeds.f32 of every image of prompt.json, in prompt order.
std::vector<runtime::ImageEmbedding> reference_embeddings(const std::string& name, const nlohmann::json& prompt);
std::vector<int32_t> read_i32(const std::string& path);

// Logits of every row [rows.size(), vocab], prefilled in chunks of `ubatch` made by runtime::prefill_chunk_end
// (image blocks of a bidirectional model stay whole). `chunks` gets each chunk's first position.
std::vector<float> chunked_logits(ThreadPool& pool, model::TextModel& m, kv::KvCache& cache,
                                  const std::vector<model::ForwardRow>& rows, int ubatch, std::vector<size_t>* chunks);

}  // namespace specula::test
