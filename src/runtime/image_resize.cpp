// Gemma 4 image preprocessing: target size, antialiased bicubic resize and patchification
// (gemma4-spec.md §2.2; torchvision resize(BICUBIC, antialias=True) on a uint8 tensor = PyTorch's native
// uint8 antialias kernel: int16 fixed-point weights, width pass first, intermediate rounded to uint8).
#include <algorithm>
#include <cmath>

#include "runtime/image.h"

namespace specula::runtime {
namespace {

// Fixed-point taps of PyTorch's uint8 antialias path (the Pillow scheme): double weights normalized to sum 1,
// scaled by 2^precision and rounded to int16, where precision is the largest (< 22) keeping max weight < 2^15.
struct IntTaps {
  std::vector<int64_t> first, count;
  std::vector<int32_t> weights;  // [out, max_taps]
  int64_t max_taps = 0;
  int precision = 0;
};

double cubic_aa_d(double x) {
  const double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
  return 0.0;
}

IntTaps compute_int_taps(int64_t in_size, int64_t out_size) {
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double support = scale >= 1.0 ? 2.0 * scale : 2.0;
  const double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
  IntTaps t;
  t.max_taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  t.first.resize(static_cast<size_t>(out_size));
  t.count.resize(static_cast<size_t>(out_size));
  std::vector<double> w(static_cast<size_t>(out_size * t.max_taps), 0.0);
  double wt_max = 0.0;
  for (int64_t i = 0; i < out_size; ++i) {
    const double center = scale * (static_cast<double>(i) + 0.5);
    const int64_t xmin = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    const int64_t xsize = std::min<int64_t>(std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in_size) - xmin,
                                            t.max_taps);
    double* wi = w.data() + i * t.max_taps;
    double total = 0.0;
    for (int64_t j = 0; j < xsize; ++j) {
      wi[j] = cubic_aa_d((static_cast<double>(j + xmin) - center + 0.5) * invscale);
      total += wi[j];
    }
    for (int64_t j = 0; j < xsize && total != 0.0; ++j) {
      wi[j] /= total;
      wt_max = std::max(wt_max, wi[j]);
    }
    t.first[static_cast<size_t>(i)] = xmin;
    t.count[static_cast<size_t>(i)] = std::max<int64_t>(xsize, 0);
  }
  int precision = 0;
  for (; precision < 22; ++precision) {
    const int next = static_cast<int>(0.5 + wt_max * static_cast<double>(1 << (precision + 1)));
    if (next >= (1 << 15)) break;
  }
  t.precision = precision;
  t.weights.resize(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    const double v = w[i] * static_cast<double>(1 << precision);
    t.weights[i] = static_cast<int16_t>(v < 0 ? v - 0.5 : v + 0.5);
  }
  return t;
}

uint8_t apply_int_taps(const uint8_t* src, int64_t tap_stride, const IntTaps& t, int64_t i) {
  const int32_t* w = t.weights.data() + i * t.max_taps;
  const int64_t n = t.count[static_cast<size_t>(i)];
  const uint8_t* s = src + t.first[static_cast<size_t>(i)] * tap_stride;
  int32_t acc = t.precision > 0 ? (1 << (t.precision - 1)) : 0;
  for (int64_t j = 0; j < n; ++j) acc += static_cast<int32_t>(s[j * tap_stride]) * w[j];
  return static_cast<uint8_t>(std::clamp(acc >> t.precision, 0, 255));
}

}  // namespace

bool valid_max_soft_tokens(int n) { return n == 70 || n == 140 || n == 280 || n == 560 || n == 1120; }

