// nn/checkpoint.cpp
#include "nn/checkpoint.h"

#include <set>
#include <stdexcept>

#include "nn/model.h"
#include "tensor/allocator.h"

namespace fm {

void save_checkpoint(const std::string& path, const FieldModel& model, const std::vector<NamedTensor>& weights,
                     int64_t step, std::map<std::string, std::string> extra) {
  extra["format"] = "fm.cpp/1";
  extra["config"] = to_json(model.config());
  extra["step"] = std::to_string(step);
  save_safetensors(path, weights, extra);
}

void load_weights(const std::string& path, const SafetensorsFile& file, const std::vector<Param>& params) {
  std::set<std::string> expected;
  for (const Param& p : params) {
    expected.insert(p.name);
    const Tensor* t = file.find(p.name);
    if (!t) throw std::runtime_error(path + ": missing tensor '" + p.name + "'");
    if (t->shape() != p.var.shape())
      throw std::runtime_error(path + ": tensor '" + p.name + "' has shape " + shape_str(t->shape()) + ", the model needs " +
                               shape_str(p.var.shape()));
    p.var.node()->value.copy_from(*t);
  }
  for (const NamedTensor& t : file.tensors)
    if (!expected.count(t.name)) throw std::runtime_error(path + ": unexpected tensor '" + t.name + "' for this model");
}

std::unique_ptr<FieldModel> make_model_within(const Json& config, const SafetensorsFile& file, const std::string& what,
                                              Rng& rng) {
  size_t bytes = size_t(1) << 20;
  for (const NamedTensor& t : file.tensors) bytes += size_t(t.tensor.numel()) * sizeof(float);
  const AllocationBudget budget(bytes, what.c_str());
  return make_model(config, rng);
}

LoadedModel load_checkpoint(const std::string& path) {
  SafetensorsFile file = load_safetensors(path);
  auto it = file.metadata.find("config");
  if (it == file.metadata.end()) throw std::runtime_error(path + ": no model config in the metadata (not an fm.cpp checkpoint?)");
  LoadedModel out;
  try {
    out.config = parse_json(it->second);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": bad model config: " + e.what());
  }
  Rng rng(0);
  out.model = make_model_within(out.config, file, path + ": the model config", rng);  // the config came from the file
  load_weights(path, file, out.model->parameters());
  if (auto s = file.metadata.find("step"); s != file.metadata.end()) {
    try {
      out.step = std::stoll(s->second);
    } catch (...) {
      throw std::runtime_error(path + ": bad step '" + s->second + "' in the metadata");
    }
  }
  out.metadata = file.metadata;
  return out;
}

}  // namespace fm
