// tests/test_train_cli.cpp: end-to-end runs of the real `fm train` on a tiny MLP: a run writes
// its checkpoint, train state, loss.csv and loss.svg (and `fm nll --out --hist` of its model
// writes the per-sample values and their histogram); a run stopped at 20 steps and resumed to 40 writes
// the same loss.csv rows (all but the wall-clock column) and the same model as one 40-step run;
// a resume with a changed run option fails with one line naming it and touches nothing.
// meson passes the binary's path in FM_BIN; without it the cases do nothing.
#include <doctest/doctest.h>

#include "tests/test_util.h"
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "nn/checkpoint.h"
#include "tensor/io/json.h"
#include "tensor/io/npy.h"
#include "tensor/io/safetensors.h"
#include "tests/run_util.h"

using namespace fm;
using fm::testing::file_bytes;
using fm::testing::fm_run;
using fm::testing::have_fm;
using fm::testing::rows_without_seconds;
using fm::testing::Run;
namespace fs = std::filesystem;

namespace {

std::map<std::string, std::string> dir_bytes(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) out[e.path().filename().string()] = file_bytes(e.path());
  return out;
}

// The number of points of loss.svg's loss curve (the polyline with id "loss").
int loss_points(const std::string& svg) {
  const size_t at = svg.find("id=\"loss\"");
  if (at == std::string::npos) return -1;
  const size_t b = svg.find("points=\"", at) + 8, e = svg.find('"', b);
  return int(std::count(svg.begin() + b, svg.begin() + e, ',')); // one comma per "x,y" pair
}

// The tiny run's flags (steps and directory apart).
const std::string kTiny = "train --data checkerboard --batch 256 --width 32 --depth 3 --eval-n 0 --ckpt-every 10 --log-every 5";

std::string train_to(const fs::path& run_dir, int steps) {
  return kTiny + " --steps " + std::to_string(steps) + " --out '" + run_dir.string() + "'";
}

