#include "model/convert/type_plan.h"

#include <algorithm>
#include <numeric>

#include "model/convert/tensor_table.h"

namespace specula::model {

using format::GgmlType;

TypePlan plan_tensor_types(quant::FileType file_type, std::span<const NamedShape> tensors, int n_layers,
                           int n_experts) {
  TypePlan plan;
  plan.order.resize(tensors.size());
  std::iota(plan.order.begin(), plan.order.end(), size_t{0});
  const GgmlType base = quant::file_type_base(file_type);
  const bool quantized = format::ggml_traits(base).block_size > 1;
  // The converter's choice (for a quantized mix: its F16 output, which llama-quantize then reads).
  const GgmlType float_type = quantized ? GgmlType::kF16 : base;
  plan.types.reserve(tensors.size());
  for (const auto& t : tensors) {
    plan.types.push_back(converter_keeps_f32(t.name, t.dims.size()) ? GgmlType::kF32 : float_type);
  }
  if (!quantized) return plan;
  // llama-quantize processes (and writes) tensors by layer, then name; its per-layer counters depend on it.
  std::stable_sort(plan.order.begin(), plan.order.end(),
                   [&](size_t a, size_t b) { return quant::llama_tensor_order(tensors[a].name, tensors[b].name); });
  std::vector<quant::PlanTensor> in;
  in.reserve(tensors.size());
  for (const size_t i : plan.order) in.push_back({tensors[i].name, tensors[i].dims, plan.types[i]});
  const auto planned = quant::plan_file(file_type, in, n_layers, n_experts);
  for (size_t k = 0; k < plan.order.size(); ++k) plan.types[plan.order[k]] = planned[k].type;
  return plan;
}

}  // namespace specula::model
