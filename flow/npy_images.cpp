// flow/npy_images.cpp: images and labels from .npy arrays (rules in flow/image_files.h).
//
// The arrays come from tensor/io/npy.h's load_npy_raw as bytes and are converted here: uint8
// pixels need no conversion at all, and float pixels are checked one by one, since the image
// dataset keeps integer pixels (bits/dim needs the discrete values).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "flow/image_files.h"
#include "tensor/io/npy.h"

namespace fm {

namespace {

std::string dims_str(const Shape& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) out += (i ? " x " : "") + std::to_string(s[i]);
  return out;
}

bool is_channel_count(int64_t c) { return c == 1 || c == 3; }

// Element i of a little-endian float array of `itemsize` 4 or 8 bytes, as a double.
double float_at(const std::string& bytes, uint64_t itemsize, int64_t i) {
  if (itemsize == 4) {
    float f;
    std::memcpy(&f, bytes.data() + i * 4, 4);
    return f;
  }
  double d;
  std::memcpy(&d, bytes.data() + i * 8, 8);
  return d;
}

// The pixel bytes of the array in its stored order: uint8 as it is, floats checked to be
// integers 0..255.
std::string pixel_bytes(const std::string& path, NpyRaw& a) {
  if (a.descr == "|u1") return std::move(a.bytes);
  const uint64_t itemsize = a.descr == "<f4" ? 4 : 8;
  const int64_t n = int64_t(a.bytes.size() / itemsize);
  std::string out(static_cast<size_t>(n), '\0');
  for (int64_t i = 0; i < n; ++i) {
    const double v = float_at(a.bytes, itemsize, i);
    if (!(v >= 0.0 && v <= 255.0 && v == std::floor(v))) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.9g", v);
      throw_file_error(path, std::string("value ") + buf + " at flat index " + std::to_string(i) +
                                 " is not an integer pixel 0..255 (float arrays hold the pixel values themselves, "
                                 "as uint8 does: scale a [0, 1] array by 255 and round it)");
    }
    out[size_t(i)] = static_cast<char>(static_cast<unsigned char>(v));
  }
  return out;
}

// N x H x W x C bytes to N x C x H x W.
std::string nhwc_to_nchw(const std::string& src, int64_t n, int64_t h, int64_t w, int64_t c) {
  std::string dst(src.size(), '\0');
  const int64_t plane = h * w;
  for (int64_t i = 0; i < n; ++i) {
    const char* s = src.data() + i * plane * c;
    char* d = dst.data() + i * plane * c;
    for (int64_t p = 0; p < plane; ++p)
      for (int64_t k = 0; k < c; ++k) d[k * plane + p] = s[p * c + k];
  }
  return dst;
}

}  // namespace

std::string infer_image_layout(const std::string& path, const Shape& s) {
  const bool first = is_channel_count(s[1]), last = is_channel_count(s[3]);
  if (first && !last) return "nchw";
  if (last && !first) return "nhwc";
  throw_file_error(path, "cannot tell the layout of shape " + dims_str(s) + ": " +
                             (first ? "both the second and the last axis could be 1 or 3 channels"
                                    : "neither the second nor the last axis is 1 or 3 channels") +
                             "; pass --layout nchw or --layout nhwc");
}

ImageSet load_npy_images(const std::string& path, const std::string& layout) {
  if (!layout.empty() && layout != "nchw" && layout != "nhwc")
    throw std::runtime_error("--layout must be nchw or nhwc, not '" + layout + "'");
  const Shape stored = read_npy_header(path).shape;
  if (stored.size() != 3 && stored.size() != 4)
    throw_file_error(path, "images must be N x C x H x W, N x H x W x C or N x H x W (grey), found shape " +
                               dims_str(stored));
  for (int64_t d : stored)
    if (d < 1) throw_file_error(path, "an image array needs every size >= 1, found shape " + dims_str(stored));

  ImageSet set;
  std::string order = "nchw";
  if (stored.size() == 3) {
    set.shape = {stored[0], 1, stored[1], stored[2]};
    set.note = "grey N x H x W";
  } else {
    order = layout.empty() ? infer_image_layout(path, stored) : layout;
    set.note = std::string(order == "nchw" ? "NCHW" : "NHWC") + (layout.empty() ? ", inferred" : ", from --layout");
    set.shape = order == "nchw" ? stored : Shape{stored[0], stored[3], stored[1], stored[2]};
    if (!is_channel_count(set.shape[1]))
      throw_file_error(path, "shape " + dims_str(stored) + " read as " + (order == "nchw" ? "NCHW" : "NHWC") + " has " +
                                 std::to_string(set.shape[1]) + " channels; images need 1 (grey) or 3 (RGB)");
  }
  NpyRaw a = load_npy_raw(path, {"|u1", "<f4", "<f8"});
  set.pixels = pixel_bytes(path, a);
  if (order == "nhwc") set.pixels = nhwc_to_nchw(set.pixels, set.shape[0], set.shape[2], set.shape[3], set.shape[1]);
  return set;
}

std::vector<int64_t> load_npy_labels(const std::string& path, int64_t n, int64_t* num_classes) {
  NpyRaw a = load_npy_raw(path, {"|u1", "<i4", "<i8"});
  if (a.shape.size() != 1)
    throw_file_error(path, "labels must be a 1-D array of class indices, found shape " + npy_shape_str(a.shape));
  if (a.shape[0] != n)
    throw_file_error(path, "holds " + std::to_string(a.shape[0]) + " labels for " + std::to_string(n) + " images");
  const uint64_t itemsize = a.descr == "|u1" ? 1 : a.descr == "<i4" ? 4 : 8;
  std::vector<int64_t> labels(static_cast<size_t>(n));
  int64_t top = -1;
  for (int64_t i = 0; i < n; ++i) {
    int64_t v = 0;
    if (itemsize == 1) {
      v = static_cast<unsigned char>(a.bytes[size_t(i)]);
    } else if (itemsize == 4) {
      int32_t x;
      std::memcpy(&x, a.bytes.data() + i * 4, 4);
      v = x;
    } else {
      std::memcpy(&v, a.bytes.data() + i * 8, 8);
    }
    if (v < 0) throw_file_error(path, "label " + std::to_string(v) + " at index " + std::to_string(i) + " is negative");
    labels[size_t(i)] = v;
    top = std::max(top, v);
  }
  *num_classes = top + 1;
  return labels;
}

}  // namespace fm
