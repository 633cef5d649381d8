#include "kv/cache_types.h"

namespace specula::kv {

Result<CacheTypes> parse_cache_types(const std::optional<std::string>& k, const std::optional<std::string>& v) {
  CacheTypes t;
  if (k) {
    auto r = parse_kv_type(*k);
    if (!r.ok()) return make_error(ErrorCode::kInvalidArgument, "-ctk/--cache-type-k: {}", r.error().message());
    t.k = r.value();
  }
  if (v) {
    auto r = parse_kv_type(*v);
    if (!r.ok()) return make_error(ErrorCode::kInvalidArgument, "-ctv/--cache-type-v: {}", r.error().message());
    t.v = r.value();
  }
  return t;
}

}  // namespace specula::kv
