// flow/dataset.cpp
#include "flow/dataset.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "flow/datafile.h"
#include "flow/idx.h"
#include "flow/image_files.h"
#include "flow/toy2d.h"
#include "tensor/io/npy.h"
#include "tensor/ops.h"

namespace fm {

Tensor Dataset::head(int64_t) const {
  throw std::runtime_error(name() + " is a generator with no fixed rows");
}

Tensor Dataset::head_pixels(int64_t) const { throw std::runtime_error(name() + " has no integer pixels"); }

const std::vector<int64_t>& Dataset::labels() const {
  static const std::vector<int64_t> none;
  return none;
}

namespace {

class ToyDataset : public Dataset {
 public:
  explicit ToyDataset(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  Shape sample_shape() const override { return {2}; }
  // A toy's draws are not row by row (some shuffle the whole batch), so a share of the batch is
  // cut from the whole batch, which is cheap for 2-D points.
  Tensor batch(int64_t n, Rng& rng) override {
    const BatchShare share = rng.share();
    if (!share.active()) return sample_toy2d(name_, n, rng);
    if (n != share.count) throw std::runtime_error(name_ + ": a batch of " + std::to_string(n) + " from a stream shared as " + std::to_string(share.count));
    rng.set_share({});
    Tensor whole = sample_toy2d(name_, share.total, rng);
    rng.set_share(share);
    return whole.rows(share.first, share.first + share.count).clone();
  }

 private:
  std::string name_;
};

class TensorDataset : public Dataset {
 public:
  TensorDataset(std::string name, Tensor data) : name_(std::move(name)), data_(std::move(data)) {}
  std::string name() const override { return name_; }
  Shape sample_shape() const override { return Shape(data_.shape().begin() + 1, data_.shape().end()); }
  int64_t size() const override { return data_.dim(0); }
  Tensor head(int64_t n) const override { return data_.rows(0, std::min(n, data_.dim(0))).clone(); }
  Tensor batch(int64_t n, Rng& rng) override {
    std::vector<int64_t> idx(n);
    rng.integers(idx.data(), n, data_.dim(0));
    return take_rows(data_, idx);
  }

 private:
  std::string name_;
  Tensor data_;
};

// Images kept as bytes (a quarter of the memory of floats), converted per batch.
class ImageDataset : public Dataset {
 public:
  // shape [N, C, H, W]; `pixels` holds exactly its numel bytes.
  ImageDataset(std::string name, Shape shape, std::string pixels, bool hflip)
      : name_(std::move(name)), shape_(std::move(shape)), pixels_(std::move(pixels)), hflip_(hflip) {
    // x/127.5 - 1 by division, so 0 and 255 map to exactly -1 and 1.
    for (int v = 0; v < 256; ++v) scaled_[v] = static_cast<float>(v) / 127.5f - 1.0f;
    for (int v = 0; v < 256; ++v) raw_[v] = static_cast<float>(v);
  }
  // With the labels and the header note of an image file (flow/image_files.h).
  ImageDataset(std::string name, ImageSet set, bool hflip)
      : ImageDataset(std::move(name), set.shape, std::move(set.pixels), hflip) {
    labels_ = std::move(set.labels);
    num_classes_ = set.num_classes;
    note_ = std::move(set.note);
  }
  std::string name() const override { return name_; }
  Shape sample_shape() const override { return {shape_[1], shape_[2], shape_[3]}; }
  int64_t size() const override { return shape_[0]; }
  const std::vector<int64_t>& labels() const override { return labels_; }
  int64_t num_classes() const override { return num_classes_; }
  std::string details() const override {
    std::string d = note_;
    if (num_classes_ > 0)
      d += (d.empty() ? "" : "; ") + std::to_string(labels_.size()) + " labels, " + std::to_string(num_classes_) +
           " classes (not used: no conditional model yet)";
    return d;
  }