Result<std::pair<int, int>> target_size(int width, int height, int max_soft_tokens) {
  if (!valid_max_soft_tokens(max_soft_tokens)) {
    return make_error(ErrorCode::kInvalidArgument, "image max tokens {} is not one of 70, 140, 280, 560, 1120",
                      max_soft_tokens);
  }
  if (width <= 0 || height <= 0) return make_error(ErrorCode::kInvalidArgument, "image has zero size");
  const int64_t max_patches = int64_t{max_soft_tokens} * kImagePooling * kImagePooling;
  const double side = kImagePatch * kImagePooling;  // 48
  const double h = height, w = width;
  const double factor = std::sqrt(static_cast<double>(max_patches) * kImagePatch * kImagePatch / (h * w));
  int64_t th = static_cast<int64_t>(std::floor(factor * h / side)) * 48;
  int64_t tw = static_cast<int64_t>(std::floor(factor * w / side)) * 48;
  const int64_t max_side = (max_patches / (kImagePooling * kImagePooling)) * 48;
  if (th == 0 && tw == 0) {
    return make_error(ErrorCode::kInvalidArgument, "image of {}x{} cannot be resized to the patch grid", width, height);
  }
  if (th == 0) {
    th = 48;
    tw = std::min<int64_t>(static_cast<int64_t>(std::floor(w / h)) * 48, max_side);
  } else if (tw == 0) {
    tw = 48;
    th = std::min<int64_t>(static_cast<int64_t>(std::floor(h / w)) * 48, max_side);
  }
  return std::pair{static_cast<int>(tw), static_cast<int>(th)};
}

RgbImage resize_bicubic_aa_u8(const RgbImage& src, int width, int height) {
  const int64_t iw = src.width, ih = src.height, ow = width, oh = height;
  std::vector<uint8_t> mid = src.pixels;  // [ih, ow, 3] after the width pass
  if (ow != iw) {
    const IntTaps tx = compute_int_taps(iw, ow);
    mid.assign(static_cast<size_t>(ih * ow * 3), 0);
    for (int64_t y = 0; y < ih; ++y) {
      for (int64_t x = 0; x < ow; ++x) {
        for (int64_t c = 0; c < 3; ++c) {
          mid[static_cast<size_t>((y * ow + x) * 3 + c)] = apply_int_taps(src.pixels.data() + y * iw * 3 + c, 3, tx, x);
        }
      }
    }
  }
  RgbImage out;
  out.width = width;
  out.height = height;
  if (oh == ih) {
    out.pixels = std::move(mid);
    return out;
  }
  const IntTaps ty = compute_int_taps(ih, oh);
  out.pixels.resize(static_cast<size_t>(oh * ow * 3));
  for (int64_t y = 0; y < oh; ++y) {
    for (int64_t x = 0; x < ow; ++x) {
      for (int64_t c = 0; c < 3; ++c) {
        out.pixels[static_cast<size_t>((y * ow + x) * 3 + c)] = apply_int_taps(mid.data() + x * 3 + c, ow * 3, ty, y);
      }
    }
  }
  return out;
}

Result<ImagePatches> preprocess_image(const RgbImage& image, int max_soft_tokens) {
  SPECULA_TRY(const auto size, target_size(image.width, image.height, max_soft_tokens));
  const auto [tw, th] = size;
  const RgbImage resized =
      (tw == image.width && th == image.height) ? image : resize_bicubic_aa_u8(image, tw, th);
  ImagePatches p;
  p.grid_w = tw / kImagePatch;
  p.grid_h = th / kImagePatch;
  p.n_patches = int64_t{p.grid_w} * p.grid_h;
  p.n_soft_tokens = p.n_patches / (kImagePooling * kImagePooling);
  constexpr int64_t kPatchDim = kImagePatch * kImagePatch * 3;
  p.pixels.resize(static_cast<size_t>(p.n_patches * kPatchDim));
  p.positions.resize(static_cast<size_t>(p.n_patches * 2));
  const float rescale = static_cast<float>(1.0 / 255.0);
  for (int64_t gy = 0; gy < p.grid_h; ++gy) {
    for (int64_t gx = 0; gx < p.grid_w; ++gx) {
      const int64_t patch = gy * p.grid_w + gx;
      p.positions[static_cast<size_t>(2 * patch)] = static_cast<int32_t>(gx);
      p.positions[static_cast<size_t>(2 * patch + 1)] = static_cast<int32_t>(gy);
      float* dst = p.pixels.data() + patch * kPatchDim;
      for (int64_t py = 0; py < kImagePatch; ++py) {
        const uint8_t* row = resized.pixels.data() + ((gy * kImagePatch + py) * tw + gx * kImagePatch) * 3;
        for (int64_t i = 0; i < kImagePatch * 3; ++i) dst[py * kImagePatch * 3 + i] = static_cast<float>(row[i]) * rescale;
      }
    }
  }
  return p;
}

}  // namespace specula::runtime
