// tests/test_cli.cpp: end-to-end runs of the real `fm` binary on a tiny U-Net and a tiny IDX
// file: `fm nll` must report finite bits/dim as JSON (and draw their histogram with --hist),
// `fm sample` must write its .npy and PNG grid, `fm field` must write the model's v(x, t), and bad
// input must end in a non-zero exit with a one-line error.
// meson passes the binary's path in FM_BIN; without it the cases do nothing.
#include <doctest/doctest.h>

#include "tests/test_util.h"
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "fm_config.h"
#include "nn/checkpoint.h"
#include "nn/unet.h"
#include "tensor/io/json.h"
#include "tensor/io/npy.h"

using namespace fm;
namespace fs = std::filesystem;

namespace {

struct Run {
  int rc = -1;
  std::string out, err;
};

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A scratch directory with a tiny 1 x 8 x 8 U-Net checkpoint and a 4-image IDX file.
struct Fixture {
  fs::path dir;
  std::string ckpt, idx;

  Fixture() {
    std::string tmpl = (fs::temp_directory_path() / "fm-test-cli-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    dir = tmpl;
    Rng rng(7);
    UNetField net(fm::testing::tiny_unet_config(), rng);
    std::vector<NamedTensor> w;
    for (const Param& p : net.parameters()) w.push_back({p.name, p.var.value()});
    ckpt = (dir / "tiny.safetensors").string();
    save_checkpoint(ckpt, net, w, 1);
    // IDX3 images: magic 00 00 08 03, then N, H, W as big-endian u32, then N*H*W bytes.
    idx = (dir / "tiny-idx3-ubyte").string();
    std::ofstream f(idx, std::ios::binary);
    const unsigned char header[] = {0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 0, 8};
    f.write(reinterpret_cast<const char*>(header), sizeof header);
    for (int i = 0; i < 4 * 64; ++i) f.put(static_cast<char>((i * 37) % 256));
  }
  ~Fixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  // `fm <args>` with stdout and stderr captured; `env` ("NAME=value ...") is set for that run.
  Run fm(const std::string& args, const std::string& env = "") const {
    Run r;
    fs::path out = dir / "stdout.txt", err = dir / "stderr.txt";
    std::string cmd = env + " " + std::string(std::getenv("FM_BIN")) + " " + args + " >'" + out.string() + "' 2>'" + err.string() + "'";
    int status = std::system(cmd.c_str());
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_all(out);
    r.err = read_all(err);
    return r;
  }
};

bool have_fm() {
  if (std::getenv("FM_BIN")) return true;
  MESSAGE("FM_BIN is not set (run through meson test); skipping");
  return false;
}

// The last line of stdout, which --json makes the JSON result.
Json last_json_line(const std::string& out) {
  std::string s = out;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return parse_json(s.substr(s.find_last_of('\n') == std::string::npos ? 0 : s.find_last_of('\n') + 1));
}

double number(const Json& j, const char* key) {
  const Json* v = j.find(key);
  REQUIRE_MESSAGE(v != nullptr, "missing key ", key);
  return v->as_number();
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("fm --version names the version, the commit and the backends") {
  if (!have_fm()) return;
  Fixture fx;
  Run r = fx.fm("--version");
  INFO("stdout: ", r.out, "stderr: ", r.err);
  REQUIRE(r.rc == 0);
  CHECK(r.err.empty());
  // The first line: "fm <meson project version> (git <short hash>|unknown)".
  CHECK(std::regex_search(r.out, std::regex("^fm " FM_VERSION " \\(git ([0-9a-f]{4,40}|unknown)\\)\n")));
  // The kernel sets compiled in, and the one this CPU runs (of those).
  std::smatch m;
  REQUIRE(std::regex_search(r.out, m, std::regex("\nCPU: kernel sets built: ([^;]+); this CPU runs (avx512|avx2|portable) ")));
  CHECK(m[1].str() == (FM_HAVE_X86_KERNELS ? "avx512, avx2, portable" : "portable (x86 kernels not built)"));
  if (!FM_HAVE_X86_KERNELS) CHECK(m[2].str() == "portable");
  CHECK(r.out.find(FM_HAVE_CUDA ? "\nCUDA: " : "\nCUDA: not built\n") != std::string::npos);
  CHECK(r.out.find(FM_HAVE_MPI ? "\nMPI: MPI built (" : "\nMPI: not built (") != std::string::npos);
  if (FM_HAVE_MPI) CHECK(r.out.find("; not started by mpirun\n") != std::string::npos);
  // FM_GEMM_KERNEL forces a set, and --version reports the one in force.
  r = fx.fm("--version", "FM_GEMM_KERNEL=portable");
  CHECK(r.out.find("this CPU runs portable ") != std::string::npos);
}

TEST_CASE("fm nll reports finite bits/dim of an IDX file under a tiny U-Net") {
  if (!have_fm()) return;
  Fixture fx;
  const fs::path hist = fx.dir / "bpd.svg";
  Run r = fx.fm("nll --ckpt '" + fx.ckpt + "' --data '" + fx.idx + "' --n 4 --dequant 2 --batch 3 --json --rtol 1e-3 --atol 1e-3" +
                " --hist '" + hist.string() + "'");
  INFO("stderr: ", r.err);
  REQUIRE(r.rc == 0);
  // --hist without --out: the histogram of the 4 images' bits/dim.
  const std::string svg = read_all(hist);
  CHECK(svg.find(">bits/dim</text>") != std::string::npos);
  CHECK(svg.find(">4 values, bins of ") != std::string::npos);
  CHECK(svg.find("id=\"mean\"") != std::string::npos);
  CHECK(r.err.find("wrote " + hist.string() + " (histogram of bits/dim)") != std::string::npos);
  Json j = last_json_line(r.out);
  CHECK(std::isfinite(number(j, "bpd")));
  CHECK(number(j, "bpd") > 0.0);
  CHECK(std::isfinite(number(j, "bpd_stderr")));
  CHECK(std::isfinite(number(j, "nfe")));
  CHECK(number(j, "nfe") > 0.0);
  CHECK(number(j, "n") == 4);
  CHECK(number(j, "dequant") == 2);
  CHECK(r.out.find("bpd ") == 0);  // the human-readable line comes first
}

TEST_CASE("fm sample on a tiny U-Net writes the samples and an image grid") {
  if (!have_fm()) return;
  Fixture fx;
  std::string out = (fx.dir / "x.npy").string();
  Run r = fx.fm("sample --ckpt '" + fx.ckpt + "' --n 4 --out '" + out + "' --solver euler --steps 2 --json");
  INFO("stderr: ", r.err);
  REQUIRE(r.rc == 0);
  CHECK(load_npy(out).shape() == Shape{4, 1, 8, 8});
  CHECK(fs::file_size(fx.dir / "x.png") > 8);  // the default PNG: <out stem>.png
  CHECK(number(last_json_line(r.out), "nfe") == 2);  // two Euler steps
}

TEST_CASE("fm nll fails with one line on a missing checkpoint or a bad flag") {
  if (!have_fm()) return;
  Fixture fx;
  for (const std::string& args : {"nll --ckpt '" + (fx.dir / "missing.safetensors").string() + "'",
                                  "nll --ckpt '" + fx.ckpt + "' --bogus 1", std::string("nll"),
                                  "nll --ckpt '" + fx.ckpt + "' --data '" + fx.idx + "' --dequant 0",
                                  "nll --ckpt '" + fx.ckpt + "' --data '" + fx.idx + "' --max-nfe -1"}) {
    CAPTURE(args);
    Run r = fx.fm(args);
    CHECK(r.rc != 0);
    CHECK(r.out.empty());
    CHECK(r.err.find("fm nll: ") == 0);
    CHECK(r.err.find('\n') == r.err.size() - 1);  // exactly one line
  }
  // A solve that needs more field evaluations than --max-nfe stops, naming t and the step size.
  Run r = fx.fm("nll --ckpt '" + fx.ckpt + "' --data '" + fx.idx + "' --n 4 --max-nfe 8");
  CHECK(r.rc == 1);
  CHECK(r.err.find("max_nfe 8 reached (fm: --max-nfe") != std::string::npos);
  CHECK(r.err.find(" at t=") != std::string::npos);
}

TEST_CASE("fm bench prints JSON rows and a per-op profile, and refuses an unknown group") {
  if (!have_fm()) return;
  Fixture fx;
  Run r = fx.fm("bench --json --only matmul --size 48 --reps 1 --warmup 0");
  INFO("stderr: ", r.err);
  REQUIRE(r.rc == 0);
  Json row = last_json_line(r.out);
  REQUIRE(row.find("name") != nullptr);
  CHECK(row.find("name")->as_string() == "matmul 48");
  CHECK(number(row, "ms") > 0.0);
  // The flops are counted by the op list: 2 n^3 for one n x n x n product.
  CHECK(number(row, "gflops") * number(row, "ms") * 1e6 == doctest::Approx(2.0 * 48 * 48 * 48).epsilon(1e-6));
  CHECK(number(row, "peak_fraction") > 0.0);  // of the FMA peak measured at the start
  CHECK(number(row, "jobs") >= 0.0);          // parallel jobs per run (a 48^3 product may take none)
  CHECK(number(row, "peak_rss_mib") > 0.0);
  // The FMA peak alone, and bad --busy / --scaling combinations.
  r = fx.fm("bench --json --only peak");
  REQUIRE(r.rc == 0);
  row = last_json_line(r.out);
  CHECK(number(row, "gflops") > 0.0);
  CHECK(number(row, "threads") >= 1.0);
  for (const char* bad : {"bench --busy -1", "bench --busy x", "bench --scaling --only matmul"}) {
    CAPTURE(bad);
    r = fx.fm(bad);
    CHECK(r.rc != 0);
    CHECK(r.err.find("fm bench: ") == 0);
    CHECK(r.err.find('\n') == r.err.size() - 1);
  }
  // The profile of a small MLP step: one JSON line per op kind, percentages adding up to 100.
  r = fx.fm("bench --json --profile --only mlp-train --batch 32 --width 16 --depth 3 --reps 2 --warmup 1");
  REQUIRE(r.rc == 0);
  double percent = 0.0;
  bool saw_linear_backward = false, saw_outside = false;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    Json j = parse_json(line);
    const std::string op = j.find("op")->as_string();
    saw_linear_backward = saw_linear_backward || op == "linear backward";
    saw_outside = saw_outside || op == "(outside ops)";
    percent += number(j, "percent");
  }
  CHECK(saw_linear_backward);
  CHECK(saw_outside);
  CHECK(percent == doctest::Approx(100.0).epsilon(1e-6));
  r = fx.fm("bench --only nope");
  CHECK(r.rc != 0);
  CHECK(r.err.find("fm bench: --only must be one of") == 0);
  // The OT coupling rows: three data sets, in blocks of 64 and whole (600 points: the auction,
  // from its coarse start); then a batch that is not a batch.
  r = fx.fm("bench --json --only ot --ot-batch 600 --reps 1 --warmup 0");
  REQUIRE(r.rc == 0);
  std::vector<std::string> names;
  std::istringstream ot_lines(r.out);
  for (std::string line; std::getline(ot_lines, line);) {
    Json j = parse_json(line);
    names.push_back(j.find("name")->as_string());
    CHECK(number(j, "ms") > 0.0);
  }
  CHECK(names == std::vector<std::string>{"ot checkerboard B=600 by 64", "ot 8gaussians B=600 by 64", "ot moons B=600 by 64",
                                          "ot checkerboard B=600 whole", "ot 8gaussians B=600 whole", "ot moons B=600 whole"});
  for (const char* bad : {"bench --only ot --ot-batch 0", "bench --only ot --profile"}) {
    CAPTURE(bad);
    r = fx.fm(bad);
    CHECK(r.rc != 0);
    CHECK(r.err.find("fm bench: --") == 0);
    CHECK(r.err.find('\n') == r.err.size() - 1);
  }
}

TEST_CASE("fm field writes the model's v(x, t) with x's shape, and refuses mismatched shapes in one line") {
  if (!have_fm()) return;
  Fixture fx;
  Tensor x = fm::testing::randu({5, 1, 8, 8}, 3), t = fm::testing::randu({5}, 4, 0.0f, 1.0f);
  const std::string xp = (fx.dir / "x.npy").string(), tp = (fx.dir / "t.npy").string(), vp = (fx.dir / "v.npy").string();
  save_npy(xp, x);
  save_npy(tp, t);
  LoadedModel lm = load_checkpoint(fx.ckpt);
  auto max_diff = [](const Tensor& a, const Tensor& b) {
    REQUIRE(a.shape() == b.shape());
    float d = 0.0f;
    for (int64_t i = 0; i < a.numel(); ++i) d = std::max(d, std::fabs(a.at(i) - b.at(i)));
    return d;
  };
  // One time for every row, in two forward passes (--batch 3), then one time per row.
  Run r = fx.fm("field --ckpt '" + fx.ckpt + "' --x '" + xp + "' --t 0.25 --batch 3 --out '" + vp + "'");
  INFO("stderr: ", r.err);
  REQUIRE(r.rc == 0);
  CHECK(max_diff(load_npy(vp), lm.model->forward(Var(x), Tensor::full({5}, 0.25f)).value()) <= 1e-6f);
  r = fx.fm("field --ckpt '" + fx.ckpt + "' --x '" + xp + "' --t '" + tp + "' --out '" + vp + "'");
  REQUIRE(r.rc == 0);
  CHECK(max_diff(load_npy(vp), lm.model->forward(Var(x), t).value()) <= 1e-6f);

  auto one_line = [](const Run& run, const std::string& needle) {
    INFO("stderr: ", run.err);
    CHECK(run.rc != 0);
    CHECK(run.err.find(needle) != std::string::npos);
    CHECK(run.err.find('\n') == run.err.size() - 1);
  };
  save_npy((fx.dir / "bad_x.npy").string(), fm::testing::randu({5, 1, 8, 7}, 5));
  one_line(fx.fm("field --ckpt '" + fx.ckpt + "' --x '" + (fx.dir / "bad_x.npy").string() + "' --t 0.5"),
           "points of shape (5, 1, 8, 7) do not fit the model (need (N, 1, 8, 8))");
  save_npy((fx.dir / "bad_t.npy").string(), fm::testing::randu({4}, 6));
  one_line(fx.fm("field --ckpt '" + fx.ckpt + "' --x '" + xp + "' --t '" + (fx.dir / "bad_t.npy").string() + "'"),
           "times of shape (4,) do not fit 5 points");
  one_line(fx.fm("field --ckpt '" + fx.ckpt + "' --x '" + xp + "'"), "fm field: --t is required");
  one_line(fx.fm("field --ckpt '" + fx.ckpt + "' --x '" + xp + "' --t soon"), "--t expects a number or a .npy file, got 'soon'");
  r = fx.fm("field --help");
  CHECK(r.rc == 0);
  for (const char* opt : {"--ckpt", "--x", "--t", "--out", "--batch", "--device"}) CHECK(r.out.find(opt) != std::string::npos);
}

}  // TEST_SUITE
