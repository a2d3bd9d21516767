// flow/png_file.cpp: PNG through libpng's simplified API (png_image_*), which reads every PNG
// variant into 8-bit grey or RGB(A) and writes 8-bit grey or RGB.
#include "flow/png_file.h"

#include <png.h>

#include <algorithm>
#include <cstdint>

#include "tensor/io/npy.h"  // AtomicFileWriter, InputFile, throw_file_error

namespace fm {

struct PngFile::Image {
  png_image image{};
};

PngFile::PngFile(const std::string& path) : path_(path), image_(new Image) {
  // The signature first: "not a PNG" is then said plainly, whatever libpng would say.
  InputFile f(path);
  unsigned char sig[8] = {};
  if (f.size() >= 8) f.read(0, sig, 8);
  if (f.size() < 8 || png_sig_cmp(sig, 0, 8) != 0) {
    delete image_;
    throw_file_error(path, "not a PNG file (no PNG signature)");
  }
  image_->image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image_->image, path.c_str())) {
    const std::string why = image_->image.message;
    png_image_free(&image_->image);
    delete image_;
    throw_file_error(path, "unreadable PNG (libpng: " + why + ")");
  }
  // The header's size is checked before anything that large is allocated: deflate expands at most
  // 1032:1 and a pixel takes at least 1 bit, so a file of n bytes holds at most 1032 * 8 * n pixels
  // (a header claiming more is hostile or corrupt); and no image beyond 2^28 pixels is read at all.
  const uint64_t pixels = uint64_t(image_->image.width) * image_->image.height;
  const uint64_t most = std::min<uint64_t>(uint64_t(1032) * 8 * f.size(), uint64_t(1) << 28);
  if (pixels > most) {
    const std::string claim = std::to_string(image_->image.width) + " x " + std::to_string(image_->image.height);
    png_image_free(&image_->image);
    delete image_;
    throw_file_error(path, "the header claims " + claim + " pixels, more than " + std::to_string(most) +
                               (most == (uint64_t(1) << 28) ? " (fm's limit for one image)"
                                                            : " (what its " + std::to_string(f.size()) + " bytes can hold)"));
  }
}

PngFile::~PngFile() {
  png_image_free(&image_->image);
  delete image_;
}

uint32_t PngFile::width() const { return image_->image.width; }
uint32_t PngFile::height() const { return image_->image.height; }
bool PngFile::colour() const { return (image_->image.format & PNG_FORMAT_FLAG_COLOR) != 0; }

void PngFile::decode_planes(int channels, std::string& out) {
  png_image& image = image_->image;
  image.format = channels == 3 ? PNG_FORMAT_RGBA : PNG_FORMAT_GA;
  const size_t stride = size_t(channels) + 1, plane = size_t(image.width) * image.height;
  std::vector<png_byte> buf(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, buf.data(), 0, nullptr))
    throw_file_error(path_, std::string("corrupt PNG (libpng: ") + image.message + ")");
  const size_t at = out.size();
  out.resize(at + plane * size_t(channels));
  for (int c = 0; c < channels; ++c)
    for (size_t p = 0; p < plane; ++p) out[at + size_t(c) * plane + p] = static_cast<char>(buf[p * stride + size_t(c)]);
}

void write_png(const std::string& path, int width, int height, int channels, const uint8_t* pixels) {
  if (width < 1 || height < 1 || (channels != 1 && channels != 3))
    throw_file_error(path, "write_png needs width, height >= 1 and 1 or 3 channels, got " + std::to_string(width) + "x" +
                               std::to_string(height) + "x" + std::to_string(channels));
  if (size_t(width) * size_t(channels) > (size_t(1) << 30) / size_t(height)) throw_file_error(path, "image too large for write_png");
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = uint32_t(width);
  image.height = uint32_t(height);
  image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  // Into memory (the size first), then one atomic write: a half-written PNG never has the name.
  png_alloc_size_t bytes = 0;
  if (!png_image_write_to_memory(&image, nullptr, &bytes, 0, pixels, 0, nullptr))
    throw_file_error(path, std::string("cannot encode the PNG (libpng: ") + image.message + ")");
  std::string png(bytes, '\0');
  if (!png_image_write_to_memory(&image, png.data(), &bytes, 0, pixels, 0, nullptr))
    throw_file_error(path, std::string("cannot encode the PNG (libpng: ") + image.message + ")");
  png.resize(bytes);
  AtomicFileWriter w(path);
  w.write(png);
  w.commit();
}

}  // namespace fm
