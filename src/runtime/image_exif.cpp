// EXIF orientation of JPEG files and its application, as transformers' load_image does (PIL's exif_transpose:
// 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise).
#include <algorithm>

#include "runtime/image.h"

namespace specula::runtime {
namespace {

// Reads the orientation tag (0x0112) of IFD0 in a TIFF block; 1 when absent or malformed.
int tiff_orientation(std::span<const uint8_t> t) {
  if (t.size() < 8) return 1;
  const bool le = t[0] == 'I' && t[1] == 'I';
  if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
  const auto u16 = [&](size_t at) -> uint32_t {
    return le ? (uint32_t{t[at]} | uint32_t{t[at + 1]} << 8) : (uint32_t{t[at]} << 8 | t[at + 1]);
  };
  const auto u32 = [&](size_t at) -> uint32_t { return le ? (u16(at) | u16(at + 2) << 16) : (u16(at) << 16 | u16(at + 2)); };
  const uint64_t ifd = u32(4);
  if (ifd + 2 > t.size()) return 1;
  const uint32_t n = u16(static_cast<size_t>(ifd));
  for (uint32_t e = 0; e < n; ++e) {
    const uint64_t at = ifd + 2 + uint64_t{e} * 12;
    if (at + 12 > t.size()) return 1;
    if (u16(static_cast<size_t>(at)) == 0x0112 && u16(static_cast<size_t>(at + 2)) == 3) {
      const uint32_t v = u16(static_cast<size_t>(at + 8));
      return v >= 1 && v <= 8 ? static_cast<int>(v) : 1;
    }
  }
  return 1;
}

}  // namespace

int jpeg_exif_orientation(std::span<const uint8_t> b) {
  if (b.size() < 4 || b[0] != 0xFF || b[1] != 0xD8) return 1;
  size_t i = 2;
  while (i + 4 <= b.size() && b[i] == 0xFF) {
    const uint8_t marker = b[i + 1];
    if (marker == 0xDA || marker == 0xD9) break;  // start of scan: no EXIF after this
    const size_t len = (size_t{b[i + 2]} << 8) | b[i + 3];
    if (len < 2 || i + 2 + len > b.size()) break;
    if (marker == 0xE1 && len >= 8) {
      const auto seg = b.subspan(i + 4, len - 2);
      static constexpr uint8_t kExif[6] = {'E', 'x', 'i', 'f', 0, 0};
      if (std::equal(kExif, kExif + 6, seg.begin())) return tiff_orientation(seg.subspan(6));
    }
    i += 2 + len;
  }
  return 1;
}

RgbImage apply_orientation(const RgbImage& in, int orientation) {
  if (orientation < 2 || orientation > 8) return in;
  const int64_t w = in.width, h = in.height;
  const bool swap = orientation >= 5;
  RgbImage out;
  out.width = static_cast<int>(swap ? h : w);
  out.height = static_cast<int>(swap ? w : h);
  out.pixels.resize(in.pixels.size());
  for (int64_t y = 0; y < out.height; ++y) {
    for (int64_t x = 0; x < out.width; ++x) {
      int64_t sx = x, sy = y;  // the source pixel of output (x, y)
      switch (orientation) {
        case 2: sx = w - 1 - x; break;
        case 3: sx = w - 1 - x, sy = h - 1 - y; break;
        case 4: sy = h - 1 - y; break;
        case 5: sx = y, sy = x; break;
        case 6: sx = y, sy = h - 1 - x; break;
        case 7: sx = w - 1 - y, sy = h - 1 - x; break;
        default: sx = w - 1 - y, sy = x; break;  // 8
      }
      for (int64_t c = 0; c < 3; ++c) {
        out.pixels[static_cast<size_t>((y * out.width + x) * 3 + c)] = in.pixels[static_cast<size_t>((sy * w + sx) * 3 + c)];
      }
    }
  }
  return out;
}

}  // namespace specula::runtime
