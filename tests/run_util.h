// tests/run_util.h: running the real `fm` binary from a test (meson passes its path in FM_BIN), and
// comparing what two runs wrote: loss.csv, the train state, .npy arrays. Shared by the suites
// that compare runs across process counts (test_mpi) and devices (test_gpu_cli).
#pragma once
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "tensor/io/npy.h"
#include "tensor/io/safetensors.h"

namespace fm::testing {

inline std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Whether meson passed the binary (FM_BIN); without it a case that runs fm says so and does nothing.
inline bool have_fm() {
  if (std::getenv("FM_BIN")) return true;
  MESSAGE("FM_BIN is not set (run through meson test); skipping");
  return false;
}

struct Run {
  int rc = -1;
  std::string out, err;
};

// `cmd` through the shell, stdout and stderr captured in files under `dir`.
inline Run run_shell(const std::filesystem::path& dir, const std::string& cmd) {
  const std::filesystem::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  const int status = std::system((cmd + " >'" + out.string() + "' 2>'" + err.string() + "'").c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, file_bytes(out), file_bytes(err)};
}

// `<prefix>fm <args>` (prefix: e.g. "mpirun -np 2 ").
inline Run fm_run(const std::filesystem::path& dir, const std::string& args, const std::string& prefix = "") {
  return run_shell(dir, prefix + std::getenv("FM_BIN") + " " + args);
}

// loss.csv's lines without their last column (the wall-clock seconds), header included.
inline std::vector<std::string> rows_without_seconds(const std::filesystem::path& path) {
  std::vector<std::string> rows;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) rows.push_back(line.substr(0, line.rfind(',')));
  return rows;
}

// loss.csv as numbers (step, loss, lr, grad_norm; the wall-clock column dropped).
inline std::vector<std::vector<double>> loss_rows(const std::filesystem::path& path) {
  std::vector<std::vector<double>> rows;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::vector<double> row;
    size_t at = 0;
    for (int k = 0; k < 4; ++k) {
      size_t comma = line.find(',', at);
      row.push_back(std::stod(line.substr(at, comma - at)));
      at = comma + 1;
    }
    rows.push_back(row);
  }
  return rows;
}

// The two runs' loss.csv rows agree: the same steps and learning rates, the losses and gradient
// norms within `rel` relative (plus the 6 decimals they are printed with).
inline void check_same_losses(const std::filesystem::path& a, const std::filesystem::path& b, double rel) {
  const auto ra = loss_rows(a), rb = loss_rows(b);
  REQUIRE(ra.size() == rb.size());
  REQUIRE(!ra.empty());
  for (size_t i = 0; i < ra.size(); ++i) {
    CAPTURE(i);
    CHECK(ra[i][0] == rb[i][0]);
    CHECK(ra[i][2] == rb[i][2]);
    CHECK(std::abs(ra[i][1] - rb[i][1]) <= rel * std::abs(ra[i][1]) + 1.5e-6);
    CHECK(std::abs(ra[i][3] - rb[i][3]) <= rel * std::abs(ra[i][3]) + 1.5e-4);
  }
}

// The two train states agree: each group of tensors (the weights "param.*", Adam's moments
// "exp_avg.*" and "exp_avg_sq.*", the EMA "ema.*") within `rel` relative in the 2-norm, and the
// counters and random-stream positions exactly. The norm, not each element: a parameter whose true
// gradient is zero (the key bias of attention, which the softmax ignores) is moved by Adam on
// rounding noise alone, so it differs at lr scale whenever the batch is summed in another order.
inline void check_same_state(const std::filesystem::path& a, const std::filesystem::path& b, double rel) {
  const SafetensorsFile sa = load_safetensors((a / "train_state.safetensors").string());
  const SafetensorsFile sb = load_safetensors((b / "train_state.safetensors").string());
  REQUIRE(sa.tensors.size() == sb.tensors.size());
  std::map<std::string, std::pair<double, double>> groups;  // group -> (sum of a^2, sum of (a - b)^2)
  for (const NamedTensor& t : sa.tensors) {
    CAPTURE(t.name);
    const Tensor* u = sb.find(t.name);
    REQUIRE(u != nullptr);
    REQUIRE(u->shape() == t.tensor.shape());
    const std::vector<float> x = t.tensor.to_vector(), y = u->to_vector();
    auto& [norm2, diff2] = groups[t.name.substr(0, t.name.find('.'))];
    for (size_t i = 0; i < x.size(); ++i) {
      norm2 += double(x[i]) * x[i];
      diff2 += double(x[i] - y[i]) * (x[i] - y[i]);
    }
  }
  CHECK(groups.size() >= 3);  // param, exp_avg, exp_avg_sq (and ema)
  for (const auto& [group, sums] : groups) {
    CAPTURE(group);
    CHECK(sums.first > 0);
    CHECK(std::sqrt(sums.second) <= rel * std::sqrt(sums.first));
  }
  for (const char* key : {"step", "adam_step", "ema_updates", "rng.data", "rng.noise", "rng.model", "batch"}) {
    CAPTURE(key);
    CHECK(sa.metadata.at(key) == sb.metadata.at(key));
  }
}

// Two .npy arrays of one shape agree: every element within `rel` of the first array's RMS.
inline void check_close_npy(const std::filesystem::path& a, const std::filesystem::path& b, double rel) {
  CAPTURE(a.filename().string());
  const Tensor x = load_npy(a.string()), y = load_npy(b.string());
  REQUIRE(x.shape() == y.shape());
  const std::vector<float> u = x.to_vector(), v = y.to_vector();
  double sq = 0.0, worst = 0.0;
  for (size_t i = 0; i < u.size(); ++i) {
    sq += double(u[i]) * u[i];
    worst = std::max(worst, std::fabs(double(u[i]) - v[i]));
  }
  REQUIRE(!u.empty());
  CHECK(worst <= rel * std::sqrt(sq / double(u.size())));
}

}  // namespace fm::testing
