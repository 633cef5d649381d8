// specula quantize IN.gguf OUT.gguf TYPE: rewrites a GGUF file with its weights converted to a
// llama.cpp-style mix (Q8_0, Q4_K_M, ...). Metadata is copied, general.file_type set to the LLAMA_FTYPE
// number; tensors that the recipe leaves alone (norms, 1-D, unchanged types) are copied byte for byte.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "base/thread_pool.h"
#include "config/flags.h"
#include "format/gguf_reader.h"
#include "format/gguf_writer.h"
#include "quant/quant.h"
#include "quant/recipe.h"
#include "subcommand.h"

namespace specula::tools {
namespace {

using format::GgmlType;

constexpr uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION, written by llama.cpp's quantizer

struct QuantizeOptions {
  std::string in_path, out_path;
  quant::FileType file_type = quant::FileType::kMostlyQ8_0;
  bool pure = false;
  bool allow_requantize = false;
  bool verbose = false;
  int n_threads = 1;
};

config::FlagParser make_parser() {
  config::FlagParser parser("quantize", "IN.gguf OUT.gguf TYPE");
  parser.allow_positionals(3, "IN.gguf OUT.gguf TYPE");
  parser.add({{"--pure"}, config::FlagKind::kSwitch, "give every quantized tensor the base type (no Q6_K/Q8_0 upgrades)", ""});
  parser.add({{"--allow-requantize"}, config::FlagKind::kSwitch,
              "allow converting tensors that are already quantized (loses quality)", ""});
  parser.add({{"-t", "--threads"}, config::FlagKind::kValue, "threads", "all cores"});
  parser.add({{"-v", "--verbose"}, config::FlagKind::kSwitch, "print one line per tensor", ""});
  return parser;
}

Result<QuantizeOptions> parse_options(const Args& args) {
  SPECULA_TRY(auto flags, make_parser().parse(args));
  if (flags.positionals().size() != 3) {
    return make_error(ErrorCode::kInvalidArgument, "expected IN.gguf OUT.gguf TYPE (TYPE one of: {})",
                      quant::file_type_names());
  }
  QuantizeOptions o;
  o.in_path = flags.positionals()[0];
  o.out_path = flags.positionals()[1];
  SPECULA_TRY(o.file_type, quant::parse_file_type(flags.positionals()[2]));
  o.pure = flags.has("--pure");
  o.allow_requantize = flags.has("--allow-requantize");
  o.verbose = flags.has("--verbose");
  SPECULA_TRY(const auto threads, flags.get_int("--threads", 1, 1024));
  o.n_threads = static_cast<int>(threads.value_or(std::max(1u, std::thread::hardware_concurrency())));
  return o;
}

// Converts every row of a tensor from its type to `target` (dequantize -> quantize), in parallel.
Result<std::vector<uint8_t>> convert_tensor(const format::GgufFile& file, const format::GgufTensorInfo& info,
                                            GgmlType target, ThreadPool& pool) {
  if (!quant::can_dequantize(info.type)) {
    return make_error(ErrorCode::kUnsupported, "tensor '{}': cannot convert from type {}", info.name,
                      format::ggml_type_name(info.type));
  }
  const int64_t row = info.dims[0];
  const int64_t n_rows = info.rows();
  const size_t src_row_bytes = format::ggml_row_bytes(info.type, static_cast<size_t>(row));
  const size_t dst_row_bytes = format::ggml_row_bytes(target, static_cast<size_t>(row));
  const uint8_t* src = file.tensor_data(info).data();
  std::vector<uint8_t> out(dst_row_bytes * static_cast<size_t>(n_rows));
  std::atomic<bool> non_finite{false};
  auto convert_rows = [&](size_t begin, size_t end) {
    std::vector<float> buf(static_cast<size_t>(row));
    for (size_t r = begin; r < end; ++r) {
      quant::dequantize_row(info.type, src + r * src_row_bytes, buf.data(), row);
      if (!std::all_of(buf.begin(), buf.end(), [](float v) { return std::isfinite(v); })) {
        non_finite.store(true, std::memory_order_relaxed);
        return;
      }
      quant::quantize_row(target, buf.data(), out.data() + r * dst_row_bytes, row);
    }
  };
  // Waking the pool costs more than converting a small tensor.
  constexpr uint64_t kParallelMinValues = 1 << 16;
  if (info.n_elements < kParallelMinValues) {
    convert_rows(0, static_cast<size_t>(n_rows));
  } else {
    pool.parallel_for(static_cast<size_t>(n_rows), convert_rows);
  }
  if (non_finite.load()) {
    return make_error(ErrorCode::kCorruptData, "tensor '{}' holds NaN or infinite values; refusing to quantize it",
                      info.name);
  }
  return out;
}

Status copy_metadata(const format::GgufFile& file, quant::FileType ft, format::GgufWriter& writer) {
  for (const auto& [key, value] : file.metadata()) {
    if (key == "general.file_type" || key == "general.quantization_version" || key == "split.no" ||
        key == "split.count" || key == "split.tensors.count") {
      continue;
    }
    SPECULA_RETURN_IF_ERROR(writer.set(key, value));
  }
  SPECULA_RETURN_IF_ERROR(writer.set_u32("general.quantization_version", kQuantizationVersion));
  return writer.set_u32("general.file_type", static_cast<uint32_t>(ft));
}

int64_t metadata_int(const format::GgufFile& file, const std::string& key) {
  const auto v = file.get_int(key);
  return v.ok() ? v.value() : 0;
}

struct TypeStats {
  size_t n_tensors = 0;
  uint64_t n_bytes = 0;
  uint64_t n_values = 0;
};

void print_summary(const QuantizeOptions& o, const std::map<std::string, TypeStats>& stats, uint64_t in_bytes,
                   size_t n_fallback, double seconds) {
  uint64_t out_bytes = 0, n_values = 0;
  std::printf("%-8s %8s %12s %8s\n", "type", "tensors", "MiB", "bpw");
  for (const auto& [name, s] : stats) {
    out_bytes += s.n_bytes;
    n_values += s.n_values;
    std::printf("%-8s %8zu %12.2f %8.3f\n", name.c_str(), s.n_tensors, static_cast<double>(s.n_bytes) / (1 << 20),
                s.n_values ? 8.0 * static_cast<double>(s.n_bytes) / static_cast<double>(s.n_values) : 0.0);
  }
  if (n_fallback > 0) {
    std::printf("%zu tensor(s) used a fallback type: row length not a multiple of the block size\n", n_fallback);
  }
  std::printf("%s: %.2f MiB -> %s (%s, file_type %u): %.2f MiB, %.3f bits per weight, %.2f s\n", o.in_path.c_str(),
              static_cast<double>(in_bytes) / (1 << 20), o.out_path.c_str(),
              std::string(quant::file_type_name(o.file_type)).c_str(), static_cast<unsigned>(o.file_type),
              static_cast<double>(out_bytes) / (1 << 20),
              n_values ? 8.0 * static_cast<double>(out_bytes) / static_cast<double>(n_values) : 0.0, seconds);
}

// The tensors in llama.cpp's processing order, with the recipe's plan for each.
std::vector<const format::GgufTensorInfo*> ordered_tensors(const format::GgufFile& file) {
  std::vector<const format::GgufTensorInfo*> order;
  for (const auto& t : file.tensors()) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return quant::llama_tensor_order(a->name, b->name);
  });
  return order;
}

