// tests/test_mpi.cpp: data-parallel runs of the real `fm` under `mpirun -np 2` against one process
// (suite 'mpi'). Two ranks must train the run that one process trains with the same --batch: the
// same loss.csv and the same weights, Adam moments and EMA within 1e-5 (the all-reduce sums in a
// fixed order, but one process sums the batch in another), and the same stream positions exactly;
// a second two-rank run repeats the first bit for bit. Also: a run resumed under a different number of processes continues the same trajectory; a
// batch that does not divide is refused in one line before anything is written; a diverged run
// stops every rank at the same step with one error line; rank 0 alone writes; fm nll (points and
// bits/dim of images) and fm sample give the one-process numbers bit for bit; and a rank that dies ends
// the run (with an error, within a bounded time) and leaves the last checkpoint intact; a rank
// killed at its worst moment (a file half written, between steps) resumes to the uninterrupted end;
// and SIGTERM to one rank stops both at one step with a checkpoint, from which they resume.
//
// The suite exits 77 (skipped) where fm was built without MPI or mpirun is not installed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <thread>

#include "fm_config.h"
#include "nn/checkpoint.h"
#include "tensor/io/npy.h"
#include "tensor/io/safetensors.h"
#include "tests/run_util.h"
#include "tests/test_util.h"

using namespace fm;
using fm::testing::file_bytes;
using fm::testing::Run;
namespace fs = std::filesystem;

namespace {

// mpirun's flags: two slots on any machine, and root allowed where the tests run as root.
std::string mpirun(int np) {
  std::string cmd = "mpirun --oversubscribe -np " + std::to_string(np);
  if (::geteuid() == 0) cmd += " --allow-run-as-root";
  return cmd + " ";
}

// `fm <args>`, under `mpirun -np <np>` when np > 0.
Run fm_run(const fs::path& dir, const std::string& args, int np = 0) {
  return fm::testing::fm_run(dir, args, np > 0 ? mpirun(np) : std::string());
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// One process and N agree within 1e-5 (the batch is summed in another order).
void check_same_losses(const fs::path& a, const fs::path& b) { fm::testing::check_same_losses(a, b, 1e-5); }
void check_same_state(const fs::path& a, const fs::path& b) { fm::testing::check_same_state(a, b, 1e-5); }

// Trains `args` in one process (into dir/<name>1) and on two ranks (dir/<name>2): the same run.
void check_two_ranks_equal_one(const fs::path& dir, const std::string& args, const std::string& name) {
  const fs::path one = dir / (name + "1"), two = dir / (name + "2");
  Run a = fm_run(dir, args + " --out '" + one.string() + "'");
  INFO("one process: ", a.err);
  REQUIRE(a.rc == 0);
  Run b = fm_run(dir, args + " --out '" + two.string() + "'", 2);
  INFO("two ranks: ", b.err);
  REQUIRE(b.rc == 0);
  check_same_losses(one / "loss.csv", two / "loss.csv");
  check_same_state(one, two);
}

const std::string kMlpFlags = "train --data 8gaussians --width 32 --depth 3 --eval-n 0 --log-every 1";
const std::string kMlp = kMlpFlags + " --batch 256 --ckpt-every 50";

// 40 random 1 x 8 x 8 images with integer pixels, as a .npy file.
fs::path write_images(const fs::path& dir) {
  Tensor px = fm::testing::randu({40, 1, 8, 8}, 11, 0.0f, 256.0f);
  std::vector<float> v = px.to_vector();
  for (float& x : v) x = std::floor(x);
  const fs::path p = dir / "images.npy";
  save_npy(p.string(), Tensor::from(v, px.shape()));
  return p;
}

// A tiny U-Net with dropout and flips, so that every random stream of a step is shared.
std::string unet_args(const fs::path& images) {
  return "train --data '" + images.string() + "' --channels 8 --mult 1,2 --num-res 1 --attn-res 4 --groups 4 --dropout 0.1 "
         "--hflip --batch 8 --steps 12 --warmup 2 --lr 1e-3 --log-every 1 --ckpt-every 6 --sample-every 0";
}

}  // namespace

TEST_CASE("two ranks train the MLP run of one process; rank 0 alone writes") {
  fm::testing::TempDir tmp("fm_test_mpi");
  const fs::path one = tmp.dir / "one", two = tmp.dir / "two";
  Run a = fm_run(tmp.dir, kMlp + " --steps 100 --out '" + one.string() + "'");
  INFO("one process: ", a.err);
  REQUIRE(a.rc == 0);
  Run b = fm_run(tmp.dir, kMlp + " --steps 100 --json --out '" + two.string() + "'", 2);
  INFO("two ranks: ", b.err);
  REQUIRE(b.rc == 0);
  check_same_losses(one / "loss.csv", two / "loss.csv");
  check_same_state(one, two);
  // At a fixed N the all-reduce adds in rank order: a second two-rank run repeats the first bit for bit.
  const fs::path again = tmp.dir / "again";
  REQUIRE(fm_run(tmp.dir, kMlp + " --steps 100 --out '" + again.string() + "'", 2).rc == 0);
  const SafetensorsFile s1 = load_safetensors((two / "train_state.safetensors").string());
  const SafetensorsFile s2 = load_safetensors((again / "train_state.safetensors").string());
  REQUIRE(s1.tensors.size() == s2.tensors.size());
  for (const NamedTensor& t : s1.tensors) {
    CAPTURE(t.name);
    CHECK(t.tensor.to_vector() == s2.find(t.name)->to_vector());
  }
  // One header, one summary and one JSON line: rank 1 printed nothing and wrote nothing else.
  CHECK(count(b.err, "fm train: 8gaussians") == 1);
  CHECK(count(b.err, "data parallel: 2 processes, 128 samples each per step") == 1);
  CHECK(count(b.err, "wrote " + two.string() + "/model.safetensors") == 1);
  CHECK(count(b.out, "{\"loss\"") == 1);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(two)) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  CHECK(files == std::vector<std::string>{"loss.csv", "loss.svg", "model.safetensors", "samples.png", "train_state.safetensors"});
}

