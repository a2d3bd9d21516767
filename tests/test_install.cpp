// tests/test_install.cpp: fm.cpp as an outsider sees it. `meson install --destdir` stages this
// build's install into a temporary directory; then, using only what was installed:
//   - every installed header compiles when included alone (self-contained headers),
//   - fm.pc gives the flags (found through PKG_CONFIG_PATH alone: the file is relocatable, so the
//     staged prefix works as it lies),
//   - both examples/ programs build from copies outside the source tree against those flags,
//   - train_points trains a few steps on a tiny .npy written here and leaves its checkpoint,
//   - loglik reads it back and writes one finite log-likelihood per point.
// meson passes the build and source roots, the meson and pkg-config commands and the C++ compiler
// (tests/meson.build); without them the case does nothing.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tensor/io/npy.h"
#include "tensor/random.h"
#include "tests/test_util.h"

using namespace fm;
namespace fs = std::filesystem;

namespace {

struct Run {
  int rc = -1;
  std::string out;  // stdout and stderr together
};

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// `cmd` through the shell, in `dir`, output captured.
Run sh(const fs::path& dir, const std::string& cmd) {
  const fs::path log = dir / "cmd.log";
  const std::string full = "cd '" + dir.string() + "' && (" + cmd + ") >'" + log.string() + "' 2>&1";
  const int status = std::system(full.c_str());
  Run r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_all(log);
  return r;
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The first regular file named `name` under `root`.
fs::path find_file(const fs::path& root, const std::string& name) {
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file() && e.path().filename() == name) return e.path();
  return {};
}

}  // namespace

