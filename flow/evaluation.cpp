// flow/evaluation.cpp
#include "flow/evaluation.h"

#include "flow/sample_distance.h"
#include "flow/toy2d.h"
#include "nn/checkpoint.h"
#include "nn/model.h"

namespace fm {

SampleGrid::SampleGrid(const Json& model_config, double prior_std, uint64_t seed, Device device) {
  Rng init(0);  // the initial weights are overwritten by every draw
  model_ = make_model(model_config, init);
  model_->to(device);
  Shape shape = model_sample_shape(model_config);
  shape.insert(shape.begin(), 64);
  x0_ = Tensor::empty(shape);
  Rng(seed).normal(x0_, 0.0f, float(prior_std));
  x0_ = x0_.to(device);
}

Tensor SampleGrid::draw(const std::vector<NamedTensor>& weights, const OdeOptions& ode, int64_t* nfe) {
  load_weights("the grid's weights", SafetensorsFile{weights, {}}, model_->parameters());
  FlowSolveOptions opt;
  opt.ode = ode;
  Rng no_probes(0);  // a solve that does not track log p draws nothing
  FlowSolveResult r = sample_flow(field_of(*model_), x0_, opt, no_probes, false);
  if (nfe) *nfe = r.stats.nfe;
  return r.x.to(Device::CPU);
}

PointsPicture points_picture(const FieldModel& model, const ProbPath& path, Dataset& data, uint64_t seed) {
  Rng rng(derive_seed(seed, Stream::Picture));
  Tensor x0 = Tensor::empty({20000, 2});
  rng.normal(x0, 0.0f, float(path.prior_std()));
  FlowSolveOptions opt;
  opt.ode.rtol = opt.ode.atol = 1e-4;
  PointsPicture p;
  p.model_samples = sample_flow(field_of(model), x0.to(model.device()), opt, rng, false).x.to(Device::CPU);
  p.data_samples = data.batch(20000, rng);
  return p;
}

PointsNll points_nll(const FieldModel& model, const ProbPath& path, Dataset& data, const std::string& data_spec, uint64_t seed,
                     int64_t eval_n, int64_t eval_batch, const SolveProgress& progress) {
  FlowSolveOptions opt;  // exact divergence, dopri5 at 1e-5
  opt.prior_std = path.prior_std();
  const uint64_t eval_seed = derive_seed(seed, Stream::Eval);
  Rng rng(eval_seed);
  const Tensor x = data.batch(eval_n, rng);
  SolveRun run = evaluate_logp(model, x, opt, eval_batch, eval_seed, progress);
  for (double& lp : run.logp) lp = -lp;
  PointsNll r{mean_stderr(run.logp), run.mean_nfe, std::nullopt};
  if (toy2d_has_log_density(data_spec)) r.entropy = toy2d_entropy(data_spec);
  return r;
}

PointsQuality points_quality(const FieldModel& model, const ProbPath& path, Dataset& data, uint64_t seed, int64_t n,
                             const std::vector<int64_t>& euler_steps) {
  Rng rng(derive_seed(seed, Stream::Quality));
  Shape shape = data.sample_shape();
  shape.insert(shape.begin(), n);
  Tensor x0 = Tensor::empty(shape);
  rng.normal(x0, 0.0f, float(path.prior_std()));
  x0 = x0.to(model.device());
  const Tensor fresh = data.batch(n, rng);
  PointsQuality q;
  FlowSolveOptions opt;  // no log p: nothing is drawn from rng below
  for (int64_t k : euler_steps) {
    opt.ode.method = Method::Euler;
    opt.ode.steps = k;
    const Tensor xs = sample_flow(field_of(model), x0, opt, rng, false).x.to(Device::CPU);
    q.euler_steps.push_back(k);
    q.sliced_w2.push_back(sliced_wasserstein(xs, fresh));
    q.energy.push_back(energy_distance(xs, fresh));
  }
  opt.ode = OdeOptions{};  // dopri5 at 1e-5
  q.dopri5_nfe = sample_flow(field_of(model), x0, opt, rng, false).stats.nfe;
  return q;
}

}  // namespace fm
