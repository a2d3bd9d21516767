// tests/test_idx.cpp: the IDX reader (plain and gzipped) and the image datasets built on it.
//
// Files are written from bytes built here, so every malformation is exact: wrong magic, every
// truncation length, trailing bytes, zero sizes, corrupt gzip, a header claiming a huge N.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include "flow/dataset.h"
#include "flow/idx.h"
#include "tests/test_util.h"

using namespace fm;
using fm::testing::error_of;
using fm::testing::TempDir;
namespace fs = std::filesystem;

namespace {


void put_u32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((v >> shift) & 0xff);
}

// An IDX file: magic, sizes, then the given elements.
std::string idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::string s;
  put_u32(s, magic);
  for (uint32_t d : dims) put_u32(s, d);
  s.append(data.begin(), data.end());
  return s;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile g = gzopen(path.c_str(), "wb9");
  REQUIRE(g != nullptr);
  if (!bytes.empty()) REQUIRE(gzwrite(g, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
  REQUIRE(gzclose(g) == Z_OK);
}

// 3 images of 2 x 3 pixels: image i, row y, column x holds 10 * (3 * y + x) + i, and image 2 also
// has the extremes 0 and 255.
std::vector<uint8_t> small_pixels() {
  std::vector<uint8_t> p;
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 6; ++k) p.push_back(static_cast<uint8_t>(10 * k + i));
  p[12] = 0;
  p[17] = 255;
  return p;
}

std::string small_file() { return idx_bytes(0x803, {3, 2, 3}, small_pixels()); }

// (Not designated initializers: GCC's -Wextra warns about the members they leave out.)
DataOptions options(const std::string& split, const std::string& dir) {
  DataOptions opt;
  opt.split = split;
  opt.data_dir = dir;
  return opt;
}

std::vector<float> values(const Tensor& t) { return std::vector<float>(t.data(), t.data() + t.numel()); }

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("IDX images and labels, plain and gzipped") {
  TempDir tmp;
  std::vector<uint8_t> px = small_pixels();
  std::vector<float> expected(px.begin(), px.end());
  write_bytes(tmp.path("a-idx3-ubyte"), small_file());
  write_gz(tmp.path("a-idx3-ubyte.gz"), small_file());
  for (const char* name : {"a-idx3-ubyte", "a-idx3-ubyte.gz"}) {
    Tensor t = load_idx_images(tmp.path(name));
    CHECK(t.shape() == Shape{3, 1, 2, 3});
    CHECK(values(t) == expected);
  }
  // Two concatenated gzip members (as `cat a.gz b.gz` makes) are one stream of bytes.
  std::string whole = small_file();
  write_gz(tmp.path("m1.gz"), whole.substr(0, 7));
  write_gz(tmp.path("m2.gz"), whole.substr(7));
  write_bytes(tmp.path("multi.gz"), read_bytes(tmp.path("m1.gz")) + read_bytes(tmp.path("m2.gz")));
  CHECK(values(load_idx_images(tmp.path("multi.gz"))) == expected);

  write_gz(tmp.path("labels.gz"), idx_bytes(0x801, {4}, {9, 0, 3, 7}));
  Tensor labels = load_idx_labels(tmp.path("labels.gz"));
  CHECK(labels.shape() == Shape{4});
  CHECK(values(labels) == std::vector<float>{9, 0, 3, 7});
}

TEST_CASE("IDX reader rejects bad magic, wrong kinds and bad sizes") {
  TempDir tmp;
  std::string f = tmp.path("bad");
  auto images_error = [&](const std::string& bytes) {
    write_bytes(f, bytes);
    return error_of([&] { load_idx_images(f); });
  };
  std::vector<uint8_t> px = small_pixels();
  CHECK(images_error(idx_bytes(0x12340803, {3, 2, 3}, px)).find("not an IDX file") != std::string::npos);
  CHECK(images_error(idx_bytes(0xd03, {3, 2, 3}, px)).find("not unsigned byte") != std::string::npos);
  std::string e = images_error(idx_bytes(0x801, {18}, px));  // a label file given as images
  CHECK(e.find("0x00000801") != std::string::npos);
  CHECK(e.find("label file") != std::string::npos);
  CHECK(e.rfind(f + ": ", 0) == 0);  // one line naming the file first
  CHECK(e.find('\n') == std::string::npos);
  write_bytes(f, small_file());
  CHECK(error_of([&] { load_idx_labels(f); }).find("expected 0x00000801") != std::string::npos);

  for (int zero = 0; zero < 3; ++zero) {
    std::vector<uint32_t> dims{3, 2, 3};
    dims[zero] = 0;
    CHECK(images_error(idx_bytes(0x803, dims, px)).find("is 0") != std::string::npos);
  }
  CHECK(images_error(idx_bytes(0x803, {1, 5000, 1}, std::vector<uint8_t>(5000))).find("4096") != std::string::npos);
  CHECK(images_error("").find("too short") != std::string::npos);

  std::string trailing = images_error(small_file() + "x");
  CHECK(trailing.find("1 trailing byte(s) after the 18 bytes") != std::string::npos);
}

