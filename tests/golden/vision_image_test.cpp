// Image preprocessing against the transformers processor outputs for coffee.png (max_soft_tokens 70) and the
// spec's worked size examples; hostile inputs give errors with bounded memory.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "golden_util.h"
#include "runtime/image.h"
#include "test_paths.h"

namespace specula::test {
namespace {

using runtime::RgbImage;

std::string coffee_path() { return shared_dir() + "/assets/images/coffee.png"; }

TEST(VisionImage, TargetSizesMatchSpecExamples) {
  // gemma4-spec.md §2.2 worked examples (w x h in, w x h out, budget).
  struct Ex { int w, h, budget, tw, th; };
  for (const Ex& e : {Ex{224, 224, 280, 768, 768}, Ex{1024, 768, 280, 912, 672}, Ex{1920, 1080, 280, 1056, 576},
                      Ex{100, 4000, 280, 96, 5040}, Ex{500, 500, 70, 384, 384}, Ex{500, 500, 1120, 1584, 1584},
                      Ex{600, 400, 70, 480, 288}}) {
    auto s = runtime::target_size(e.w, e.h, e.budget);
    ASSERT_TRUE(s.ok()) << s.error().message();
    EXPECT_EQ(s.value().first, e.tw) << e.w << "x" << e.h;
    EXPECT_EQ(s.value().second, e.th) << e.w << "x" << e.h;
  }
  EXPECT_FALSE(runtime::target_size(100, 100, 100).ok());
  EXPECT_FALSE(runtime::target_size(0, 100, 280).ok());
}

TEST(VisionImage, CoffeePreprocessingMatchesProcessor) {
  auto img = runtime::load_image(coffee_path());
  ASSERT_TRUE(img.ok()) << img.error().message();
  ASSERT_EQ(img.value().width, 600);
  ASSERT_EQ(img.value().height, 400);
  auto p = runtime::preprocess_image(img.value(), 70);
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(p.value().grid_w, 30);
  EXPECT_EQ(p.value().grid_h, 18);
  EXPECT_EQ(p.value().n_soft_tokens, 60);
  const std::string dir = fixture_dir("vision");
  const auto want = read_f32(dir + "/coffee.pixel_values.f32");
  const auto pos_raw = read_f32(dir + "/coffee.position_ids.i32");
  std::vector<int32_t> pos(pos_raw.size());
  std::memcpy(pos.data(), pos_raw.data(), pos.size() * 4);
  EXPECT_EQ(p.value().positions, pos);
  ASSERT_EQ(p.value().pixels.size(), want.size());
  size_t n_diff = 0;
  float max_diff = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const float d = std::fabs(p.value().pixels[i] - want[i]);
    n_diff += d != 0.0f;
    max_diff = std::max(max_diff, d);
  }
  std::printf("  coffee.png: %zu of %zu pixel values differ, max difference %.0f/255\n", n_diff, want.size(),
              static_cast<double>(max_diff * 255.0f));
  EXPECT_EQ(n_diff, 0u);
}

// A real JPEG with an EXIF APP1 segment (little-endian TIFF, IFD0 holding only the orientation) inserted after SOI.
std::vector<uint8_t> with_orientation(const std::vector<uint8_t>& jpeg, uint8_t orientation) {
  const std::vector<uint8_t> app1 = {0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,  // length 34
                                     'I', 'I', 42, 0, 8, 0, 0, 0,                      // TIFF header, IFD0 at 8
                                     1, 0,                                             // one entry
                                     0x12, 0x01, 3, 0, 1, 0, 0, 0, orientation, 0, 0, 0,  // orientation, SHORT
                                     0, 0, 0, 0};                                      // no next IFD
  std::vector<uint8_t> out = jpeg;
  out.insert(out.begin() + 2, app1.begin(), app1.end());
  return out;
}

TEST(VisionImage, ExifOrientationIsApplied) {
  FILE* f = std::fopen((shared_dir() + "/assets/images/grace_hopper.jpg").c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::vector<uint8_t> jpeg(1 << 20);
  jpeg.resize(std::fread(jpeg.data(), 1, jpeg.size(), f));
  std::fclose(f);
  auto base = runtime::decode_image(jpeg, "upright.jpg");
  ASSERT_TRUE(base.ok());
  const RgbImage& o = base.value();
  const int w = o.width, h = o.height;
  const auto px = [](const RgbImage& im, int x, int y) {
    const size_t i = (static_cast<size_t>(y) * static_cast<size_t>(im.width) + static_cast<size_t>(x)) * 3;
    return std::vector<uint8_t>(im.pixels.begin() + static_cast<std::ptrdiff_t>(i),
                                im.pixels.begin() + static_cast<std::ptrdiff_t>(i + 3));
  };
  EXPECT_EQ(runtime::jpeg_exif_orientation(jpeg), 1);
  EXPECT_EQ(runtime::jpeg_exif_orientation(with_orientation(jpeg, 6)), 6);
  // 6: stored rotated; displaying it turns it 90 degrees clockwise: the left column, bottom to top, becomes the top row.
  auto r6 = runtime::decode_image(with_orientation(jpeg, 6), "r6.jpg");
  ASSERT_TRUE(r6.ok());
  ASSERT_EQ(r6.value().width, h);
  ASSERT_EQ(r6.value().height, w);
  EXPECT_EQ(px(r6.value(), 0, 0), px(o, 0, h - 1));
  EXPECT_EQ(px(r6.value(), h - 1, 0), px(o, 0, 0));
  EXPECT_EQ(px(r6.value(), h - 1, w - 1), px(o, w - 1, 0));
  // 8: 90 degrees counter-clockwise: the right column, top to bottom, becomes the top row.
  auto r8 = runtime::decode_image(with_orientation(jpeg, 8), "r8.jpg");
  ASSERT_TRUE(r8.ok());
  EXPECT_EQ(px(r8.value(), 0, 0), px(o, w - 1, 0));
  EXPECT_EQ(px(r8.value(), h - 1, 0), px(o, w - 1, h - 1));
  // 3: 180 degrees; 2: mirrored left-right.
  auto r3 = runtime::decode_image(with_orientation(jpeg, 3), "r3.jpg");
  auto r2 = runtime::decode_image(with_orientation(jpeg, 2), "r2.jpg");
  ASSERT_TRUE(r3.ok() && r2.ok());
  EXPECT_EQ(px(r3.value(), 0, 0), px(o, w - 1, h - 1));
  EXPECT_EQ(px(r3.value(), 5, 7), px(o, w - 6, h - 8));
  EXPECT_EQ(px(r2.value(), 5, 7), px(o, w - 6, 7));
}

TEST(VisionImage, BadInputsAreErrors) {
  const std::vector<uint8_t> empty;
  EXPECT_FALSE(runtime::decode_image(empty, "empty").ok());
  const std::string text = "this is not an image at all";
  EXPECT_FALSE(runtime::decode_image({reinterpret_cast<const uint8_t*>(text.data()), text.size()}, "text").ok());
  // PNG headers declaring 20000 x 20000 and 12000 x 12000 pixels: refused from the header (by stb's own
  // 1 GiB bound, and by our pixel limit), nothing is allocated.
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                              0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20, 8, 2, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_FALSE(runtime::decode_image(png, "huge.png").ok());
  png[18] = png[22] = 0x2e;
  png[19] = png[23] = 0xe0;  // 0x2ee0 = 12000
  auto huge = runtime::decode_image(png, "huge.png");
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.error().message().find("12000x12000"), std::string::npos) << huge.error().message();
  // A JPEG Huffman table declaring 257 codes (stb_image 2.27 would write past its table): refused up front.
  std::vector<uint8_t> jpeg = {0xFF, 0xD8, 0xFF, 0xC4, 0x01, 0x22, 0x00};
  for (int k = 0; k < 16; ++k) jpeg.push_back(k == 0 ? 0 : (k == 1 ? 2 : (k == 8 ? 255 : 0)));
  jpeg.resize(jpeg.size() + 257, 0x01);
  auto bad_jpeg = runtime::decode_image(jpeg, "dht.jpg");
  ASSERT_FALSE(bad_jpeg.ok());
  EXPECT_NE(bad_jpeg.error().message().find("Huffman"), std::string::npos) << bad_jpeg.error().message();
  // A PNG whose IDAT chunk claims 1.2 GB in a 60-byte file: refused before stb_image allocates for it.
  std::vector<uint8_t> idat = png;
  idat.resize(33);
  const uint8_t chunk[] = {0x4d, 0x00, 0x01, 0x23, 'I', 'D', 'A', 'T', 0x78, 0x5e, 1, 2, 3, 4};
  idat.insert(idat.end(), std::begin(chunk), std::end(chunk));
  idat[18] = idat[22] = 0;
  idat[19] = idat[23] = 13;
  auto claim = runtime::decode_image(idat, "claim.png");
  ASSERT_FALSE(claim.ok());
  EXPECT_NE(claim.error().message().find("runs past the end"), std::string::npos) << claim.error().message();
  // Zero width.
  png[16] = png[17] = png[18] = png[19] = 0;
  EXPECT_FALSE(runtime::decode_image(png, "zero.png").ok());
  // A truncated real image.
  auto full = runtime::load_image(coffee_path());
  ASSERT_TRUE(full.ok());
  FILE* f = std::fopen(coffee_path().c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::vector<uint8_t> bytes(4096);
  bytes.resize(std::fread(bytes.data(), 1, bytes.size(), f));
  std::fclose(f);
  EXPECT_FALSE(runtime::decode_image(bytes, "truncated.png").ok());
  EXPECT_FALSE(runtime::load_image("/nonexistent/image.png").ok());
}

TEST(VisionImage, DecodesBmpAndGif) {
  // A 2x2 24-bit BMP (bottom-up rows, BGR, rows padded to 4 bytes): bottom row red, blue; top row green, white.
  std::vector<uint8_t> bmp = {'B', 'M', 70, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0,
                              24, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0x13, 0x0b, 0, 0, 0x13, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                              0, 0, 255, 255, 0, 0, 0, 0, 0, 255, 0, 255, 255, 255, 0, 0};
  auto b = runtime::decode_image(bmp, "tiny.bmp");
  ASSERT_TRUE(b.ok()) << b.error().message();
  ASSERT_EQ(b.value().width, 2);
  ASSERT_EQ(b.value().height, 2);
  const std::vector<uint8_t> want = {0, 255, 0, 255, 255, 255, 255, 0, 0, 0, 0, 255};
  EXPECT_EQ(b.value().pixels, want);
  // The classic 1x1 GIF89a (a two-colour palette, white first).
  const std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 255, 255, 255, 0, 0, 0, ',', 0,
                                    0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 'D', 1, 0, ';'};
  auto g = runtime::decode_image(gif, "tiny.gif");
  ASSERT_TRUE(g.ok()) << g.error().message();
  EXPECT_EQ(g.value().width, 1);
  EXPECT_EQ(g.value().pixels, (std::vector<uint8_t>{255, 255, 255}));
  auto p = runtime::preprocess_image(g.value(), 280);  // upscaled to 768 x 768 = 256 soft tokens
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.value().n_soft_tokens, 256);
}

TEST(VisionImage, DecodesJpegAndPng) {
  for (const char* name : {"rocket.jpg", "grace_hopper.jpg", "camera.png", "chelsea.png"}) {
    auto img = runtime::load_image(shared_dir() + "/assets/images/" + name);
    ASSERT_TRUE(img.ok()) << name << ": " << img.error().message();
    EXPECT_EQ(img.value().pixels.size(), static_cast<size_t>(img.value().width) * img.value().height * 3);
    auto p = runtime::preprocess_image(img.value(), 280);
    ASSERT_TRUE(p.ok());
    EXPECT_LE(p.value().n_soft_tokens, 280);
    EXPECT_GT(p.value().n_soft_tokens, 200);
  }
}

}  // namespace
}  // namespace specula::test
