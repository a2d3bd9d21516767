// tests/fuzz/fuzz_safetensors.cpp: safetensors files (load_safetensors), and the same bytes as a
// checkpoint (load_checkpoint): its metadata turned into a model config, the model built and its
// weights loaded. A hostile config must be refused before it allocates.
#include "nn/checkpoint.h"
#include "tensor/io/safetensors.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fm::fuzz::input_file(data, size, "model.safetensors");
  fm::fuzz::refusal_allowed([&] { fm::load_safetensors(path); });
  fm::fuzz::refusal_allowed([&] { fm::load_checkpoint(path); });
  return 0;
}
