// flow/cifar10.cpp: the CIFAR-10 binary batch reader (format in flow/image_files.h).
#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "flow/image_files.h"
#include "tensor/io/npy.h"

namespace fm {

namespace {

constexpr int64_t kPixels = kCifarRecordBytes - 1;

// Appends the records of one batch file to `set` (shape [N, 3, 32, 32], N grown as records come).
void append_batch(const std::string& path, ImageSet& set) {
  InputFile f(path);
  const uint64_t size = f.size();
  // CIFAR-100's records are 3074 bytes (two labels) and would read as garbage: the size check
  // below is what tells the two formats apart.
  if (size == 0 || size % kCifarRecordBytes != 0)
    throw_file_error(path, std::to_string(size) + " bytes is not a whole number of " +
                               std::to_string(kCifarRecordBytes) +
                               "-byte CIFAR-10 records (1 label byte + 3 x 32 x 32 pixel bytes)");
  const int64_t n = int64_t(size / kCifarRecordBytes);
  std::string raw = f.read_all();
  const size_t at = set.pixels.size();
  set.pixels.resize(at + size_t(n * kPixels));
  set.labels.reserve(set.labels.size() + size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    const char* rec = raw.data() + i * kCifarRecordBytes;
    const int label = static_cast<unsigned char>(rec[0]);
    if (label > 9)
      throw_file_error(path, "record " + std::to_string(i) + " has label " + std::to_string(label) +
                                 " (CIFAR-10 labels are 0..9)");
    set.labels.push_back(label);
    // R, G and B planes in that order: already the NCHW layout of one image.
    std::copy(rec + 1, rec + kCifarRecordBytes, set.pixels.begin() + long(at + size_t(i * kPixels)));
  }
  set.shape = {int64_t(set.labels.size()), 3, 32, 32};
  set.num_classes = 10;
}

}  // namespace

ImageSet read_cifar10_batch(const std::string& path) {
  ImageSet set;
  append_batch(path, set);
  return set;
}

ImageSet load_cifar10(const std::string& dir, const std::string& split) {
  if (split != "train" && split != "test")
    throw std::runtime_error("cifar10: unknown split '" + split + "' (train or test)");
  if (dir.empty())
    throw std::runtime_error("cifar10: no default location: pass --data-dir DIR holding data_batch_1.bin .. "
                             "data_batch_5.bin and test_batch.bin (the binary version, cifar-10-binary.tar.gz)");
  std::vector<std::string> names;
  if (split == "train")
    for (int i = 1; i <= 5; ++i) names.push_back("data_batch_" + std::to_string(i) + ".bin");
  else
    names.push_back("test_batch.bin");

  namespace fs = std::filesystem;
  auto missing_in = [&](const fs::path& d) {
    std::vector<std::string> missing;
    std::error_code ec;
    for (const std::string& n : names)
      if (!fs::exists(d / n, ec)) missing.push_back(n);
    return missing;
  };
  fs::path where = dir;
  std::vector<std::string> missing = missing_in(where);
  // The tarball unpacks into cifar-10-batches-bin/: accept the folder above it too.
  if (!missing.empty() && missing_in(where / "cifar-10-batches-bin").empty()) {
    where /= "cifar-10-batches-bin";
    missing.clear();
  }
  if (!missing.empty()) {
    std::string list;
    for (const std::string& n : missing) list += (list.empty() ? "" : ", ") + n;
    throw std::runtime_error("cifar10/" + split + ": missing " + list + " in " + dir +
                             " (the binary version of CIFAR-10, cifar-10-binary.tar.gz)");
  }
  ImageSet set;
  for (const std::string& n : names) append_batch((where / n).string(), set);
  return set;
}

}  // namespace fm
