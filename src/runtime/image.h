// Image input for the vision tower: decoding (stb_image: PNG, JPEG, BMP, GIF first frame, ...) to RGB8,
// Gemma 4's aspect-preserving resize under a soft-token budget (torchvision BICUBIC antialias semantics), and
// patchification into the encoder's pixel rows (gemma4-spec.md §2.2).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"

namespace specula::runtime {

// An 8-bit RGB image, row-major [height, width, 3].
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;
};

inline constexpr int64_t kMaxImagePixels = int64_t{1} << 26;  // 64 Mpx (e.g. 8192x8192): decode limit
inline constexpr int kImagePatch = 16;
inline constexpr int kImagePooling = 3;

// Decodes bytes or a file. Errors: not an image, corrupt or truncated data, zero or too large dimensions
// (checked from the header before any pixel is decoded, so memory stays bounded).
Result<RgbImage> decode_image(std::span<const uint8_t> bytes, const std::string& name);
Result<RgbImage> load_image(const std::string& path);

// The EXIF orientation (1..8) of a JPEG, 1 when it has none; decode_image applies it (as transformers'
// load_image does with PIL's exif_transpose), so a decoded image is upright.
int jpeg_exif_orientation(std::span<const uint8_t> bytes);
// Orientation 2..8 as PIL's exif_transpose: 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise,
// 7 transverse, 8 rotate 90 counter-clockwise. Other values return the image unchanged.
RgbImage apply_orientation(const RgbImage& image, int orientation);

// Soft-token budgets the processor accepts.
bool valid_max_soft_tokens(int n);

// Gemma 4's target size (multiples of 48) for an image of w x h under max_soft_tokens. Errors: an image too
// thin to give a patch row.
Result<std::pair<int, int>> target_size(int width, int height, int max_soft_tokens);

// Resizes as PyTorch's native uint8 antialias path (torchvision >= 0.17 for BICUBIC on uint8 tensors): int16
// fixed-point weights, width pass first with the intermediate rounded to uint8 (Pillow's scheme).
RgbImage resize_bicubic_aa_u8(const RgbImage& src, int width, int height);

// The encoder inputs of one image: pixels [n_patches, 16*16*3] in [0,1] ((py, px, c) order), positions
// [n_patches, 2] = (x, y), and the number of soft tokens it becomes.
struct ImagePatches {
  int grid_w = 0, grid_h = 0;
  int64_t n_patches = 0;
  int64_t n_soft_tokens = 0;
  std::vector<float> pixels;
  std::vector<int32_t> positions;
};

// Resize (when the size changes) + rescale x*float32(1/255) + patchify.
Result<ImagePatches> preprocess_image(const RgbImage& image, int max_soft_tokens);

}  // namespace specula::runtime