TEST_CASE("two ranks train the U-Net run of one process (dropout, flips, images from a file)") {
  fm::testing::TempDir tmp("fm_test_mpi");
  check_two_ranks_equal_one(tmp.dir, unet_args(write_images(tmp.dir)), "unet");
}

TEST_CASE("OT coupling: two ranks pair the global batch as one process does (points; images within each class)") {
  fm::testing::TempDir tmp("fm_test_mpi");
  check_two_ranks_equal_one(tmp.dir, kMlp + " --coupling ot --steps 30", "points");
  const fs::path images = write_images(tmp.dir), labels = tmp.dir / "labels.npy";
  std::vector<int64_t> y;
  for (int i = 0; i < 40; ++i) y.push_back(i % 3);
  save_npy_int64(labels.string(), y);
  check_two_ranks_equal_one(tmp.dir, unet_args(images) + " --conditional --labels '" + labels.string() + "' --coupling ot",
                            "conditional");
}

TEST_CASE("a run started on two ranks and resumed on one continues the same trajectory, and back") {
  fm::testing::TempDir tmp("fm_test_mpi");
  const fs::path whole = tmp.dir / "whole", split = tmp.dir / "split", back = tmp.dir / "back";
  const std::string mlp = kMlp + " --schedule constant --warmup 10";  // so extending the run changes no step
  REQUIRE(fm_run(tmp.dir, mlp + " --steps 60 --out '" + whole.string() + "'").rc == 0);
  Run first = fm_run(tmp.dir, mlp + " --steps 30 --out '" + split.string() + "'", 2);
  INFO("two ranks: ", first.err);
  REQUIRE(first.rc == 0);
  Run rest = fm_run(tmp.dir, "train --resume '" + split.string() + "' --steps 60");
  INFO("resumed on one: ", rest.err);
  REQUIRE(rest.rc == 0);
  check_same_losses(whole / "loss.csv", split / "loss.csv");
  check_same_state(whole, split);
  // One process first, two ranks after.
  REQUIRE(fm_run(tmp.dir, mlp + " --steps 30 --out '" + back.string() + "'").rc == 0);
  Run more = fm_run(tmp.dir, "train --resume '" + back.string() + "' --steps 60", 2);
  INFO("resumed on two: ", more.err);
  REQUIRE(more.rc == 0);
  CHECK(count(more.err, "resuming at step 30") == 1);
  check_same_losses(whole / "loss.csv", back / "loss.csv");
  check_same_state(whole, back);
}

