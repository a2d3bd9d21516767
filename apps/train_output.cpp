// apps/train_output.cpp: what fm train prints and draws while its run goes (see the header).
#include "apps/train_output.h"

#include <cstdio>
#include <memory>

#include "apps/common.h"
#include "apps/plots.h"
#include "apps/pictures.h"
#include "apps/progress.h"
#include "apps/train_images.h"
#include "dist/dist.h"
#include "tensor/cpu/parallel.h"

namespace fm {

namespace {

// samples.png: the grid (the final one announced), or 2-D model samples beside data samples.
void draw_samples(const std::string& path, const RunSamples& s) {
  if (s.data.defined()) {
    write_2d_comparison_png(path, s.samples, s.data);
    std::fprintf(stderr, "wrote %s (model samples left, data right)\n", path.c_str());
    return;
  }
  int w = 0, h = 0;
  std::vector<uint8_t> pixels = image_grid_rgb(s.samples, 8, &w, &h);
  write_png(path, w, h, 3, pixels.data());
  if (s.final)
    std::fprintf(stderr, "wrote %s (64 samples from fixed noise, %s, %lld evaluations)\n", path.c_str(),
                 describe_solver(s.ode).c_str(), (long long)s.nfe);
}

void print_header(const RunContext& c, bool images) {
  const Shape shape = c.data.sample_shape();
  const RunSpec& r = c.options.spec;
  const TrainOptions& t = r.train;
  // e.g. " (NHWC, inferred; 10 classes ...)": how an image file was read, and its labels.
  const std::string details = c.data.details().empty() ? "" : " (" + c.data.details() + ")";
  if (images)
    std::fprintf(stderr, "fm train: %s, %s images%s, %s (%lld parameters), path %s, batch %lld, %lld steps -> %s\n",
                 c.data.name().c_str(), shape_str(shape, ShapeStyle::Dims).c_str(), details.c_str(),
                 describe_unet(unet_config_from_json(r.model)).c_str(),
                 (long long)c.model.num_parameters(), c.path.name().c_str(), (long long)t.batch, (long long)t.steps,
                 c.options.out_dir.c_str());
  else
    std::fprintf(stderr, "fm train: %s, %lld-dim, MLP %lld x %lld (%lld parameters), path %s, batch %lld, %lld steps -> %s\n",
                 c.data.name().c_str(), (long long)shape[0], (long long)r.model.find("width")->as_number(),
                 (long long)r.model.find("depth")->as_number(), (long long)c.model.num_parameters(), c.path.name().c_str(),
                 (long long)t.batch, (long long)t.steps, c.options.out_dir.c_str());
  if (const int64_t K = c.model.num_classes(); K > 0)
    std::fprintf(stderr, "class-conditional: %lld classes, each label dropped to \"no class\" with probability %g\n",
                 (long long)K, t.cond_drop);
  if (t.coupling == Coupling::Ot)
    std::fprintf(stderr, "coupling: minibatch OT in blocks of %s%s (exact up to %lld rows, an auction within %g of the "
                 "optimum above)\n",
                 t.ot_block > 0 ? (std::to_string(t.ot_block) + " rows").c_str() : "the whole batch",
                 c.model.num_classes() > 0 ? ", within each class" : "", (long long)kExactRows, 1.0 + kAuctionEps);
  if (dist::size() > 1)
    std::fprintf(stderr, "data parallel: %d processes, %lld samples each per step, %d thread%s each (rank 0)\n",
                 dist::size(), (long long)(t.batch / dist::size()), num_threads(), num_threads() == 1 ? "" : "s");
  if (c.options.resume_state) std::fprintf(stderr, "resuming at step %lld\n", (long long)c.start);
}


// The observers' state: the progress bars, and whether loss.svg has failed once.
struct Observers {
  std::unique_ptr<Progress> bar, eval_bar;
  bool images = false, plot_warned = false;

