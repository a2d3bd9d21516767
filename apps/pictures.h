// apps/pictures.h: the pictures fm draws (point densities, image grids) as RGB pixels, for
// write_png (flow/png_file.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "flow/png_file.h"  // write_png, for the callers
#include "tensor/tensor.h"

namespace fm {

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
