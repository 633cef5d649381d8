// `specula serve` configuration: llama-server's flags (the subset specula implements) parsed into one validated,
// immutable ServeConfig. Flags llama-server has but specula does not implement are refused by name (never ignored).
// The KV cache type names are kept as text here (the config layer sits below kv/) and validated by the caller
// with kv::parse_cache_types before anything is loaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/result.h"
#include "config/flags.h"
#include "config/speculative.h"

namespace specula::config {

// Default sampling of requests that do not say otherwise (--temp, --top-k, ...; llama.cpp's defaults).
struct ServeSampling {
  double temperature = 0.8;
  int top_k = 40;
  double top_p = 0.95;
  double min_p = 0.05;
  double repeat_penalty = 1.0;
  int repeat_last_n = 64;
  double presence_penalty = 0.0;
  double frequency_penalty = 0.0;
  std::optional<uint64_t> seed;  // unset: a random seed per request
};

inline constexpr int kDefaultImageMaxTokens = 280;
inline constexpr size_t kMaxBodyBytes = size_t{8} << 20;         // request bodies (413 above)
inline constexpr size_t kMaxBodyBytesVision = size_t{32} << 20;  // with --mmproj: base64 photos of a few MB each  // Gemma 4's processor default (max_soft_tokens)

struct VisionOff {};
struct VisionOn {
  std::string mmproj_path;
  int image_max_tokens = kDefaultImageMaxTokens;  // soft tokens per image: 70, 140, 280, 560 or 1120
};
using VisionConfig = std::variant<VisionOff, VisionOn>;

struct ServeConfig {
  std::string model_path;
  std::string alias;                  // the model id /v1/models reports (default: the file name)
  std::string host = "127.0.0.1";
  int port = 8080;
  int n_ctx = 4096;                   // positions per slot
  int n_parallel = 1;                 // slots
  int threads = 1;                    // compute threads
  int threads_http = 0;               // 0: slots + queue + 2
  int ubatch = 512;                   // prefill chunk
  int n_predict = -1;                 // default max tokens of a request (-1: until a stop or the context end)
  ServeSampling sampling;
  std::string cache_type_k = "f16", cache_type_v = "f16";
  std::string activations = "int8";  // --activations: checked where the kernels are known (kernels/ops.h)
  std::string cache_type_k_draft = "f16", cache_type_v_draft = "f16";  // a draft model's own cache (the MTP
                                                                        // assistant has none: accepted, noted)
  SpecConfig spec;
  VisionConfig vision;
  std::vector<std::string> api_keys;  // empty: no authentication
  int timeout_s = 600;                // HTTP read/write timeout
  bool metrics = false;               // GET /metrics enabled
  bool slots_endpoint = true;         // GET /slots enabled (--no-slots turns it off)
  bool log_json = false;              // --log-format json
  int queue_max = 0;                  // requests waiting for a slot before 503 (0: 4 x slots)
  size_t max_body_bytes = kMaxBodyBytes;  // kMaxBodyBytesVision with --mmproj
  std::string chat_template_file;     // --chat-template-file (empty: the model's template)
  std::string chat_template_text;     // its contents (Jinja source; classified, never executed)

  // One line per subsystem, for the start-up log.
  std::vector<std::string> describe() const;
};

FlagParser serve_flags();

// Validates ranges, files that must exist (--api-key-file, --mmproj, --chat-template-file: read here),
// contradictions (naming both flags).
Result<ServeConfig> make_serve_config(const FlagValues& flags);

// llama-server flags that specula recognises but does not implement: the error message for one, or nullopt.
std::optional<std::string> unsupported_serve_flag(const std::string& arg);

}  // namespace specula::config
