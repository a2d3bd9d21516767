// tests/test_images.cpp: the user's own image files (flow/image_files.h) and the U-Net presets.
// Every file is written here, byte by byte, so each pixel and label read back is checked
// exactly against what was written; bad files must fail with one line naming the problem.
#include <doctest/doctest.h>
#include <png.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "autodiff/ops.h"
#include "flow/dataset.h"
#include "flow/image_files.h"
#include "tensor/io/npy.h"
#include "nn/unet.h"
#include "tests/test_util.h"

using namespace fm;
using fm::testing::error_of;
using fm::testing::TempDir;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

// A .npy v1.0 file of `descr` and `shape` holding `data` (its raw little-endian elements).
void write_npy(const std::string& path, const std::string& descr, const Shape& shape, const std::string& data) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + npy_shape_str(shape) + ", }";
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string file = std::string("\x93NUMPY\x01\x00", 8);
  file += char(header.size() & 0xFF);
  file += char(header.size() >> 8);
  write_bytes(path, file + header + data);
}

template <class T>
std::string as_bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// Element (n, c, y, x) of an [N, C, H, W] tensor.
float at4(const Tensor& t, int64_t n, int64_t c, int64_t y, int64_t x) {
  return t.at(((n * t.dim(1) + c) * t.dim(2) + y) * t.dim(3) + x);
}

bool one_line(const std::string& msg) { return !msg.empty() && msg.find('\n') == std::string::npos; }

// Pixel (n, c, y, x) of a test image: distinct enough that any mix-up of axes shows.
int pixel(int64_t n, int64_t c, int64_t y, int64_t x) { return int((n * 67 + c * 29 + y * 11 + x * 3) % 256); }

// Checks that set holds pixel(n, c, y, x) for [N, C, H, W].
void check_pixels(const ImageSet& set, const Shape& shape) {
  REQUIRE(set.shape == shape);
  REQUIRE(int64_t(set.pixels.size()) == shape_numel(shape));
  int64_t bad = 0, i = 0;
  for (int64_t n = 0; n < shape[0]; ++n)
    for (int64_t c = 0; c < shape[1]; ++c)
      for (int64_t y = 0; y < shape[2]; ++y)
        for (int64_t x = 0; x < shape[3]; ++x, ++i)
          bad += static_cast<unsigned char>(set.pixels[size_t(i)]) != pixel(n, c, y, x);
  CHECK(bad == 0);
}

// An RGBA PNG through libpng's simplified writer (alpha varies, so dropping it is tested).
void write_rgba_png(const std::string& path, int64_t n, int w, int h) {
  std::vector<png_byte> buf(size_t(w) * h * 4);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 4; ++c) buf[(size_t(y) * w + x) * 4 + c] = png_byte(c < 3 ? pixel(n, c, y, x) : 40 + x);
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = png_uint_32(w);
  img.height = png_uint_32(h);
  img.format = PNG_FORMAT_RGBA;
  REQUIRE(png_image_write_to_file(&img, path.c_str(), 0, buf.data(), 0, nullptr));
}

void write_grey_png(const std::string& path, int64_t n, int w, int h) {
  std::vector<png_byte> buf(size_t(w) * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) buf[size_t(y) * w + x] = png_byte(pixel(n, 0, y, x));
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = png_uint_32(w);
  img.height = png_uint_32(h);
  img.format = PNG_FORMAT_GRAY;
  REQUIRE(png_image_write_to_file(&img, path.c_str(), 0, buf.data(), 0, nullptr));
}

// A CIFAR-10 record: label, then the R, G, B planes of pixel(n, c, y, x).
std::string cifar_record(int64_t n, int label) {
  std::string r(1, char(label));
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) r += char(pixel(n, c, y, x));
  return r;
}

}  // namespace

