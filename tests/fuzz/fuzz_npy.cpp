// tests/fuzz/fuzz_npy.cpp: .npy files, as data (load_npy), as images (load_npy_images) and as
// labels (load_npy_labels).
#include "flow/image_files.h"
#include "tensor/io/npy.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fm;
  const std::string path = fuzz::input_file(data, size, "input.npy");
  fuzz::refusal_allowed([&] { load_npy(path); });
  fuzz::refusal_allowed([&] { load_npy_images(path); });
  fuzz::refusal_allowed([&] {
    int64_t classes = 0;
    load_npy_labels(path, -1, &classes);
  });
  return 0;
}
