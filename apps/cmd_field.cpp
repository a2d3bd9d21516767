// apps/cmd_field.cpp: `fm field`, the learned vector field v(x, t) of a checkpoint on given points,
// written as .npy with x's shape. It is the reference output that other implementations of the same
// network (scripts/fm_torch.py, the PyTorch mirror) are checked against.
#include <cstdio>
#include <stdexcept>

#include "apps/commands.h"
#include "apps/common.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "ode/evaluate.h"
#include "tensor/io/npy.h"

namespace fm {

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// --t: one time for every row, or a .npy file with one per row ([N] or [N, 1]).
Tensor times_option(const Args& args, int64_t n) {
  const std::string spec = args.str("--t");
  if (!ends_with(spec, ".npy")) {
    try {
      return Tensor::full({n}, static_cast<float>(args.f64("--t")));
    } catch (const UsageError&) {
      throw UsageError("--t expects a number or a .npy file, got '" + spec + "'");
    }
  }
  Tensor t = load_npy(spec);
  const bool fits = (t.ndim() == 1 && t.dim(0) == n) || (t.ndim() == 2 && t.dim(0) == n && t.dim(1) == 1);
  if (!fits)
    throw std::runtime_error(spec + ": times of shape " + npy_shape_str(t.shape()) + " do not fit " + std::to_string(n) +
                             " points (need (" + std::to_string(n) + ",) or (" + std::to_string(n) + ", 1))");
  return t.reshape({n});
}

}  // namespace

int cmd_field(int argc, char** argv) {
  Args args("fm field", "Evaluate a trained model's vector field v(x, t) on given points and write it as .npy.");
  args.opt("--ckpt", "", "model checkpoint (.safetensors) written by fm train or scripts/fm_torch.py")
      .opt("--x", "", "the points (.npy, N x D or N x C x H x W, float32 or float64)")
      .opt("--t", "", "the time, one number for every point, or a .npy file with one per point (N or N x 1)")
      .opt("--out", "field.npy", "where to write v (.npy float32, the shape of --x)")
      .opt("--batch", "", "points per forward pass (default: 64 for images, 10000 otherwise)")
      .opt("--class", "", "class-conditional models: v(x, t | class K) (default: the unconditional field)");
  add_device_option(args);
  if (!args.parse(argc, argv, 2)) return 0;
  for (const char* required : {"--ckpt", "--x", "--t"})
    if (!args.given(required)) throw UsageError(std::string(required) + " is required");

  const Device device = device_option(args);
  LoadedModel lm = load_checkpoint(args.str("--ckpt"));
  lm.model->to(device);
  const Shape sample_shape = model_sample_shape(lm.config);

  const std::string x_path = args.str("--x");
  Tensor x = load_npy(x_path);
  Shape want = sample_shape;
  want.insert(want.begin(), x.ndim() ? x.dim(0) : 0);
  if (x.ndim() < 1 || x.shape() != want) {
    std::string want_str = "(N";
    for (int64_t d : sample_shape) want_str += ", " + std::to_string(d);
    throw std::runtime_error(x_path + ": points of shape " + npy_shape_str(x.shape()) + " do not fit the model (need " +
                             want_str + "))");
  }
  const int64_t n = x.dim(0);
  const Tensor t = times_option(args, n);
  const int64_t batch = args.given("--batch") ? args.i64("--batch") : sample_shape.size() == 3 ? 64 : 10000;
  if (batch < 1) throw UsageError("--batch must be positive");

  ClassCondition cond;
  if (args.given("--class")) cond.labels.assign(size_t(x.dim(0)), args.i64("--class"));
  const Tensor v = evaluate_field(*lm.model, x.to(device), t, batch, cond);
  const std::string out = args.str("--out");
  save_npy(out, v);  // from the device, if it lives there
  std::fprintf(stderr, "wrote v(x, t) of %lld points to %s\n", static_cast<long long>(n), out.c_str());
  return 0;
}

}  // namespace fm
