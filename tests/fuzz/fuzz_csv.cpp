// tests/fuzz/fuzz_csv.cpp: .csv point files (load_csv).
#include "flow/datafile.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fm::fuzz::input_file(data, size, "input.csv");
  fm::fuzz::refusal_allowed([&] { fm::load_csv(path); });
  return 0;
}
