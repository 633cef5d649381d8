// SafetensorsModel: single-file and sharded (model.safetensors.index.json) models, and dtype conversion.
#include <algorithm>
#include <filesystem>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "format/gguf_value.h"
#include "format/safetensors.h"

namespace specula::format {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The index's weight_map (tensor name -> shard file name). Exceptions stay inside this adapter.
Result<std::map<std::string, std::string>> read_weight_map(const std::string& path) {
  SPECULA_TRY(const std::string text, read_file(path));
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kCorruptData, "{}: invalid JSON: {}", path, printable(e.what(), 200));
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
    return make_error(ErrorCode::kCorruptData, "{}: no \"weight_map\" object", path);
  }
  std::map<std::string, std::string> map;
  for (const auto& [name, file] : j["weight_map"].items()) {
    if (!file.is_string()) {
      return make_error(ErrorCode::kCorruptData, "{}: weight_map entry '{}' is not a file name", path, printable(name));
    }
    const fs::path p(file.get<std::string>());
    const bool escapes = p.empty() || p.is_absolute() ||
                         std::any_of(p.begin(), p.end(), [](const fs::path& c) { return c == ".."; });
    if (escapes) {
      return make_error(ErrorCode::kCorruptData, "{}: weight_map entry '{}' names '{}', which is not a file beside "
                        "the index", path, printable(name), printable(file.get<std::string>()));
    }
    map.emplace(name, file.get<std::string>());
  }
  return map;
}

}  // namespace

Result<SafetensorsModel> SafetensorsModel::open(const std::string& path) {
  std::error_code ec;
  std::string file = path;
  if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    if (fs::exists(dir / "model.safetensors.index.json", ec)) {
      file = (dir / "model.safetensors.index.json").string();
    } else if (fs::exists(dir / "model.safetensors", ec)) {
      file = (dir / "model.safetensors").string();
    } else {
      return make_error(ErrorCode::kNotFound, "{}: no model.safetensors or model.safetensors.index.json in this folder",
                        path);
    }
  }
  SafetensorsModel model;
  const bool is_index = file.size() >= 5 && file.compare(file.size() - 5, 5, ".json") == 0;
  if (!is_index) {
    SPECULA_TRY(SafetensorsFile f, SafetensorsFile::open(file));
    model.shards_.push_back(std::move(f));
    SPECULA_RETURN_IF_ERROR(model.build_index(nullptr, file));
    return model;
  }
  SPECULA_TRY(const auto weight_map, read_weight_map(file));
  std::set<std::string> shard_names;
  for (const auto& [name, shard] : weight_map) shard_names.insert(shard);
  const fs::path dir = fs::path(file).parent_path();
  for (const auto& shard : shard_names) {
    auto f = SafetensorsFile::open((dir / shard).string());
    if (!f.ok()) return f.error().with_context(fmt::format("shard of {}", file));
    model.shards_.push_back(std::move(f).value());
  }
  SPECULA_RETURN_IF_ERROR(model.build_index(&weight_map, file));
  return model;
}

Status SafetensorsModel::build_index(const std::map<std::string, std::string>* weight_map,
                                     const std::string& index_path) {
  for (size_t s = 0; s < shards_.size(); ++s) {
    auto& tensors = shards_[s].tensors_;
    for (size_t i = 0; i < tensors.size(); ++i) {
      tensors[i].shard = s;
      const auto [it, inserted] = index_.emplace(tensors[i].name, std::make_pair(s, i));
      if (!inserted) {
        return make_error(ErrorCode::kCorruptData, "{}: tensor '{}' is in both {} and {}", index_path,
                          printable(tensors[i].name), shards_[it->second.first].path(), shards_[s].path());
      }
    }
  }
  if (weight_map == nullptr) return ok_status();
  for (const auto& [name, shard] : *weight_map) {
    const SafetensorsTensor* t = find(name);
    const std::string want = (std::filesystem::path(index_path).parent_path() / shard).string();
    if (t == nullptr || shards_[t->shard].path() != want) {
      return make_error(ErrorCode::kCorruptData, "{}: weight_map puts '{}' in {}, which does not hold it", index_path,
                        printable(name), shard);
    }
  }
  if (weight_map->size() != index_.size()) {
    return make_error(ErrorCode::kCorruptData, "{}: the shards hold {} tensors but weight_map lists {}", index_path,
                      index_.size(), weight_map->size());
  }
  return ok_status();
}

const std::map<std::string, std::string>& SafetensorsModel::metadata() const {
  static const std::map<std::string, std::string> kEmpty;
  return shards_.empty() ? kEmpty : shards_[0].metadata();
}

std::vector<std::string> SafetensorsModel::tensor_names() const {
  std::vector<std::string> names;
  names.reserve(index_.size());
  for (const auto& [name, where] : index_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

const SafetensorsTensor* SafetensorsModel::find(std::string_view name) const {
  const auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &shards_[it->second.first].tensors()[it->second.second];
}

Result<const SafetensorsTensor*> SafetensorsModel::get(std::string_view name) const {
  if (const auto* t = find(name)) return t;
  return make_error(ErrorCode::kNotFound, "tensor '{}' is not in the model", printable(name));
}

Result<std::vector<float>> SafetensorsModel::read_f32(std::string_view name) const {
  SPECULA_TRY(const SafetensorsTensor* t, get(name));
  return safetensors_to_f32(*t);
}

Result<std::vector<int64_t>> SafetensorsModel::read_i64(std::string_view name) const {
  SPECULA_TRY(const SafetensorsTensor* t, get(name));
  if (t->dtype != SafetensorsDtype::kI32 && t->dtype != SafetensorsDtype::kI64) {
    return make_error(ErrorCode::kUnsupported, "tensor '{}' has dtype {}, not an integer dtype", printable(name),
                      safetensors_dtype_name(t->dtype));
  }
  std::vector<int64_t> out(static_cast<size_t>(t->n_elements));
  for (size_t i = 0; i < out.size(); ++i) {
    if (t->dtype == SafetensorsDtype::kI64) {
      std::memcpy(&out[i], t->bytes.data() + 8 * i, 8);
    } else {
      int32_t v;
      std::memcpy(&v, t->bytes.data() + 4 * i, 4);
      out[i] = v;
    }
  }
  return out;
}

}  // namespace specula::format
