// flow/evaluation.h: what a training run draws and measures with the model it trains (flow/run.h
// calls these): grids of samples from fixed noise while an image run trains and at its end, and
// for points after training a picture's samples (2-D) and the exact NLL of fresh data, next to the
// true entropy for the toys that have one.
#pragma once
#include <memory>
#include <optional>
#include <vector>

#include "flow/dataset.h"
#include "flow/path.h"
#include "nn/module.h"
#include "ode/evaluate.h"
#include "tensor/io/safetensors.h"

namespace fm {

// 64 samples from fixed noise N(0, prior_std^2), drawn once from `seed`'s stream, so successive
// grids of one run (and of its resumptions) show the same samples as training goes on. The grid
// has its own copy of the model, on `device`: the training weights are never touched.
class SampleGrid {
 public:
  SampleGrid(const Json& model_config, double prior_std, uint64_t seed, Device device);
  // The flow of `weights` (named like the model's parameters: the EMA) from the noise, solved with
  // `ode`: [64, C, H, W] on the host; *nfe gets the field evaluations.
  Tensor draw(const std::vector<NamedTensor>& weights, const OdeOptions& ode, int64_t* nfe = nullptr);

 private:
  std::unique_ptr<FieldModel> model_;
  Tensor x0_;
};

// For a run on 2-D points: 20,000 model samples (noise from the Picture stream of `seed`, dopri5
// at 1e-4) and, beside them, 20,000 data samples (the same stream), on the host.
struct PointsPicture {
  Tensor model_samples, data_samples;
};
PointsPicture points_picture(const FieldModel& model, const ProbPath& path, Dataset& data, uint64_t seed);

// The final evaluation of a run on points: the exact NLL in nats of eval_n fresh samples of
// `data`, drawn from the Eval stream of `seed`, solved (with the probes of that stream's chunks,
// ode/evaluate.h) eval_batch at a time and dealt among the processes; rank 0 gets the results.
struct PointsNll {
  MeanStderr nll;
  double mean_nfe = 0.0;
  std::optional<double> entropy;  // the data's true entropy, for the toys that have one
};
PointsNll points_nll(const FieldModel& model, const ProbPath& path, Dataset& data, const std::string& data_spec, uint64_t seed,
                     int64_t eval_n, int64_t eval_batch, const SolveProgress& progress = {});

// How good a run's samples are with few solver steps (points): n samples from the Quality stream
// of `seed`'s noise, solved by Euler with each of `euler_steps` steps, against n fresh data samples
// (the same stream): the sliced Wasserstein-2 distance and the energy distance
// (flow/sample_distance.h). And the NFE dopri5 at 1e-5 takes for that noise: a straighter field
// (OT coupling) needs fewer of both.
struct PointsQuality {
  std::vector<int64_t> euler_steps;
  std::vector<double> sliced_w2, energy;  // one per entry of euler_steps
  int64_t dopri5_nfe = 0;
};
PointsQuality points_quality(const FieldModel& model, const ProbPath& path, Dataset& data, uint64_t seed, int64_t n = 2000,
                             const std::vector<int64_t>& euler_steps = {1, 2, 4, 8});

}  // namespace fm
