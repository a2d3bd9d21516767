// flow/png_folder.cpp: a folder of PNG images (rules in flow/image_files.h), read with
// flow/png_file.h. Two passes: the headers first, so a folder of mixed sizes fails before anything
// is decoded, then the pixels.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "flow/image_files.h"
#include "flow/png_file.h"
#include "tensor/io/npy.h"

namespace fm {

namespace {

namespace fs = std::filesystem;

bool is_png_name(const fs::path& p) {
  std::string ext = p.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".png";
}
bool hidden(const fs::path& p) { return p.filename().string().starts_with("."); }

// The *.png files directly in `dir` (sorted) and its non-hidden sub-folders (sorted).
void list_folder(const fs::path& dir, std::vector<fs::path>* files, std::vector<fs::path>* subdirs) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) throw_file_error(dir.string(), "cannot read the folder: " + ec.message());
  for (; it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (hidden(p)) continue;
    if (subdirs && it->is_directory(ec)) subdirs->push_back(p);
    else if (is_png_name(p) && !it->is_directory(ec)) files->push_back(p);
  }
  std::sort(files->begin(), files->end());
  if (subdirs) std::sort(subdirs->begin(), subdirs->end());
}

}  // namespace

ImageSet load_png_folder(const std::string& dir) {
  std::vector<fs::path> top, subdirs;
  list_folder(dir, &top, &subdirs);
  // (file, class) pairs; class -1 without sub-folders.
  std::vector<std::pair<fs::path, int64_t>> files;
  if (subdirs.empty()) {
    for (const fs::path& p : top) files.push_back({p, -1});
  } else {
    if (!top.empty())
      throw_file_error(dir, "holds both .png files (" + top[0].filename().string() +
                                ", ...) and sub-folders; put every image in a class sub-folder, or none");
    for (size_t k = 0; k < subdirs.size(); ++k) {
      std::vector<fs::path> in;
      list_folder(subdirs[k], &in, nullptr);
      if (in.empty()) throw_file_error(subdirs[k].string(), "class sub-folder holds no .png files");
      for (const fs::path& p : in) files.push_back({p, int64_t(k)});
    }
  }
  if (files.empty()) throw_file_error(dir, "no .png files in the folder");

  // Pass 1: headers. One size for all; colour if any file has it.
  uint32_t w = 0, h = 0;
  std::string first;
  bool colour = false;
  for (const auto& [p, cls] : files) {
    PngFile png(p.string());
    if (first.empty()) {
      w = png.width(), h = png.height(), first = p.string();
    } else if (png.width() != w || png.height() != h) {
      throw_file_error(p.string(), "is " + std::to_string(png.width()) + "x" + std::to_string(png.height()) + " but " + first +
                                       " is " + std::to_string(w) + "x" + std::to_string(h) + " (all images must have one size)");
    }
    colour = colour || png.colour();
  }

  // Pass 2: pixels.
  ImageSet set;
  const int channels = colour ? 3 : 1;
  set.shape = {int64_t(files.size()), channels, int64_t(h), int64_t(w)};
  set.pixels.reserve(files.size() * size_t(channels) * w * h);
  for (const auto& [p, cls] : files) PngFile(p.string()).decode_planes(channels, set.pixels);
  if (!subdirs.empty()) {
    for (const auto& f : files) set.labels.push_back(f.second);
    set.num_classes = int64_t(subdirs.size());
    std::string names;  // the first few, so that the class order can be checked
    for (size_t k = 0; k < subdirs.size() && k < 10; ++k) names += (k ? ", " : "") + subdirs[k].filename().string();
    set.note = "classes " + names + (subdirs.size() > 10 ? ", ..." : "");
  }
  return set;
}

}  // namespace fm
