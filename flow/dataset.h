// flow/dataset.h: where training and evaluation samples come from.
//
// A dataset is named on the command line: a 2-D toy ("checkerboard", ...), which is an endless
// generator; a file of the user's (.npy / .csv, N x D); an image set ("fashion-mnist", "mnist",
// "cifar10"), an IDX image file (flow/idx.h), a .npy image array or a folder of PNGs
// (flow/image_files.h). Batches of finite datasets are drawn uniformly with
// replacement. Images are [C, H, W] samples scaled from pixels 0..255 to [-1, 1] (x/127.5 - 1).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tensor/random.h"

namespace fm {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::string name() const = 0;
  virtual Shape sample_shape() const = 0;  // one sample, e.g. [2]
  // n samples drawn from rng. When rng has a share (tensor/random.h), n is the share's count and
  // the samples are rows [first, first + count) of the batch of `total` that one process draws.
  virtual Tensor batch(int64_t n, Rng& rng) = 0;
  // Size of a finite dataset; 0 for a generator.
  virtual int64_t size() const { return 0; }
  // The first n samples of a finite dataset, in order (for evaluation: each row once).
  virtual Tensor head(int64_t n) const;
  // The first n images as integer pixels 0..255 in float32, [n, C, H, W], unscaled and unflipped:
  // bits/dim needs the discrete pixels. Throws "<name> has no integer pixels" for non-images.
  virtual Tensor head_pixels(int64_t n) const;
  // As batch(), with the drawn samples' class labels in `labels` (n of them, or the share's
  // count). Throws "<name> has no class labels" for a dataset without them.
  virtual Tensor labelled_batch(int64_t n, Rng& rng, std::vector<int64_t>& labels);
  // Class labels 0..K-1, one per sample (Fashion-MNIST's and MNIST's label files, CIFAR-10's,
  // PNG sub-folders', --labels), the conditional models' classes. Empty, and 0 classes, when there
  // are none.
  virtual const std::vector<int64_t>& labels() const;
  virtual int64_t num_classes() const { return 0; }
  // What the run header shows after the sample shape, e.g. "NHWC, inferred; 10 classes"; may be empty.
  virtual std::string details() const { return {}; }
};

// How to open a dataset. split and data_dir apply to the named image sets, hflip to image sets;
// other datasets ignore them, so one DataOptions can serve every spec.
struct DataOptions {
  std::string split = "train";  // "train" or "test"
  std::string data_dir;         // directory of the IDX files; empty: the set's default
  bool hflip = false;           // mirror each drawn image left-right with probability 1/2
  std::string layout;           // .npy images: "nchw" or "nhwc"; empty: inferred
  std::string labels;           // .npy images or points, IDX images: class indices, one per sample, in a
                                // 1-D .npy or an IDX1 label file; empty: none
};

// The most classes a labels file may define (its largest label + 1): a class is a row of the model's
// class embedding, and a stray large label would otherwise ask for a huge table.
inline constexpr int64_t kMaxClasses = 100000;

// Class labels for n samples from a 1-D .npy of non-negative integers or an IDX1 label file
// (*idx1-ubyte, *.idx1, either optionally .gz); sets *num_classes to the largest label + 1. Throws
// "<path>: ..." for a count other than n, a negative label or more than kMaxClasses classes.
std::vector<int64_t> load_label_file(const std::string& path, int64_t n, int64_t* num_classes);

// Where open_dataset looks for "fashion-mnist" (Debian's dataset-fashion-mnist installs it there).
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Samples held in memory (N x ...), drawn uniformly with replacement; with labels (one per sample,
// 0..num_classes-1) when given.
std::unique_ptr<Dataset> tensor_dataset(const std::string& name, Tensor samples, std::vector<int64_t> labels = {},
                                        int64_t num_classes = 0);

// Images held in memory as integer pixels 0..255, [N, C, H, W] with N >= 1.
std::unique_ptr<Dataset> image_dataset(const std::string& name, const Tensor& pixels, bool hflip = false);

// A toy name, "fashion-mnist" / "mnist" / "cifar10" (opt.split from opt.data_dir), an IDX image
// file (*idx3-ubyte, *.idx, *.idx3, each optionally .gz), a .npy file (2-D: points; 3-D or 4-D:
// images), a .csv file or a folder of PNGs; throws with the list of names if none.
std::unique_ptr<Dataset> open_dataset(const std::string& spec, const DataOptions& opt = {});

}  // namespace fm
