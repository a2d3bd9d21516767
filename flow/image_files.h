// flow/image_files.h: the user's own images: CIFAR-10 binary batches, .npy image arrays and
// folders of PNG files, each read into one ImageSet (integer pixels, NCHW, optional labels).
//
// CIFAR-10 (flow/cifar10.cpp), the "binary version" of https://www.cs.toronto.edu/~kriz/cifar.html:
//   data_batch_1.bin .. data_batch_5.bin (train, 10000 records each) and test_batch.bin (test);
//   each record is 3073 bytes: 1 label byte (0..9), then 3072 pixel bytes, the 32 x 32 red plane,
//   then green, then blue, each row-major. That is already NCHW, so records are copied as they are.
// .npy images (flow/npy_images.cpp): N x C x H x W or N x H x W x C (C = 1 or 3), or N x H x W
//   (grey), of uint8 '|u1' or float32 / float64 holding integer pixel values 0..255 (the same
//   numbers as uint8; a [0, 1] or [-1, 1] array is refused with its first offending value, since
//   rescaling guesses would be silent). The layout of a 4-D array is inferred from where a
//   1- or 3-sized axis sits unless given; both places → the caller must say.
// PNG folders (flow/png_folder.cpp, libpng's simplified API): every *.png of the folder, or of
//   each of its sub-folders (then class = index of the sub-folder in sorted name order); one
//   size for all; grey stays 1 channel unless some file has colour (then all are read as RGB);
//   an alpha channel is dropped (the colour values are kept as stored, not composited).
// Labels are loaded and validated only: no model is conditioned on them yet.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace fm {

struct ImageSet {
  Shape shape;          // [N, C, H, W], N >= 1
  std::string pixels;   // exactly N*C*H*W bytes, values 0..255, C order (NCHW)
  std::vector<int64_t> labels;  // one class index per image, or empty
  int64_t num_classes = 0;      // 0 without labels
  std::string note;     // for the run header, e.g. "NHWC, inferred"; may be empty
};

inline constexpr int64_t kCifarRecordBytes = 1 + 3 * 32 * 32;

// One CIFAR-10 batch file. Throws "<path>: <problem>" for a size that is not a positive multiple
// of 3073 bytes or a label over 9.
ImageSet read_cifar10_batch(const std::string& path);
// The train split (data_batch_1..5.bin) or the test split (test_batch.bin) of `dir` (or of
// dir/cifar-10-batches-bin, where the tarball unpacks); missing files are all named in the error.
ImageSet load_cifar10(const std::string& dir, const std::string& split);

// layout: "" (infer), "nchw" or "nhwc". Throws on other ranks, dtypes, channel counts or values.
ImageSet load_npy_images(const std::string& path, const std::string& layout = "");
// Infers the layout of a 4-D shape (N, a, b, c): "nchw" if only a is 1 or 3, "nhwc" if only c is;
// throws, asking for the layout flag, if both or neither are.
std::string infer_image_layout(const std::string& path, const Shape& shape);

// A 1-D .npy of n non-negative integer class indices (uint8, int32 or int64). Sets *num_classes
// to the largest index + 1.
std::vector<int64_t> load_npy_labels(const std::string& path, int64_t n, int64_t* num_classes);

// Every PNG of `dir` as above. Throws for an empty folder, a .png file that is not a PNG (or is
// corrupt), and images of different sizes (naming both files and both sizes).
ImageSet load_png_folder(const std::string& dir);

}  // namespace fm