  Tensor batch(int64_t n, Rng& rng) override {
    if (n < 0) throw std::runtime_error(name_ + ": negative batch size");
    std::vector<int64_t> idx(n), flip(n, 0);
    rng.integers(idx.data(), n, shape_[0]);
    if (hflip_) rng.integers(flip.data(), n, 2);  // 0 or 1 each: a fair coin per image
    Tensor out = Tensor::empty({n, shape_[1], shape_[2], shape_[3]});
    for (int64_t i = 0; i < n; ++i) convert(idx[i], flip[i] != 0, scaled_, out.data() + i * image_numel());
    return out;
  }
  Tensor head(int64_t n) const override { return first(n, scaled_); }
  Tensor head_pixels(int64_t n) const override { return first(n, raw_); }

 private:
  int64_t image_numel() const { return shape_[1] * shape_[2] * shape_[3]; }
  // Image i through the lookup table, mirrored left-right (within each row) if `flip`.
  void convert(int64_t i, bool flip, const std::array<float, 256>& lut, float* dst) const {
    const auto* src = reinterpret_cast<const unsigned char*>(pixels_.data()) + i * image_numel();
    int64_t w = shape_[3], rows = shape_[1] * shape_[2];
    for (int64_t r = 0; r < rows; ++r, src += w, dst += w)
      for (int64_t x = 0; x < w; ++x) dst[x] = lut[src[flip ? w - 1 - x : x]];
  }
  Tensor first(int64_t n, const std::array<float, 256>& lut) const {
    n = std::clamp<int64_t>(n, 0, shape_[0]);
    Tensor out = Tensor::empty({n, shape_[1], shape_[2], shape_[3]});
    for (int64_t i = 0; i < n; ++i) convert(i, false, lut, out.data() + i * image_numel());
    return out;
  }

