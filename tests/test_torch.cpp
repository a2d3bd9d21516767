// tests/test_torch.cpp: fm checkpoints in PyTorch and back (scripts/fm_torch.py). A tiny MLP and a
// tiny U-Net trained by the real `fm train`, and a non-square two-channel U-Net built here, are
// loaded into scripts/fm_torch.py's modules with strict=True; `fm field` and the PyTorch forward
// must agree on the same random points to 1e-5 (max |difference| over max |value|). Then the
// weights are perturbed in PyTorch and written back with its writer: `fm field` on that file must
// agree with PyTorch again, and the file must load in fm with its metadata kept.
// The suite ('torch') exits 77 (skipped) where no Python here ($FM_PYTHON, python3, /usr/bin/python3)
// can import torch and numpy.
// meson passes FM_BIN (the fm binary) and FM_TORCH_SCRIPT (scripts/fm_torch.py).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "nn/checkpoint.h"
#include "nn/unet.h"
#include "tensor/io/json.h"
#include "tensor/io/npy.h"
#include "tests/run_util.h"
#include "tests/test_util.h"

using namespace fm;
using fm::testing::fm_run;
using fm::testing::run_shell;
using fm::testing::Run;
namespace fs = std::filesystem;

namespace {

// The Python with torch and numpy: $FM_PYTHON, else python3 on the PATH (a GPU machine's, with
// PyTorch in a virtual environment), else Debian's /usr/bin/python3 (python3-torch); set in main.
std::string python;
bool have_env() {
  if (std::getenv("FM_BIN") && std::getenv("FM_TORCH_SCRIPT")) return true;
  MESSAGE("FM_BIN or FM_TORCH_SCRIPT is not set (run through meson test); skipping");
  return false;
}

Run fm_cmd(const fs::path& dir, const std::string& args) { return fm_run(dir, args); }
Run torch_cmd(const fs::path& dir, const std::string& args) {
  return run_shell(dir, python + " '" + std::getenv("FM_TORCH_SCRIPT") + "' " + args);
}

std::string q(const fs::path& p) {  // built by appending: GCC 12 warns falsely (-Wrestrict) on "'" + std::string
  std::string s = "'";
  s += p.string();
  s += "'";
  return s;
}

// max |a - b| / max |a|, the agreement measure of the suite.
double relative_max_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < va.size(); ++i) {
    diff = std::max(diff, std::fabs(double(va[i]) - double(vb[i])));
    scale = std::max(scale, std::fabs(double(va[i])));
  }
  REQUIRE(scale > 0.0);
  return diff / scale;
}

// `fm field` and fm_torch.py field on the same points and times (T: a number or a .npy path);
// checks PyTorch loaded the file strictly and returns v from fm and the relative difference.
// With a class (>= 0), the class-conditional field v(x, t | class) of both.
double field_gap(const fs::path& dir, const fs::path& ckpt, const fs::path& x, const std::string& t, Tensor* v_fm = nullptr,
                 int cls = -1) {
  const std::string with_class = cls >= 0 ? " --class " + std::to_string(cls) : "";
  Run a = fm_cmd(dir, "field --ckpt " + q(ckpt) + " --x " + q(x) + " --t '" + t + "' --out " + q(dir / "v_fm.npy") + with_class);
  INFO("fm field: ", a.err);
  REQUIRE(a.rc == 0);
  Run b = torch_cmd(dir, "field " + q(ckpt) + " " + q(x) + " '" + t + "' " + q(dir / "v_torch.npy") + with_class);
  INFO("fm_torch.py field: ", b.err);
  REQUIRE(b.rc == 0);
  Json info = parse_json(b.out.substr(0, b.out.find('\n')));
  CHECK(info.find("strict")->as_bool());
  CHECK(info.find("params")->as_number() == double(load_checkpoint(ckpt.string()).model->num_parameters()));
  Tensor vf = load_npy((dir / "v_fm.npy").string()), vt = load_npy((dir / "v_torch.npy").string());
  CHECK(vf.shape() == load_npy(x.string()).shape());
  if (v_fm) *v_fm = vf;
  double gap = relative_max_diff(vf, vt);
  MESSAGE(ckpt.filename().string(), " at t = ", t, ": max |v_fm - v_torch| / max |v_fm| = ", gap);
  return gap;
}

