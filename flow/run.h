// flow/run.h: a training run end to end, below the command line.
//
// What defines a run (RunSpec) and how train_state.safetensors stores it, so that a run can be
// resumed from its directory alone (load_resume, which also refuses what a resume cannot take);
// the model that fits the data (the MLP for flat samples, the U-Net for images); and train_run,
// which builds the model, trains it with checkpoints and loss.csv in the run directory, draws
// sample grids and evaluates it (flow/evaluation.h), and tells observers (RunHooks) what happens.
//
// In the run directory, every `ckpt_every` steps and at the end:
//   train_state.safetensors  everything the next step depends on, and the RunSpec
//   model.safetensors        the weights to evaluate (the EMA), as nn/checkpoint.h writes them
// both written atomically (temporary file + rename), the train state first: it refuses NaN/Inf
// before anything is written, so a diverged run leaves both files of the last good checkpoint.
// And loss.csv (flow/loss_log.h), which a resume truncates to the checkpoint's step and extends.
//
// The layers above draw what the run reports (progress, pictures, plots) through RunHooks.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "flow/dataset.h"
#include "flow/evaluation.h"
#include "flow/path.h"
#include "flow/run_options.h"
#include "flow/trainer.h"
#include "nn/model.h"
#include "nn/unet.h"
#include "tensor/io/json.h"
#include "tensor/io/safetensors.h"

namespace fm {

// ---- the model follows the data ------------------------------------------------------------------

// kind_of (nn/model.h) of the data's samples, naming the data when they fit neither model.
DataKind data_kind(const Dataset& data);

// The architecture options of both models; only the one that fits the data is used.
struct ModelChoice {
  int64_t width = 512, depth = 5;  // MLP
  UNetConfig unet;                 // U-Net; its image shape is taken from the data
  int64_t classes = 0;             // a class-conditional model of this many classes (0: none)
};
// The model config (nn/model.h) for samples of `sample_shape`.
Json model_for_data(const Shape& sample_shape, const ModelChoice& choice);

// ---- resuming ------------------------------------------------------------------------------------

struct ResumeRequest {
  std::string dir;  // the run directory, holding train_state.safetensors
  // Options defining the run that the caller was given anyway; a resume refuses them (the first
  // one is named), since they come from the checkpoint.
  std::vector<std::string> run_options_given;
  std::optional<int64_t> steps;      // a larger total extends the run; a smaller one is refused
  std::optional<int64_t> log_every;  // loss.csv rows from here on (at least 1)
};

struct ResumedRun {
  RunSpec spec;  // with the request's steps and log_every applied
  SafetensorsFile state;
  int64_t step = 0;  // the step the checkpoint was written at
  std::string note;  // for the user, e.g. that the cosine schedule now ends later; empty if none
};

// Reads DIR/train_state.safetensors. Throws RunOptionError for a refused option, a smaller
// --steps or a run already trained to its steps, and std::runtime_error for a missing or
// malformed file.
ResumedRun load_resume(const ResumeRequest& req);

// The model a run trains, built from spec.model. Resuming (state given), the spec came from the
// train state's metadata, so the model is built under an allocation budget of the tensors the state
// holds (weights, Adam's moments, the EMA: more than the model's size) plus 1 MiB: a hostile train
// state cannot make fm allocate gigabytes before load_state finds its tensors missing.
std::unique_ptr<FieldModel> make_run_model(const RunSpec& spec, const SafetensorsFile* state, Rng& rng);

// ---- training ------------------------------------------------------------------------------------

struct TrainRunOptions {
  RunSpec spec;
  std::string out_dir;           // created if missing
  int64_t ckpt_every = 500;      // also at the end; 0 = only at the end
  std::optional<SafetensorsFile> resume_state;  // ResumedRun::state: continue from it
  Device device = Device::CPU;   // where the model trains; not part of the run's definition (a run
                                 // may resume on another device: checkpoints are host files)
  // Images: a grid of samples (flow/evaluation.h) every grid_every steps (0 = none), solved with
  // grid_ode, and, when grid_every > 0, a final one solved with dopri5 at 1e-5.
  int64_t grid_every = 0;
  OdeOptions grid_ode;
  // Points: the exact NLL of eval_n fresh samples after training (0 = none), eval_batch per solve.
  int64_t eval_n = 0, eval_batch = 2000;
};

// What the observers see of the run.
struct RunContext {
  const TrainRunOptions& options;
  Dataset& data;
  FieldModel& model;
  const ProbPath& path;
  const Trainer& trainer;
  int64_t start;  // the step this session started from (0 unless resumed)
};

struct TrainRunResult {
  int64_t start = 0, steps = 0;  // this session trained steps start+1 .. steps
  double seconds = 0.0;          // its training time
  double last_loss = 0.0;        // the mean loss of loss.csv's last row
  std::string checkpoint;        // DIR/model.safetensors
  std::optional<PointsNll> nll;  // points with eval_n > 0: the final evaluation (on rank 0)
  std::optional<PointsQuality> quality;  // and the few-step sample quality (flow/evaluation.h)
};

// Samples the run drew, for the observer to draw: a grid of images, or model samples of 2-D points
// beside data samples.
struct RunSamples {
  bool final = false;  // the last ones of the run
  int64_t step = 0;
  Tensor samples;      // [64, C, H, W] or [N, 2], on the host
  Tensor data;         // points: data samples beside them (else empty)
  OdeOptions ode;      // how they were solved
  int64_t nfe = 0;
};

// Observers of a run, each optional; under mpirun (dist/dist.h) only rank 0 calls them.
// Exceptions from on_step, on_samples and on_checkpoint stop training like a failed step (with the
// state of the last checkpoint named in the message).
struct RunHooks {
  // After the model is built and any saved state loaded, before the first step.
  std::function<void(const RunContext&)> on_start;
  // After each 1-based `step`, with the loss worth showing: the mean of the last loss.csv row,
  // or this step's loss before the first row.
  std::function<void(const RunContext&, int64_t step, double loss)> on_step;
  // After each checkpoint (every ckpt_every steps and at the end), once both files are written;
  // loss.csv then holds every row up to `step` (it is flushed row by row).
  std::function<void(const RunContext&, int64_t step)> on_checkpoint;
  // After the last checkpoint is written, before the final samples and evaluation.
  std::function<void(const RunContext&, const TrainRunResult&)> on_trained;
  // Each grid, and after training the final grid or the points' picture.
  std::function<void(const RunContext&, const RunSamples&)> on_samples;
  // The final NLL's progress: this process's rows done of `total` (0 as it starts), the result so
  // far and the NFE of the last solve.
  std::function<void(int64_t done, int64_t total, const SolveRun& so_far, int64_t nfe)> on_eval_progress;
};

// Trains the run of `opt` on `data` (opened from opt.spec) from step 0, or from
// opt.resume_state, to opt.spec.train.steps, then draws the final samples and, for points,
// evaluates the saved weights. A non-finite loss or gradient throws, saying which checkpoint is
// intact. Under mpirun every rank calls it; each trains on its share of the global batch
// (flow/trainer.h) and rank 0 alone writes the run directory; the evaluation's solves are dealt
// among the ranks. A batch that does not divide among the ranks throws before anything is written.
TrainRunResult train_run(const TrainRunOptions& opt, Dataset& data, const RunHooks& hooks = {});

}  // namespace fm