  std::string name_;
  Shape shape_;
  std::string pixels_;
  bool hflip_;
  std::array<float, 256> scaled_{}, raw_{};
  std::vector<int64_t> labels_;
  int64_t num_classes_ = 0;
  std::string note_;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_idx_image_path(const std::string& spec) {
  for (const char* suffix : {"idx3-ubyte", ".idx", ".idx3"})
    if (ends_with(spec, suffix) || ends_with(spec, std::string(suffix) + ".gz")) return true;
  return false;
}

std::unique_ptr<Dataset> open_idx_images(const std::string& name, const std::string& path, bool hflip) {
  IdxArray a = read_idx_ubyte(path, 3);
  Shape shape{a.dims[0], 1, a.dims[1], a.dims[2]};
  return std::make_unique<ImageDataset>(name, shape, std::move(a.bytes), hflip);
}

// "fashion-mnist" / "mnist": the split's IDX file (plain or .gz) in the data directory.
std::unique_ptr<Dataset> open_named_images(const std::string& spec, const DataOptions& opt) {
  if (opt.split != "train" && opt.split != "test")
    throw std::runtime_error(spec + ": unknown split '" + opt.split + "' (train or test)");
  bool fashion = spec == "fashion-mnist";
  std::string dir = opt.data_dir.empty() && fashion ? kFashionMnistDir : opt.data_dir;
  if (dir.empty())
    throw std::runtime_error("mnist: no default location (Debian has no MNIST package): pass --data-dir DIR "
                             "with train-images-idx3-ubyte(.gz) and t10k-images-idx3-ubyte(.gz)");
  std::string base = (std::filesystem::path(dir) / (opt.split == "train" ? "train" : "t10k")).string() +
                     "-images-idx3-ubyte";
  std::string name = spec + "/" + opt.split;
  for (const std::string& path : {base, base + ".gz"}) {
    std::error_code ec;  // an unreadable directory reads as "not found" here; the error names it
    if (std::filesystem::exists(path, ec)) return open_idx_images(name, path, opt.hflip);
  }
  std::string how = fashion ? "install it with `apt-get install dataset-fashion-mnist` (files in " +
                                  std::string(kFashionMnistDir) + ") or pass --data-dir DIR"
                            : "download MNIST's IDX files there or pass another --data-dir";
  throw std::runtime_error(name + ": " + base + "(.gz) not found: " + how);
}

}  // namespace

std::unique_ptr<Dataset> image_dataset(const std::string& name, const Tensor& pixels, bool hflip) {
  if (pixels.ndim() != 4 || pixels.numel() < 1)
    throw std::runtime_error(name + ": images must be [N, C, H, W] with N, C, H, W >= 1, not " +
                             shape_str(pixels.shape()));
  std::string bytes(static_cast<size_t>(pixels.numel()), '\0');
  const float* p = pixels.data();
  for (int64_t i = 0; i < pixels.numel(); ++i) {
    if (!(p[i] >= 0.0f && p[i] <= 255.0f && p[i] == std::floor(p[i])))
      throw std::runtime_error(name + ": pixel values must be integers 0..255, found " + std::to_string(p[i]) +
                               " at flat index " + std::to_string(i));
    bytes[i] = static_cast<char>(static_cast<unsigned char>(p[i]));
  }
  return std::make_unique<ImageDataset>(name, pixels.shape(), std::move(bytes), hflip);
}

std::unique_ptr<Dataset> tensor_dataset(const std::string& name, Tensor samples) {
  if (samples.ndim() < 2 || samples.dim(0) < 1) throw std::runtime_error(name + ": need at least one sample (N x D)");
  return std::make_unique<TensorDataset>(name, std::move(samples));
}

// A .npy file: 2-D is N x D points (as before images were read), 3-D and 4-D are images.
static std::unique_ptr<Dataset> open_npy(const std::string& spec, const DataOptions& opt) {
  const size_t rank = read_npy_header(spec).shape.size();
  if (rank == 3 || rank == 4) {
    ImageSet set = load_npy_images(spec, opt.layout);
    if (!opt.labels.empty()) set.labels = load_npy_labels(opt.labels, set.shape[0], &set.num_classes);
    return std::make_unique<ImageDataset>(spec, std::move(set), opt.hflip);
  }
  if (!opt.layout.empty() || !opt.labels.empty())
    throw std::runtime_error(spec + ": --layout and --labels apply to image arrays (3-D or 4-D); this array is " +
                             std::to_string(rank) + "-D");
  return tensor_dataset(spec, load_data_file(spec));
}

std::unique_ptr<Dataset> open_dataset(const std::string& spec, const DataOptions& opt) {
  std::string ext = std::filesystem::path(spec).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Only .npy images take a layout or a labels file; elsewhere they would be ignored silently.
  if ((!opt.layout.empty() || !opt.labels.empty()) && ext != ".npy")
    throw std::runtime_error(spec + ": --layout and --labels apply only to .npy image arrays");
  if (is_toy2d(spec)) return std::make_unique<ToyDataset>(spec);
  if (spec == "fashion-mnist" || spec == "mnist") return open_named_images(spec, opt);
  if (spec == "cifar10")
    return std::make_unique<ImageDataset>("cifar10/" + opt.split, load_cifar10(opt.data_dir, opt.split), opt.hflip);
  if (is_idx_image_path(spec)) return open_idx_images(spec, spec, opt.hflip);
  if (ext == ".npy") return open_npy(spec, opt);
  if (ext == ".csv") return tensor_dataset(spec, load_data_file(spec));
  std::error_code ec;
  if (std::filesystem::is_directory(spec, ec)) return std::make_unique<ImageDataset>(spec, load_png_folder(spec), opt.hflip);
  std::string names;
  for (const std::string& n : toy2d_names()) names += (names.empty() ? "" : ", ") + n;
  throw std::runtime_error("unknown dataset '" + spec +
                           "': give a .npy, .csv or IDX image file, a folder of PNGs, fashion-mnist, mnist, cifar10, "
                           "or one of " + names);
}

}  // namespace fm
