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

Tensor Dataset::labelled_batch(int64_t, Rng&, std::vector<int64_t>&) {
  throw std::runtime_error(name() + " has no class labels");
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// rows[i] = labels[idx[i]] for drawn rows idx.
void labels_of(const std::vector<int64_t>& all, const std::vector<int64_t>& idx, std::vector<int64_t>& out) {
  out.resize(idx.size());
  for (size_t i = 0; i < idx.size(); ++i) out[i] = all[size_t(idx[i])];
}

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
  TensorDataset(std::string name, Tensor data, std::vector<int64_t> labels, int64_t num_classes)
      : name_(std::move(name)), data_(std::move(data)), labels_(std::move(labels)), num_classes_(num_classes) {}
  std::string name() const override { return name_; }
  Shape sample_shape() const override { return Shape(data_.shape().begin() + 1, data_.shape().end()); }
  int64_t size() const override { return data_.dim(0); }
  Tensor head(int64_t n) const override { return data_.rows(0, std::min(n, data_.dim(0))).clone(); }
  Tensor batch(int64_t n, Rng& rng) override {
    std::vector<int64_t> idx(n);
    rng.integers(idx.data(), n, data_.dim(0));
    return take_rows(data_, idx);
  }
  Tensor labelled_batch(int64_t n, Rng& rng, std::vector<int64_t>& labels) override {
    if (labels_.empty()) return Dataset::labelled_batch(n, rng, labels);
    std::vector<int64_t> idx(n);
    rng.integers(idx.data(), n, data_.dim(0));
    labels_of(labels_, idx, labels);
    return take_rows(data_, idx);
  }
  const std::vector<int64_t>& labels() const override { return labels_; }
  int64_t num_classes() const override { return num_classes_; }
  std::string details() const override {
    return num_classes_ > 0 ? std::to_string(labels_.size()) + " labels, " + std::to_string(num_classes_) + " classes" : "";
  }

 private:
  std::string name_;
  Tensor data_;
  std::vector<int64_t> labels_;
  int64_t num_classes_ = 0;
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
      d += (d.empty() ? "" : "; ") + std::to_string(labels_.size()) + " labels, " + std::to_string(num_classes_) + " classes";
    return d;
  }
  // Labels given after construction (--labels, the named sets' label files).
  void set_labels(std::vector<int64_t> labels, int64_t num_classes) {
    labels_ = std::move(labels);
    num_classes_ = num_classes;
  }

  Tensor batch(int64_t n, Rng& rng) override { return draw(n, rng, nullptr); }
  Tensor labelled_batch(int64_t n, Rng& rng, std::vector<int64_t>& labels) override {
    if (labels_.empty()) return Dataset::labelled_batch(n, rng, labels);
    return draw(n, rng, &labels);
  }
  Tensor head(int64_t n) const override { return first(n, scaled_); }
  Tensor head_pixels(int64_t n) const override { return first(n, raw_); }

 private:
  int64_t image_numel() const { return shape_[1] * shape_[2] * shape_[3]; }
  Tensor draw(int64_t n, Rng& rng, std::vector<int64_t>* labels) const {
    if (n < 0) throw std::runtime_error(name_ + ": negative batch size");
    std::vector<int64_t> idx(n), flip(n, 0);
    rng.integers(idx.data(), n, shape_[0]);
    if (hflip_) rng.integers(flip.data(), n, 2);  // 0 or 1 each: a fair coin per image
    Tensor out = Tensor::empty({n, shape_[1], shape_[2], shape_[3]});
    for (int64_t i = 0; i < n; ++i) convert(idx[i], flip[i] != 0, scaled_, out.data() + i * image_numel());
    if (labels) labels_of(labels_, idx, *labels);
    return out;
  }
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

bool is_idx_image_path(const std::string& spec) {
  for (const char* suffix : {"idx3-ubyte", ".idx", ".idx3"})
    if (ends_with(spec, suffix) || ends_with(spec, std::string(suffix) + ".gz")) return true;
  return false;
}

bool is_idx_label_path(const std::string& spec) {
  for (const char* suffix : {"idx1-ubyte", ".idx1"})
    if (ends_with(spec, suffix) || ends_with(spec, std::string(suffix) + ".gz")) return true;
  return false;
}

// An IDX image file, with the labels of `labels_path` (empty: none).
std::unique_ptr<Dataset> open_idx_images(const std::string& name, const std::string& path, bool hflip,
                                         const std::string& labels_path = "") {
  IdxArray a = read_idx_ubyte(path, 3);
  Shape shape{a.dims[0], 1, a.dims[1], a.dims[2]};
  auto data = std::make_unique<ImageDataset>(name, shape, std::move(a.bytes), hflip);
  if (!labels_path.empty()) {
    int64_t classes = 0;
    std::vector<int64_t> labels = load_label_file(labels_path, shape[0], &classes);
    data->set_labels(std::move(labels), classes);
  }
  return data;
}