// `fm <args>` started in the background (stdout and stderr to files in `dir`); its pid.
pid_t fm_start(const fs::path& dir, const std::string& args) {
  const std::string cmd = "exec " + std::string(std::getenv("FM_BIN")) + " " + args + " >'" + (dir / "bg.out").string() +
                          "' 2>'" + (dir / "bg.err").string() + "'";
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int exit_code(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Waits (up to 60 s) until the run's loss.csv has `rows` lines: training is under way.
bool wait_for_rows(const fs::path& loss_csv, size_t rows) {
  for (int i = 0; i < 6000; ++i) {
    if (rows_without_seconds(loss_csv).size() >= rows) return true;
    usleep(10000);
  }
  return false;
}

// A run long enough to be interrupted while it trains (seconds at most).
const std::string kLong = "train --data checkerboard --batch 256 --width 32 --depth 3 --eval-n 0 --ckpt-every 0 --log-every 5 --steps 30000";

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("a file-size limit mid-run: one line naming the file, no temporary left, the previous checkpoint intact") {
  if (!have_fm()) return;
  fm::testing::TempDir tmp("fm_test_train_cli");
  const fs::path run = tmp.dir / "run";
  REQUIRE(fm_run(tmp.dir, train_to(run, 10)).rc == 0);
  const std::string before = file_bytes(run / "model.safetensors");
  // ulimit -f counts 1 KiB blocks here (bash and dash): the 20 KiB train state no longer fits.
  const std::string cmd = "ulimit -f 12; exec " + std::string(std::getenv("FM_BIN")) + " train --resume '" + run.string() +
                          "' --steps 20 2>'" + (tmp.dir / "err.txt").string() + "'";
  const int status = std::system(("sh -c \"" + cmd + "\"").c_str());
  CHECK((WIFEXITED(status) ? WEXITSTATUS(status) : -1) == 1);
  const std::string err = file_bytes(tmp.dir / "err.txt");
  INFO("stderr: ", err);
  CHECK(err.find("train_state.safetensors.tmp failed: File too large; training stopped. The last good checkpoint") != std::string::npos);
  CHECK(err.find("(step 10") != std::string::npos);
  CHECK(err.find("lower --lr") == std::string::npos);
  CHECK(!fs::exists(run / "train_state.safetensors.tmp"));
  CHECK(!fs::exists(run / "model.safetensors.tmp"));
  CHECK(file_bytes(run / "model.safetensors") == before);
  CHECK(fm_run(tmp.dir, "train --resume '" + run.string() + "' --steps 20").rc == 0);  // and it resumes
}

TEST_CASE("a file-size limit hit by a loss.csv row: one line naming loss.csv, and no torn row left") {
  if (!have_fm()) return;
  fm::testing::TempDir tmp("fm_test_train_cli");
  const fs::path run = tmp.dir / "run";
  // One block (512 bytes with this shell's ulimit, 1 KiB with some) holds the header and 15 to 30
  // rows; no checkpoint comes before the end.
  const std::string cmd = "ulimit -f 1; exec " + std::string(std::getenv("FM_BIN")) +
                          " train --data checkerboard --batch 64 --width 16 --depth 2 --eval-n 0 --ckpt-every 0 --log-every 1 "
                          "--steps 300 --out '" + run.string() + "' 2>'" + (tmp.dir / "err.txt").string() + "'";
  const int status = std::system(("sh -c \"" + cmd + "\"").c_str());
  CHECK((WIFEXITED(status) ? WEXITSTATUS(status) : -1) == 1);
  const std::string err = file_bytes(tmp.dir / "err.txt");
  INFO("stderr: ", err);
  CHECK(err.find((run / "loss.csv").string() + ": write failed: File too large; training stopped.") != std::string::npos);
  const std::string csv = file_bytes(run / "loss.csv");
  CHECK(csv.size() <= 1024);
  CHECK(csv.size() > 400);  // it stopped at the limit, not before
  REQUIRE(!csv.empty());
  CHECK(csv.back() == '\n');  // whole rows only
  const std::vector<std::string> rows = rows_without_seconds(run / "loss.csv");
  for (size_t i = 1; i < rows.size(); ++i) CHECK(rows[i].rfind(std::to_string(i) + ",", 0) == 0);  // rows 1, 2, ...
}

TEST_CASE("an output directory that cannot be made or written: one line naming it, nothing left behind") {
  if (!have_fm()) return;
  fm::testing::TempDir tmp("fm_test_train_cli");
  std::ofstream(tmp.dir / "file") << "not a directory";
  Run r = fm_run(tmp.dir, train_to(tmp.dir / "file" / "run", 10));
  CHECK(r.rc == 1);
  CHECK(r.err == "fm train: error: " + (tmp.dir / "file" / "run").string() + ": cannot create the run directory: Not a directory\n");
  CHECK(file_bytes(tmp.dir / "file") == "not a directory");
  // A directory this user may not write to (root may write anywhere, so only as another user).
  if (::geteuid() != 0) {
    const fs::path ro = tmp.dir / "ro";
    fs::create_directories(ro);
    fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
    r = fm_run(tmp.dir, train_to(ro, 10));
    fs::permissions(ro, fs::perms::owner_all);
    CHECK(r.rc == 1);
    CHECK(r.err.find(": cannot write: Permission denied") != std::string::npos);
    CHECK(fs::is_empty(ro));
  }
}

TEST_CASE("SIGINT checkpoints and exits 130; --resume then ends exactly as a run never interrupted") {
  if (!have_fm()) return;
  fm::testing::TempDir tmp("fm_test_train_cli");
  const fs::path run = tmp.dir / "run", ref = tmp.dir / "ref";
  const pid_t pid = fm_start(tmp.dir, kLong + " --out '" + run.string() + "'");
  REQUIRE(wait_for_rows(run / "loss.csv", 20));
  kill(pid, SIGINT);
  REQUIRE(exit_code(pid) == 130);
  const std::string err = file_bytes(tmp.dir / "bg.err");
  INFO("stderr: ", err);
  const size_t at = err.find("fm train: interrupted by SIGINT at step ");
  REQUIRE(at != std::string::npos);
  const long long step = std::atoll(err.c_str() + at + 40);
  CHECK(step > 0);
  CHECK(step < 30000);
  CHECK(err.find("continue with fm train --resume " + run.string()) != std::string::npos);
  CHECK(load_checkpoint((run / "model.safetensors").string()).step == step);
  REQUIRE(fm_run(tmp.dir, "train --resume '" + run.string() + "'").rc == 0);
  REQUIRE(fm_run(tmp.dir, kLong + " --out '" + ref.string() + "'").rc == 0);
  CHECK(file_bytes(run / "model.safetensors") == file_bytes(ref / "model.safetensors"));
  CHECK(rows_without_seconds(run / "loss.csv") == rows_without_seconds(ref / "loss.csv"));
}

TEST_CASE("SIGTERM checkpoints and exits 143; a second SIGINT exits at once, leaving only whole files") {
  if (!have_fm()) return;
  fm::testing::TempDir tmp("fm_test_train_cli");
  const fs::path run = tmp.dir / "run";
  pid_t pid = fm_start(tmp.dir, kLong + " --out '" + run.string() + "'");
  REQUIRE(wait_for_rows(run / "loss.csv", 20));
  kill(pid, SIGTERM);
  CHECK(exit_code(pid) == 143);
  CHECK(file_bytes(tmp.dir / "bg.err").find("interrupted by SIGTERM at step") != std::string::npos);
  const int64_t step = load_checkpoint((run / "model.safetensors").string()).step;
  CHECK(step > 0);

  const fs::path twice = tmp.dir / "twice";
  pid = fm_start(tmp.dir, kLong + " --ckpt-every 100 --out '" + twice.string() + "'");
  REQUIRE(wait_for_rows(twice / "loss.csv", 20));
  kill(pid, SIGINT);
  kill(pid, SIGINT);
  CHECK(exit_code(pid) == 130);
  // Whatever the second signal cut short, the files under their final names are whole.
  if (fs::exists(twice / "model.safetensors")) CHECK_NOTHROW(load_checkpoint((twice / "model.safetensors").string()));
  if (fs::exists(twice / "train_state.safetensors")) CHECK_NOTHROW(load_safetensors((twice / "train_state.safetensors").string()));
}

TEST_CASE("fm train writes the checkpoint, the train state and one loss.csv row per --log-every steps") {
  if (!have_fm()) return;
  fm::testing::TempDir tmp("fm_test_train_cli");
  const fs::path run = tmp.dir / "run";
  Run r = fm_run(tmp.dir, train_to(run, 30) + " --json");
  INFO("stderr: ", r.err);
  REQUIRE(r.rc == 0);
  CHECK(fs::exists(run / "train_state.safetensors"));
  LoadedModel m = load_checkpoint((run / "model.safetensors").string());
  CHECK(m.step == 30);
  CHECK(m.model->num_parameters() == 1250);  // MLP 32 x 3 on 2-D data
  std::vector<std::string> rows = rows_without_seconds(run / "loss.csv");
  REQUIRE(rows.size() == 7);  // the header and steps 5, 10, ..., 30
  CHECK(rows[0] == "step,loss,lr,grad_norm");
  for (int i = 1; i <= 6; ++i) CHECK(rows[i].rfind(std::to_string(5 * i) + ",", 0) == 0);
  Json j = parse_json(r.out.substr(0, r.out.find('\n')));
  CHECK(j.find("steps")->as_number() == 30);
  CHECK(j.find("nll") == nullptr);  // --eval-n 0
  // loss.svg beside loss.csv, drawn at the last checkpoint: one point per row.
  const std::string svg = file_bytes(run / "loss.svg");
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(loss_points(svg) == 6);
  CHECK(!fs::exists(run / "loss.svg.tmp"));
  CHECK(r.err.find("wrote " + run.string() + "/loss.svg") != std::string::npos);

  // fm nll --out --hist on the run's model: the per-sample values and their histogram in nats.
  const fs::path hist = tmp.dir / "nll.svg", logp = tmp.dir / "logp.npy";
  Run nll = fm_run(tmp.dir, "nll --ckpt '" + (run / "model.safetensors").string() + "' --n 64 --out '" + logp.string() +
                                "' --hist '" + hist.string() + "' --rtol 1e-3 --atol 1e-3");
  INFO("nll stderr: ", nll.err);
  REQUIRE(nll.rc == 0);
  CHECK(fs::exists(logp));
  const std::string h = file_bytes(hist);
  CHECK(h.find(">NLL (nats)</text>") != std::string::npos);
  CHECK(h.find(">64 values, bins of ") != std::string::npos);
  CHECK(h.find(">mean ") != std::string::npos);
}

TEST_CASE("fm train --path takes the affine schedulers, records the path, and refuses a bad one in one line") {
  if (!have_fm()) return;
  fm::testing::TempDir tmp("fm_test_train_cli");
  const fs::path run = tmp.dir / "run";
  Run r = fm_run(tmp.dir, train_to(run, 10) + " --path poly:2");
  INFO("stderr: ", r.err);
  REQUIRE(r.rc == 0);
  LoadedModel m = load_checkpoint((run / "model.safetensors").string());
  CHECK(m.metadata.at("path") == "poly:2");
  Run s = fm_run(tmp.dir, "sample --ckpt '" + (run / "model.safetensors").string() + "' --n 16 --out '" +
                              (tmp.dir / "x.npy").string() + "'");
  CHECK(s.rc == 0);
  // Along another path (a scheduler change): the same samples, up to the solver's tolerance.
  Run c = fm_run(tmp.dir, "sample --ckpt '" + (run / "model.safetensors").string() + "' --n 16 --path cosine --out '" +
                              (tmp.dir / "xc.npy").string() + "'");
  INFO("stderr: ", c.err);
  REQUIRE(c.rc == 0);
  CHECK(c.err.find("along cosine") != std::string::npos);
  const std::vector<float> x = load_npy((tmp.dir / "x.npy").string()).to_vector(),
                           xc = load_npy((tmp.dir / "xc.npy").string()).to_vector();
  REQUIRE(x.size() == xc.size());
  float worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(x[i] - xc[i]));
  CHECK(worst < 5e-3);
  Run vp = fm_run(tmp.dir, "sample --ckpt '" + (run / "model.safetensors").string() + "' --n 16 --path vp --out '" +
                               (tmp.dir / "xv.npy").string() + "'");
  CHECK(vp.rc == 1);
  CHECK(vp.err.find("does not start at the standard normal") != std::string::npos);
  for (const char* bad : {"poly:0.5", "poly:", "cos"}) {
    Run b = fm_run(tmp.dir, train_to(tmp.dir / "bad", 10) + " --path " + bad);
    CHECK(b.rc == 2);
    CHECK(b.err == "fm train: --path must be condot, vp, ve, cosine, poly:N with a number N >= 1, or linear-vp (got '" +
                       std::string(bad) + "') (fm train --help)\n");
    CHECK(!fs::exists(tmp.dir / "bad"));
  }
}

TEST_CASE("fm train --t-dist: stored in the train state when not uniform, resumed from it, refused when bad") {
  if (!have_fm()) return;
  fm::testing::TempDir tmp("fm_test_train_cli");
  const fs::path plain = tmp.dir / "plain", skewed = tmp.dir / "skewed";
  REQUIRE(fm_run(tmp.dir, train_to(plain, 10)).rc == 0);
  CHECK(load_safetensors((plain / "train_state.safetensors").string()).metadata.count("t_dist") == 0);
  Run r = fm_run(tmp.dir, train_to(skewed, 10) + " --t-dist logit-normal:1.2,1.2");
  INFO("stderr: ", r.err);
  REQUIRE(r.rc == 0);
  CHECK(load_safetensors((skewed / "train_state.safetensors").string()).metadata.at("t_dist") == "logit-normal:1.2,1.2");
  // Other times, other weights (the same seed otherwise).
  CHECK(file_bytes(plain / "model.safetensors") != file_bytes(skewed / "model.safetensors"));
  Run more = fm_run(tmp.dir, "train --resume '" + skewed.string() + "' --steps 20");
  CHECK(more.rc == 0);
  CHECK(load_safetensors((skewed / "train_state.safetensors").string()).metadata.at("t_dist") == "logit-normal:1.2,1.2");
  Run bad = fm_run(tmp.dir, train_to(tmp.dir / "bad", 10) + " --t-dist logit-normal:1,0");
  CHECK(bad.rc == 2);
  CHECK(bad.err == "fm train: --t-dist must be uniform, logit-normal or logit-normal:M,S with numbers M and S > 0 "
                   "(got 'logit-normal:1,0') (fm train --help)\n");
}

TEST_CASE("fm train --resume continues loss.csv and the model exactly as an uninterrupted run") {
  if (!have_fm()) return;
  fm::testing::TempDir tmp("fm_test_train_cli");
  const fs::path whole = tmp.dir / "whole", split = tmp.dir / "split";
  REQUIRE(fm_run(tmp.dir, train_to(whole, 40)).rc == 0);
  REQUIRE(fm_run(tmp.dir, train_to(split, 20)).rc == 0);
  // As if the process had logged past its last checkpoint and died: the resume drops that row.
  std::ofstream(split / "loss.csv", std::ios::app) << "25,9.999999,0.0005,9.9999,0.100\n";
  Run r = fm_run(tmp.dir, "train --resume '" + split.string() + "' --steps 40");
  INFO("stderr: ", r.err);
  REQUIRE(r.rc == 0);
  CHECK(r.err.find("resuming at step 20") != std::string::npos);
  std::vector<std::string> rows = rows_without_seconds(split / "loss.csv");
  CHECK(rows.size() == 9);  // the header and steps 5, ..., 40
  CHECK(rows == rows_without_seconds(whole / "loss.csv"));
  CHECK(loss_points(file_bytes(split / "loss.svg")) == 8);  // the plot covers the whole run, not this session
  CHECK(file_bytes(split / "model.safetensors") == file_bytes(whole / "model.safetensors"));
}

TEST_CASE("fm train --resume refuses a changed run option with one line and leaves the run as it was") {
  if (!have_fm()) return;
  fm::testing::TempDir tmp("fm_test_train_cli");
  const fs::path run = tmp.dir / "run";
  REQUIRE(fm_run(tmp.dir, train_to(run, 20)).rc == 0);
  const std::map<std::string, std::string> before = dir_bytes(run);
  const std::string resume = "train --resume '" + run.string() + "' --steps 40 ";
  for (const char* option : {"--lr 1e-3", "--batch 128", "--width 64"}) {
    CAPTURE(option);
    Run r = fm_run(tmp.dir, resume + option);
    CHECK(r.rc != 0);
    CHECK(r.out.empty());
    const std::string name = std::string(option).substr(0, std::string(option).find(' '));
    CHECK(r.err.find("fm train: " + name + " comes from the checkpoint in " + run.string()) == 0);
    CHECK(r.err.find('\n') == r.err.size() - 1);  // exactly one line
    CHECK(dir_bytes(run) == before);
  }
  Run shorter = fm_run(tmp.dir, "train --resume '" + run.string() + "' --steps 10");
  CHECK(shorter.rc != 0);
  CHECK(shorter.err.find("fm train: --steps 10 is below the run's 20") == 0);
  CHECK(dir_bytes(run) == before);
}

TEST_CASE("fm train on a written .npy of 8 RGB images (NHWC, inferred) with the tiny preset, then a resume") {
  if (!have_fm()) return;
  fm::testing::TempDir tmp("fm_test_train_cli");
  // 8 images 8 x 8 x 3 as uint8 NHWC, in a hand-written .npy v1.0 (the header padded to 64 bytes).
  std::string header = "{'descr': '|u1', 'fortran_order': False, 'shape': (8, 8, 8, 3), }";
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string file = std::string("\x93NUMPY\x01\x00", 8) + char(header.size()) + char(0) + header;
  for (int i = 0; i < 8 * 8 * 8 * 3; ++i) file += char((i * 37) % 256);
  std::ofstream((tmp.dir / "imgs.npy").string(), std::ios::binary) << file;
  const fs::path run = tmp.dir / "run";
  const std::string args = "train --data '" + (tmp.dir / "imgs.npy").string() +
                           "' --preset tiny --channels 8 --batch 4 --sample-every 0 --ckpt-every 0 --log-every 1 --out '" +
                           run.string() + "'";
  Run r = fm_run(tmp.dir, args + " --steps 3");
  INFO("stderr: ", r.err);
  REQUIRE(r.rc == 0);
  CHECK(r.err.find("3x8x8 images (NHWC, inferred), U-Net ch 8, mult 1,2, num-res 1, attn-res none") != std::string::npos);
  CHECK(rows_without_seconds(run / "loss.csv").size() == 4);
  LoadedModel m = load_checkpoint((run / "model.safetensors").string());
  CHECK(m.step == 3);
  // The layout was inferred, not stored: a resume reads the file the same way.
  r = fm_run(tmp.dir, "train --resume '" + run.string() + "' --steps 4");
  REQUIRE(r.rc == 0);
  CHECK(load_checkpoint((run / "model.safetensors").string()).step == 4);
  // (--channels 8 above overrode the preset's 16, as the header shows.) An unknown preset is one line.
  r = fm_run(tmp.dir, args + " --steps 1 --preset huge");
  CHECK(r.rc != 0);
  CHECK(r.err.find("--preset: unknown U-Net preset 'huge'") != std::string::npos);
}

}  // TEST_SUITE
