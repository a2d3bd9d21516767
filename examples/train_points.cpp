// examples/train_points.cpp: train a flow-matching model on your own points, using fm.cpp as a
// library (only its installed headers; build with `pkg-config --cflags --libs fm`).
//
// usage: train_points POINTS.npy|POINTS.csv OUT_DIR [STEPS]
//
// The points are an N x D array (float32/float64 .npy, or numeric .csv rows). The model is the MLP
// vector field; flow/run.h's train_run does the rest: CondOT path, Adam with warm-up and cosine
// decay, EMA weights, and OUT_DIR/model.safetensors (+ train_state.safetensors, loss.csv), which
// `fm sample`, `fm nll` and examples/loglik.cpp read.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>

#include "flow/run.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s POINTS.npy|POINTS.csv OUT_DIR [STEPS]\n", argv[0]);
    return 2;
  }
  try {
    fm::TrainRunOptions opt;
    opt.spec.data_spec = argv[1];  // a .npy/.csv path, as `fm train --data` takes it
    opt.out_dir = argv[2];
    opt.spec.train.steps = argc > 3 ? std::atoll(argv[3]) : 2000;
    opt.spec.train.batch = 512;
    opt.spec.train.warmup = std::min<int64_t>(100, opt.spec.train.steps / 10);
    std::unique_ptr<fm::Dataset> data = fm::open_dataset(opt.spec.data_spec);
    fm::ModelChoice mlp;  // a smaller MLP than fm train's 512 x 5: quick on a laptop
    mlp.width = 256;
    mlp.depth = 4;
    opt.spec.model = fm::model_for_data(data->sample_shape(), mlp);  // the MLP for flat N x D points

    fm::RunHooks hooks;
    hooks.on_step = [&](const fm::RunContext&, int64_t step, double loss) {
      if (step % 100 == 0 || step == opt.spec.train.steps) std::printf("step %lld  loss %.4f\n", (long long)step, loss);
    };
    fm::TrainRunResult r = fm::train_run(opt, *data, hooks);
    std::printf("trained %lld steps in %.1f s, final loss %.4f; wrote %s\n", (long long)r.steps, r.seconds, r.last_loss,
                r.checkpoint.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_points: %s\n", e.what());
    return 1;
  }
}