TEST_CASE("a batch that does not divide among the ranks is refused in one line, before anything is written") {
  fm::testing::TempDir tmp("fm_test_mpi");
  const fs::path run = tmp.dir / "run";
  Run r = fm_run(tmp.dir, kMlpFlags + " --steps 10 --batch 255 --out '" + run.string() + "'", 2);
  INFO("stderr: ", r.err);
  CHECK(r.rc != 0);
  CHECK(count(r.err, "fm train: --batch 255 does not divide among 2 processes") == 1);
  CHECK(!fs::exists(run));
}

TEST_CASE("a diverged run stops every rank at the same step, reported once") {
  fm::testing::TempDir tmp("fm_test_mpi");
  const fs::path run = tmp.dir / "run";
  // The all-reduced loss is infinite on both ranks at once: a collective error, not an abort.
  Run r = fm_run(tmp.dir, kMlp + " --steps 50 --lr 1e9 --clip 0 --warmup 0 --out '" + run.string() + "'", 2);
  INFO("stderr: ", r.err);
  CHECK(r.rc == 1);
  CHECK(count(r.err, "fm train: error: the loss is") == 1);
  CHECK(count(r.err, "rank 1 of 2") == 0);
  CHECK(count(r.err, "MPI_ABORT") == 0);
}

TEST_CASE("fm nll and fm sample on two ranks give the one-process numbers bit for bit") {
  fm::testing::TempDir tmp("fm_test_mpi");
  const fs::path run = tmp.dir / "run";
  REQUIRE(fm_run(tmp.dir, kMlp + " --steps 20 --out '" + run.string() + "'").rc == 0);
  const std::string ckpt = "--ckpt '" + (run / "model.safetensors").string() + "'";
  // 5 chunks dealt 3 + 2, with Hutchinson probes: the stream must skip the other rank's chunks.
  const std::string nll = "nll " + ckpt + " --n 450 --batch 100 --divergence hutchinson --probes 2 --rtol 1e-4 --atol 1e-4";
  for (int np : {0, 2}) {
    const std::string tag = np ? "two" : "one";
    Run r = fm_run(tmp.dir, nll + " --out '" + (tmp.dir / (tag + "_nll.npy")).string() + "'", np);
    INFO(tag, ": ", r.err);
    REQUIRE(r.rc == 0);
    CHECK(count(r.out, "NLL ") == 1);
    Run s = fm_run(tmp.dir, "sample " + ckpt + " --n 300 --batch 70 --logp --divergence hutchinson --rtol 1e-4 --atol 1e-4 --out '" +
                                (tmp.dir / (tag + "_x.npy")).string() + "'", np);
    INFO(tag, " sample: ", s.err);
    REQUIRE(s.rc == 0);
  }
  for (const char* f : {"_nll.npy", "_x.npy", "_x.logp.npy"}) {
    CAPTURE(f);
    const std::string a = file_bytes(tmp.dir / (std::string("one") + f)), b = file_bytes(tmp.dir / (std::string("two") + f));
    CHECK(!a.empty());
    CHECK(a == b);
  }
}

TEST_CASE("bits/dim of images on two ranks is the one-process result bit for bit (dequantisation and probes skipped)") {
  fm::testing::TempDir tmp("fm_test_mpi");
  const fs::path images = write_images(tmp.dir), run = tmp.dir / "run";
  REQUIRE(fm_run(tmp.dir, unet_args(images) + " --out '" + run.string() + "'").rc == 0);
  // 2 chunks of 2 images, 2 dequantisation draws each: rank 1 must skip chunk 0's noise and probes.
  const std::string nll = "nll --ckpt '" + (run / "model.safetensors").string() + "' --data '" + images.string() +
                          "' --n 4 --batch 2 --dequant 2 --rtol 1e-3 --atol 1e-3";
  for (int np : {0, 2}) {
    Run r = fm_run(tmp.dir, nll + " --out '" + (tmp.dir / (np ? "two.npy" : "one.npy")).string() + "'", np);
    INFO(np, ": ", r.err);
    REQUIRE(r.rc == 0);
    CHECK(count(r.out, "bpd ") == 1);
  }
  const std::string a = file_bytes(tmp.dir / "one.npy"), b = file_bytes(tmp.dir / "two.npy");
  CHECK(!a.empty());
  CHECK(a == b);
}

