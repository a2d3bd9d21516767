// flow/run.cpp
#include "flow/run.h"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>

#include "dist/dist.h"
#include "flow/interrupt.h"
#include "flow/loss_log.h"
#include "nn/checkpoint.h"
#include "nn/mlp.h"
#include "nn/model.h"
#include "tensor/io/crash_point.h"

namespace fm {

DataKind data_kind(const Dataset& data) { return kind_of(data.sample_shape(), data.name()); }

Json model_for_data(const Shape& sample_shape, const ModelChoice& choice) {
  if (kind_of(sample_shape) == DataKind::Points) return mlp_config(sample_shape[0], choice.width, choice.depth, choice.classes);
  UNetConfig c = choice.unet;
  c.classes = choice.classes;
  c.in_channels = sample_shape[0];
  c.height = sample_shape[1];
  c.width = sample_shape[2];
  return unet_config_json(c);
}

ResumedRun load_resume(const ResumeRequest& req) {
  const std::string& dir = req.dir;
  if (!req.run_options_given.empty())
    throw RunOptionError(req.run_options_given.front() + " comes from the checkpoint in " + dir +
                         " and cannot be changed with --resume");
  const std::string file = dir + "/train_state.safetensors";
  if (!std::filesystem::exists(file))
    throw std::runtime_error(file + " not found: --resume needs the train state that fm train writes with each checkpoint");
  ResumedRun r;
  r.state = load_safetensors(file);
  try {
    r.spec = run_from_metadata(r.state.metadata);
    r.step = meta_i64(r.state.metadata, "step");
  } catch (const std::exception& e) {
    throw std::runtime_error(file + ": " + e.what());
  }
  TrainOptions& t = r.spec.train;
  if (req.steps) {
    const int64_t steps = *req.steps;
    if (steps < t.steps)
      throw RunOptionError("--steps " + std::to_string(steps) + " is below the run's " + std::to_string(t.steps) +
                           "; --resume can only extend a run");
    if (steps != t.steps && t.schedule == "cosine")
      r.note = "note: the cosine schedule now decays to zero at step " + std::to_string(steps) + " instead of " +
               std::to_string(t.steps);
    t.steps = steps;
  }
  if (r.step >= t.steps)
    throw RunOptionError(dir + " is already trained to " + std::to_string(r.step) +
                         " steps; pass a larger --steps to extend it");
  if (req.log_every) r.spec.log_every = std::max<int64_t>(1, *req.log_every);
  return r;
}

std::unique_ptr<FieldModel> make_run_model(const RunSpec& spec, const SafetensorsFile* state, Rng& rng) {
  if (!state) return make_model(spec.model, rng);
  return make_model_within(spec.model, *state, "train_state.safetensors: the model its options describe", rng);
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A stop request (flow/interrupt.h) that every rank sees at the same step: one float summed over
// the ranks (nothing to sum in one process). Returns this rank's signal, else SIGTERM when only
// another rank was signalled, else 0.
int interrupt_signal_of_all_ranks() {
  const int mine = interrupt_requested();
  if (dist::size() == 1) return mine;
  Tensor any = Tensor::full({1}, mine ? 1.0f : 0.0f);
  dist::allreduce_sum(any);
  return any.item() > 0 ? (mine ? mine : SIGTERM) : 0;
}

}  // namespace

TrainRunResult train_run(const TrainRunOptions& opt, Dataset& data, const RunHooks& hooks) {
  const RunSpec& spec = opt.spec;
  const TrainOptions& topt = spec.train;
  const int64_t steps = topt.steps;
  check_batch_split(topt.batch, dist::size());  // before anything is written
  // Under mpirun, rank 0 alone writes (the directory, loss.csv, checkpoints) and calls the
  // observers; every rank trains, and evaluates (the evaluation deals its solves among them).
  const bool root = dist::is_root();
  if (root) {
    std::error_code ec;
    std::filesystem::create_directories(opt.out_dir, ec);
    if (ec) throw std::runtime_error(opt.out_dir + ": cannot create the run directory: " + ec.message());
  }
  const std::string ckpt_path = opt.out_dir + "/model.safetensors", state_path = opt.out_dir + "/train_state.safetensors";

  std::unique_ptr<ProbPath> path = make_path(spec.path, spec.sigma_min);
  Rng init_rng(derive_seed(topt.seed, Stream::Init));
  std::unique_ptr<FieldModel> model = make_run_model(spec, opt.resume_state ? &*opt.resume_state : nullptr, init_rng);
  model->to(opt.device);  // before the trainer: Adam's moments and the EMA live beside the weights
  Trainer trainer(*model, *path, data, topt);
  if (opt.resume_state) {
    try {
      trainer.load_state(*opt.resume_state);
    } catch (const std::exception& e) {
      throw std::runtime_error(state_path + ": " + e.what());
    }
  }
  const int64_t start = trainer.steps_done();
  const RunContext ctx{opt, data, *model, *path, trainer, start};
  if (root && hooks.on_start) hooks.on_start(ctx);
  // The grids' noise comes from a stream of its own, so every grid of a run shows the same samples.
  std::optional<SampleGrid> grid;
  if (root && opt.grid_every > 0) grid.emplace(spec.model, path->prior_std(), derive_seed(topt.seed, Stream::Grid), opt.device);
  auto draw_grid = [&](int64_t step, const OdeOptions& ode, bool final) {
    RunSamples s{final, step, Tensor(), Tensor(), ode, 0};
    s.samples = grid->draw(trainer.eval_weights(), ode, &s.nfe);
    if (hooks.on_samples) hooks.on_samples(ctx, s);
  };

  std::optional<LossLog> log;
  if (root) log.emplace(opt.out_dir + "/loss.csv", spec.log_every, start, opt.resume_state ? &opt.resume_state->metadata : nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  std::map<std::string, std::string> model_meta{
      {"data", spec.data_spec}, {"path", path->name()}, {"seed", std::to_string(int64_t(topt.seed))}};
  if (spec.path == "condot") model_meta["sigma_min"] = meta_number(spec.sigma_min);  // checkpoint_path reads it
  int64_t saved_step = opt.resume_state ? start : -1;
  // The train state goes first: it refuses NaN/Inf before anything is written (see the header).
  auto save = [&](int64_t step) {
    if (root) {
      std::map<std::string, std::string> extra = run_metadata(spec);
      extra.merge(log->state(seconds_since(t0)));
      save_train_state(state_path, trainer, extra);
      save_checkpoint(ckpt_path, *model, trainer.eval_weights(), step, model_meta);
    }
    saved_step = step;  // both files written (an error above leaves the previous pair)
    if (root && hooks.on_checkpoint) hooks.on_checkpoint(ctx, step);
  };

  int stop_signal = 0;  // SIGINT or SIGTERM (flow/interrupt.h): checkpoint, then RunInterrupted
  int64_t stopped_at = steps;
  try {
    for (int64_t step = start; step < steps; ++step) {
      StepStats st = trainer.step();  // throws on a non-finite loss or gradient, before any update
      crash_point("step");            // the kill tests' hook (tensor/io/crash_point.h); inert unless armed
      const bool last = step + 1 == steps;
      stop_signal = last ? 0 : interrupt_signal_of_all_ranks();
      if (root) {
        log->add(step + 1, st, last, seconds_since(t0));  // an interrupted window goes on in the train state
        if (hooks.on_step) hooks.on_step(ctx, step + 1, log->last_loss() > 0 ? log->last_loss() : st.loss);
      }
      if (stop_signal) {
        stopped_at = step + 1;
        break;
      }
      if (opt.ckpt_every > 0 && (step + 1) % opt.ckpt_every == 0 && !last) save(step + 1);
      if (grid && (step + 1) % opt.grid_every == 0 && !last) draw_grid(step + 1, opt.grid_ode, false);
    }
    if (saved_step != stopped_at) save(stopped_at);
  } catch (const std::exception& e) {
    std::string last = saved_step < 0 ? "No checkpoint was written yet."
                                       : "The last good checkpoint " + ckpt_path + " (step " + std::to_string(saved_step) +
                                             ", with train_state.safetensors for --resume) is intact.";
    const bool diverged = dynamic_cast<const dist::CollectiveError*>(&e) != nullptr;  // a NaN/Inf loss or gradient
    const std::string what =
        std::string(e.what()) + "; training stopped. " + last + (diverged && !opt.resume_state ? " Try a lower --lr." : "");
    if (diverged) throw dist::CollectiveError(what);  // every rank stops here
    throw std::runtime_error(what);
  }
  if (stop_signal) {
    if (root) log->close();
    throw RunInterrupted(stop_signal, stopped_at,
                         std::string(stop_signal == SIGINT ? "SIGINT" : "SIGTERM") + " at step " + std::to_string(stopped_at) + " of " +
                             std::to_string(steps) + ": wrote " + ckpt_path + " and " + state_path + "; continue with fm train --resume " +
                             opt.out_dir);
  }
  TrainRunResult result;
  result.start = start;
  result.steps = steps;
  result.seconds = seconds_since(t0);
  result.checkpoint = ckpt_path;
  if (root) {
    result.last_loss = log->last_loss();
    log->close();
  }
  trainer.use_eval_weights();  // evaluate what was saved
  if (root && hooks.on_trained) hooks.on_trained(ctx, result);
  if (grid) {  // the final grid, solved accurately
    OdeOptions accurate;
    accurate.rtol = accurate.atol = 1e-5;
    draw_grid(steps, accurate, true);
  }
  const bool points = data_kind(data) == DataKind::Points;
  if (points && data.sample_shape()[0] == 2 && root && hooks.on_samples) {  // model samples beside data samples
    PointsPicture p = points_picture(*model, *path, data, topt.seed);
    OdeOptions ode;
    ode.rtol = ode.atol = 1e-4;
    hooks.on_samples(ctx, RunSamples{true, steps, p.model_samples, p.data_samples, ode, 0});
  }
  if (points && opt.eval_n > 0) {
    if (root && hooks.on_eval_progress) hooks.on_eval_progress(0, opt.eval_n, SolveRun{}, 0);  // it starts
    PointsNll nll = points_nll(*model, *path, data, spec.data_spec, topt.seed, opt.eval_n, opt.eval_batch,
                               [&](int64_t done, const SolveRun& so_far, int64_t nfe) {
                                 if (root && hooks.on_eval_progress) hooks.on_eval_progress(done, opt.eval_n, so_far, nfe);
                               });
    if (root) {
      result.nll = nll;
      result.quality = points_quality(*model, *path, data, topt.seed);
    }
  }
  return result;
}

}  // namespace fm
