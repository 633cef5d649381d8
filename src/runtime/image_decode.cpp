// Image decoding through stb_image with header checks first (bounded memory for hostile inputs).
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#define STBI_MAX_DIMENSIONS (1 << 16)
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wcast-align"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wuseless-cast"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-declarations"
#pragma GCC diagnostic ignored "-Wduplicated-branches"
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <cstring>
#include <fstream>
#include <memory>

#include "runtime/image.h"

namespace specula::runtime {

Result<RgbImage> decode_image(std::span<const uint8_t> bytes, const std::string& name) {
  if (bytes.empty()) return make_error(ErrorCode::kCorruptData, "{}: empty image data", name);
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) {
    return make_error(ErrorCode::kOutOfRange, "{}: image data larger than 2 GiB", name);
  }
  const int len = static_cast<int>(bytes.size());
  int w = 0, h = 0, comp = 0;
  if (stbi_info_from_memory(bytes.data(), len, &w, &h, &comp) == 0) {
    return make_error(ErrorCode::kCorruptData, "{}: not a supported image (PNG, JPEG, BMP, GIF, TGA, PSD, PNM): {}", name,
                      stbi_failure_reason() ? stbi_failure_reason() : "unknown format");
  }
  if (w <= 0 || h <= 0) return make_error(ErrorCode::kCorruptData, "{}: image has zero size ({}x{})", name, w, h);
  if (static_cast<int64_t>(w) * h > kMaxImagePixels) {
    return make_error(ErrorCode::kOutOfRange, "{}: image of {}x{} pixels is above the limit of {} pixels", name, w, h,
                      kMaxImagePixels);
  }
  int dw = 0, dh = 0, dc = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> data(stbi_load_from_memory(bytes.data(), len, &dw, &dh, &dc, 3),
                                                 stbi_image_free);
  if (!data) {
    return make_error(ErrorCode::kCorruptData, "{}: cannot decode the image: {}", name,
                      stbi_failure_reason() ? stbi_failure_reason() : "corrupt data");
  }
  if (dw != w || dh != h) return make_error(ErrorCode::kCorruptData, "{}: decoded size differs from the header", name);
  RgbImage img;
  img.width = w;
  img.height = h;
  img.pixels.assign(data.get(), data.get() + static_cast<size_t>(w) * static_cast<size_t>(h) * 3);
  return img;
}

Result<RgbImage> load_image(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot open image '{}'", path);
  const std::streamoff size = in.tellg();
  if (size < 0) return make_error(ErrorCode::kIo, "cannot read image '{}'", path);
  if (size > (std::streamoff{1} << 30)) return make_error(ErrorCode::kOutOfRange, "image file '{}' is above 1 GiB", path);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size)) return make_error(ErrorCode::kIo, "cannot read '{}'", path);
  return decode_image(bytes, path);
}

}  // namespace specula::runtime