TEST_CASE("a rank killed at its worst moment ends the run; --resume on two ranks ends as one process never interrupted") {
  // The kill comes from the rank itself (FM_CRASH_AT and FM_CRASH_RANK, tensor/io/crash_point.h;
  // the single-process cases are tests/test_kill.cpp): rank 0 with the train state half written or
  // a loss.csv row torn, rank 1 between two steps (rank 0 then waits in the all-reduce).
  fm::testing::TempDir tmp("fm_test_mpi");
  const std::string args = kMlpFlags + " --batch 256 --ckpt-every 10 --steps 40";
  const fs::path ref = tmp.dir / "ref";
  REQUIRE(fm_run(tmp.dir, args + " --out '" + ref.string() + "'").rc == 0);
  struct Case {
    const char* point;
    int rank;
    long long resume_at;
  };
  for (const Case& c : {Case{"train_state.safetensors:2", 0, 10}, Case{"loss.csv:25", 0, 20}, Case{"step:17", 1, 10}}) {
    CAPTURE(c.point);
    CAPTURE(c.rank);
    const fs::path run = tmp.dir / ("run_" + std::to_string(c.rank) + "_" + std::string(c.point).substr(0, 4));
    const std::string env = std::string("FM_CRASH_AT=") + c.point + " FM_CRASH_RANK=" + std::to_string(c.rank) + " timeout 120 ";
    Run killed = fm::testing::run_shell(tmp.dir, env + mpirun(2) + "-x FM_CRASH_AT -x FM_CRASH_RANK " + std::getenv("FM_BIN") + " " +
                                                     args + " --out '" + run.string() + "'");
    INFO("killed run's stderr: ", killed.err);
    CHECK(killed.rc != 0);
    CHECK(killed.rc != 124);  // mpirun ended the run itself, not the timeout
    CHECK_NOTHROW(load_checkpoint((run / "model.safetensors").string()));
    Run resumed = fm_run(tmp.dir, "train --resume '" + run.string() + "'", 2);
    INFO("resume's stderr: ", resumed.err);
    REQUIRE(resumed.rc == 0);
    CHECK(resumed.err.find("resuming at step " + std::to_string(c.resume_at) + "\n") != std::string::npos);
    check_same_losses(ref / "loss.csv", run / "loss.csv");
    check_same_state(ref, run);
  }
}

// An `mpirun -np 2 fm <args>` in the background, with a hard limit (a hang shows up as timeout's
// 124); its ranks are found by a tag in their environment.
struct BackgroundRun {
  using Clock = std::chrono::steady_clock;
  fs::path dir, rc_file;
  std::string tag;

