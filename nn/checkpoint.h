// nn/checkpoint.h: model checkpoints as safetensors files.
//
// model.safetensors holds the model's weights under their PyTorch names, and in __metadata__:
//   "format": "fm.cpp/1", "config": the model's JSON config, "step": the training step,
// plus whatever the caller adds. Files are written to a temporary name and renamed, so a crash
// mid-write never destroys the previous checkpoint.
// scripts/fm_torch.py loads these files into PyTorch modules of the same names (strict) and writes
// them back in the same layout.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "nn/module.h"
#include "tensor/random.h"
#include "tensor/io/safetensors.h"

namespace fm {

void save_checkpoint(const std::string& path, const FieldModel& model, const std::vector<NamedTensor>& weights,
                     int64_t step, std::map<std::string, std::string> extra = {});

// Loads model weights into `params`, checking that every parameter is present with the right
// shape and that the file holds nothing else. Throws naming the file and the tensor.
void load_weights(const std::string& path, const SafetensorsFile& file, const std::vector<Param>& params);

struct LoadedModel {
  std::unique_ptr<FieldModel> model;
  Json config;
  int64_t step = 0;
  std::map<std::string, std::string> metadata;
};

// The model `config` describes, built under an allocation budget of the tensors `file` holds
// (plus 1 MiB for what construction allocates besides): a config that came from the file cannot
// make fm allocate gigabytes before the weights are found missing. Over budget, it throws
// std::runtime_error starting with `what`.
std::unique_ptr<FieldModel> make_model_within(const Json& config, const SafetensorsFile& file, const std::string& what,
                                              Rng& rng);

// Rebuilds the model from the config stored in the file and loads its weights.
LoadedModel load_checkpoint(const std::string& path);

}  // namespace fm
