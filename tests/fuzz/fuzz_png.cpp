// tests/fuzz/fuzz_png.cpp: PNG files through the project's own loading code: a folder holding the
// input as its one image (load_png_folder, which reads it with libpng).
#include "flow/image_files.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fm::fuzz::input_file(data, size, "png_folder/image.png");
  fm::fuzz::refusal_allowed([&] { fm::load_png_folder(std::filesystem::path(path).parent_path().string()); });
  return 0;
}