TEST_CASE("IDX reader rejects every truncation, plain and gzipped") {
  TempDir tmp;
  std::string whole = small_file(), f = tmp.path("t-idx3-ubyte"), gz = tmp.path("t-idx3-ubyte.gz");
  for (size_t len = 0; len < whole.size(); ++len) {
    INFO("length " << len);
    write_bytes(f, whole.substr(0, len));
    std::string e = error_of([&] { load_idx_images(f); });
    CHECK(e.rfind(f + ": ", 0) == 0);
    if (len >= 16) {  // a whole header: the error says how much data was expected and found
      CHECK(e.find("expected 18 bytes") != std::string::npos);
      CHECK(e.find("found " + std::to_string(len - 16)) != std::string::npos);
    }
    write_gz(gz, whole.substr(0, len));  // a valid gzip of a truncated file
    CHECK(error_of([&] { load_idx_images(gz); }) != "<no exception>");
  }
  // A truncated gzip stream of the whole file.
  write_gz(gz, whole);
  std::string packed = read_bytes(gz);
  for (size_t len = 2; len < packed.size(); ++len) {
    INFO("gzip length " << len);
    write_bytes(gz, packed.substr(0, len));
    CHECK(error_of([&] { load_idx_images(gz); }) != "<no exception>");
  }
}

TEST_CASE("IDX reader rejects corrupt gzip and trailing garbage after it") {
  TempDir tmp;
  std::string gz = tmp.path("c.gz");
  write_gz(gz, small_file());
  std::string packed = read_bytes(gz);
  // Every byte of the deflate data and of the CRC / length trailer (the 10-byte header has
  // fields, like the time stamp, that no check covers).
  for (size_t pos = 10; pos < packed.size(); ++pos) {
    INFO("flipped byte " << pos);
    std::string bad = packed;
    bad[pos] = static_cast<char>(bad[pos] ^ 0xff);
    write_bytes(gz, bad);
    CHECK(error_of([&] { load_idx_images(gz); }) != "<no exception>");
  }
  write_bytes(gz, packed + "garbage");
  CHECK(error_of([&] { load_idx_images(gz); }).find("after the end of the gzip stream") != std::string::npos);
  write_bytes(gz, "\x1f\x8b");
  CHECK(error_of([&] { load_idx_images(gz); }).find("gzip") != std::string::npos);
}

TEST_CASE("a header claiming a huge N fails without allocating; the decompressed size is capped") {
  TempDir tmp;
  std::string f = tmp.path("huge"), gz = tmp.path("huge.gz");
  std::string bytes = idx_bytes(0x803, {0xffffffffu, 4096, 4096}, small_pixels());
  write_bytes(f, bytes);
  write_gz(gz, bytes);
  for (const std::string& path : {f, gz}) {
    std::string e = error_of([&] { load_idx_images(path); });
    CHECK(e.find("expected 72057594021150720 bytes") != std::string::npos);  // (2^32 - 1) * 2^24
    CHECK(e.find("found 18") != std::string::npos);
  }
  // 1 MiB of zero pixels compresses to ~1 KiB: a small cap stops the decompression early.
  write_gz(gz, idx_bytes(0x803, {1024, 32, 32}, std::vector<uint8_t>(1 << 20)));
  CHECK(load_idx_images(gz).shape() == Shape{1024, 1, 32, 32});
  CHECK(error_of([&] { load_idx_images(gz, 1 << 16); }).find("more than 65536 bytes") != std::string::npos);
  CHECK(error_of([&] { load_idx_images(f, 8); }).find("over the limit") != std::string::npos);
}

TEST_CASE("image dataset: [-1, 1] scaling, head order, raw pixels, determinism") {
  TempDir tmp;
  std::string path = tmp.path("small-idx3-ubyte");
  write_bytes(path, small_file());
  std::unique_ptr<Dataset> d = open_dataset(path);
  CHECK(d->name() == path);
  CHECK(d->size() == 3);
  CHECK(d->sample_shape() == Shape{1, 2, 3});

  std::vector<uint8_t> px = small_pixels();
  Tensor head = d->head(2), all = d->head(10), raw = d->head_pixels(3);
  CHECK(head.shape() == Shape{2, 1, 2, 3});
  CHECK(all.shape() == Shape{3, 1, 2, 3});  // clamped to N
  CHECK(values(raw) == std::vector<float>(px.begin(), px.end()));
  for (size_t i = 0; i < px.size(); ++i) CHECK(all.data()[i] == doctest::Approx(px[i] / 127.5 - 1));
  CHECK(all.data()[12] == -1.0f);  // exactly
  CHECK(all.data()[17] == 1.0f);

  Rng r1(7), r2(7), r3(8);
  Tensor b1 = d->batch(50, r1), b2 = d->batch(50, r2), b3 = d->batch(50, r3);
  CHECK(b1.shape() == Shape{50, 1, 2, 3});
  CHECK(values(b1) == values(b2));
  CHECK(values(b1) != values(b3));
  for (float v : values(b1)) CHECK((v >= -1.0f && v <= 1.0f));

  CHECK(error_of([] { open_dataset("moons")->head_pixels(1); }).find("moons has no integer pixels") !=
        std::string::npos);
  Tensor not_pixels = Tensor::full({1, 1, 1, 2}, 0.5f);
  CHECK(error_of([&] { image_dataset("x", not_pixels); }).find("integers 0..255") != std::string::npos);
}

