// tests/fuzz/fuzz_train_state.cpp: a train state as `fm train --resume DIR` reads it: the
// safetensors file (load_resume), the run options in its metadata checked one by one
// (run_from_metadata), and the model those options describe built under the state's allocation
// budget (make_run_model), as train_run does before it loads the state into the trainer.
#include <filesystem>

#include "flow/run.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fm;
  const std::string path = fuzz::input_file(data, size, "resume/train_state.safetensors");
  fuzz::refusal_allowed([&] {
    ResumeRequest req;
    req.dir = std::filesystem::path(path).parent_path().string();
    ResumedRun r = load_resume(req);
    Rng rng(0);
    make_run_model(r.spec, &r.state, rng);
  });
  return 0;
}
