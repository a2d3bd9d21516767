// flow/trainer.cpp
#include "flow/trainer.h"

#include <charconv>
#include <cmath>
#include <stdexcept>

#include "autodiff/ops.h"
#include "dist/dist.h"
#include "nn/class_embedding.h"
#include "tensor/ops.h"

namespace fm {

double scheduled_lr(const TrainOptions& opt, int64_t step) {
  double base = warmup_lr(opt.lr, step, opt.warmup);
  if (opt.schedule == "constant") return base;
  if (opt.schedule != "cosine") throw std::runtime_error("unknown schedule '" + opt.schedule + "' (cosine or constant)");
  double span = double(std::max<int64_t>(opt.steps - opt.warmup, 1));
  double progress = std::min(1.0, double(std::max<int64_t>(step - opt.warmup, 0)) / span);
  return base * 0.5 * (1.0 + std::cos(M_PI * progress));
}

void check_batch_split(int64_t batch, int ranks) {
  if (ranks > 1 && batch % ranks != 0)
    throw std::runtime_error("--batch " + std::to_string(batch) + " does not divide among " + std::to_string(ranks) +
                             " processes (each trains on an equal share of the global batch)");
}

namespace {
std::vector<Shape> shapes_of(const std::vector<Param>& params) {
  std::vector<Shape> out;
  for (const Param& p : params) out.push_back(p.var.shape());
  return out;
}
Device device_of(const std::vector<Param>& params) { return params.empty() ? Device::CPU : params[0].var.value().device(); }
}  // namespace

Trainer::Trainer(FieldModel& model, const ProbPath& path, Dataset& data, const TrainOptions& opt)
    : model_(model),
      path_(path),
      data_(data),
      opt_(opt),
      params_(model.parameters()),
      adam_(params_, opt.adam),
      data_rng_(derive_seed(opt.seed, Stream::Data)),
      noise_rng_(derive_seed(opt.seed, Stream::Noise)),
      dropout_rng_(derive_seed(derive_seed(opt.seed, Stream::Init), Stream::Dropout)),
      sync_(shapes_of(params_), device_of(params_)) {
  if (opt.steps < 1 || opt.batch < 1) throw std::runtime_error("steps and batch must be positive");
  check_batch_split(opt.batch, dist::size());
  // This rank's rows of every draw of the global batch (all of them in one process).
  const int64_t share = opt.batch / dist::size();
  const BatchShare rows{dist::rank() * share, share, opt.batch};
  data_rng_.set_share(rows);
  noise_rng_.set_share(rows);
  dropout_rng_.set_share(rows);
  for (const Param& p : params_) grads_.push_back(&p.var.node()->grad);
  if (!(opt.lr > 0)) throw std::runtime_error("the learning rate must be positive");
  if (const int64_t K = model.num_classes(); K > 0) {
    if (data.num_classes() < 1) throw std::runtime_error("a conditional model needs class labels; " + data.name() + " has none");
    if (data.num_classes() > K)
      throw std::runtime_error(data.name() + " has " + std::to_string(data.num_classes()) + " classes; the model knows " + std::to_string(K));
  }
  if (!(opt.cond_drop >= 0 && opt.cond_drop <= 1)) throw std::runtime_error("the label dropout must be in [0, 1]");
  if (opt.ema > 0) ema_ = std::make_unique<Ema>(params_, opt.ema);
  scheduled_lr(opt_, 0);  // validates the schedule name
}

void Trainer::draw_batch() {
  const int64_t K = model_.num_classes();
  const Device device = params_.empty() ? Device::CPU : params_[0].var.value().device();
  const bool ot = opt_.coupling == Coupling::Ot;
  const BatchShare share = data_rng_.share();
  if (ot) {  // every rank draws the whole global batch (see the header)
    data_rng_.set_share({});
    noise_rng_.set_share({});
  }
  const int64_t n = ot ? opt_.batch : share.count;
  Tensor x1 = K > 0 ? data_.labelled_batch(n, data_rng_, labels_) : data_.batch(n, data_rng_);  // on the host
  if (K > 0 && opt_.cond_drop > 0) {  // classifier-free guidance's label dropout, per sample
    Tensor u = Tensor::empty({n});
    data_rng_.uniform(u, 0.0f, 1.0f);
    const std::vector<float> draws = u.to_vector();
    for (int64_t i = 0; i < n; ++i)
      if (draws[size_t(i)] < opt_.cond_drop) labels_[size_t(i)] = K;
  }
  Tensor x0;
  if (ot) {
    x0 = Tensor::empty(x1.shape());
    noise_rng_.normal(x0);
    x0 = take_rows(x0, ot_noise_order(x0, x1, K > 0 ? labels_ : std::vector<int64_t>{}, opt_.ot_block, ot_ws_));
    data_rng_.set_share(share);
    noise_rng_.set_share(share);
    if (share.active() && share.count != n) {  // this rank's rows of the paired global batch
      x1 = x1.rows(share.first, share.first + share.count).clone();
      x0 = x0.rows(share.first, share.first + share.count).clone();
      if (K > 0) labels_ = std::vector<int64_t>(labels_.begin() + share.first, labels_.begin() + share.first + share.count);
    }
  }
  if (x1.device() != device) x1 = x1.to(device);
  if (x0.defined() && x0.device() != device) x0 = x0.to(device);
  make_flow_batch(path_, x1, noise_rng_, batch_, opt_.times, x0.defined() ? &x0 : nullptr);
  if (K > 0) batch_.onehot = class_onehot(labels_, K, device);
}

StepStats Trainer::step() {
  draw_batch();
  Var loss = cfm_loss(model_, batch_, &dropout_rng_);
  zero_grad(params_);
  backward(loss);
  // The checks come after the all-reduce, so that every rank sees the same global loss and
  // gradient and stops at the same step (a backward pass through a NaN loss changes nothing, and
  // neither does clipping a NaN gradient: no weight has moved yet). The gradient norm is the step's
  // one wait for the device; the loss is read after it, from an idle stream.
  const Tensor mean_loss = sync_.average(grads_, loss.value());
  StepStats s{0.0, clip_grad_norm(params_, opt_.clip > 0 ? opt_.clip : INFINITY), scheduled_lr(opt_, done_)};
  s.loss = mean_loss.item();
  if (!std::isfinite(s.loss)) throw dist::CollectiveError("the loss is " + std::to_string(s.loss) + " at step " + std::to_string(done_));
  if (!std::isfinite(s.grad_norm))
    throw dist::CollectiveError("the gradient norm is not finite at step " + std::to_string(done_));
  adam_.step(s.lr);
  if (ema_) ema_->update();
  ++done_;
  return s;
}

std::vector<NamedTensor> Trainer::eval_weights() const {
  if (ema_) return ema_->weights();
  std::vector<NamedTensor> out;
  for (const Param& p : params_) out.push_back({p.name, p.var.value()});
  return out;
}

void Trainer::use_eval_weights() {
  if (ema_) ema_->copy_to(params_);
}

std::vector<NamedTensor> Trainer::state_tensors() const {
  std::vector<NamedTensor> out;
  for (const Param& p : params_) out.push_back({"param." + p.name, p.var.value()});
  for (NamedTensor& t : adam_.state()) out.push_back(std::move(t));
  if (ema_)
    for (NamedTensor& t : ema_->weights()) out.push_back({"ema." + t.name, t.tensor});
  return out;
}

std::map<std::string, std::string> Trainer::state_metadata() const {
  std::map<std::string, std::string> m = train_options_metadata(opt_);
  m["step"] = std::to_string(done_);
  m["adam_step"] = std::to_string(adam_.steps());
  m["ema_updates"] = std::to_string(ema_ ? ema_->updates() : 0);
  // An Rng's whole state is (seed, offset); the seeds derive from opt.seed, so the offsets suffice.
  m["rng.data"] = std::to_string(data_rng_.offset());
  m["rng.noise"] = std::to_string(noise_rng_.offset());
  m["rng.model"] = std::to_string(dropout_rng_.offset());
  return m;
}

void Trainer::load_state(const SafetensorsFile& file) {
  const auto& m = file.metadata;
  if (meta_u64(m, "seed") != opt_.seed)
    throw std::runtime_error("train state: saved with seed " + meta_str(m, "seed") + ", this trainer has " +
                             std::to_string(opt_.seed));
  if ((meta_f64(m, "ema") > 0) != bool(ema_))
    throw std::runtime_error("train state: the saved run and this trainer differ in whether they keep an EMA");
  // Read every counter before touching any state, so a malformed file fails early.
  const int64_t step = meta_i64(m, "step"), adam_step = meta_i64(m, "adam_step"), ema_updates = meta_i64(m, "ema_updates");
  const uint64_t data_off = meta_u64(m, "rng.data"), noise_off = meta_u64(m, "rng.noise"), model_off = meta_u64(m, "rng.model");
  for (const Param& p : params_) {
    const Tensor* t = file.find("param." + p.name);
    if (!t || t->shape() != p.var.shape())
      throw std::runtime_error("train state: missing or mis-shaped 'param." + p.name + "' (a different model?)");
  }
  adam_.load_state(file, adam_step);
  if (ema_) ema_->load_state(file, "ema.", ema_updates);
  for (const Param& p : params_) p.var.node()->value.copy_from(*file.find("param." + p.name));
  data_rng_.seek(data_off);
  noise_rng_.seek(noise_off);
  dropout_rng_.seek(model_off);
  done_ = step;
}

// ---- metadata ----------------------------------------------------------------------------------
std::string meta_number(double x) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);  // shortest text that reads back exactly
  if (ec != std::errc()) throw std::runtime_error("meta_number: cannot format");
  return std::string(buf, end);
}

