// tests/fuzz/fuzz_args.cpp: the command-line parser (Args) with fm train's run options, and the
// run they describe (run_from_options, which checks every value). The input is the argument
// list, one argument per line.
#include <optional>
#include <vector>

#include "apps/args.h"
#include "flow/run_options.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fm;
  std::vector<std::string> words = {"fm", "train"};
  std::string word;
  for (size_t i = 0; i < size && words.size() < 66; ++i) {
    if (data[i] == '\n') words.push_back(word), word.clear();
    else word += char(data[i]);
  }
  if (words.size() < 66) words.push_back(word);
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);

  Args a("fm train", "fuzzed");
  for (const RunOption& o : run_options()) {
    if (!o.flag) continue;
    if (o.is_switch) a.flag(o.flag, o.help);
    else a.opt(o.flag, "", o.help);
  }
  a.opt("--width", "512", "").opt("--mult", "1,2,2", "");
  fuzz::refusal_allowed([&] {
    if (!a.parse(int(words.size()), argv.data(), 2)) return;
    fuzz::refusal_allowed([&] { a.i64("--width"); });
    fuzz::refusal_allowed([&] { a.i64_list("--mult"); });
    for (DataKind kind : {DataKind::Points, DataKind::Images})
      fuzz::refusal_allowed([&] {
        run_from_options([&](const std::string& flag) -> std::optional<std::string> {
          if (!a.given(flag)) return std::nullopt;
          for (const RunOption& o : run_options())
            if (o.flag && flag == o.flag && o.is_switch) return std::string(a.on(flag) ? "true" : "false");
          return a.str(flag);
        }, kind);
      });
  });
  return 0;
}
