// apps/pictures.cpp: the density and grid pictures (see pictures.h).
#include "apps/pictures.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>


namespace fm {

// A magma-like ramp, reversed so density reads as ink on white paper: stops sampled by hand from
// magma at 0.9, 0.7, 0.5, 0.3, 0.1 (perceptually uniform, and legible in grayscale).
static void ramp(double t, uint8_t* rgb) {
  static const double stops[5][3] = {
      {254, 206, 145}, {246, 110, 92}, {183, 55, 121}, {100, 26, 128}, {20, 14, 54}};
  double s = std::clamp(t, 0.0, 1.0) * 4;
  int i = std::min(int(s), 3);
  double f = s - i;
  for (int c = 0; c < 3; ++c) rgb[c] = uint8_t(std::lround(stops[i][c] * (1 - f) + stops[i + 1][c] * f));
}

std::vector<uint8_t> density_image_rgb(const float* xy, int64_t n, int size, float lo, float hi) {
  if (size < 1 || !(hi > lo)) throw std::runtime_error("density_image_rgb: needs size >= 1 and hi > lo");
  std::vector<int64_t> count(size_t(size) * size_t(size), 0);
  double scale = size / (double(hi) - double(lo));
  for (int64_t i = 0; i < n; ++i) {
    double x = (xy[2 * i] - double(lo)) * scale, y = (xy[2 * i + 1] - double(lo)) * scale;
    if (!(x >= 0 && x <= size && y >= 0 && y <= size)) continue;  // outside, or NaN
    int col = std::min(int(x), size - 1), row = size - 1 - std::min(int(y), size - 1);  // y up
    ++count[size_t(row) * size_t(size) + size_t(col)];
  }

  std::vector<int64_t> occupied;
  for (int64_t c : count)
    if (c > 0) occupied.push_back(c);
  std::vector<uint8_t> rgb(count.size() * 3, 255);
  if (occupied.empty()) return rgb;
  auto p99 = occupied.begin() + std::ptrdiff_t((occupied.size() - 1) * 99 / 100);
  std::nth_element(occupied.begin(), p99, occupied.end());
  double top = double(*p99);
  for (size_t i = 0; i < count.size(); ++i)
    if (count[i] > 0) ramp(double(count[i]) / top, &rgb[3 * i]);
  return rgb;
}

std::vector<uint8_t> hconcat_rgb(const std::vector<std::vector<uint8_t>>& images, int width_each, int height,
                                 int gap, int* out_width) {
  size_t k = images.size(), image_bytes = size_t(width_each) * size_t(height) * 3;
  if (k == 0 || width_each < 1 || height < 1 || gap < 0)
    throw std::runtime_error("hconcat_rgb: needs at least one image, positive sizes and gap >= 0");
  for (const auto& im : images)
    if (im.size() != image_bytes)
      throw std::runtime_error("hconcat_rgb: an image has " + std::to_string(im.size()) + " bytes, expected " +
                               std::to_string(image_bytes));
  int width = int(k) * width_each + int(k - 1) * gap;
  std::vector<uint8_t> out(size_t(width) * size_t(height) * 3, 255);
  for (size_t j = 0; j < k; ++j)
    for (int y = 0; y < height; ++y)
      std::copy_n(&images[j][size_t(y) * width_each * 3], size_t(width_each) * 3,
                  &out[(size_t(y) * width + j * size_t(width_each + gap)) * 3]);
  if (out_width) *out_width = width;
  return out;
}

static uint8_t to_byte(float v) {  // [-1, 1] -> [0, 255]; NaN -> 0
  double u = (double(v) + 1) * 0.5;
  if (!(u > 0)) return 0;
  return u >= 1 ? 255 : uint8_t(std::lround(u * 255));
}

std::vector<uint8_t> image_grid_rgb(const Tensor& images, int cols, int* out_width, int* out_height) {
  const Shape& s = images.shape();
  if (images.ndim() != 4 || (s[1] != 1 && s[1] != 3) || s[0] < 1 || s[2] < 1 || s[3] < 1 || cols < 1)
    throw std::runtime_error("image_grid_rgb: expected [N, C, H, W] with C = 1 or 3 and cols >= 1, got " +
                             shape_str(s));
  const int gap = 2;
  int64_t n = s[0], c = s[1], h = s[2], w = s[3];
  int64_t ncols = std::min<int64_t>(cols, n), nrows = (n + ncols - 1) / ncols;
  int64_t width = ncols * w + (ncols - 1) * gap, height = nrows * h + (nrows - 1) * gap;
  std::vector<uint8_t> out(size_t(width * height * 3), 255);
  const Tensor host = images.to(Device::CPU);
  const float* p = host.data();
  for (int64_t i = 0; i < n; ++i) {
    int64_t x0 = (i % ncols) * (w + gap), y0 = (i / ncols) * (h + gap);
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        for (int64_t ch = 0; ch < 3; ++ch)  // gray images repeat their one channel
          out[size_t(((y0 + y) * width + x0 + x) * 3 + ch)] = to_byte(p[((i * c + (c == 1 ? 0 : ch)) * h + y) * w + x]);
  }
  if (out_width) *out_width = int(width);
  if (out_height) *out_height = int(height);
  return out;
}

}  // namespace fm
