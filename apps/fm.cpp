// apps/fm.cpp: the `fm` program. One binary, one subcommand per job:
//   fm train   train a flow-matching model
//   fm sample  generate samples by solving the flow's ODE (optionally with their log-likelihoods)
//   fm nll     exact negative log-likelihood of data under a trained model
//   fm field   the learned vector field v(x, t) on given points
//   fm bench   time a training step, a likelihood evaluation and matmul
//   fm --version  the version, the commit and the backends this binary has
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "apps/args.h"
#include "apps/commands.h"
#include "apps/fm_version.h"
#include "cuda/device.h"
#include "dist/dist.h"
#include "fm_config.h"
#include "tensor/cpu/cpu_features.h"
#include "tensor/cpu/gemm.h"

namespace {

void print_usage() {
  std::printf(
      "fm: flow matching (Lipman et al. 2022) in C++\n\n"
      "usage: fm <command> [options]   (fm <command> --help for its options)\n\n"
      "commands:\n"
      "  train    train a flow-matching model on a 2-D toy or your own .npy/.csv data\n"
      "  sample   generate samples with an ODE solver (dopri5, rk4, midpoint, heun, euler)\n"
      "  nll      negative log-likelihood of data under a trained model (nats)\n"
      "  field    the learned vector field v(x, t) on given points (.npy in, .npy out)\n"
      "  bench    time a training step, a likelihood evaluation and matmul\n"
      "  --version  the version, the git commit and the backends of this binary\n");
}

// What a bug report needs to say which binary it was: the version and commit, the CPU kernel sets
// compiled in and the one this CPU runs (the sgemm set picked at run time, or FM_GEMM_KERNEL's),
// and the GPU backend with the device it finds.
void print_version() {
  const fm::cpu::CpuFeatures& f = fm::cpu::cpu_features();
  std::printf("fm %s (git %s)\n", FM_VERSION, FM_GIT_COMMIT);
  std::printf("CPU: kernel sets built: %s; this CPU runs %s (avx512f %s, avx2+fma %s)\n",
              fm::cpu::kHaveX86Kernels ? "avx512, avx2, portable" : "portable (x86 kernels not built)",
              fm::cpu::sgemm_kernel_name(), f.avx512f ? "yes" : "no", f.avx2_fma ? "yes" : "no");
  std::printf("CUDA: %s\n", FM_HAVE_CUDA ? fm::cuda::describe().c_str() : "not built");
  std::printf("MPI: %s\n", fm::dist::describe().c_str());
}

}  // namespace

namespace {

int run_command(const std::string& cmd, int argc, char** argv) {
  if (cmd == "train") return fm::cmd_train(argc, argv);
  if (cmd == "sample") return fm::cmd_sample(argc, argv);
  if (cmd == "nll") return fm::cmd_nll(argc, argv);
  if (cmd == "field" && fm::dist::size() > 1) throw fm::UsageError("runs in one process; start it without mpirun");
  if (cmd == "field") return fm::cmd_field(argc, argv);
  if (cmd == "bench") return fm::cmd_bench(argc, argv);
  std::fprintf(stderr, "fm: unknown command '%s' (train, sample, nll, field or bench; fm --help)\n", cmd.c_str());
  return 2;
}

}  // namespace

// Under mpirun every rank runs main. A usage error is the same on every rank (they all parse the
// same flags), and so is a dist::CollectiveError (a NaN loss), so rank 0 alone reports those and
// all of them leave MPI cleanly. Any other error may be
// one rank's alone (a file it cannot read, a device that fails): that rank says so, naming itself,
// and aborts the whole run, so that no other rank waits forever in a collective.
int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  std::string cmd = argv[1];
  // Past a file-size limit (ulimit -f), a write then fails with EFBIG and says which file, instead
  // of the kernel's SIGXFSZ killing fm with a half-written temporary file left behind.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    fm::dist::init(&argc, &argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fm: error: %s\n", e.what());
    return 1;
  }
  const bool several = fm::dist::size() > 1;
  const std::string who = several ? " (rank " + std::to_string(fm::dist::rank()) + " of " + std::to_string(fm::dist::size()) + ")" : "";
  int status = 0;
  try {
    if (cmd == "--version") {
      if (fm::dist::is_root()) print_version();
    } else {
      status = run_command(cmd, argc, argv);
    }
  } catch (const fm::UsageError& e) {
    if (fm::dist::is_root()) std::fprintf(stderr, "fm %s: %s (fm %s --help)\n", cmd.c_str(), e.what(), cmd.c_str());
    status = 2;
  } catch (const fm::dist::CollectiveError& e) {  // raised by every rank at once
    if (fm::dist::is_root()) std::fprintf(stderr, "fm %s: error: %s\n", cmd.c_str(), e.what());
    status = 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fm %s%s: error: %s\n", cmd.c_str(), who.c_str(), e.what());
    if (several) fm::dist::abort(1);
    status = 1;
  }
  fm::dist::finalize();
  return status;
}