  RunHooks hooks() {
    RunHooks h;  // `this` outlives the run: train_observers keeps it alive in the hooks
    h.on_start = [this](const RunContext& c) {
      print_header(c, images);
      bar = std::make_unique<Progress>("train", c.options.spec.train.steps - c.start);
    };
    h.on_step = [this](const RunContext& c, int64_t step, double loss) {
      char extra[64];
      std::snprintf(extra, sizeof extra, "loss %.4f", loss);
      bar->update(step - c.start, extra);
    };
    // A picture that cannot be written is not worth stopping a run for: one warning, and on.
    h.on_checkpoint = [this](const RunContext& c, int64_t) {
      const std::string& dir = c.options.out_dir;
      try {
        write_loss_svg(dir + "/loss.csv", dir + "/loss.svg", "fm train " + c.data.name() + " (" + dir + ")");
      } catch (const std::exception& e) {
        if (!plot_warned) std::fprintf(stderr, "\nwarning: %s/loss.svg not written: %s\n", dir.c_str(), e.what());
        plot_warned = true;
      }
    };
    h.on_trained = [this](const RunContext& c, const TrainRunResult& r) {
      bar->finish();
      std::fprintf(stderr, "wrote %s and %s/loss.csv (%.1f s, %.1f steps/s)\n", r.checkpoint.c_str(),
                   c.options.out_dir.c_str(), r.seconds, double(r.steps - r.start) / r.seconds);
      if (!plot_warned)
        std::fprintf(stderr, "wrote %s/loss.svg (loss and learning rate against the step)\n", c.options.out_dir.c_str());
    };
    h.on_samples = [](const RunContext& c, const RunSamples& s) { draw_samples(c.options.out_dir + "/samples.png", s); };
    h.on_eval_progress = [this](int64_t done, int64_t total, const SolveRun& so_far, int64_t nfe) {
      if (!eval_bar) eval_bar = std::make_unique<Progress>("nll", total);
      if (done == 0) return;
      char extra[96];
      std::snprintf(extra, sizeof extra, "nll %.4f | nfe %lld", -mean_stderr(so_far.logp).mean, (long long)nfe);
      eval_bar->update(done, extra);
      if (done == total) eval_bar->finish();
    };
    return h;
  }
};

// The final NLL next to the true entropy, on stderr and into the JSON result.
}  // namespace

void report_nll(const PointsNll& r, const std::string& data_spec, int64_t eval_n, int64_t dim, ResultFields& result) {
  std::fprintf(stderr, "NLL on %lld fresh samples (exact divergence, dopri5 1e-5): %.4f +- %.4f nats (%.4f per dim), mean NFE %.0f\n",
               (long long)eval_n, r.nll.mean, r.nll.stderr_, r.nll.mean / double(dim), r.mean_nfe);
  result.push_back({"nll", r.nll.mean});
  result.push_back({"nll_stderr", r.nll.stderr_});
  result.push_back({"nfe", r.mean_nfe});
  if (r.entropy) {
    std::fprintf(stderr, "true entropy of %s: %.4f nats (gap %.4f)\n", data_spec.c_str(), *r.entropy,
                 r.nll.mean - *r.entropy);
    result.push_back({"entropy", *r.entropy});
  }
}

void report_quality(const PointsQuality& q, ResultFields& result) {
  std::string line = "few-step samples (Euler) against fresh data, sliced W2 / energy distance:";
  Json::Array steps, sw, energy;
  for (size_t i = 0; i < q.euler_steps.size(); ++i) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s %lld step%s %.4f / %.4f", i ? "," : "", (long long)q.euler_steps[i],
                  q.euler_steps[i] == 1 ? "" : "s", q.sliced_w2[i], q.energy[i]);
    line += buf;
    steps.push_back(Json(double(q.euler_steps[i])));
    sw.push_back(Json(q.sliced_w2[i]));
    energy.push_back(Json(q.energy[i]));
  }
  std::fprintf(stderr, "%s; dopri5 1e-5 sampling NFE %lld\n", line.c_str(), (long long)q.dopri5_nfe);
  result.push_back({"euler_steps", steps});
  result.push_back({"sliced_w2", sw});
  result.push_back({"energy", energy});
  result.push_back({"sample_nfe", double(q.dopri5_nfe)});
}

RunHooks train_observers(bool images) {
  auto state = std::make_shared<Observers>();
  state->images = images;
  RunHooks h = state->hooks();
  // Each hook holds the state, so it lives as long as the hooks do.
  h.on_start = [state, f = h.on_start](const RunContext& c) { f(c); };
  return h;
}

}  // namespace fm