TEST_CASE("install: the staged prefix alone builds and runs the examples") {
  const std::string meson = env("FM_MESON"), build = env("FM_BUILD_ROOT"), source = env("FM_SOURCE_ROOT"),
                    pkg_config = env("FM_PKG_CONFIG"), cxx = env("FM_CXX");
  if (meson.empty() || build.empty() || source.empty() || pkg_config.empty() || cxx.empty()) {
    MESSAGE("FM_MESON, FM_BUILD_ROOT, FM_SOURCE_ROOT, FM_PKG_CONFIG or FM_CXX not set (run through meson test); skipping");
    return;
  }
  fm::testing::TempDir tmp("fm_test_install");
  const fs::path dir = tmp.dir, stage = dir / "stage";

  // --no-rebuild: meson test has built everything already, and a ninja run here would race the
  // suites running beside this one.
  Run inst = sh(dir, "'" + meson + "' install -C '" + build + "' --no-rebuild --quiet --destdir '" + stage.string() + "'");
  INFO(inst.out);
  REQUIRE(inst.rc == 0);

  // What lands where (under the configured prefix, e.g. stage/usr/local).
  const fs::path pc = find_file(stage, "fm.pc");
  REQUIRE_MESSAGE(!pc.empty(), "no fm.pc installed");
  const fs::path libdir = pc.parent_path().parent_path();
  for (const char* lib : {"libfm_tensor.a", "libfm_dist.a", "libfm_autodiff.a", "libfm_nn.a", "libfm_flow.a", "libfm_ode.a"})
    CHECK_MESSAGE(fs::is_regular_file(libdir / lib), lib);
  CHECK_FALSE(fs::exists(libdir / "libfm_apps.a"));  // the program's own helpers stay private
  const fs::path bin = find_file(stage, "fm");
  CHECK(bin.parent_path().filename() == "bin");
  const fs::path config = find_file(stage, "fm_config.h");
  REQUIRE(!config.empty());
  const fs::path inc = config.parent_path();  // <prefix>/include/fm
  CHECK(inc.filename() == "fm");
  for (const char* h : {"tensor/ops.h", "tensor/cpu/gemm.h", "tensor/io/npy.h", "cuda/device.h", "dist/dist.h", "autodiff/var.h",
                        "nn/checkpoint.h", "flow/run.h", "ode/evaluate.h", "ode/likelihood.h"})
    CHECK_MESSAGE(fs::is_regular_file(inc / h), h);
  CHECK_FALSE(fs::exists(inc / "apps"));
  // Every header of the installed layers is installed (a header added to the tree but not to its
  // meson.build's install list would break an installed include); the emulated GPU's headers are
  // internals of its build, like cuda/'s .cuh files.
  for (const char* layer : {"tensor", "dist", "autodiff", "nn", "flow", "ode", "cuda"})
    for (const auto& e : fs::recursive_directory_iterator(fs::path(source) / layer))
      if (e.path().extension() == ".h" && e.path().parent_path().string().find("cuda/emulation") == std::string::npos) {
        const fs::path rel = fs::relative(e.path(), source);
        CHECK_MESSAGE(fs::is_regular_file(inc / rel), rel.string());
      }
  CHECK_FALSE(fs::exists(inc / "cuda" / "common.cuh"));

  // The flags, from the staged fm.pc alone. A build configured with pkgconfig.relocatable (the
  // default of meson.build) writes prefix=${pcfiledir}/..., which finds the staged prefix by
  // itself; an older build directory keeps its absolute prefix, which is then moved under the stage.
  std::string define_prefix;
  {
    std::istringstream lines(read_all(pc));
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("prefix=", 0) == 0 && line.rfind("prefix=${pcfiledir}", 0) != 0)
        define_prefix = " --define-variable=prefix='" + stage.string() + line.substr(7) + "'";
  }
  const std::string pkg = "PKG_CONFIG_PATH='" + pc.parent_path().string() + "' '" + pkg_config + "'" + define_prefix;
  Run flags = sh(dir, pkg + " --cflags --libs fm");
  INFO(flags.out);
  REQUIRE(flags.rc == 0);
  {  // -I names the staged include/fm (through ${pcfiledir}/../../.. when relocatable)
    std::istringstream tokens(flags.out);
    fs::path included;
    bool names_inc = false;  // fm's own -I, among those its dependencies add (libpng's, CUDA's)
    for (std::string tok; tokens >> tok;)
      if (tok.rfind("-I", 0) == 0 && fs::weakly_canonical(tok.substr(2)) == fs::canonical(inc)) names_inc = true;
    CHECK(names_inc);
  }
  CHECK(flags.out.find("-pthread") != std::string::npos);
  CHECK(flags.out.find("-lz") != std::string::npos);
  // Static libraries link highest layer first.
  const size_t ode = flags.out.find("-lfm_ode"), tensor = flags.out.find("-lfm_tensor");
  REQUIRE(ode != std::string::npos);
  REQUIRE(tensor != std::string::npos);
  CHECK(ode < tensor);
  CHECK(flags.out.find("-lfm_flow") < ode);  // flow/ rests on ode/
  const std::string use_fm = "$(" + pkg + " --cflags --libs fm)";

  SUBCASE("every installed header compiles on its own") {
    std::vector<std::string> headers;
    for (const auto& e : fs::recursive_directory_iterator(inc))
      if (e.is_regular_file() && e.path().extension() == ".h") headers.push_back(fs::relative(e.path(), inc).string());
    CHECK(headers.size() > 40);
    // One compiler run per header, so that none leans on another included before it; two at a time.
    std::ofstream(dir / "headers.txt") << [&] {
      std::string s;
      for (const std::string& h : headers) s += h + "\n";
      return s;
    }();
    // Compile flags only: after `-x c++`, a library named on the line would be read as C++ source.
    // Each compiler's own output is dropped (a broken header can print megabytes); the failing
    // header is named instead.
    const std::string cflags = "$(" + pkg + " --cflags fm)";
    Run r = sh(dir, "flags=\"" + cflags + "\"; xargs -P 2 -I{} sh -c 'printf \"#include \\\"{}\\\"\\n\" | " + cxx +
                        " -std=c++20 -fsyntax-only -x c++ - '\"$flags\"' >/dev/null 2>&1 || echo \"NOT SELF-CONTAINED: {}\"' < headers.txt");
    INFO(r.out);
    CHECK(r.rc == 0);
    CHECK(r.out.find("NOT SELF-CONTAINED") == std::string::npos);
  }

  SUBCASE("the examples build against the install, train, and give finite log-likelihoods") {
    // Copies outside the source tree, so a quoted include cannot find a header beside the source.
    for (const char* ex : {"train_points.cpp", "loglik.cpp"})
      fs::copy_file(fs::path(source) / "examples" / ex, dir / ex);
    Run b = sh(dir, cxx + " -std=c++20 -O1 train_points.cpp -o train_points " + use_fm + " && " + cxx +
                        " -std=c++20 -O1 loglik.cpp -o loglik " + use_fm);
    INFO(b.out);
    REQUIRE(b.rc == 0);

    // 200 points of an anisotropic Gaussian in 3-D, and 37 of them to evaluate.
    Rng rng(11);
    std::vector<float> v(200 * 3);
    for (float& x : v) x = float(rng.normal1());
    for (size_t i = 0; i < v.size(); ++i) v[i] = v[i] * float(1 + i % 3) + 0.5f;
    save_npy((dir / "points.npy").string(), Tensor::from(v, {200, 3}));
    save_npy((dir / "eval.npy").string(), Tensor::from(std::vector<float>(v.begin(), v.begin() + 37 * 3), {37, 3}));

    Run t = sh(dir, "OMP_NUM_THREADS=1 ./train_points points.npy run 30");
    INFO(t.out);
    REQUIRE(t.rc == 0);
    CHECK(fs::is_regular_file(dir / "run" / "model.safetensors"));
    CHECK(t.out.find("trained 30 steps") != std::string::npos);

    Run l = sh(dir, "OMP_NUM_THREADS=1 ./loglik run/model.safetensors eval.npy logp.npy");
    INFO(l.out);
    REQUIRE(l.rc == 0);
    CHECK(l.out.find("over 37 points") != std::string::npos);
    Tensor logp = load_npy((dir / "logp.npy").string());
    REQUIRE(logp.shape() == Shape{37});
    for (float x : logp.to_vector()) CHECK(std::isfinite(x));

    // A usage error is an exit status 2 with a usage line, not a crash.
    Run u = sh(dir, "./loglik");
    CHECK(u.rc == 2);
    CHECK(u.out.find("usage:") != std::string::npos);
  }
}
