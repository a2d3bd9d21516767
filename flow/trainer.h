// flow/trainer.h: the conditional flow-matching training loop, one step at a time.
//
// A step draws data x1 and noise x0 (paired by OT with --coupling ot: flow/coupling.h; the labels
// too for a conditional model, each dropped to "no class" with probability cond_drop), a time
// t ~ U[0, t_max], builds x_t and the target u_t,
// regresses v(x_t, t) onto u_t (MSE), backpropagates, clips the gradient norm, takes an Adam
// step at the scheduled learning rate and updates the EMA of the weights. Every random number
// comes from streams derived from one seed, so a run is reproducible for any thread count.
//
// Under mpirun (dist/dist.h) each of the N ranks trains on its B/N rows of the global batch of B:
// the data, noise, time and dropout streams are shared by batch position (tensor/random.h's
// BatchShare), so the ranks' rows together are exactly the one-process batch; the gradients and
// the loss are averaged by one bucketed all-reduce (dist/grad_sync.h) before the checks, the
// clipping and the Adam and EMA updates, which every rank then does identically. OT coupling pairs
// the whole global batch: every rank draws all of its data and noise (from the same streams, so
// the rows are the one-process rows), solves the same assignment, and keeps its own rows: the run
// is the same at any number of processes.
//
// A run can be stopped and resumed exactly: state_tensors() and state_metadata() hold everything
// the next step depends on (raw weights, Adam's moments, the EMA shadow, the step counters and
// the positions of the data, noise and dropout random streams), and load_state() puts it back,
// so the steps after a resume are bitwise those of an uninterrupted run.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "dist/grad_sync.h"
#include "flow/coupling.h"
#include "flow/dataset.h"
#include "flow/loss.h"
#include "nn/optim.h"

namespace fm {

struct TrainOptions {
  int64_t steps = 2000;
  int64_t batch = 2048;
  double lr = 2e-3;
  std::string schedule = "cosine";  // after warm-up: "cosine" (to zero at `steps`) or "constant"
  int64_t warmup = 100;
  double clip = 1.0;                // max global gradient norm; 0 = off
  double ema = 0.999;               // EMA decay; 0 = off
  TimeDist times;                   // how t is drawn (uniform on [0, t_max] by default)
  Coupling coupling = Coupling::Independent;  // how noise is paired with data (flow/coupling.h)
  int64_t ot_block = 64;            // OT coupling: rows per exact assignment (0: the whole batch)
  double cond_drop = 0.1;           // conditional models: P(a label is replaced by "no class")
  AdamOptions adam;                 // lr inside is ignored (the schedule sets it)
  uint64_t seed = 0;
};

struct StepStats {
  double loss, grad_norm, lr;
};

// Learning rate at 0-based `step`: linear warm-up, then constant or cosine decay.
double scheduled_lr(const TrainOptions& opt, int64_t step);

class Trainer {
 public:
  // Throws if opt.batch does not divide by the number of ranks (check_batch_split).
  Trainer(FieldModel& model, const ProbPath& path, Dataset& data, const TrainOptions& opt);
  // One optimisation step. Throws (leaving the weights as they were before the step) if the
  // loss or the gradient is not finite; under mpirun on every rank at the same step.
  StepStats step();
  int64_t steps_done() const { return done_; }
  // The batch the last step trained on (x0, t, x_t, u_t; one-hot labels for a conditional model).
  const FlowBatch& last_batch() const { return batch_; }
  // The weights to save and evaluate: the EMA when enabled, else the raw parameters.
  std::vector<NamedTensor> eval_weights() const;
  // Loads eval_weights() into the model (call after training, before sampling).
  void use_eval_weights();

  // The resumable state. Tensors: the raw parameters "param.<name>", Adam's moments
  // "exp_avg.<name>" / "exp_avg_sq.<name>" and, with an EMA, its shadow "ema.<name>".
  std::vector<NamedTensor> state_tensors() const;
  // Metadata: the counters ("step", "adam_step", "ema_updates"), the random-stream offsets
  // ("rng.data", "rng.noise", "rng.model") and the options (train_options_metadata).
  std::map<std::string, std::string> state_metadata() const;
  // Restores a state saved by a trainer of the same model architecture and the same options
  // (train_options_from_metadata gives them back; steps may differ, to extend a run).
  // Throws if the file does not fit; the trainer must then not be used.
  void load_state(const SafetensorsFile& file);

 private:
  FieldModel& model_;
  const ProbPath& path_;
  Dataset& data_;
  TrainOptions opt_;
  std::vector<Param> params_;
  Adam adam_;
  std::unique_ptr<Ema> ema_;
  // The data, noise and dropout streams. Dropout's is a sub-stream of the initialisation seed's
  // (fm train builds the model from derive_seed(seed, Stream::Init)).
  Rng data_rng_, noise_rng_, dropout_rng_;
  FlowBatch batch_;
  std::vector<int64_t> labels_;  // conditional models: this step's labels
  CouplingWorkspace ot_ws_;      // --coupling ot
  // Draws this step's x1 (with its labels), x0 and t into batch_.
  void draw_batch();
  dist::GradSync sync_;
  std::vector<Tensor*> grads_;  // the parameters' gradient slots, for sync_
  int64_t done_ = 0;
};

// Throws "--batch B does not divide among N processes ..." unless `batch` divides by `ranks`.
void check_batch_split(int64_t batch, int ranks);

// The options as metadata text, exactly (doubles in their shortest round-trip form), and back.
// Keys: steps, batch, lr, schedule, warmup, clip, ema, seed, optimizer (adam | adamw),
// weight_decay, beta1, beta2, eps: the training rows of the run options' table, which writes and
// reads them (flow/run_options.cpp).
std::map<std::string, std::string> train_options_metadata(const TrainOptions& opt);
TrainOptions train_options_from_metadata(const std::map<std::string, std::string>& meta);

// Writes the trainer's state, with `extra` metadata, to `path` (atomically: temp file + rename).
// Refuses, throwing before anything is written, when a tensor holds NaN or Inf, so a diverged
// run never replaces the last good state.
void save_train_state(const std::string& path, const Trainer& trainer,
                      const std::map<std::string, std::string>& extra = {});

// Exact text for metadata numbers and typed reads of a metadata key; the reads throw
// "train state: missing '<key>'" or "train state: bad '<key>' ('<text>')".
std::string meta_number(double x);
const std::string& meta_str(const std::map<std::string, std::string>& meta, const std::string& key);
double meta_f64(const std::map<std::string, std::string>& meta, const std::string& key);
int64_t meta_i64(const std::map<std::string, std::string>& meta, const std::string& key);
uint64_t meta_u64(const std::map<std::string, std::string>& meta, const std::string& key);

}  // namespace fm