TEST_CASE("cifar10: records, labels, the train split's five files and the errors") {
  TempDir tmp;
  const std::string one = tmp.path("one.bin");
  write_bytes(one, cifar_record(0, 7) + cifar_record(1, 2));
  ImageSet s = read_cifar10_batch(one);
  check_pixels(s, {2, 3, 32, 32});
  CHECK(s.labels == std::vector<int64_t>{7, 2});
  CHECK(s.num_classes == 10);

  // A record of the wrong size: one byte short.
  const std::string bad = tmp.path("bad.bin");
  write_bytes(bad, cifar_record(0, 1).substr(1));
  std::string msg = error_of([&] { read_cifar10_batch(bad); });
  CHECK(one_line(msg));
  CHECK(msg.find("3072 bytes is not a whole number of 3073-byte CIFAR-10 records") != std::string::npos);
  std::string r = cifar_record(0, 11);
  write_bytes(bad, r);
  CHECK(error_of([&] { read_cifar10_batch(bad); }).find("record 0 has label 11") != std::string::npos);

  // The train split: data_batch_1..5 in order; missing ones are all named.
  const std::string dir = tmp.path("cifar");
  std::filesystem::create_directories(dir);
  write_bytes(dir + "/data_batch_1.bin", cifar_record(0, 3));
  write_bytes(dir + "/data_batch_3.bin", cifar_record(2, 5));
  msg = error_of([&] { load_cifar10(dir, "train"); });
  CHECK(one_line(msg));
  CHECK(msg.find("missing data_batch_2.bin, data_batch_4.bin, data_batch_5.bin in " + dir) != std::string::npos);
  CHECK(error_of([&] { load_cifar10(dir, "test"); }).find("missing test_batch.bin") != std::string::npos);
  write_bytes(dir + "/data_batch_2.bin", cifar_record(1, 4));
  write_bytes(dir + "/data_batch_4.bin", cifar_record(3, 6));
  write_bytes(dir + "/data_batch_5.bin", cifar_record(4, 8) + cifar_record(5, 9));
  s = load_cifar10(dir, "train");
  check_pixels(s, {6, 3, 32, 32});
  CHECK(s.labels == std::vector<int64_t>{3, 4, 5, 6, 8, 9});

  // Through open_dataset: integer pixels and labels, from the folder above cifar-10-batches-bin too.
  const std::string above = tmp.path("above");
  std::filesystem::create_directories(above + "/cifar-10-batches-bin");
  write_bytes(above + "/cifar-10-batches-bin/test_batch.bin", cifar_record(0, 1) + cifar_record(1, 0));
  DataOptions opt;
  opt.split = "test";
  opt.data_dir = above;
  auto data = open_dataset("cifar10", opt);
  CHECK(data->name() == "cifar10/test");
  CHECK(data->sample_shape() == Shape{3, 32, 32});
  CHECK(data->labels() == std::vector<int64_t>{1, 0});
  Tensor px = data->head_pixels(2);
  CHECK(at4(px, 1, 2, 31, 30) == float(pixel(1, 2, 31, 30)));
  CHECK(data->details().find("2 labels, 10 classes") != std::string::npos);
  CHECK(error_of([] { open_dataset("cifar10"); }).find("pass --data-dir DIR") != std::string::npos);
}