  BackgroundRun(const fs::path& d, const std::string& args) : dir(d), rc_file(d / "rc.txt") {
    tag = "fm_test_mpi_" + std::to_string(::getpid()) + "_" + d.filename().string();
    const std::string cmd = "(FM_TEST_TAG=" + tag + " timeout 120 " + mpirun(2) + "-x FM_TEST_TAG " + std::getenv("FM_BIN") + " " + args +
                            " >'" + (dir / "out.txt").string() + "' 2>'" + (dir / "err.txt").string() + "'; echo $? >'" +
                            rc_file.string() + "') &";
    REQUIRE(std::system(cmd.c_str()) == 0);
  }
  static bool wait_for(const std::function<bool()>& done, double seconds) {
    const auto t0 = Clock::now();
    while (!done()) {
      if (std::chrono::duration<double>(Clock::now() - t0).count() > seconds) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  }
  // The training process of rank r: its environment holds our tag and OMPI_COMM_WORLD_RANK=r.
  pid_t rank_pid(int r) const {
    for (const auto& e : fs::directory_iterator("/proc")) {
      const std::string env = file_bytes(e.path() / "environ");
      if (env.find("FM_TEST_TAG=" + tag) != std::string::npos &&
          env.find("OMPI_COMM_WORLD_RANK=" + std::to_string(r) + '\0') != std::string::npos &&
          file_bytes(e.path() / "cmdline").find("train") != std::string::npos)
        return pid_t(std::stol(e.path().filename().string()));
    }
    return 0;
  }
  // mpirun's exit status once it has ended (within `seconds`), else -1.
  int exit_code(double seconds) const {
    if (!wait_for([&] { return fs::exists(rc_file) && !file_bytes(rc_file).empty(); }, seconds)) return -1;
    return std::stoi(file_bytes(rc_file));
  }
  std::string err() const { return file_bytes(dir / "err.txt"); }
};

TEST_CASE("a rank that dies ends the run with an error within a bounded time; the checkpoint is intact") {
  fm::testing::TempDir tmp("fm_test_mpi");
  const fs::path run = tmp.dir / "run";
  BackgroundRun bg(tmp.dir, kMlpFlags + " --batch 256 --steps 1000000 --ckpt-every 20 --out '" + run.string() + "'");
  REQUIRE(BackgroundRun::wait_for([&] { return fs::exists(run / "model.safetensors"); }, 60));
  const pid_t victim = bg.rank_pid(1);
  REQUIRE(victim > 0);
  const auto killed = BackgroundRun::Clock::now();
  REQUIRE(::kill(victim, SIGKILL) == 0);
  const int rc = bg.exit_code(110);
  const double seconds = std::chrono::duration<double>(BackgroundRun::Clock::now() - killed).count();
  INFO("mpirun's stderr: ", bg.err());
  CHECK(rc != -1);
  CHECK(rc != 0);
  CHECK(rc != 124);  // not the timeout: mpirun ended the run itself
  CHECK(seconds < 60);
  // The last checkpoint (both files, written atomically) is intact.
  LoadedModel m = load_checkpoint((run / "model.safetensors").string());
  CHECK(m.step % 20 == 0);
  CHECK(m.step >= 20);
  CHECK(load_safetensors((run / "train_state.safetensors").string()).metadata.count("rng.data") == 1);
}

TEST_CASE("SIGTERM to one rank stops every rank at one step with a checkpoint; a two-rank --resume ends as one process") {
  // The ranks agree on the stop through a 1-float all-reduce per step (flow/run.cpp), so the rank
  // that was not signalled stops at the same step, and rank 0 writes the checkpoint there.
  fm::testing::TempDir tmp("fm_test_mpi");
  const std::string args = kMlpFlags + " --batch 256 --steps 20000 --ckpt-every 0";
  const fs::path run = tmp.dir / "run", ref = tmp.dir / "ref";
  BackgroundRun bg(tmp.dir, args + " --out '" + run.string() + "'");
  REQUIRE(BackgroundRun::wait_for([&] { return fm::testing::loss_rows(run / "loss.csv").size() >= 50; }, 60));
  const pid_t rank1 = bg.rank_pid(1);
  REQUIRE(rank1 > 0);
  REQUIRE(::kill(rank1, SIGTERM) == 0);
  const int rc = bg.exit_code(110);
  const std::string err = bg.err();
  INFO("mpirun's stderr: ", err);
  CHECK(rc != 0);
  CHECK(rc != 124);
  const size_t at = err.find("fm train: interrupted by SIGTERM at step ");
  REQUIRE(at != std::string::npos);
  CHECK(count(err, "interrupted by SIGTERM") == 1);  // said once, by rank 0
  const long long step = std::atoll(err.c_str() + at + 41);
  CHECK(step >= 50);
  CHECK(step < 20000);
  CHECK(load_checkpoint((run / "model.safetensors").string()).step == step);
  Run resumed = fm_run(tmp.dir, "train --resume '" + run.string() + "'", 2);
  INFO("resume's stderr: ", resumed.err);
  REQUIRE(resumed.rc == 0);
  CHECK(resumed.err.find("resuming at step " + std::to_string(step) + "\n") != std::string::npos);
  REQUIRE(fm_run(tmp.dir, args + " --out '" + ref.string() + "'").rc == 0);
  check_same_losses(ref / "loss.csv", run / "loss.csv");
  check_same_state(ref, run);
}

int main(int argc, char** argv) {
  if (!FM_HAVE_MPI) {
    std::printf("skipped: fm was built without MPI (install libopenmpi-dev and reconfigure with -Dmpi=enabled)\n");
    return 77;
  }
  if (std::system("command -v mpirun >/dev/null 2>&1") != 0) {
    std::printf("skipped: mpirun not found (apt-get install openmpi-bin)\n");
    return 77;
  }
  if (!std::getenv("FM_BIN")) {
    std::printf("skipped: FM_BIN is not set (run through meson test)\n");
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
