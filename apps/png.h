// apps/png.h: a minimal PNG writer and the pictures the engine draws (point densities, image grids).
//
// PNG layout (https://www.w3.org/TR/png/): the 8-byte signature 89 50 4E 47 0D 0A 1A 0A, then chunks
//   [u32 big-endian data length][4-byte type][data][u32 big-endian CRC-32 of type + data]
// We write IHDR (width, height, bit depth 8, colour type 0 = gray or 2 = RGB, no interlace), one
// IDAT holding the zlib-compressed scanlines (each row prefixed by filter byte 0, "None"), and IEND.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace fm {

// pixels: height rows of width * channels bytes, top row first; channels is 1 (gray) or 3 (RGB).
// Writes atomically (PATH.tmp, then rename); throws std::runtime_error naming the path on failure.
void write_png(const std::string& path, int width, int height, int channels, const uint8_t* pixels);

// 2-D points (xy = n interleaved x, y pairs) as a size×size RGB density image of [lo, hi]^2, x to
// the right and y up. Empty cells are white; occupied ones follow a magma-like ramp from pale
// orange (few points) to near black (many), normalised to the 99th-percentile count of the
// occupied cells so that one outlier bin doesn't wash the picture out. Points outside are dropped.
std::vector<uint8_t> density_image_rgb(const float* xy, int64_t n, int size, float lo, float hi);

// Places RGB images of equal size side by side, separated by `gap` white columns.
std::vector<uint8_t> hconcat_rgb(const std::vector<std::vector<uint8_t>>& images, int width_each, int height,
                                 int gap, int* out_width);

// A grid of images [N, C, H, W] (C = 1 or 3) with values in [-1, 1] (clamped), `cols` per row and
// 2-pixel white gaps; returns RGB pixels of *out_width × *out_height.
std::vector<uint8_t> image_grid_rgb(const Tensor& images, int cols, int* out_width, int* out_height);

}  // namespace fm