TEST_CASE("npy images: both layouts, uint8 and float, inference and its errors") {
  TempDir tmp;
  const int64_t N = 2, C = 3, H = 4, W = 5;
  std::vector<uint8_t> nchw, nhwc;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) nchw.push_back(uint8_t(pixel(n, c, y, x)));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        for (int64_t c = 0; c < C; ++c) nhwc.push_back(uint8_t(pixel(n, c, y, x)));
  auto to = [](const std::vector<uint8_t>& v, auto zero) {
    std::vector<decltype(zero)> out(v.begin(), v.end());
    return out;
  };

  write_npy(tmp.path("a.npy"), "|u1", {N, C, H, W}, as_bytes(nchw));
  ImageSet s = load_npy_images(tmp.path("a.npy"));
  check_pixels(s, {N, C, H, W});
  CHECK(s.note == "NCHW, inferred");
  write_npy(tmp.path("b.npy"), "|u1", {N, H, W, C}, as_bytes(nhwc));
  s = load_npy_images(tmp.path("b.npy"));
  check_pixels(s, {N, C, H, W});
  CHECK(s.note == "NHWC, inferred");
  write_npy(tmp.path("c.npy"), "<f4", {N, H, W, C}, as_bytes(to(nhwc, 0.0f)));
  check_pixels(load_npy_images(tmp.path("c.npy")), {N, C, H, W});
  write_npy(tmp.path("d.npy"), "<f8", {N, C, H, W}, as_bytes(to(nchw, 0.0)));
  check_pixels(load_npy_images(tmp.path("d.npy"), "nchw"), {N, C, H, W});

  // open_dataset: a 4-D .npy is images, a 2-D one stays points.
  auto data = open_dataset(tmp.path("b.npy"));
  CHECK(data->sample_shape() == Shape{C, H, W});
  CHECK(at4(data->head_pixels(2), 1, 2, 3, 4) == float(pixel(1, 2, 3, 4)));
  CHECK(data->details() == "NHWC, inferred");
  write_npy(tmp.path("p.npy"), "<f4", {3, 2}, as_bytes(std::vector<float>{1, 2, 3, 4, 5, 6}));
  CHECK(open_dataset(tmp.path("p.npy"))->sample_shape() == Shape{2});
  CHECK(error_of([&] { DataOptions o; o.layout = "nhwc"; open_dataset(tmp.path("p.npy"), o); })
            .find("applies to image arrays") != std::string::npos);

  // Ambiguous: 3 x 3 x 3 images could be either.
  write_npy(tmp.path("amb.npy"), "|u1", {2, 3, 3, 3}, std::string(54, '\x07'));
  std::string msg = error_of([&] { load_npy_images(tmp.path("amb.npy")); });
  CHECK(one_line(msg));
  CHECK(msg.find("cannot tell the layout of shape 2 x 3 x 3 x 3") != std::string::npos);
  CHECK(msg.find("pass --layout nchw or --layout nhwc") != std::string::npos);
  CHECK(load_npy_images(tmp.path("amb.npy"), "nhwc").note == "NHWC, from --layout");
  write_npy(tmp.path("none.npy"), "|u1", {2, 4, 4, 4}, std::string(128, '\x07'));
  CHECK(error_of([&] { load_npy_images(tmp.path("none.npy")); }).find("neither the second nor the last") !=
        std::string::npos);
  CHECK(error_of([&] { load_npy_images(tmp.path("none.npy"), "nchw"); }).find("has 4 channels") != std::string::npos);

  // Floats must be the pixel values: 0.5 (a [0, 1] array) is refused by value and index.
  std::vector<float> scaled(size_t(N * C * H * W), 0.0f);
  scaled[5] = 0.5f;
  write_npy(tmp.path("f.npy"), "<f4", {N, C, H, W}, as_bytes(scaled));
  msg = error_of([&] { load_npy_images(tmp.path("f.npy")); });
  CHECK(one_line(msg));
  CHECK(msg.find("value 0.5 at flat index 5 is not an integer pixel 0..255") != std::string::npos);
  write_npy(tmp.path("i.npy"), "<i8", {N, C, H, W}, std::string(size_t(N * C * H * W * 8), '\0'));
  CHECK(error_of([&] { load_npy_images(tmp.path("i.npy")); }).find("dtype '<i8' is not supported here") !=
        std::string::npos);
  // A 2-D points file of uint8 keeps its old message.
  write_npy(tmp.path("u2.npy"), "|u1", {2, 2}, std::string(4, '\0'));
  CHECK(error_of([&] { open_dataset(tmp.path("u2.npy")); })
            .find("dtype '|u1' is not supported (expected float32 '<f4' or float64 '<f8')") != std::string::npos);

  // Grey N x H x W.
  std::vector<uint8_t> grey;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) grey.push_back(uint8_t(pixel(n, 0, y, x)));
  write_npy(tmp.path("g.npy"), "|u1", {N, H, W}, as_bytes(grey));
  check_pixels(load_npy_images(tmp.path("g.npy")), {N, 1, H, W});
}

TEST_CASE("npy images: --labels are loaded and checked") {
  TempDir tmp;
  write_npy(tmp.path("x.npy"), "|u1", {3, 1, 2, 2}, std::string(12, '\x05'));
  write_npy(tmp.path("y.npy"), "<i8", {3}, as_bytes(std::vector<int64_t>{2, 0, 4}));
  DataOptions opt;
  opt.labels = tmp.path("y.npy");
  auto data = open_dataset(tmp.path("x.npy"), opt);
  CHECK(data->labels() == std::vector<int64_t>{2, 0, 4});
  CHECK(data->num_classes() == 5);
  CHECK(data->details() == "NCHW, inferred; 3 labels, 5 classes");
  write_npy(tmp.path("y2.npy"), "<i4", {2}, as_bytes(std::vector<int32_t>{1, 1}));
  opt.labels = tmp.path("y2.npy");
  std::string msg = error_of([&] { open_dataset(tmp.path("x.npy"), opt); });
  CHECK(one_line(msg));
  CHECK(msg.find("holds 2 labels for 3 images") != std::string::npos);
  write_npy(tmp.path("y3.npy"), "<i4", {3}, as_bytes(std::vector<int32_t>{1, -1, 0}));
  opt.labels = tmp.path("y3.npy");
  CHECK(error_of([&] { open_dataset(tmp.path("x.npy"), opt); }).find("label -1 at index 1 is negative") !=
        std::string::npos);
  CHECK(error_of([&] { open_dataset("checkerboard", opt); }).find("--labels applies to .npy and .csv files and IDX image files") !=
        std::string::npos);
}

