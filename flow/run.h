// flow/run.h: a training run end to end, below the command line.
//
// What defines a run (RunSpec) and how train_state.safetensors stores it, so that a run can be
// resumed from its directory alone (load_resume, which also refuses what a resume cannot take);
// the model that fits the data (the MLP for flat samples, the U-Net for images); and train_run,
// which builds the model, trains it with checkpoints and loss.csv in the run directory, and
// hands over to the caller for progress output and the final evaluation.
//
// In the run directory, every `ckpt_every` steps and at the end:
//   train_state.safetensors  everything the next step depends on, and the RunSpec
//   model.safetensors        the weights to evaluate (the EMA), as nn/checkpoint.h writes them
// both written atomically (temporary file + rename), the train state first: it refuses NaN/Inf
// before anything is written, so a diverged run leaves both files of the last good checkpoint.
// And loss.csv (flow/loss_log.h), which a resume truncates to the checkpoint's step and extends.
//
// The layers above supply what flow/ cannot do itself through RunHooks: progress bars, sample
// pictures, the plot of loss.csv after each checkpoint, and the likelihood evaluation of ode/
// (which sits above flow/).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "flow/dataset.h"
#include "flow/path.h"
#include "flow/trainer.h"
#include "nn/unet.h"
#include "tensor/io/json.h"
#include "tensor/io/safetensors.h"

namespace fm {

// A run as train_state.safetensors stores it: what defines the training besides the trainer's
// own options and counters (Trainer::state_metadata), so that a resume needs nothing else.
struct RunSpec {
  std::string data_spec;  // as open_dataset takes it
  DataOptions data;
  std::string path = "condot";
  double sigma_min = 1e-4;
  Json model;  // the model's config (nn/model.h)
  TrainOptions train;
  int64_t log_every = 10;  // loss.csv: steps per row
};

// The spec as metadata text (keys data, split, data_dir, hflip, path, sigma_min, config,
// log_every, and layout and labels only when set) and back. run_from_metadata reads the training options from the keys that the
// trainer's state_metadata holds (train_options_metadata), so it takes a whole train state's
// metadata; it throws "train state: missing '<key>'" and the like.
std::map<std::string, std::string> run_metadata(const RunSpec& r);
RunSpec run_from_metadata(const std::map<std::string, std::string>& m);

// An option that a run cannot take, e.g. a changed learning rate on resume. The message names
// the option; a command line reports it as a usage error.
struct RunOptionError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- the model follows the data ------------------------------------------------------------------

enum class DataKind { Points, Images };  // flat samples [D] (the MLP), images [C, H, W] (the U-Net)

// Throws, naming the data and its sample shape, when the samples fit neither model.
DataKind data_kind(const Dataset& data);

// The architecture options of both models; only the one that fits the data is used.
struct ModelChoice {
  int64_t width = 512, depth = 5;  // MLP
  UNetConfig unet;                 // U-Net; its image shape is taken from the data
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

// ---- training ------------------------------------------------------------------------------------

struct TrainRunOptions {
  RunSpec spec;
  std::string out_dir;           // created if missing
  int64_t ckpt_every = 500;      // also at the end; 0 = only at the end
  int64_t snapshot_every = 0;    // RunHooks::on_snapshot every this many steps, not at the last; 0 = never
  std::optional<SafetensorsFile> resume_state;  // ResumedRun::state: continue from it
  Device device = Device::CPU;   // where the model trains; not part of the run's definition (a run
                                 // may resume on another device: checkpoints are host files)
};

// What the hooks see of the run.
struct RunContext {
  const TrainRunOptions& options;
  Dataset& data;
  FieldModel& model;
  const ProbPath& path;
  const Trainer& trainer;
  int64_t start;  // the step this session started from (0 unless resumed)
};

using ResultFields = std::vector<std::pair<std::string, Json>>;

struct TrainRunResult {
  int64_t start = 0, steps = 0;  // this session trained steps start+1 .. steps
  double seconds = 0.0;          // its training time
  double last_loss = 0.0;        // the mean loss of loss.csv's last row
  std::string checkpoint;        // DIR/model.safetensors
  ResultFields evaluation;       // what RunHooks::evaluate returned
};

// Every hook is optional. Exceptions from on_step, on_snapshot and on_checkpoint stop training
// like a failed step (with the state of the last checkpoint named in the message). Under mpirun
// (dist/dist.h) only rank 0 calls the hooks, except `evaluate`, which every rank calls (so that
// it can split its samples among them); TrainRunResult::last_loss is then rank 0's alone.
struct RunHooks {
  // After the model is built and any saved state loaded, before the first step.
  std::function<void(const RunContext&)> on_start;
  // After each 1-based `step`, with the loss worth showing: the mean of the last loss.csv row,
  // or this step's loss before the first row.
  std::function<void(const RunContext&, int64_t step, double loss)> on_step;
  // Every snapshot_every steps, with trainer.eval_weights() to draw samples from.
  std::function<void(const RunContext&, int64_t step)> on_snapshot;
  // After each checkpoint (every ckpt_every steps and at the end), once both files are written;
  // loss.csv then holds every row up to `step` (it is flushed row by row).
  std::function<void(const RunContext&, int64_t step)> on_checkpoint;
  // After the last checkpoint is written (result.evaluation still empty).
  std::function<void(const RunContext&, const TrainRunResult&)> on_trained;
  // Then, with the model in evaluation mode holding the saved weights: the final evaluation.
  std::function<ResultFields(const RunContext&)> evaluate;
};

// Trains the run of `opt` on `data` (opened from opt.spec) from step 0, or from
// opt.resume_state, to opt.spec.train.steps. A non-finite loss or gradient throws, saying which
// checkpoint is intact. Under mpirun every rank calls it; each trains on its share of the global
// batch (flow/trainer.h) and rank 0 alone writes the run directory. A batch that does not divide
// among the ranks throws before anything is written.
TrainRunResult train_run(const TrainRunOptions& opt, Dataset& data, const RunHooks& hooks = {});

}  // namespace fm
