// libFuzzer target for the image path: decode_image (stb_image) and preprocess_image. Properties checked on
// every input:
//  - decoding and preprocessing never crash, leak or hit undefined behaviour (the sanitizers report those),
//    and memory stays bounded (the header dimensions are checked before decoding; -rss_limit_mb enforces it);
//  - an error is of a user class (kCorruptData/kOutOfRange/kInvalidArgument) with a one-line message;
//  - a decoded image has positive dimensions within the limit and width*height*3 bytes, and its patches are
//    a complete grid of at most 70 soft tokens with values in [0, 1].
// `image_fuzz --write-seeds=DIR` writes small PNG, BMP, JPEG and GIF seeds (stb_image_write) and exits.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/image.h"

namespace {

using specula::ErrorCode;
using namespace specula::runtime;

[[noreturn]] void die(const char* what, const std::string& detail) {
  std::fprintf(stderr, "image_fuzz property violated: %s: %s\n", what, detail.c_str());
  std::abort();
}

void write_seeds(const std::string& dir) {
  const int w = 13, h = 7;
  std::vector<unsigned char> rgba(static_cast<size_t>(w * h * 4));
  for (size_t i = 0; i < rgba.size(); ++i) rgba[i] = static_cast<unsigned char>((i * 37) ^ (i >> 3));
  stbi_write_png((dir + "/rgb.png").c_str(), w, h, 3, rgba.data(), w * 3);
  stbi_write_png((dir + "/rgba.png").c_str(), w, h, 4, rgba.data(), w * 4);
  stbi_write_png((dir + "/gray.png").c_str(), w, h, 1, rgba.data(), w);
  stbi_write_bmp((dir + "/rgb.bmp").c_str(), w, h, 3, rgba.data());
  stbi_write_jpg((dir + "/rgb.jpg").c_str(), w, h, 3, rgba.data(), 80);
  // The same JPEG with an EXIF orientation (6) segment after SOI.
  std::vector<unsigned char> jpg;
  stbi_write_jpg_to_func([](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<unsigned char>*>(ctx);
    v->insert(v->end(), static_cast<unsigned char*>(data), static_cast<unsigned char*>(data) + size);
  }, &jpg, w, h, 3, rgba.data(), 80);
  const unsigned char app1[] = {0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0,
                                0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0};
  jpg.insert(jpg.begin() + 2, app1, app1 + sizeof(app1));
  if (FILE* f = std::fopen((dir + "/exif.jpg").c_str(), "wb")) {
    std::fwrite(jpg.data(), 1, jpg.size(), f);
    std::fclose(f);
  }
  const unsigned char gif[] = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 255, 255, 255, 0, 0, 0,
                               ',', 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 'D', 1, 0, ';'};
  if (FILE* f = std::fopen((dir + "/one.gif").c_str(), "wb")) {
    std::fwrite(gif, 1, sizeof(gif), f);
    std::fclose(f);
  }
}

void check_patches(const RgbImage& img) {
  auto p = preprocess_image(img, 70);
  if (!p.ok()) {
    if (p.error().code() != ErrorCode::kInvalidArgument) die("preprocess error class", p.error().message());
    return;
  }
  const auto& v = p.value();
  if (v.n_soft_tokens < 1 || v.n_soft_tokens > 70) die("soft tokens", std::to_string(v.n_soft_tokens));
  if (v.n_patches != int64_t{v.grid_w} * v.grid_h || v.grid_w % 3 != 0 || v.grid_h % 3 != 0) die("grid", "");
  if (v.pixels.size() != static_cast<size_t>(v.n_patches) * 768) die("pixel count", "");
  for (const float x : v.pixels) {
    if (!(x >= 0.0f && x <= 1.0f)) die("pixel range", std::to_string(x));
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  constexpr std::string_view kFlag = "--write-seeds=";
  for (int i = 1; i < *argc; ++i) {
    const std::string_view arg = (*argv)[i];
    if (arg.substr(0, kFlag.size()) == kFlag) {
      write_seeds(std::string(arg.substr(kFlag.size())));
      std::exit(0);
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = decode_image(std::span<const uint8_t>(data, size), "fuzz.img");
  if (!r.ok()) {
    const auto& e = r.error();
    if (e.code() != ErrorCode::kCorruptData && e.code() != ErrorCode::kOutOfRange) die("error class", e.message());
    if (e.message().empty() || e.message().find('\n') != std::string::npos) die("error message", e.message());
    return 0;
  }
  const RgbImage& img = r.value();
  if (img.width <= 0 || img.height <= 0 || int64_t{img.width} * img.height > kMaxImagePixels) die("dims", "");
  if (img.pixels.size() != static_cast<size_t>(img.width) * static_cast<size_t>(img.height) * 3) die("bytes", "");
  if (int64_t{img.width} * img.height <= (int64_t{1} << 20)) check_patches(img);
  return 0;
}