// The first of `base` and `base`.gz that exists, or "".
std::string plain_or_gz(const std::string& base) {
  for (const std::string& path : {base, base + ".gz"}) {
    std::error_code ec;  // an unreadable directory reads as "not found" here; the error names it
    if (std::filesystem::exists(path, ec)) return path;
  }
  return "";
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
  const std::string stem = (std::filesystem::path(dir) / (opt.split == "train" ? "train" : "t10k")).string();
  const std::string base = stem + "-images-idx3-ubyte";
  std::string name = spec + "/" + opt.split;
  // The labels come along when their file is there (fm train --conditional says so when not).
  if (const std::string path = plain_or_gz(base); !path.empty())
    return open_idx_images(name, path, opt.hflip, plain_or_gz(stem + "-labels-idx1-ubyte"));
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

std::unique_ptr<Dataset> tensor_dataset(const std::string& name, Tensor samples, std::vector<int64_t> labels,
                                        int64_t num_classes) {
  if (samples.ndim() < 2 || samples.dim(0) < 1) throw std::runtime_error(name + ": need at least one sample (N x D)");
  if (!labels.empty() && int64_t(labels.size()) != samples.dim(0))
    throw std::runtime_error(name + ": " + std::to_string(labels.size()) + " labels for " + std::to_string(samples.dim(0)) + " samples");
  return std::make_unique<TensorDataset>(name, std::move(samples), std::move(labels), num_classes);
}

std::vector<int64_t> load_label_file(const std::string& path, int64_t n, int64_t* num_classes) {
  std::vector<int64_t> labels;
  if (is_idx_label_path(path)) {
    IdxArray a = read_idx_ubyte(path, 1);
    if (a.dims[0] != n)
      throw std::runtime_error(path + ": holds " + std::to_string(a.dims[0]) + " labels for " + std::to_string(n) + " samples");
    labels.assign(a.data(), a.data() + a.bytes.size());
    *num_classes = labels.empty() ? 0 : *std::max_element(labels.begin(), labels.end()) + 1;
  } else if (ends_with(path, ".npy")) {
    labels = load_npy_labels(path, n, num_classes);
  } else {
    throw std::runtime_error(path + ": labels must be a 1-D .npy of class indices or an IDX1 label file (*idx1-ubyte)");
  }
  if (*num_classes > kMaxClasses)
    throw std::runtime_error(path + ": label " + std::to_string(*num_classes - 1) + " asks for " + std::to_string(*num_classes) +
                             " classes, more than the " + std::to_string(kMaxClasses) + " allowed");
  return labels;
}

// Points with the labels of `labels_path` (empty: none).
static std::unique_ptr<Dataset> labelled_points(const std::string& name, Tensor points, const std::string& labels_path) {
  if (labels_path.empty()) return tensor_dataset(name, std::move(points));
  int64_t classes = 0;
  std::vector<int64_t> labels = load_label_file(labels_path, points.dim(0), &classes);
  return tensor_dataset(name, std::move(points), std::move(labels), classes);
}

// A .npy file: 2-D is N x D points (as before images were read), 3-D and 4-D are images.
static std::unique_ptr<Dataset> open_npy(const std::string& spec, const DataOptions& opt) {
  const size_t rank = read_npy_header(spec).shape.size();
  if (rank == 3 || rank == 4) {
    ImageSet set = load_npy_images(spec, opt.layout);
    if (!opt.labels.empty()) set.labels = load_label_file(opt.labels, set.shape[0], &set.num_classes);
    return std::make_unique<ImageDataset>(spec, std::move(set), opt.hflip);
  }
  if (!opt.layout.empty())
    throw std::runtime_error(spec + ": --layout applies to image arrays (3-D or 4-D); this array is " + std::to_string(rank) + "-D");
  return labelled_points(spec, load_data_file(spec), opt.labels);
}

std::unique_ptr<Dataset> open_dataset(const std::string& spec, const DataOptions& opt) {
  std::string ext = std::filesystem::path(spec).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Only .npy images take a layout, and only .npy, .csv and IDX image files a labels file (the
  // other sets bring their own); elsewhere they would be ignored silently.
  if (!opt.layout.empty() && ext != ".npy") throw std::runtime_error(spec + ": --layout applies only to .npy image arrays");
  if (!opt.labels.empty() && ext != ".npy" && ext != ".csv" && !is_idx_image_path(spec))
    throw std::runtime_error(spec + ": --labels applies to .npy and .csv files and IDX image files (image sets and PNG "
                             "folders bring their own labels)");
  if (is_toy2d(spec)) return std::make_unique<ToyDataset>(spec);
  if (spec == "fashion-mnist" || spec == "mnist") return open_named_images(spec, opt);
  if (spec == "cifar10")
    return std::make_unique<ImageDataset>("cifar10/" + opt.split, load_cifar10(opt.data_dir, opt.split), opt.hflip);
  if (is_idx_image_path(spec)) return open_idx_images(spec, spec, opt.hflip, opt.labels);
  if (ext == ".npy") return open_npy(spec, opt);
  if (ext == ".csv") return labelled_points(spec, load_data_file(spec), opt.labels);
  std::error_code ec;
  if (std::filesystem::is_directory(spec, ec)) return std::make_unique<ImageDataset>(spec, load_png_folder(spec), opt.hflip);
  std::string names;
  for (const std::string& n : toy2d_names()) names += (names.empty() ? "" : ", ") + n;
  throw std::runtime_error("unknown dataset '" + spec +
                           "': give a .npy, .csv or IDX image file, a folder of PNGs, fashion-mnist, mnist, cifar10, "
                           "or one of " + names);
}

}  // namespace fm
