// tensor/io/safetensors.h: the safetensors checkpoint format (https://github.com/huggingface/safetensors).
//
// Layout:
//   bytes 0-7        N, the header length: u64 little-endian
//   bytes 8..8+N     UTF-8 JSON object, padded with trailing spaces:
//                      {"__metadata__": {"step": "1000"},
//                       "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
//   bytes 8+N..end   the data section: each tensor's raw little-endian values at
//                    [begin, end) relative to the start of the data section.
// We write and read only F32. The writer pads the header to a multiple of 8 bytes (so the data is
// aligned) and lays tensors out contiguously in the order given. The reader validates everything:
// the data section must be exactly covered by the tensors, with no overlaps and no holes, as the
// spec requires.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace fm {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

// Throws on duplicate or reserved ("__metadata__") names and on I/O errors; writes atomically.
void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  std::vector<NamedTensor> tensors;  // in data-section order, i.e. the order they were saved in
  std::map<std::string, std::string> metadata;
  const Tensor* find(const std::string& name) const;  // nullptr if absent
};

// Throws std::runtime_error "<path>: <problem>" on any malformed, truncated or unsupported input.
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace fm
