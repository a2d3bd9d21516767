// tests/test_layers.cpp: the device seam and the layering, checked by scanning the sources.
//
// Above the tensor layer everything goes through the op list (tensor/ops.h), so that the same
// code runs on any backend: autodiff/, nn/ and ode/ never take a tensor's raw memory (.data()),
// never call a CPU kernel (sgemm, parallel_for, anything in tensor/cpu/ or fm::cpu), and flow/
// touches raw memory only in its data readers. And a lower layer never includes a higher one:
// tensor <- dist <- autodiff <- nn <- ode <- flow <- apps. The scan is a plain text search over the
// files, comments included (a comment that names a forbidden call is rephrased).
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kLayers = {"tensor", "dist", "autodiff", "nn", "ode", "flow", "apps"};

// The raw-memory and kernel calls the op list exists to hide.
const std::vector<std::string> kKernelCalls = {".data()", "device_data()", "sgemm(", "parallel_for(", "parallel_sum(", "thread_scratch(",
                                               "cpu::", "\"tensor/cpu/", "\"tensor/dispatch.h\""};
// flow/'s data readers fill host tensors from files and generators, and its host algorithms work
// on a batch while it is still on the host (the OT assignments, exact and auction, and the
// coupling that hands them the batch) or on arrays of their own (sample distances, the class-mean
// classifier): the one place above the tensor layer where .data() is fine.
const std::set<std::string> kFlowReaders = {"datafile.cpp",   "dataset.cpp",    "idx.h",        "idx.cpp",
                                            "toy2d.cpp",      "cifar10.cpp",    "npy_images.cpp", "png_folder.cpp",
                                            "png_file.cpp",   "assignment.cpp", "auction.cpp",  "coupling.cpp", "sample_distance.cpp",
                                            "class_means.cpp"};

int layer_index(const std::string& layer) {
  for (size_t i = 0; i < kLayers.size(); ++i)
    if (kLayers[i] == layer) return int(i);
  return -1;
}

// One line per violation: "nn/optim.cpp:31: .data()".
std::vector<std::string> scan(const fs::path& root) {
  std::vector<std::string> found;
  for (const std::string& layer : kLayers) {
    if (!fs::is_directory(root / layer)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / layer)) {
      const std::string ext = entry.path().extension().string();
      if (ext != ".cpp" && ext != ".h" && ext != ".cu") continue;
      const std::string name = entry.path().filename().string();
      const std::string where = fs::relative(entry.path(), root).string();
      const bool seam = layer == "autodiff" || layer == "nn" || layer == "ode" || layer == "flow";
      std::ifstream in(entry.path());
      std::string line;
      for (int no = 1; std::getline(in, line); ++no) {
        auto report = [&](const std::string& what) { found.push_back(where + ":" + std::to_string(no) + ": " + what); };
        if (seam)
          for (const std::string& call : kKernelCalls) {
            if (line.find(call) == std::string::npos) continue;
            if (layer == "flow" && call == ".data()" && kFlowReaders.count(name)) continue;
            report(call);
          }
        const size_t inc = line.find("#include \"");
        if (inc == std::string::npos) continue;
        const std::string target = line.substr(inc + 10, line.find('/', inc + 10) - (inc + 10));
        const int lo = layer_index(layer), hi = layer_index(target);
        if (hi > lo) report("includes the higher layer " + target + "/");
      }
    }
  }
  return found;
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

}  // namespace

TEST_CASE("layers: the scan finds planted violations and passes clean code") {
  fm::testing::TempDir tmp("fm_layers");
  const fs::path root = tmp.dir;
  write(root / "nn/good.cpp", "#include \"tensor/ops.h\"\nTensor f(const Tensor& x) { return scale(x, 2.0f); }\n");
  write(root / "flow/idx.cpp", "float* p = t.data();  // a data reader may\n");
  CHECK(scan(root).empty());

  write(root / "nn/raw.cpp", "void f(Tensor& x) { x.data()[0] = 1; }\n");
  write(root / "ode/kernel.cpp", "#include \"tensor/cpu/gemm.h\"\nvoid g() { cpu::sgemm(0); }\n");
  write(root / "autodiff/loop.cpp", "void h() { parallel_for(n, 1, body); }\n");
  write(root / "flow/path.cpp", "const float* p = x.data();\n");
  write(root / "tensor/up.h", "#include \"nn/module.h\"\n");
  const std::vector<std::string> found = scan(root);
  auto has = [&](const std::string& what) {
    for (const std::string& f : found)
      if (f.find(what) != std::string::npos) return true;
    return false;
  };
  CHECK(has("nn/raw.cpp:1: .data()"));
  CHECK(has("ode/kernel.cpp:1: \"tensor/cpu/"));
  CHECK(has("ode/kernel.cpp:2: sgemm("));
  CHECK(has("ode/kernel.cpp:2: cpu::"));
  CHECK(has("autodiff/loop.cpp:1: parallel_for("));
  CHECK(has("flow/path.cpp:1: .data()"));
  CHECK(has("tensor/up.h:1: includes the higher layer nn/"));
  CHECK(found.size() == 7);
}

TEST_CASE("layers: above tensor/, only the op list; no layer includes a higher one") {
  const char* root = std::getenv("FM_SOURCE_ROOT");
  if (!root) {
    MESSAGE("FM_SOURCE_ROOT is not set (run through meson test); skipping");
    return;
  }
  REQUIRE(fs::is_directory(fs::path(root) / "tensor"));
  const std::vector<std::string> found = scan(root);
  for (const std::string& f : found) MESSAGE(f);
  CHECK(found.empty());
}

// The op list's functions, read from tensor/ops.h: every declaration at the start of a line.
std::set<std::string> declared_ops(const fs::path& ops_h) {
  std::ifstream in(ops_h);
  const std::regex decl(R"(^(?:inline )?[A-Za-z_][\w:<>]*[ *&]+([a-z_0-9]+)\()");
  std::set<std::string> names;
  std::string line;
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_search(line, m, decl)) names.insert(m[1]);
  return names;
}

TEST_CASE("layers: every op of the op list is in the backend test's table") {
  const char* root = std::getenv("FM_SOURCE_ROOT");
  if (!root) {
    MESSAGE("FM_SOURCE_ROOT is not set (run through meson test); skipping");
    return;
  }
  const std::set<std::string> ops = declared_ops(fs::path(root) / "tensor/ops.h");
  REQUIRE(ops.count("conv2d_forward") == 1);  // the parser reads the header
  REQUIRE(ops.size() > 40);
  std::ifstream in(fs::path(root) / "tests/test_backend_ops.cpp");
  std::stringstream table;
  table << in.rdbuf();
  // Not ops: the names and the broadcast rule every backend shares, and the inline spellings of binary.
  const std::set<std::string> not_ops = {"unary_name", "broadcast_shape", "add", "sub", "mul", "div"};
  for (const std::string& op : ops) {
    if (not_ops.count(op)) continue;
    CAPTURE(op);
    CHECK(table.str().find("{\"" + op + "\"") != std::string::npos);
  }
}
