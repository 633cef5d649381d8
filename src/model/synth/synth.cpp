#include "model/synth/synth.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "format/gguf_reader.h"
#include "model/convert/gguf_metadata.h"
#include "model/convert/gguf_stream_writer.h"
#include "model/convert/row_encoder.h"
#include "model/convert/tokenizer_keys.h"
#include "model/synth/assistant_presets.h"
#include "model/synth/tiny_vocab.h"
#include "quant/quant.h"

namespace specula::model {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t tensor_key(uint64_t seed, const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a of the name
  for (const char c : name) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  return splitmix64(seed ^ splitmix64(h));
}

// An odd integer in (0, 2^25) from 24 random bits of element `index`.
int64_t odd_sample(uint64_t key, int64_t index) {
  const uint64_t bits = splitmix64(key + static_cast<uint64_t>(index) * 0xd1b54a32d192ed03ull) >> 40;
  return static_cast<int64_t>(2 * bits + 1);
}

Status add_vocab(const SynthOptions& options, SynthPlan& plan) {
  if (!options.vocab_path.empty()) {
    SPECULA_TRY(const format::GgufFile vocab_file, format::GgufFile::open(options.vocab_path));
    SPECULA_TRY(const size_t n, copy_tokenizer_metadata(vocab_file, plan.metadata));
    if (n != static_cast<size_t>(plan.preset.hparams.vocab)) {
      return make_error(ErrorCode::kInvalidArgument, "{}: the vocabulary has {} tokens but preset '{}' has {}",
                        options.vocab_path, n, plan.preset.name, plan.preset.hparams.vocab);
    }
    return ok_status();
  }
  if (plan.preset.tiny_tokenizer) return add_tokenizer_metadata(tiny_vocab(), plan.metadata);
  return ok_status();
}

}  // namespace

SynthSampler::SynthSampler(uint64_t seed, const TensorSpec& spec, int ple_dim, int n_rot_pairs_full)
    : kind_(spec.kind), key_(tensor_key(seed, spec.name)), n_rot_pairs_(n_rot_pairs_full) {
  switch (spec.kind) {
    case TensorKind::kRopeFreqs:
      break;
    case TensorKind::kNorm:
      offset_ = 0.5f, scale_ = 1.0f;
      break;  // U(0.5, 1.5)
    case TensorKind::kLayerScalar:
      offset_ = 0.7f, scale_ = 0.6f;
      break;  // U(0.7, 1.3)
    case TensorKind::kMatrix:
    case TensorKind::kEmbedding: {
      // U(-a, a) has variance a^2 / 3: a = sqrt(3 / fan_in) gives variance 1 / fan_in.
      const bool ple = spec.name == "per_layer_token_embd.weight";
      const double fan_in = ple ? ple_dim : static_cast<double>(spec.dims[0]);
      const float a = static_cast<float>(std::sqrt(3.0 / fan_in));
      symmetric_ = true, scale_ = a;
      break;
    }
  }
}

void SynthSampler::fill(int64_t first, int64_t n, float* out) const {
  if (kind_ == TensorKind::kRopeFreqs) {  // llama.cpp's [1]*n_rot_pairs + [1e30]*rest
    for (int64_t k = 0; k < n; ++k) out[k] = first + k < n_rot_pairs_ ? 1.0f : 1e30f;
    return;
  }
  if (symmetric_) {  // scale * (odd - 2^24) / 2^24: exact, in (-scale, scale), never 0
    for (int64_t k = 0; k < n; ++k) {
      out[k] = scale_ * (static_cast<float>(odd_sample(key_, first + k) - (int64_t{1} << 24)) * 0x1p-24f);
    }
    return;
  }
  for (int64_t k = 0; k < n; ++k)
    out[k] = offset_ + scale_ * (static_cast<float>(odd_sample(key_, first + k)) * 0x1p-25f);
}

uint64_t SynthSampler::hash(int64_t index) const {
  return splitmix64(~key_ + static_cast<uint64_t>(index) * 0x9e3779b97f4a7c15ull);
}

