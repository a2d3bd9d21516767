// flow/run_options.h: what defines a training run (RunSpec), and one table row per option of it:
// the flag, the default (which may differ for points and images), the help line, the key in the
// train state, how a value is read (with its checks) and written back as text, and what --resume
// may do with it. fm train declares its flags from the table, the train state stores it, a resume
// refuses from it. A new run option is a field (RunSpec, or TrainOptions inside it) and one row
// (run_options.cpp): "How to add a run option" in the README.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "flow/dataset.h"
#include "flow/trainer.h"
#include "nn/model.h"
#include "tensor/io/json.h"

namespace fm {

// A run as train_state.safetensors stores it: everything the training depends on besides the
// trainer's counters and stream positions, so that a resume needs nothing else.
struct RunSpec {
  std::string data_spec;  // as open_dataset takes it
  DataOptions data;
  std::string path = "condot";
  double sigma_min = 1e-4;
  bool conditional = false;  // a class-conditional model (its config's "classes": the data's)
  Json model;  // the model's config (nn/model.h), from the model's own flags
  TrainOptions train;
  int64_t log_every = 10;  // loss.csv: steps per row
};

// An option value a run cannot take (a bad value, or a change that --resume refuses). The message
// names the option; a command line reports it as a usage error.
struct RunOptionError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class OnResume {
  Refused,  // comes from the checkpoint: giving it with --resume is an error
  Extends,  // may grow (--steps)
  Free,     // may change (--log-every)
};

struct RunOption {
  const char* flag;            // "--clip"; null: stored but not a flag (Adam's betas and eps)
  const char* help;
  const char* points_default;  // "" for none (the value is derived, e.g. --weight-decay)
  const char* images_default;  // null: the same as for points
  const char* key;             // in the train state's metadata
  OnResume resume;
  bool train;       // a TrainOptions field: the trainer's state stores it (train_options_metadata)
  bool is_switch;   // a flag without a value (--hflip): "true" when given
  bool omit_empty;  // stored only when not empty (--layout, --labels)
  // Reads a value's text into the spec; throws std::invalid_argument with the reason.
  void (*read)(RunSpec& spec, const std::string& text);
  std::string (*write)(const RunSpec& spec);  // the value's exact text
};

// Every row, in the order fm train lists them.
const std::vector<RunOption>& run_options();

// The default of `o` for data of `kind`.
std::string option_default(const RunOption& o, DataKind kind);

// A fresh run from the options given (`given(flag)`: the value, or nullopt when not given) and
// the defaults for `kind`; the model is left to the caller. Throws RunOptionError naming the flag.
using GivenOption = std::function<std::optional<std::string>(const std::string& flag)>;
RunSpec run_from_options(const GivenOption& given, DataKind kind);

// The spec as metadata text and back. run_metadata holds the run's own keys (data, split, ..., the
// model's "config"); the trainer's state holds the training options (train_options_metadata), so
// run_from_metadata takes a whole train state's metadata. Throws "train state: missing '<key>'"
// and "train state: bad '<key>' ('<text>')".
std::map<std::string, std::string> run_metadata(const RunSpec& r);
RunSpec run_from_metadata(const std::map<std::string, std::string>& m);

}  // namespace fm