const std::string& meta_str(const std::map<std::string, std::string>& meta, const std::string& key) {
  auto it = meta.find(key);
  if (it == meta.end()) throw std::runtime_error("train state: missing '" + key + "'");
  return it->second;
}

namespace {
template <class T>
T meta_parse(const std::map<std::string, std::string>& meta, const std::string& key) {
  const std::string& s = meta_str(meta, key);
  T out{};
  const char* first = s.c_str();
  auto [end, ec] = std::from_chars(first, first + s.size(), out);
  if (s.empty() || ec != std::errc() || end != first + s.size())
    throw std::runtime_error("train state: bad '" + key + "' ('" + s + "')");
  return out;
}
}  // namespace

double meta_f64(const std::map<std::string, std::string>& m, const std::string& key) { return meta_parse<double>(m, key); }
int64_t meta_i64(const std::map<std::string, std::string>& m, const std::string& key) { return meta_parse<int64_t>(m, key); }
uint64_t meta_u64(const std::map<std::string, std::string>& m, const std::string& key) { return meta_parse<uint64_t>(m, key); }

void save_train_state(const std::string& path, const Trainer& trainer, const std::map<std::string, std::string>& extra) {
  std::vector<NamedTensor> tensors = trainer.state_tensors();
  // One reduction over every tensor (a double sum of float squares is finite exactly when they
  // all are); only when it is not, one per tensor to name the culprit.
  std::vector<const Tensor*> all;
  for (const NamedTensor& t : tensors) all.push_back(&t.tensor);
  if (!std::isfinite(sum_squares(all)))
    for (const NamedTensor& t : tensors)
      if (!all_finite(t.tensor)) throw std::runtime_error("not saving " + path + ": '" + t.name + "' holds NaN or Inf");
  std::map<std::string, std::string> meta = trainer.state_metadata();
  for (const auto& [k, v] : extra) meta[k] = v;
  meta["format"] = "fm.cpp-train/1";
  save_safetensors(path, tensors, meta);
}

}  // namespace fm