Result<SynthPlan> plan_synth(const SynthOptions& options) {
  if (is_assistant_preset(options.preset)) return plan_assistant_synth(options);  // MTP drafters
  SynthPlan plan;
  SPECULA_TRY(plan.preset, synth_preset(options.preset));
  const Gemma4Hparams& h = plan.preset.hparams;
  SPECULA_RETURN_IF_ERROR(validate_hparams(h, "preset " + plan.preset.name));
  SPECULA_RETURN_IF_ERROR(add_gemma4_metadata(h, plan.preset.display_name, options.file_type, plan.metadata));
  SPECULA_RETURN_IF_ERROR(add_vocab(options, plan));
  const std::vector<TensorSpec> specs = gemma4_tensor_specs(h);
  std::vector<NamedShape> shapes;
  for (const auto& s : specs) shapes.push_back({s.name, s.dims});
  const TypePlan types = plan_tensor_types(options.file_type, shapes, h.n_layers, h.moe ? h.n_experts : 0);
  for (const size_t i : types.order) {
    plan.tensors.push_back(specs[i]);
    plan.types.push_back(types.types[i]);
    const uint64_t n = static_cast<uint64_t>(specs[i].n_elements());
    plan.n_params += n;
    plan.data_bytes += format::ggml_row_bytes(types.types[i], static_cast<size_t>(specs[i].dims[0])) *
                       (n / static_cast<uint64_t>(specs[i].dims[0]));
  }
  return plan;
}

std::vector<uint8_t> synth_metadata_bytes(const SynthPlan& plan) { return plan.metadata.serialize(); }

namespace {

// Writes a K-quant tensor from a pool of quantized blocks (see kSynthPooledElements).
Status write_pooled(GgufStreamWriter& w, ThreadPool& pool, const TensorSpec& spec, format::GgmlType type,
                    const SynthSampler& sampler) {
  const auto& traits = format::ggml_traits(type);
  const int64_t bs = traits.block_size;
  const size_t bb = traits.block_bytes;
  const int64_t n = spec.n_elements();
  // kSynthPoolBlocks for the big tensors; small ones (tests) draw from one block in eight.
  const int64_t n_pool = std::clamp<int64_t>(n / bs / 8, 1, kSynthPoolBlocks);
  std::vector<uint8_t> blocks(static_cast<size_t>(n_pool) * bb);
  pool.parallel_for(static_cast<size_t>(n_pool), [&](size_t begin, size_t end) {
    std::vector<float> values(static_cast<size_t>(bs));
    for (size_t p = begin; p < end; ++p) {
      sampler.fill(n + static_cast<int64_t>(p) * bs, bs, values.data());  // past the tensor: fresh values
      quant::quantize_row(type, values.data(), blocks.data() + p * bb, bs);
    }
  });
  const int64_t per_row = spec.dims[0] / bs;
  return write_encoded_rows(w, pool, static_cast<size_t>(per_row) * bb, n / spec.dims[0],
                            [&](int64_t row, uint8_t* out) {
                              for (int64_t b = 0; b < per_row; ++b) {
                                const uint64_t pick = sampler.hash(row * per_row + b) % static_cast<uint64_t>(n_pool);
                                std::memcpy(out + static_cast<size_t>(b) * bb, blocks.data() + pick * bb, bb);
                              }
                            });
}

}  // namespace

Status synth_model(const SynthOptions& options, const std::string& out_path, ThreadPool& pool) {
  if (is_assistant_preset(options.preset)) return synth_assistant(options, out_path, pool);  // MTP drafters
  SPECULA_TRY(const SynthPlan plan, plan_synth(options));
  std::vector<StreamTensorInfo> infos;
  for (size_t i = 0; i < plan.tensors.size(); ++i)
    infos.push_back({plan.tensors[i].name, plan.types[i], plan.tensors[i].dims});
  SPECULA_TRY(auto writer, GgufStreamWriter::create(out_path, plan.metadata, std::move(infos)));
  const Gemma4Hparams& h = plan.preset.hparams;
  const int n_rot = h.n_rot_pairs_full();
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const TensorSpec& spec = plan.tensors[i];
    if (options.on_tensor) options.on_tensor(i, plan.tensors.size(), spec.name, plan.types[i]);
    const int64_t cols = spec.dims[0];
    const SynthSampler sampler(options.seed, spec, h.ple_dim, n_rot);
    if (format::ggml_traits(plan.types[i]).block_size == 256 && spec.n_elements() > options.pooled_min_elements) {
      SPECULA_RETURN_IF_ERROR(write_pooled(*writer, pool, spec, plan.types[i], sampler));
      continue;
    }
    const auto source = [&sampler, cols](int64_t row, float* out) { sampler.fill(row * cols, cols, out); };
    SPECULA_RETURN_IF_ERROR(encode_rows(*writer, pool, plan.types[i], cols, spec.n_elements() / cols, source));
  }
  return writer->finish();
}

}  // namespace specula::model