Status quantize_file(const QuantizeOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  SPECULA_TRY(const auto file, format::GgufFile::open(o.in_path));
  const std::string arch = file.architecture();
  const auto order = ordered_tensors(file);
  std::vector<quant::PlanTensor> plan_in;
  for (const auto* t : order) plan_in.push_back({t->name, t->dims, t->type});
  const auto plan = quant::plan_file(o.file_type, plan_in, static_cast<int>(metadata_int(file, arch + ".block_count")),
                                     static_cast<int>(metadata_int(file, arch + ".expert_count")), o.pure);
  format::GgufWriter writer;
  SPECULA_RETURN_IF_ERROR(copy_metadata(file, o.file_type, writer));
  ThreadPool pool(o.n_threads);
  std::map<std::string, TypeStats> stats;
  uint64_t in_bytes = 0;
  size_t n_fallback = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& info = *order[i];
    const GgmlType target = plan[i].type;
    in_bytes += info.n_bytes;
    if (target == info.type) {
      SPECULA_RETURN_IF_ERROR(writer.add_tensor(info.name, info.type, info.dims, file.tensor_data(info)));
    } else {
      if (format::ggml_traits(info.type).block_size > 1 && !o.allow_requantize) {
        return make_error(ErrorCode::kInvalidArgument,
                          "tensor '{}' is already quantized ({}); pass --allow-requantize to convert it to {}",
                          info.name, format::ggml_type_name(info.type), format::ggml_type_name(target));
      }
      SPECULA_TRY(auto bytes, convert_tensor(file, info, target, pool));
      SPECULA_RETURN_IF_ERROR(writer.add_tensor_copy(info.name, target, info.dims, std::move(bytes)));
    }
    n_fallback += plan[i].fallback ? 1 : 0;
    auto& s = stats[std::string(format::ggml_type_name(target))];
    s.n_tensors++;
    s.n_bytes += format::ggml_row_bytes(target, static_cast<size_t>(info.dims[0])) * static_cast<uint64_t>(info.rows());
    s.n_values += info.n_elements;
    if (o.verbose) {
      std::printf("[%4zu/%4zu] %-40s %-24s %-6s -> %-6s%s\n", i + 1, order.size(), info.name.c_str(),
                  info.shape_string().c_str(), std::string(format::ggml_type_name(info.type)).c_str(),
                  std::string(format::ggml_type_name(target)).c_str(), plan[i].fallback ? " (fallback)" : "");
    }
  }
  SPECULA_RETURN_IF_ERROR(writer.write(o.out_path));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  print_summary(o, stats, in_bytes, n_fallback, seconds);
  return ok_status();
}

}  // namespace

int cmd_quantize(const Args& args) {
  if (config::FlagParser::help_requested(args)) {
    std::printf("%s", make_parser().help().c_str());
    std::printf("\nTYPE: %s\n", quant::file_type_names().c_str());
    return 0;
  }
  auto options = parse_options(args);
  if (!options.ok()) return fail("quantize", options.error().message());
  const Status status = quantize_file(options.value());
  if (!status.ok()) return fail("quantize", status.error().message());
  return 0;
}

}  // namespace specula::tools

SPECULA_SUBCOMMAND(quantize, 40, "convert a GGUF file's weights to Q8_0, Q4_K_M, Q5_K_M, ... (llama.cpp mixes)",
                   specula::tools::cmd_quantize);