TEST_CASE("png folders: RGBA (alpha dropped), grey, class sub-folders and the errors") {
  TempDir tmp;
  const std::string flat = tmp.path("flat");
  std::filesystem::create_directories(flat);
  for (int64_t n = 0; n < 3; ++n) write_rgba_png(flat + "/img" + std::to_string(n) + ".png", n, 6, 4);
  write_bytes(flat + "/notes.txt", "not an image, and not named .png: skipped");
  ImageSet s = load_png_folder(flat);
  check_pixels(s, {3, 3, 4, 6});
  CHECK(s.labels.empty());
  auto data = open_dataset(flat + "/");
  CHECK(data->sample_shape() == Shape{3, 4, 6});
  CHECK(at4(data->head_pixels(3), 2, 1, 3, 5) == float(pixel(2, 1, 3, 5)));

  // Sub-folders: the class is the sorted index of the folder; grey stays one channel.
  const std::string classes = tmp.path("classes");
  std::filesystem::create_directories(classes + "/b_dog");
  std::filesystem::create_directories(classes + "/a_cat");
  write_grey_png(classes + "/a_cat/0.png", 0, 5, 5);
  write_grey_png(classes + "/a_cat/1.png", 1, 5, 5);
  write_grey_png(classes + "/b_dog/0.png", 2, 5, 5);
  s = load_png_folder(classes);
  check_pixels(s, {3, 1, 5, 5});
  CHECK(s.labels == std::vector<int64_t>{0, 0, 1});
  CHECK(s.num_classes == 2);
  CHECK(s.note == "classes a_cat, b_dog");

  // Mixed sizes: both files and both sizes named.
  write_grey_png(classes + "/b_dog/1.png", 3, 5, 7);
  std::string msg = error_of([&] { load_png_folder(classes); });
  CHECK(one_line(msg));
  CHECK(msg.find("b_dog/1.png: is 5x7 but ") != std::string::npos);
  CHECK(msg.find("a_cat/0.png is 5x5 (all images must have one size)") != std::string::npos);

  // A .png that is not one.
  write_bytes(flat + "/fake.png", "GIF89a, really");
  msg = error_of([&] { load_png_folder(flat); });
  CHECK(one_line(msg));
  CHECK(msg.find("fake.png: not a PNG file") != std::string::npos);

  const std::string empty = tmp.path("empty");
  std::filesystem::create_directories(empty);
  msg = error_of([&] { load_png_folder(empty); });
  CHECK(one_line(msg));
  CHECK(msg.find("no .png files in the folder") != std::string::npos);
}

TEST_CASE("unet presets: 3 x 32 x 32 and 3 x 64 x 64, forward and backward at batch 2") {
  CHECK(unet_preset("cifar10").channels == 256);
  CHECK(unet_preset("cifar10").mult == std::vector<int64_t>{1, 2, 2, 2});
  CHECK(unet_preset("cifar10").attn_res == std::vector<int64_t>{16});
  CHECK(error_of([] { unet_preset("huge"); }).find("presets: tiny, small, fmnist, cifar10, imagenet64") !=
        std::string::npos);
  for (auto [name, side] : {std::pair<const char*, int64_t>{"cifar10", 32}, {"imagenet64", 64}}) {
    CAPTURE(name);
    UNetConfig c = unet_preset(name);
    c.in_channels = 3;
    c.height = c.width = side;
    c.channels = 8;  // small channels, the preset's levels, blocks and attention resolutions
    c.groups = 4;
    if (side == 64) c.num_res = 1;  // keeps the test short; the 3 levels of attention stay
    Rng rng(1);
    UNetField net(c, rng);
    Tensor x = fm::testing::randu({2, 3, side, side}, 2);
    Tensor t = Tensor::from({0.25f, 0.75f}, {2});
    Var xv(x, true);
    Var y = net.forward(xv, t);
    CHECK(y.shape() == Shape{2, 3, side, side});
    backward(sum(mul(y, y)));
    REQUIRE(xv.grad().defined());
    double g = 0;
    for (int64_t i = 0; i < x.numel(); ++i) g += std::fabs(xv.grad().at(i));
    CHECK(std::isfinite(g));
    CHECK(g > 0);
    for (const Param& p : net.parameters()) CHECK(p.var.grad().defined());
  }
}
