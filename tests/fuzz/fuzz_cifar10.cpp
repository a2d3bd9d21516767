// tests/fuzz/fuzz_cifar10.cpp: CIFAR-10 binary batches (read_cifar10_batch).
#include "flow/image_files.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fm::fuzz::input_file(data, size, "data_batch_1.bin");
  fm::fuzz::refusal_allowed([&] { fm::read_cifar10_batch(path); });
  return 0;
}