// The whole interchange for one checkpoint: fm -> PyTorch at a shared and at per-row times, then
// PyTorch -> fm after perturbing every weight in PyTorch.
void check_interchange(const fs::path& dir, const fs::path& ckpt, const Shape& x_shape, uint64_t seed) {
  Tensor x = Tensor::empty(x_shape);
  Rng(seed).normal(x, 0.0f, 1.0f);
  const fs::path xp = dir / "x.npy", tp = dir / "t.npy";
  save_npy(xp.string(), x);
  save_npy(tp.string(), fm::testing::randu({x_shape[0]}, seed + 1, 0.0f, 1.0f));

  CHECK(field_gap(dir, ckpt, xp, "0.37") <= 1e-5);
  CHECK(field_gap(dir, ckpt, xp, tp.string()) <= 1e-5);
  Tensor before, after;
  field_gap(dir, ckpt, xp, "0.8", &before);

  const fs::path back = dir / "from_torch.safetensors";
  Run p = torch_cmd(dir, "perturb " + q(ckpt) + " " + q(back) + " --seed 3 --scale 0.05");
  INFO("fm_torch.py perturb: ", p.err);
  REQUIRE(p.rc == 0);
  CHECK(field_gap(dir, back, xp, "0.8", &after) <= 1e-5);
  CHECK(relative_max_diff(before, after) > 1e-3);  // the perturbation reached fm

  LoadedModel orig = load_checkpoint(ckpt.string()), mine = load_checkpoint(back.string());
  CHECK(to_json(mine.config) == to_json(orig.config));
  CHECK(mine.step == orig.step);
  CHECK(mine.metadata == orig.metadata);  // every key and value kept, "format" included
  std::vector<Param> po = orig.model->parameters(), pm = mine.model->parameters();
  REQUIRE(po.size() == pm.size());
  for (size_t i = 0; i < po.size(); ++i) CHECK(po[i].var.shape() == pm[i].var.shape());
}

// IDX3 images: magic 00 00 08 03, then N, H, W as big-endian u32, then N*H*W bytes.
void write_idx(const fs::path& path, int n, int h, int w) {
  std::ofstream f(path, std::ios::binary);
  const unsigned char header[] = {0, 0, 8, 3, 0, 0, 0, (unsigned char)n, 0, 0, 0, (unsigned char)h, 0, 0, 0, (unsigned char)w};
  f.write(reinterpret_cast<const char*>(header), sizeof header);
  for (int i = 0; i < n * h * w; ++i) f.put(static_cast<char>((i * 37) % 256));
}

}  // namespace

