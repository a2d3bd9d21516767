// apps/cmd_train.cpp: `fm train`, conditional flow matching end to end.
//
// Each step: draw data x1 and noise x0, a time t ~ U[0, 1], build x_t and the path's target
// u_t, regress v(x_t, t) onto u_t (MSE), backpropagate, clip, take an Adam step, update the EMA.
// At the end: the model (EMA weights) as safetensors, loss.csv, a picture of model samples
// beside data samples, and for 2-D data the exact NLL of fresh data next to the true entropy.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "apps/commands.h"
#include "apps/common.h"
#include "apps/progress.h"
#include "flow/dataset.h"
#include "flow/toy2d.h"
#include "nn/checkpoint.h"
#include "nn/mlp.h"
#include "nn/model.h"
#include "flow/trainer.h"

namespace fm {

namespace {

void add_train_options(Args& a) {
  a.opt("--data", "checkerboard", "a 2-D toy (checkerboard, 8gaussians, moons, circles, swissroll, 2spirals, pinwheel, rings) or a .npy/.csv file of N x D samples")
      .opt("--steps", "2600", "training steps")
      .opt("--batch", "2048", "samples per step")
      .opt("--lr", "2e-3", "peak learning rate")
      .opt("--schedule", "cosine", "learning-rate schedule after warm-up: cosine (to zero) or constant")
      .opt("--warmup", "100", "linear warm-up steps")
      .opt("--optimizer", "adam", "adam or adamw")
      .opt("--weight-decay", "", "weight decay (default: 0 for adam, 0.01 for adamw)")
      .opt("--clip", "1.0", "clip the global gradient norm to this; 0 = off")
      .opt("--ema", "0.999", "EMA decay of the weights that are saved and evaluated; 0 = off")
      .opt("--width", "512", "MLP hidden width")
      .opt("--depth", "5", "MLP depth (number of Linear layers)")
      .opt("--path", "condot", "probability path: condot (FM w/ OT), vp or ve (diffusion paths)")
      .opt("--sigma-min", "1e-4", "sigma_min of the condot path")
      .opt("--seed", "0", "seed for initialisation, data and noise")
      .opt("--out", "", "output directory (default runs/<data>)")
      .opt("--ckpt-every", "500", "write the checkpoint every this many steps; 0 = only at the end")
      .opt("--log-every", "10", "average the loss over this many steps per loss.csv row")
      .opt("--eval-n", "2000", "fresh data samples for the final exact NLL; 0 = skip")
      .opt("--eval-batch", "2000", "samples per likelihood solve")
      .flag("--json", "print the results as one JSON line on stdout");
}

}  // namespace

int cmd_train(int argc, char** argv) {
  Args args("fm train", "Train a flow-matching vector field with the conditional flow-matching loss.");
  add_train_options(args);
  if (!args.parse(argc, argv, 2)) return 0;

  const std::string data_spec = args.str("--data");
  const int64_t steps = args.i64("--steps"), batch = args.i64("--batch"), seed = args.i64("--seed");
  const int64_t ckpt_every = args.i64("--ckpt-every"), log_every = std::max<int64_t>(1, args.i64("--log-every"));
  const double lr = args.f64("--lr"), clip = args.f64("--clip"), ema_decay = args.f64("--ema");
  const std::string schedule = args.str("--schedule");
  if (steps < 1 || batch < 1) throw UsageError("--steps and --batch must be positive");
  if (schedule != "cosine" && schedule != "constant") throw UsageError("--schedule must be cosine or constant");
  if (clip < 0) throw UsageError("--clip must be >= 0");
  if (!(lr > 0)) throw UsageError("--lr must be positive");
  if (ema_decay < 0 || ema_decay >= 1) throw UsageError("--ema must be in [0, 1)");

  std::unique_ptr<Dataset> data = open_dataset(data_spec);
  if (data->sample_shape().size() != 1) throw std::runtime_error("the MLP model needs flat samples (N x D data)");
  const int64_t dim = data->sample_shape()[0];
  std::unique_ptr<ProbPath> path = make_path(args.str("--path"), args.f64("--sigma-min"));
  std::string out_dir = args.given("--out") ? args.str("--out")
                                            : "runs/" + std::filesystem::path(data_spec).stem().string();
  std::filesystem::create_directories(out_dir);
  const std::string ckpt_path = out_dir + "/model.safetensors";

  Rng init_rng(derive_seed(seed, 0));
  std::unique_ptr<FieldModel> model = make_model(mlp_config(dim, args.i64("--width"), args.i64("--depth")), init_rng);

  TrainOptions topt;
  topt.steps = steps;
  topt.batch = batch;
  topt.lr = lr;
  topt.schedule = schedule;
  topt.warmup = args.i64("--warmup");
  topt.clip = clip;
  topt.ema = ema_decay;
  topt.seed = static_cast<uint64_t>(seed);
  topt.adam.decoupled = args.str("--optimizer") == "adamw";
  if (!topt.adam.decoupled && args.str("--optimizer") != "adam") throw UsageError("--optimizer must be adam or adamw");
  topt.adam.weight_decay = args.given("--weight-decay") ? args.f64("--weight-decay") : (topt.adam.decoupled ? 1e-2 : 0.0);
  Trainer trainer(*model, *path, *data, topt);

  std::fprintf(stderr, "fm train: %s, %lld-dim, MLP %lld x %lld (%lld parameters), path %s, batch %lld, %lld steps -> %s\n",
               data->name().c_str(), (long long)dim, (long long)args.i64("--width"), (long long)args.i64("--depth"),
               (long long)model->num_parameters(), path->name().c_str(), (long long)batch, (long long)steps, out_dir.c_str());

  std::map<std::string, std::string> meta{{"data", data_spec}, {"path", path->name()}, {"seed", std::to_string(seed)}};
  auto save = [&](int64_t step) { save_checkpoint(ckpt_path, *model, trainer.eval_weights(), step, meta); };

  FILE* loss_csv = std::fopen((out_dir + "/loss.csv").c_str(), "w");
  if (!loss_csv) throw std::runtime_error("cannot write " + out_dir + "/loss.csv");
  std::fprintf(loss_csv, "step,loss,lr,grad_norm,seconds\n");

  Progress bar("train", steps);
  double window_loss = 0.0, window_norm = 0.0, last_loss = 0.0;
  int64_t window = 0;
  model->set_training(true);
  for (int64_t step = 0; step < steps; ++step) {
    StepStats s;
    try {
      s = trainer.step();
    } catch (const std::exception& e) {
      std::fclose(loss_csv);
      throw std::runtime_error(std::string(e.what()) + "; training stopped. The last good checkpoint " + ckpt_path +
                               " is intact (try a lower --lr)");
    }
    window_loss += s.loss;
    window_norm += s.grad_norm;
    ++window;
    if (window == log_every || step + 1 == steps) {
      last_loss = window_loss / double(window);
      std::fprintf(loss_csv, "%lld,%.6f,%.6g,%.4f,%.3f\n", (long long)(step + 1), last_loss, s.lr,
                   window_norm / double(window), bar.elapsed());
      std::fflush(loss_csv);
      window_loss = window_norm = 0.0;
      window = 0;
    }
    char extra[64];
    std::snprintf(extra, sizeof extra, "loss %.4f", last_loss > 0 ? last_loss : s.loss);
    bar.update(step + 1, extra);
    if (ckpt_every > 0 && (step + 1) % ckpt_every == 0 && step + 1 < steps) save(step + 1);
  }
  const double train_seconds = bar.elapsed();
  bar.finish();
  std::fclose(loss_csv);
  save(steps);
  model->set_training(false);
  trainer.use_eval_weights();  // evaluate what was saved
  std::fprintf(stderr, "wrote %s and %s/loss.csv (%.1f s, %.1f steps/s)\n", ckpt_path.c_str(), out_dir.c_str(),
               train_seconds, double(steps) / train_seconds);

  Rng eval_rng(derive_seed(seed, 3));
  if (dim == 2) {  // a picture: model samples (left) beside data (right)
    NoGradGuard no_grad;
    Tensor x0 = Tensor::empty({20000, 2});
    eval_rng.normal(x0, 0.0f, float(path->prior_std()));
    FlowSolveOptions sopt;
    sopt.ode.rtol = sopt.ode.atol = 1e-4;
    Tensor xs = sample_flow(field_of(*model), x0, sopt, eval_rng, false).x;
    write_2d_comparison_png(out_dir + "/samples.png", xs, data->batch(20000, eval_rng));
    std::fprintf(stderr, "wrote %s/samples.png (model samples left, data right)\n", out_dir.c_str());
  }

  std::vector<std::pair<std::string, Json>> result{{"loss", last_loss}, {"steps", steps}, {"seconds", train_seconds}};
  const int64_t eval_n = args.i64("--eval-n");
  if (eval_n > 0) {
    FlowSolveOptions lopt;
    lopt.prior_std = path->prior_std();
    Tensor x = data->batch(eval_n, eval_rng);
    NllRun run = evaluate_logp(*model, x, lopt, args.i64("--eval-batch"), eval_rng, "nll");
    std::vector<double> nll(run.logp.size());
    for (size_t i = 0; i < nll.size(); ++i) nll[i] = -run.logp[i];
    MeanStderr m = mean_stderr(nll);
    std::fprintf(stderr, "NLL on %lld fresh samples (exact divergence, dopri5 1e-5): %.4f +- %.4f nats (%.4f per dim), mean NFE %.0f\n",
                 (long long)eval_n, m.mean, m.stderr_, m.mean / double(dim), run.mean_nfe);
    result.push_back({"nll", m.mean});
    result.push_back({"nll_stderr", m.stderr_});
    result.push_back({"nfe", run.mean_nfe});
    if (toy2d_has_log_density(data_spec)) {
      double h = toy2d_entropy(data_spec);
      std::fprintf(stderr, "true entropy of %s: %.4f nats (gap %.4f)\n", data_spec.c_str(), h, m.mean - h);
      result.push_back({"entropy", h});
    }
  }
  if (args.on("--json")) std::printf("%s\n", json_line(result).c_str());
  return 0;
}

}  // namespace fm
