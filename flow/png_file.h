// flow/png_file.h: PNG files through libpng, read and written: the user's PNG folders
// (flow/png_folder.cpp) and the pictures fm draws (apps/pictures.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fm {

// pixels: height rows of width * channels bytes, top row first; channels is 1 (gray) or 3 (RGB).
// An 8-bit PNG, written atomically (PATH.tmp, then rename); throws std::runtime_error naming the
// path on failure.
void write_png(const std::string& path, int width, int height, int channels, const uint8_t* pixels);

// One PNG file, its header read on opening (any variant libpng reads: palette, 1..16 bits, grey,
// alpha, interlaced, gamma). Throws "<path>: not a PNG file ..." or "<path>: unreadable PNG ...".
class PngFile {
 public:
  explicit PngFile(const std::string& path);
  ~PngFile();
  PngFile(const PngFile&) = delete;
  PngFile& operator=(const PngFile&) = delete;

  uint32_t width() const;
  uint32_t height() const;
  bool colour() const;
  // The pixels as `channels` (1 or 3) planes of 8-bit values, appended to `out`: decoded with
  // alpha, which is then dropped, so the stored colour values stay as they are.
  void decode_planes(int channels, std::string& out);

 private:
  struct Image;
  std::string path_;
  Image* image_;
};

}  // namespace fm