TEST_CASE("hflip mirrors about half of the images and keeps each row's pixels") {
  // 4 images of 3 x 5 random bytes: no image equals another or a mirror of one.
  std::mt19937 gen(1);
  std::vector<float> px(4 * 15);
  for (float& v : px) v = float(gen() % 256);
  std::unique_ptr<Dataset> flip = image_dataset("r", Tensor::from(px, {4, 1, 3, 5}), true);
  std::unique_ptr<Dataset> plain = image_dataset("r", Tensor::from(px, {4, 1, 3, 5}), false);
  Tensor originals = plain->head(4);
  CHECK(values(flip->head(4)) == values(originals));  // head never flips

  auto count_mirrored = [&](Dataset& d) {
    Rng rng(3);
    Tensor b = d.batch(200, rng);
    int mirrored = 0;
    for (int64_t i = 0; i < 200; ++i) {
      const float* img = b.data() + i * 15;
      bool found = false;
      for (int64_t j = 0; j < 4 && !found; ++j) {
        const float* o = originals.data() + j * 15;
        bool same = std::equal(img, img + 15, o), mirror = true;
        for (int y = 0; y < 3; ++y)
          for (int x = 0; x < 5; ++x) mirror = mirror && img[5 * y + x] == o[5 * y + 4 - x];
        found = same || mirror;
        mirrored += mirror && !same;
        for (int y = 0; found && y < 3; ++y) {  // a row's pixel multiset never changes
          std::vector<float> a(img + 5 * y, img + 5 * y + 5), c(o + 5 * y, o + 5 * y + 5);
          std::sort(a.begin(), a.end());
          std::sort(c.begin(), c.end());
          CHECK(a == c);
        }
      }
      CHECK(found);
    }
    return mirrored;
  };
  int mirrored = count_mirrored(*flip);
  CHECK(mirrored > 60);
  CHECK(mirrored < 140);
  CHECK(count_mirrored(*plain) == 0);
}

TEST_CASE("named image sets: splits, data directories, and what a missing one says") {
  TempDir tmp;
  write_gz(tmp.path("train-images-idx3-ubyte.gz"), small_file());
  write_bytes(tmp.path("t10k-images-idx3-ubyte"), idx_bytes(0x803, {1, 2, 3}, {1, 2, 3, 4, 5, 6}));
  std::unique_ptr<Dataset> train = open_dataset("mnist", options("train", tmp.dir.string()));
  std::unique_ptr<Dataset> test = open_dataset("fashion-mnist", options("test", tmp.dir.string()));
  CHECK(train->name() == "mnist/train");
  CHECK(train->size() == 3);
  CHECK(test->name() == "fashion-mnist/test");
  CHECK(test->size() == 1);

  std::string missing = tmp.path("nowhere");
  std::string e = error_of([&] { open_dataset("fashion-mnist", options("train", missing)); });
  CHECK(e.find("dataset-fashion-mnist") != std::string::npos);
  CHECK(e.find(missing + "/train-images-idx3-ubyte") != std::string::npos);
  CHECK(e.find("--data-dir") != std::string::npos);
  CHECK(error_of([] { open_dataset("mnist"); }).find("--data-dir") != std::string::npos);
  CHECK(error_of([&] { open_dataset("mnist", options("val", tmp.dir.string())); })
            .find("unknown split 'val'") != std::string::npos);
}

TEST_CASE("the installed Fashion-MNIST: 60000 train and 10000 test images of 28 x 28") {
  fs::path dir = kFashionMnistDir;
  if (!fs::exists(dir / "train-images-idx3-ubyte.gz") || !fs::exists(dir / "t10k-images-idx3-ubyte.gz")) {
    MESSAGE("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist): skipped");
    return;
  }
  std::unique_ptr<Dataset> train = open_dataset("fashion-mnist");
  std::unique_ptr<Dataset> test = open_dataset("fashion-mnist", options("test", ""));
  CHECK(train->size() == 60000);
  CHECK(test->size() == 10000);
  CHECK(train->sample_shape() == Shape{1, 28, 28});
  Tensor px = test->head_pixels(100);
  auto [lo, hi] = std::minmax_element(px.data(), px.data() + px.numel());
  CHECK(*lo == 0.0f);
  CHECK(*hi == 255.0f);
  Tensor labels = load_idx_labels((dir / "t10k-labels-idx1-ubyte.gz").string());
  CHECK(labels.shape() == Shape{10000});
  CHECK(*std::max_element(labels.data(), labels.data() + labels.numel()) == 9.0f);
}

}  // TEST_SUITE
