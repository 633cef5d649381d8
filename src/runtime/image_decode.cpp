// Image decoding through stb_image with header checks first (bounded memory for hostile inputs).
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#define STBI_MAX_DIMENSIONS (1 << 16)
// Only the formats we accept: less decoder code reachable from untrusted bytes.
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
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

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>

#include "runtime/image.h"

namespace specula::runtime {
namespace {

// stb_image 2.27 (Debian 12) writes past its Huffman size table when a JPEG DHT table declares more than 256
// codes (fixed upstream in 2.28). Every DHT segment is checked here first, including those between the scans
// of a progressive JPEG. Truncation is left to stb, which reports it.
Status check_jpeg_huffman_tables(std::span<const uint8_t> b, const std::string& name) {
  if (b.size() < 2 || b[0] != 0xFF || b[1] != 0xD8) return ok_status();
  size_t i = 2;
  while (i + 4 <= b.size()) {
    if (b[i] != 0xFF) {  // entropy-coded data: skip to the next marker that is not a stuffed byte or RSTn
      ++i;
      continue;
    }
    const uint8_t marker = b[i + 1];
    if (marker == 0xFF || marker == 0x00 || (marker >= 0xD0 && marker <= 0xD8)) {
      ++i;
      continue;
    }
    if (marker == 0xD9) break;
    const size_t len = (size_t{b[i + 2]} << 8) | b[i + 3];
    if (marker == 0xC4) {  // as stb reads it: tables until the declared length is used up, counts past the end = 0
      const auto at = [&](size_t k) -> size_t { return k < b.size() ? b[k] : 0; };
      int64_t left = static_cast<int64_t>(len) - 2;
      for (size_t t = i + 4; left > 0 && t < b.size();) {
        size_t n = 0;
        for (size_t k = 0; k < 16; ++k) n += at(t + 1 + k);
        if (n > 256) return make_error(ErrorCode::kCorruptData, "{}: corrupt JPEG (a Huffman table of {} codes)", name, n);
        t += 17 + n;
        left -= static_cast<int64_t>(17 + n);
      }
    }
    i = i + 2 + std::max<size_t>(len, 2);
  }
  return ok_status();
}

// stb_image grows its IDAT buffer to each chunk's declared length before reading it, so a few hundred bytes
// can claim gigabytes. Every chunk must fit in the data that is actually there.
Status check_png_chunks(std::span<const uint8_t> b, const std::string& name) {
  static constexpr uint8_t kSig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (b.size() < 8 || !std::equal(kSig, kSig + 8, b.begin())) return ok_status();
  size_t i = 8;
  while (i + 8 <= b.size()) {
    const uint64_t len = (uint64_t{b[i]} << 24) | (uint64_t{b[i + 1]} << 16) | (uint64_t{b[i + 2]} << 8) | b[i + 3];
    if (len + 12 > b.size() - i) {
      return make_error(ErrorCode::kCorruptData, "{}: truncated or corrupt PNG (a chunk of {} bytes at offset {} "
                        "runs past the end)", name, len, i);
    }
    if (b[i + 4] == 'I' && b[i + 5] == 'E' && b[i + 6] == 'N' && b[i + 7] == 'D') break;
    i += static_cast<size_t>(len) + 12;
  }
  return ok_status();
}

}  // namespace

Result<RgbImage> decode_image(std::span<const uint8_t> bytes, const std::string& name) {
  if (bytes.empty()) return make_error(ErrorCode::kCorruptData, "{}: empty image data", name);
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) {
    return make_error(ErrorCode::kOutOfRange, "{}: image data larger than 2 GiB", name);
  }
  SPECULA_RETURN_IF_ERROR(check_jpeg_huffman_tables(bytes, name));
  SPECULA_RETURN_IF_ERROR(check_png_chunks(bytes, name));
  const int len = static_cast<int>(bytes.size());
  int w = 0, h = 0, comp = 0;
  if (stbi_info_from_memory(bytes.data(), len, &w, &h, &comp) == 0) {
    return make_error(ErrorCode::kCorruptData, "{}: not a supported image (PNG, JPEG, BMP, GIF): {}", name,
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
  const int orientation = jpeg_exif_orientation(bytes);
  return orientation == 1 ? img : apply_orientation(img, orientation);
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
