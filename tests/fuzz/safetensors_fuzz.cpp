// libFuzzer target for SafetensorsFile::parse: no crash, leak or undefined behaviour; errors are of a
// content class and one line; a parsed file's tensors lie inside the input and convert without trouble.
#include <cstdio>
#include <cstdlib>

#include "format/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using specula::ErrorCode;
  auto r = specula::format::SafetensorsFile::parse(std::span<const uint8_t>(data, size), "fuzz.safetensors");
  if (!r.ok()) {
    const auto& e = r.error();
    const bool bad_class = e.code() != ErrorCode::kCorruptData && e.code() != ErrorCode::kUnsupported;
    if (bad_class || e.message().find_first_of("\r\n") != std::string::npos) {
      std::fprintf(stderr, "safetensors_fuzz property violated: %s\n", e.message().c_str());
      std::abort();
    }
    return 0;
  }
  for (const auto& t : r->tensors()) {
    if (t.bytes.data() < data || t.bytes.data() + t.bytes.size() > data + size) std::abort();
    (void)specula::format::safetensors_to_f32(t);
  }
  return 0;
}
