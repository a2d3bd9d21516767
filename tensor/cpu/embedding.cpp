// tensor/cpu/embedding.cpp: the sinusoidal timestep embedding (tensor/ops.h), in double and
// stored as float. B x dim values per step: a plain loop.
#include <cmath>

#include "tensor/cpu/kernels.h"

namespace fm::cpu {

Tensor sinusoidal_embedding(const Tensor& t, int dim, float scale, float max_period) {
  const int64_t B = t.dim(0), half = dim / 2;
  Tensor out = Tensor::zeros({B, dim});  // an odd dim leaves the last column 0
  const float* pt = t.data();
  float* po = out.data();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < half; ++i) {
      const double freq = std::exp(-std::log(double(max_period)) * double(i) / double(half));
      const double arg = double(scale) * double(pt[b]) * freq;
      po[b * dim + i] = float(std::cos(arg));
      po[b * dim + half + i] = float(std::sin(arg));
    }
  return out;
}

}  // namespace fm::cpu
