// flow/idx.h: IDX files, the format of MNIST and Fashion-MNIST (plain or gzip-compressed).
//
// IDX layout (all integers big-endian):
//   bytes 0-1   zero
//   byte  2     element type: 0x08 unsigned byte (the only type read here; 0x09 i8, 0x0B i16,
//               0x0C i32, 0x0D f32, 0x0E f64 exist in the format but no image set uses them)
//   byte  3     number of dimensions d
//   then        d sizes, u32 each
//   then        the elements in C order, exactly prod(sizes) of them, and nothing after.
// Images: magic 0x00000803, sizes N, H (rows), W (columns). Labels: magic 0x00000801, size N.
// A file whose first two bytes are 1f 8b is gunzipped first (whatever its name), in a streaming
// way and with a cap on the decompressed size, so a gzip bomb can't exhaust memory.
#pragma once
#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace fm {

// Default cap on an IDX file's (decompressed) size. Fashion-MNIST's train set is 47 MB.
inline constexpr uint64_t kIdxMaxBytes = uint64_t(1) << 30;

// An unsigned-byte IDX array: its sizes, and its elements as bytes (char storage, values 0..255).
struct IdxArray {
  Shape dims;
  std::string bytes;  // exactly shape_numel(dims) elements
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(bytes.data()); }
};

// Reads an unsigned-byte IDX file with `ndims` dimensions (each >= 1; all but the first <= 4096),
// plain or gzipped, of at most `max_bytes` (decompressed). Throws std::runtime_error
// "<path>: <problem>" on any malformed, truncated or oversized file.
IdxArray read_idx_ubyte(const std::string& path, int ndims, uint64_t max_bytes = kIdxMaxBytes);

// An IDX3 image file as float32 pixels 0..255, shape [N, 1, H, W].
Tensor load_idx_images(const std::string& path, uint64_t max_bytes = kIdxMaxBytes);

// An IDX1 label file as floats, shape [N].
Tensor load_idx_labels(const std::string& path, uint64_t max_bytes = kIdxMaxBytes);

}  // namespace fm
