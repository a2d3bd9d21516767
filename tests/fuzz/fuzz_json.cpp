// tests/fuzz/fuzz_json.cpp: the JSON parser (parse_json). What it accepts must print (to_json)
// as text it parses again to the same printed text.
#include <string_view>

#include "tensor/io/json.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fm::fuzz::refusal_allowed([&] {
    const std::string printed = fm::to_json(fm::parse_json(text));
    fm::fuzz::require(fm::to_json(fm::parse_json(printed)) == printed, "to_json(parse_json(printed)) == printed");
  });
  return 0;
}
