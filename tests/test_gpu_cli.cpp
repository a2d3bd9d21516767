// tests/test_gpu_cli.cpp: every fm command with --device cuda against the same command with
// --device cpu, run through the real binary: fm train (an MLP, and a tiny U-Net on .npy images,
// each with checkpoints and a resume), fm sample --logp, fm nll (exact and Hutchinson, and
// bits/dim), fm field. The two devices agree within 1e-4 relative, the tolerance of
// test_gpu_runs (the summation orders differ; a wrong kernel is off by far more); a resume on the
// GPU repeats the uninterrupted GPU run bit for bit; a checkpoint written on either device loads
// on the other (the commands below cross them on purpose).
//
// Suite 'gpu': without a usable CUDA device it prints why and exits 77 (skipped).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "cuda/device.h"
#include "tensor/io/json.h"
#include "tests/gpu_main.h"
#include "tests/run_util.h"
#include "tests/test_util.h"

using namespace fm;
using namespace fm::testing;
namespace fs = std::filesystem;

namespace {

constexpr double kRel = 1e-4;

std::string q(const fs::path& p) {  // built by appending: GCC 12 warns falsely (-Wrestrict) on "'" + std::string
  std::string s = "'";
  s += p.string();
  s += "'";
  return s;
}

// `fm <args> --device <device>`, which must succeed.
Run fm_on(const TempDir& tmp, const std::string& device, const std::string& args) {
  const Run r = fm_run(tmp.dir, args + " --device " + device);
  INFO("fm " << args << " --device " << device << "\n" << r.err);
  REQUIRE(r.rc == 0);
  return r;
}

// The number `key` of the JSON line a command printed with --json.
double json_number(const std::string& out, const char* key) {
  const Json j = parse_json(out.substr(0, out.find('\n')));
  const Json* v = j.find(key);
  REQUIRE(v != nullptr);
  return v->as_number();
}

// Two training runs' outputs agree; the loss.csv rows and the train states within kRel.
void check_same_run(const fs::path& a, const fs::path& b) {
  check_same_losses(a / "loss.csv", b / "loss.csv", kRel);
  check_same_state(a, b, kRel);
}

// Loss rows, train states (tensors and counters) and models bit for bit (the clock apart).
void check_identical_run(const fs::path& a, const fs::path& b) {
  CHECK(loss_rows(a / "loss.csv") == loss_rows(b / "loss.csv"));
  check_same_state(a, b, 0.0);
  CHECK(file_bytes(a / "model.safetensors") == file_bytes(b / "model.safetensors"));
}

const std::string kMlp = "train --data checkerboard --batch 256 --width 32 --depth 3 --seed 3 --ckpt-every 10 --log-every 5 ";

}  // namespace

TEST_CASE("gpu cli: an MLP run, its resume, fm sample --logp, fm nll and fm field agree with the CPU") {
  TempDir tmp("fm_gpu_cli_mlp");
  const fs::path cpu = tmp.dir / "cpu", gpu = tmp.dir / "gpu", split = tmp.dir / "split";
  const std::string run = kMlp + "--steps 30 --eval-n 200 --eval-batch 100 --json --out ";
  const Run rc = fm_on(tmp, "cpu", run + q(cpu)), rg = fm_on(tmp, "cuda", run + q(gpu));
  check_same_run(cpu, gpu);
  CHECK(json_number(rg.out, "nll") == doctest::Approx(json_number(rc.out, "nll")).epsilon(kRel));

  // Stopped at 20 steps and resumed to 30 on the GPU: the uninterrupted GPU run exactly.
  fm_on(tmp, "cuda", kMlp + "--steps 20 --eval-n 0 --out " + q(split));
  fm_on(tmp, "cuda", "train --resume " + q(split) + " --steps 30 --eval-n 200 --eval-batch 100");
  check_identical_run(gpu, split);

  // The GPU's checkpoint on both devices (and the CPU's in `fm field` below).
  const std::string ckpt = "--ckpt " + q(gpu / "model.safetensors");
  for (const char* dev : {"cpu", "cuda"}) {
    const std::string tag = dev;
    fm_on(tmp, dev, "sample " + ckpt + " --n 300 --batch 150 --logp --out " + q(tmp.dir / (tag + "_s.npy")));
    fm_on(tmp, dev, "sample " + ckpt + " --n 100 --logp --divergence hutchinson --probes 2 --out " + q(tmp.dir / (tag + "_h.npy")));
    fm_on(tmp, dev, "nll " + ckpt + " --n 300 --batch 150 --out " + q(tmp.dir / (tag + "_nll.npy")));
    fm_on(tmp, dev, "nll " + ckpt + " --n 100 --divergence hutchinson --probe gaussian --out " + q(tmp.dir / (tag + "_nllh.npy")));
  }
  for (const char* f : {"_s.npy", "_s.logp.npy", "_h.npy", "_h.logp.npy", "_nll.npy", "_nllh.npy"})
    check_close_npy(tmp.dir / (std::string("cpu") + f), tmp.dir / (std::string("cuda") + f), kRel);

  const fs::path x = tmp.dir / "x.npy";
  save_npy(x.string(), randu({77, 2}, 5, -2.0f, 2.0f));
  for (const char* dev : {"cpu", "cuda"})
    fm_on(tmp, dev, "field --ckpt " + q(cpu / "model.safetensors") + " --x " + q(x) + " --t 0.3 --batch 40 --out " +
                        q(tmp.dir / (std::string(dev) + "_v.npy")));
  check_close_npy(tmp.dir / "cpu_v.npy", tmp.dir / "cuda_v.npy", kRel);
}

TEST_CASE("gpu cli: a tiny U-Net run with dropout, its resume, and bits/dim agree with the CPU") {
  TempDir tmp("fm_gpu_cli_unet");
  const fs::path images = tmp.dir / "images.npy", cpu = tmp.dir / "cpu", gpu = tmp.dir / "gpu", split = tmp.dir / "split";
  save_npy(images.string(), random_pixels({12, 1, 8, 8}, 6));
  const std::string run = "train --data " + q(images) + " --preset tiny --channels 8 --batch 4 --dropout 0.1 --hflip " +
                          "--seed 2 --sample-every 0 --ckpt-every 3 --log-every 1 --out ";
  fm_on(tmp, "cpu", run + q(cpu) + " --steps 6");
  fm_on(tmp, "cuda", run + q(gpu) + " --steps 6");
  check_same_run(cpu, gpu);

  fm_on(tmp, "cuda", run + q(split) + " --steps 3");
  fm_on(tmp, "cuda", "train --resume " + q(split) + " --steps 6 --sample-every 0");
  check_identical_run(gpu, split);

  // Bits/dim of the images under the CPU's model, Hutchinson with fixed RK4 steps (the same steps
  // on both devices) and two dequantisation draws.
  for (const char* dev : {"cpu", "cuda"})
    fm_on(tmp, dev, "nll --ckpt " + q(cpu / "model.safetensors") + " --data " + q(images) +
                        " --n 6 --batch 3 --dequant 2 --solver rk4 --steps 4 --out " + q(tmp.dir / (std::string(dev) + "_bpd.npy")));
  check_close_npy(tmp.dir / "cpu_bpd.npy", tmp.dir / "cuda_bpd.npy", kRel);
}

int main(int argc, char** argv) { return gpu_suite_main(argc, argv, /*needs_fm=*/true); }
