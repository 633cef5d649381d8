#include "vision_bidir_util.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "golden_util.h"
#include "model/convert/converter.h"
#include "runtime/generate.h"
#include "test_paths.h"

namespace specula::test {

std::string vision_fixture(const std::string& name) { return source_dir() + "/tests/data/vision_fixtures/" + name; }

std::string converted_text_model(const std::string& name) {
  static std::map<std::string, std::string> done;
  if (auto it = done.find(name); it != done.end()) return it->second;
  model::ConvertOptions o;
  o.hf_dir = vision_fixture(name) + "/hf";
  o.out_path = temp_dir() + "/" + name + "-f32.gguf";
  o.file_type = quant::FileType::kAllF32;
  ThreadPool pool(2);
  auto summary = model::convert_hf_model(o, pool);
  EXPECT_TRUE(summary.ok()) << (summary.ok() ? "" : summary.error().message());
  done[name] = o.out_path;
  return o.out_path;
}

std::vector<int32_t> read_i32(const std::string& path) {
  const auto f = read_f32(path);  // same byte count; reinterpret
  std::vector<int32_t> v(f.size());
  std::memcpy(v.data(), f.data(), f.size() * sizeof(float));
  return v;
}

std::vector<runtime::ImageEmbedding> reference_embeddings(const std::string& name, const nlohmann::json& prompt) {
  std::vector<runtime::ImageEmbedding> out;
  for (const auto& img : prompt.at("images")) {
    std::string stem = img.at("file").get<std::string>();
    stem = stem.substr(0, stem.rfind('.'));
    runtime::ImageEmbedding e;
    e.n_tokens = img.at("n_soft_tokens").get<int64_t>();
    e.embeds = read_f32(vision_fixture(name) + "/" + stem + ".embeds.f32");
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<float> chunked_logits(ThreadPool& pool, model::TextModel& m, kv::KvCache& cache,
                                  const std::vector<model::ForwardRow>& rows, int ubatch, std::vector<size_t>* chunks) {
  const size_t n = rows.size();
  const size_t vocab = static_cast<size_t>(m.vocab());
  std::vector<int32_t> block_ends;
  if (m.config().bidirectional_images) {
    for (const auto& r : rows) block_ends.push_back(r.block_end);
  }
  std::vector<float> logits(n * vocab);
  for (size_t begin = 0, end = 0; begin < n; begin = end) {
    end = runtime::prefill_chunk_end(block_ends, begin, n, ubatch);
    if (chunks != nullptr) chunks->push_back(begin);
    std::vector<int32_t> out_rows;
    for (size_t i = begin; i < end; ++i) out_rows.push_back(static_cast<int32_t>(i - begin));
    const std::span<const model::ForwardRow> chunk(rows.data() + begin, end - begin);
    const auto st = m.forward(pool, cache, chunk, {out_rows, logits.data() + begin * vocab, nullptr});
    EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message());
  }
  return logits;
}

}  // namespace specula::test
