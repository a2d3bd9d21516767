// tests/test_util.h: small helpers shared by the test suites.
#pragma once
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>

#include "autodiff/gradcheck.h"
#include "nn/unet.h"
#include "tensor/random.h"

namespace fm::testing {

// A fresh directory under the system temp directory, removed (with its contents) at scope exit.
struct TempDir {
  std::filesystem::path dir;
  explicit TempDir(const std::string& tag = "fm_test") {
    std::string unique = std::to_string(::getpid()) + "_" + std::to_string(std::random_device{}());
    dir = std::filesystem::temp_directory_path() / (tag + "_" + unique);
    std::filesystem::create_directories(dir);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path(const std::string& name) const { return (dir / name).string(); }
};

// The message of the std::runtime_error that f throws, or "<no exception>".
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "<no exception>";
}

// A tensor of U[lo, hi) values from its own seeded stream.
inline Tensor randu(const Shape& s, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  Tensor t = Tensor::empty(s);
  Rng(seed).uniform(t, lo, hi);
  return t;
}

// Images of random integer pixels 0..255 (what the image datasets accept), from a seeded stream.
inline Tensor random_pixels(const Shape& s, uint64_t seed) {
  Tensor t = randu(s, seed, 0.0f, 256.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = std::floor(t.data()[i]);
  return t;
}

// CHECKs that f's backward rules match finite differences at xs, printing the mismatches.
inline void expect_grads_ok(const GradFn& f, const std::vector<Tensor>& xs, GradCheckOptions opt = {}) {
  GradCheckResult r = check_gradients(f, xs, opt);
  INFO(r.report);
  CHECK(r.ok);
}

// A U-Net small enough for gradient checks and end-to-end runs: 1 x 8 x 8 images, two levels,
// attention at 4 x 4.
inline UNetConfig tiny_unet_config() {
  UNetConfig c;
  c.height = c.width = 8;
  c.channels = 8;
  c.mult = {1, 2};
  c.num_res = 1;
  c.attn_res = {4};
  c.groups = 4;
  return c;
}

}  // namespace fm::testing
