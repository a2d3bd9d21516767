// tests/test_kill.cpp: a training run killed with SIGKILL at its worst moments, then resumed.
//
// The kill comes from the process itself (FM_CRASH_AT, tensor/io/crash_point.h), so it lands at an
// exact point rather than wherever a timer happens to fall: between steps; with model.safetensors
// or train_state.safetensors half written (the temporary file torn, the rename not done); with a
// loss.csv row half written. Each time the files under their final names must load, `fm train
// --resume` must finish having lost at most one checkpoint interval, and the resumed run must end
// with the same model (bit for bit) and the same loss.csv rows (all but the wall-clock column) as a
// run that was never interrupted. The same under mpirun: tests/test_mpi.cpp.
// meson passes the binary's path in FM_BIN; without it the cases do nothing.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "nn/checkpoint.h"
#include "tensor/io/npy.h"
#include "tensor/io/safetensors.h"
#include "tests/run_util.h"
#include "tests/test_util.h"

using namespace fm;
using fm::testing::file_bytes;
using fm::testing::have_fm;
using fm::testing::rows_without_seconds;
namespace fs = std::filesystem;

namespace {

// `env fm <args>` with its output in dir; true when it died of SIGKILL (directly, or as the
// shell's 128 + 9 when the shell did not exec it).
bool killed_by_sigkill(const fs::path& dir, const std::string& env, const std::string& args) {
  const std::string cmd = env + " " + std::getenv("FM_BIN") + " " + args + " >'" + (dir / "killed.out").string() + "' 2>'" +
                          (dir / "killed.err").string() + "'";
  const int status = std::system(cmd.c_str());
  return (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) || (WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGKILL);
}

// The step `fm train --resume` reported starting from, or -1.
long long resumed_at(const std::string& err) {
  const size_t at = err.find("resuming at step ");
  return at == std::string::npos ? -1 : std::atoll(err.c_str() + at + 17);
}

struct KillCase {
  const char* point;     // FM_CRASH_AT
  long long resume_at;   // the step the resume must start from (the last whole checkpoint)
};

// Kills `args --out DIR/<point>` at each case's point, resumes it, and compares it with `ref`
// (the same run never interrupted). `every` is the checkpoint interval.
void kill_and_resume(const fs::path& dir, const std::string& args, const fs::path& ref, const std::vector<KillCase>& cases,
                     long long every) {
  for (const KillCase& c : cases) {
    CAPTURE(c.point);
    const fs::path run = dir / (std::string("run_") + c.point);
    REQUIRE(killed_by_sigkill(dir, std::string("FM_CRASH_AT=") + c.point, args + " --out '" + run.string() + "'"));
    // What the kill left under the final names loads.
    CHECK_NOTHROW(load_checkpoint((run / "model.safetensors").string()));
    CHECK_NOTHROW(load_safetensors((run / "train_state.safetensors").string()));
    fm::testing::Run r = fm::testing::fm_run(dir, "train --resume '" + run.string() + "'");
    INFO("resume's stderr: ", r.err);
    REQUIRE(r.rc == 0);
    const long long at = resumed_at(r.err);
    CHECK(at == c.resume_at);
    CHECK(at >= 0);
    // At most one checkpoint interval lost: the kill came after step resume_at, before resume_at + 2 every.
    CHECK(c.resume_at % every == 0);
    for (const char* name : {"model.safetensors.tmp", "train_state.safetensors.tmp", "loss.csv.tmp"})
      CHECK(!fs::exists(run / name));
    CHECK(file_bytes(run / "model.safetensors") == file_bytes(ref / "model.safetensors"));
    CHECK(rows_without_seconds(run / "loss.csv") == rows_without_seconds(ref / "loss.csv"));
  }
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("an MLP run killed between steps, mid-checkpoint, mid-train-state and mid-loss-row resumes to the same end") {
  if (!have_fm()) return;
  fm::testing::TempDir tmp("fm_test_kill");
  // Checkpoints at steps 10, 20, 30 (and the end, 40); a loss.csv row every 5 steps.
  const std::string args = "train --data checkerboard --batch 256 --width 32 --depth 3 --eval-n 0 --ckpt-every 10 "
                           "--log-every 5 --steps 40";
  const fs::path ref = tmp.dir / "ref";
  REQUIRE(fm::testing::fm_run(tmp.dir, args + " --out '" + ref.string() + "'").rc == 0);
  kill_and_resume(tmp.dir, args, ref,
                  {
                      {"step:17", 10},                     // between steps 17 and 18
                      {"model.safetensors:2", 20},         // step 20's checkpoint torn; its train state was written first
                      {"train_state.safetensors:2", 10},   // step 20's train state torn: back to step 10
                      {"loss.csv:5", 20},                  // the row of step 25 torn
                      {"train_state.safetensors:3", 20},   // step 30's train state torn
                  },
                  10);
}

TEST_CASE("a tiny U-Net run (dropout, flips) killed mid-train-state and mid-loss-row resumes to the same end") {
  if (!have_fm()) return;
  fm::testing::TempDir tmp("fm_test_kill");
  Tensor px = fm::testing::randu({24, 1, 8, 8}, 5, 0.0f, 256.0f);
  std::vector<float> v = px.to_vector();
  for (float& x : v) x = float(int(x));
  const fs::path images = tmp.dir / "images.npy";
  save_npy(images.string(), Tensor::from(v, px.shape()));
  const std::string args = "train --data '" + images.string() +
                           "' --channels 8 --mult 1,2 --num-res 1 --attn-res 4 --groups 4 --dropout 0.1 --hflip --batch 8 "
                           "--steps 10 --warmup 2 --lr 1e-3 --log-every 1 --ckpt-every 3 --sample-every 0";
  const fs::path ref = tmp.dir / "ref";
  REQUIRE(fm::testing::fm_run(tmp.dir, args + " --out '" + ref.string() + "'").rc == 0);
  kill_and_resume(tmp.dir, args, ref,
                  {
                      {"train_state.safetensors:2", 3},  // step 6's train state torn
                      {"loss.csv:8", 6},                 // the row of step 8 torn
                      {"model.safetensors:3", 9},        // step 9's checkpoint torn
                  },
                  3);
}

}  // TEST_SUITE
