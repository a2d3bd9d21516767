// tests/fuzz/fuzz_idx.cpp: IDX files, plain or gzipped (an input that starts with gzip's magic
// bytes is read as a .gz file), as images (IDX3) and as labels (IDX1).
#include "flow/idx.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  const std::string path = fm::fuzz::input_file(data, size, gz ? "input-ubyte.gz" : "input-ubyte");
  fm::fuzz::refusal_allowed([&] { fm::load_idx_images(path); });
  fm::fuzz::refusal_allowed([&] { fm::load_idx_labels(path); });
  return 0;
}
