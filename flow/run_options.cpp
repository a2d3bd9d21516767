// flow/run_options.cpp: the table of run options (see the header) and the metadata round trip.
#include "flow/run_options.h"

#include <charconv>
#include <stdexcept>

#include "flow/path.h"

namespace fm {

namespace {

// A value's text as a number; throws std::invalid_argument naming what it expected.
template <class T>
T parse(const std::string& text) {
  T out{};
  const char* first = text.c_str();
  auto [end, ec] = std::from_chars(first, first + text.size(), out);
  if (text.empty() || ec != std::errc() || end != first + text.size())
    throw std::invalid_argument(std::is_integral_v<T> ? "must be an integer" : "must be a number");
  return out;
}
int64_t at_least(int64_t v, int64_t lo, const char* what) {
  if (v < lo) throw std::invalid_argument(what);
  return v;
}
std::string one_of(const std::string& v, const char* a, const char* b) {
  if (v != a && v != b) throw std::invalid_argument(std::string("must be ") + a + " or " + b);
  return v;
}

using S = RunSpec;
using T = const std::string&;

// Rows: flag, help, default for points, for images (null: the same), key, on resume, train,
// switch, omit empty, read, write.
const std::vector<RunOption> kOptions = {
    {"--data",
     "a 2-D toy (checkerboard, 8gaussians, moons, circles, swissroll, 2spirals, pinwheel, rings), an image set "
     "(fashion-mnist, mnist, cifar10), an IDX image file, a .npy/.csv file of N x D samples, a .npy of images "
     "(N x C x H x W or N x H x W x C) or a folder of PNG images",
     "checkerboard", nullptr, "data", OnResume::Refused, false, false, false, [](S& s, T v) { s.data_spec = v; },
     [](const S& s) { return s.data_spec; }},
    {"--split", "image sets: train or test", "train", nullptr, "split", OnResume::Refused, false, false, false,
     [](S& s, T v) { s.data.split = v; }, [](const S& s) { return s.data.split; }},
    {"--data-dir", "image sets: directory of the IDX or CIFAR-10 binary files (default for fashion-mnist: /usr/share/datasets/fashion-mnist)",
     "", nullptr, "data_dir", OnResume::Refused, false, false, false, [](S& s, T v) { s.data.data_dir = v; },
     [](const S& s) { return s.data.data_dir; }},
    {"--layout", "a .npy of images: nchw or nhwc (default: inferred from where the 1 or 3 channels are)", "", nullptr,
     "layout", OnResume::Refused, false, false, true, [](S& s, T v) { s.data.layout = v; },
     [](const S& s) { return s.data.layout; }},
    {"--labels", "class labels of a .npy/.csv file or an IDX image file: a 1-D .npy of integers 0..K-1 or an IDX1 "
     "label file, one per sample (image sets and PNG folders bring their own)", "", nullptr,
     "labels", OnResume::Refused, false, false, true, [](S& s, T v) { s.data.labels = v; },
     [](const S& s) { return s.data.labels; }},
    {"--conditional",
     "train a class-conditional model (a learned class embedding, and \"no class\" for classifier-free guidance: "
     "fm sample --class K --guidance W) on the data's labels",
     "false", nullptr, "conditional", OnResume::Refused, false, true, true,
     [](S& s, T v) { s.conditional = one_of(v, "true", "false") == "true"; },
     [](const S& s) { return std::string(s.conditional ? "true" : ""); }},  // unconditional: not stored (older states)
    {"--cond-drop", "conditional models: probability that a sample's label is replaced by \"no class\"", "0.1", nullptr,
     "cond_drop", OnResume::Refused, true, false, true,
     [](S& s, T v) {
       s.train.cond_drop = parse<double>(v);
       if (!(s.train.cond_drop >= 0 && s.train.cond_drop <= 1)) throw std::invalid_argument("must be in [0, 1]");
     },
     [](const S& s) { return meta_number(s.train.cond_drop); }},
    {"--coupling",
     "how noise is paired with data in a batch: independent, or ot (an optimal assignment in each block of "
     "--ot-block rows, within each class for conditional models)",
     "independent", nullptr, "coupling", OnResume::Refused, true, false, true,
     [](S& s, T v) { s.train.coupling = parse_coupling(v); },
     [](const S& s) { return s.train.coupling == Coupling::Ot ? coupling_name(s.train.coupling) : std::string(); }},  // independent: not stored
    {"--ot-block",
     "OT coupling: a larger batch is solved in blocks of this many rows (0: the whole batch at once); blocks of up "
     "to 256 rows exactly, larger ones by an auction within a factor 1.01 of the optimum", "64", nullptr, "ot_block", OnResume::Refused, true, false, true,
     [](S& s, T v) { s.train.ot_block = at_least(parse<int64_t>(v), 0, "must be 0 or positive"); },
     [](const S& s) { return s.train.coupling == Coupling::Ot ? std::to_string(s.train.ot_block) : std::string(); }},
    {"--hflip", "images: mirror each drawn image left-right with probability 1/2", "false", nullptr, "hflip",
     OnResume::Refused, false, true, false, [](S& s, T v) { s.data.hflip = one_of(v, "true", "false") == "true"; },
     [](const S& s) { return std::string(s.data.hflip ? "true" : "false"); }},
    {"--steps", "training steps (with --resume, a larger value extends the run)", "4500", "2000", "steps",
     OnResume::Extends, true, false, false,
     [](S& s, T v) { s.train.steps = at_least(parse<int64_t>(v), 1, "must be positive"); },
     [](const S& s) { return std::to_string(s.train.steps); }},
    {"--batch", "samples per step", "2048", "64", "batch", OnResume::Refused, true, false, false,
     [](S& s, T v) { s.train.batch = at_least(parse<int64_t>(v), 1, "must be positive"); },
     [](const S& s) { return std::to_string(s.train.batch); }},
    {"--lr", "peak learning rate", "4e-3", "2e-4", "lr", OnResume::Refused, true, false, false,
     [](S& s, T v) {
       s.train.lr = parse<double>(v);
       if (!(s.train.lr > 0)) throw std::invalid_argument("must be positive");
     },
     [](const S& s) { return meta_number(s.train.lr); }},
    {"--schedule", "learning-rate schedule after warm-up: cosine (to zero) or constant", "cosine", "constant", "schedule",
     OnResume::Refused, true, false, false, [](S& s, T v) { s.train.schedule = one_of(v, "cosine", "constant"); },
     [](const S& s) { return s.train.schedule; }},
    {"--warmup", "linear warm-up steps", "100", "500", "warmup", OnResume::Refused, true, false, false,
     [](S& s, T v) { s.train.warmup = at_least(parse<int64_t>(v), 0, "must be >= 0"); },
     [](const S& s) { return std::to_string(s.train.warmup); }},
    {"--optimizer", "adam or adamw", "adam", nullptr, "optimizer", OnResume::Refused, true, false, false,
     [](S& s, T v) {  // also sets the weight decay's default (--weight-decay, read after it, overrides)
       s.train.adam.decoupled = one_of(v, "adam", "adamw") == "adamw";
       s.train.adam.weight_decay = s.train.adam.decoupled ? 1e-2 : 0.0;
     },
     [](const S& s) { return std::string(s.train.adam.decoupled ? "adamw" : "adam"); }},
    {"--weight-decay", "weight decay (default: 0 for adam, 0.01 for adamw)", "", nullptr, "weight_decay", OnResume::Refused,
     true, false, false,
     [](S& s, T v) {
       s.train.adam.weight_decay = parse<double>(v);
       if (!(s.train.adam.weight_decay >= 0)) throw std::invalid_argument("must be >= 0");
     },
     [](const S& s) { return meta_number(s.train.adam.weight_decay); }},
    {nullptr, "Adam's beta1", "", nullptr, "beta1", OnResume::Refused, true, false, false,
     [](S& s, T v) { s.train.adam.beta1 = parse<double>(v); }, [](const S& s) { return meta_number(s.train.adam.beta1); }},
    {nullptr, "Adam's beta2", "", nullptr, "beta2", OnResume::Refused, true, false, false,
     [](S& s, T v) { s.train.adam.beta2 = parse<double>(v); }, [](const S& s) { return meta_number(s.train.adam.beta2); }},
    {nullptr, "Adam's epsilon", "", nullptr, "eps", OnResume::Refused, true, false, false,
     [](S& s, T v) { s.train.adam.eps = parse<double>(v); }, [](const S& s) { return meta_number(s.train.adam.eps); }},
    {"--clip", "clip the global gradient norm to this; 0 = off", "1.0", nullptr, "clip", OnResume::Refused, true, false, false,
     [](S& s, T v) {
       s.train.clip = parse<double>(v);
       if (!(s.train.clip >= 0)) throw std::invalid_argument("must be >= 0");
     },
     [](const S& s) { return meta_number(s.train.clip); }},
    {"--ema", "EMA decay of the weights that are saved and evaluated; 0 = off", "0.999", "0.9999", "ema", OnResume::Refused,
     true, false, false,
     [](S& s, T v) {
       s.train.ema = parse<double>(v);
       if (!(s.train.ema >= 0 && s.train.ema < 1)) throw std::invalid_argument("must be in [0, 1)");
     },
     [](const S& s) { return meta_number(s.train.ema); }},
    {"--path",
     "probability path: condot (FM w/ OT), vp or ve (diffusion paths), or the affine schedulers cosine, poly:N "
     "(N >= 1) and linear-vp",
     "condot", nullptr, "path", OnResume::Refused, false, false, false,
     [](S& s, T v) {
       try {
         make_path(v);  // refused here, with the flag's name, rather than when the run starts
       } catch (const std::runtime_error&) {
         throw std::invalid_argument("must be condot, vp, ve, cosine, poly:N with a number N >= 1, or linear-vp");
       }
       s.path = v;
     },
     [](const S& s) { return s.path; }},
    {"--t-dist",
     "training times: uniform, logit-normal (M = 0, S = 1) or logit-normal:M,S, t = sigmoid(M + S z); "
     "Meta's flow_matching \"skewed\" sampling is logit-normal:1.2,1.2",
     "uniform", nullptr, "t_dist", OnResume::Refused, true, false, true,
     [](S& s, T v) { s.train.times = TimeDist::parse(v); },
     [](const S& s) { return s.train.times.logit_normal ? s.train.times.name() : std::string(); }},  // uniform: not stored (older states)
    {"--sigma-min", "sigma_min of the condot path", "1e-4", nullptr, "sigma_min", OnResume::Refused, false, false, false,
     [](S& s, T v) { s.sigma_min = parse<double>(v); }, [](const S& s) { return meta_number(s.sigma_min); }},
    {"--seed", "seed for initialisation, data and noise", "0", nullptr, "seed", OnResume::Refused, true, false, false,
     [](S& s, T v) { s.train.seed = parse<uint64_t>(v); }, [](const S& s) { return std::to_string(s.train.seed); }},
    {"--log-every", "average the loss over this many steps per loss.csv row", "10", nullptr, "log_every", OnResume::Free,
     false, false, false, [](S& s, T v) { s.log_every = std::max<int64_t>(1, parse<int64_t>(v)); },
     [](const S& s) { return std::to_string(s.log_every); }},
};

// Reads `text` into `spec` through row `o`; errors become `fail(reason)`.
template <class Fail>
void read_option(const RunOption& o, RunSpec& spec, const std::string& text, const Fail& fail) {
  try {
    o.read(spec, text);
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  }
}

// Row `o`'s value from a train state's metadata.
void read_stored(const RunOption& o, RunSpec& spec, const std::map<std::string, std::string>& m) {
  const std::string& text = meta_str(m, o.key);
  read_option(o, spec, text, [&](const std::string&) {
    throw std::runtime_error("train state: bad '" + std::string(o.key) + "' ('" + text + "')");
  });
}

}  // namespace

const std::vector<RunOption>& run_options() { return kOptions; }

std::string option_default(const RunOption& o, DataKind kind) {
  return kind == DataKind::Images && o.images_default ? o.images_default : o.points_default;
}

RunSpec run_from_options(const GivenOption& given, DataKind kind) {
  RunSpec spec;
  for (const RunOption& o : kOptions) {
    if (!o.flag) continue;  // stored only: keeps its default
    const std::optional<std::string> value = given(o.flag);
    const std::string text = value ? *value : option_default(o, kind);
    if (text.empty()) continue;  // no default: derived from another option
    read_option(o, spec, text, [&](const std::string& why) {
      throw RunOptionError(std::string(o.flag) + " " + why + " (got '" + text + "')");
    });
  }
  return spec;
}

std::map<std::string, std::string> run_metadata(const RunSpec& r) {
  std::map<std::string, std::string> m{{"config", to_json(r.model)}};
  for (const RunOption& o : kOptions) {
    if (o.train) continue;  // the trainer's state holds those
    const std::string text = o.write(r);
    if (!o.omit_empty || !text.empty()) m[o.key] = text;
  }
  return m;
}

RunSpec run_from_metadata(const std::map<std::string, std::string>& m) {
  RunSpec r;
  for (const RunOption& o : kOptions) {
    if (o.train) continue;
    if (o.omit_empty && !m.count(o.key)) continue;
    read_stored(o, r, m);
  }
  r.model = parse_json(meta_str(m, "config"));
  r.train = train_options_from_metadata(m);
  return r;
}

std::map<std::string, std::string> train_options_metadata(const TrainOptions& opt) {
  RunSpec s;
  s.train = opt;
  std::map<std::string, std::string> m;
  for (const RunOption& o : kOptions) {
    if (!o.train) continue;
    const std::string text = o.write(s);
    if (!o.omit_empty || !text.empty()) m[o.key] = text;
  }
  return m;
}

TrainOptions train_options_from_metadata(const std::map<std::string, std::string>& m) {
  RunSpec s;
  for (const RunOption& o : kOptions)
    if (o.train && !(o.omit_empty && !m.count(o.key))) read_stored(o, s, m);
  return s.train;
}

}  // namespace fm