TEST_SUITE("torch") {

TEST_CASE("an MLP trained by fm train: same field in PyTorch, and a PyTorch-made checkpoint in fm") {
  if (!have_env()) return;
  fm::testing::TempDir tmp("fm_test_torch");
  Run r = fm_cmd(tmp.dir, "train --data checkerboard --steps 3 --batch 256 --width 32 --depth 3 --eval-n 0 --out " +
                              q(tmp.dir / "mlp"));
  INFO("fm train: ", r.err);
  REQUIRE(r.rc == 0);
  check_interchange(tmp.dir, tmp.dir / "mlp" / "model.safetensors", {64, 2}, 11);
}

TEST_CASE("a U-Net trained by fm train on IDX images: same field in PyTorch and back") {
  if (!have_env()) return;
  fm::testing::TempDir tmp("fm_test_torch");
  write_idx(tmp.dir / "tiny-idx3-ubyte", 8, 8, 8);
  Run r = fm_cmd(tmp.dir, "train --data " + q(tmp.dir / "tiny-idx3-ubyte") +
                              " --steps 3 --batch 4 --channels 8 --mult 1,2 --num-res 1 --attn-res 4 --groups 4 --out " +
                              q(tmp.dir / "unet"));
  INFO("fm train: ", r.err);
  REQUIRE(r.rc == 0);
  check_interchange(tmp.dir, tmp.dir / "unet" / "model.safetensors", {5, 1, 8, 8}, 21);
}

TEST_CASE("a class-conditional U-Net trained by fm train: the same conditional and unconditional fields in PyTorch") {
  if (!have_env()) return;
  fm::testing::TempDir tmp("fm_test_torch");
  write_idx(tmp.dir / "tiny-idx3-ubyte", 8, 8, 8);
  {  // IDX1 labels: magic 00 00 08 01, N, then one byte per image (classes 0..2)
    std::ofstream f(tmp.dir / "tiny-labels-idx1-ubyte", std::ios::binary);
    const unsigned char header[] = {0, 0, 8, 1, 0, 0, 0, 8}, labels[] = {0, 1, 2, 0, 1, 2, 0, 1};
    f.write(reinterpret_cast<const char*>(header), sizeof header);
    f.write(reinterpret_cast<const char*>(labels), sizeof labels);
  }
  Run r = fm_cmd(tmp.dir, "train --data " + q(tmp.dir / "tiny-idx3-ubyte") + " --labels " + q(tmp.dir / "tiny-labels-idx1-ubyte") +
                              " --conditional --steps 3 --batch 4 --channels 8 --mult 1,2 --num-res 1 --attn-res 4 --groups 4 --out " +
                              q(tmp.dir / "cond"));
  INFO("fm train: ", r.err);
  REQUIRE(r.rc == 0);
  const fs::path ckpt = tmp.dir / "cond" / "model.safetensors";
  CHECK(load_checkpoint(ckpt.string()).model->num_classes() == 3);
  Tensor x = Tensor::empty({5, 1, 8, 8});
  Rng(31).normal(x, 0.0f, 1.0f);
  const fs::path xp = tmp.dir / "x.npy";
  save_npy(xp.string(), x);
  Tensor v0, v2;
  CHECK(field_gap(tmp.dir, ckpt, xp, "0.4") <= 1e-5);  // "no class"
  CHECK(field_gap(tmp.dir, ckpt, xp, "0.4", &v0, 0) <= 1e-5);
  CHECK(field_gap(tmp.dir, ckpt, xp, "0.4", &v2, 2) <= 1e-5);
  CHECK(relative_max_diff(v0, v2) > 1e-4);  // the class reaches the field
}

TEST_CASE("a non-square two-channel U-Net with three levels: same field in PyTorch and back") {
  if (!have_env()) return;
  fm::testing::TempDir tmp("fm_test_torch");
  UNetConfig c;
  c.in_channels = 2;
  c.height = 8;
  c.width = 4;
  c.channels = 8;
  c.mult = {1, 2, 2};
  c.num_res = 2;
  c.attn_res = {4, 2};  // by height: the middle level, the coarsest and the bottleneck
  c.groups = 4;
  Rng rng(5);
  UNetField net(c, rng);
  std::vector<NamedTensor> w;
  for (const Param& p : net.parameters()) w.push_back({p.name, p.var.value()});
  const fs::path ckpt = tmp.dir / "unet2.safetensors";
  save_checkpoint(ckpt.string(), net, w, 7, {{"data", "made-up"}});
  check_interchange(tmp.dir, ckpt, {3, 2, 8, 4}, 31);
}

}  // TEST_SUITE

int main(int argc, char** argv) {
  std::vector<std::string> candidates{"python3", "/usr/bin/python3"};
  if (const char* chosen = std::getenv("FM_PYTHON")) candidates = {chosen};
  for (const std::string& p : candidates)
    if (std::system((p + " -c 'import torch, numpy' >/dev/null 2>&1").c_str()) == 0) {
      python = p;
      break;
    }
  if (python.empty()) {
    std::printf("skipped: no python3 here imports torch and numpy (apt-get install python3-torch python3-numpy, or set FM_PYTHON)\n");
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
