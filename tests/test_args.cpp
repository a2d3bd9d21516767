// tests/test_args.cpp: the `fm` subcommands' flag parser.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "apps/args.h"

using namespace fm;

namespace {

// argv for Args::parse: argv[0] = "fm", argv[1] = the subcommand, options from index 2.
struct Argv {
  std::vector<std::string> words;
  std::vector<char*> ptrs;
  explicit Argv(std::vector<std::string> w) : words(std::move(w)) {
    words.insert(words.begin(), {"fm", "train"});
    for (auto& s : words) ptrs.push_back(s.data());
  }
  int argc() const { return static_cast<int>(ptrs.size()); }
  char** argv() { return ptrs.data(); }
};

Args make_args() {
  Args a("fm train", "Train a flow-matching model");
  a.opt("--steps", "20000", "training steps")
      .opt("--lr", "1e-3", "learning rate")
      .opt("--data", "", "dataset name")
      .opt("--mult", "1,2,2", "channel multipliers")
      .flag("--ema", "keep an EMA of the weights");
  return a;
}

bool parse(Args& a, std::vector<std::string> words) {
  Argv v(std::move(words));
  return a.parse(v.argc(), v.argv(), 2);
}

// The UsageError message of parsing `words`, or "" if none was thrown.
std::string parse_error(std::vector<std::string> words) {
  Args a = make_args();
  try {
    parse(a, std::move(words));
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("args: defaults when nothing is given") {
  Args a = make_args();
  CHECK(parse(a, {}));
  CHECK(a.i64("--steps") == 20000);
  CHECK(a.f64("lr") == doctest::Approx(1e-3));  // the leading dashes are optional in lookups
  CHECK(a.str("--data") == "");
  CHECK_FALSE(a.given("--data"));
  CHECK_FALSE(a.given("--steps"));
  CHECK_FALSE(a.on("--ema"));
  CHECK(a.i64_list("--mult") == std::vector<int64_t>{1, 2, 2});
  CHECK_THROWS_AS(a.i64("--data"), UsageError);  // no default and not given: required
  CHECK_THROWS_AS(a.str("--nope"), std::logic_error);
}

TEST_CASE("args: values in both forms") {
  Args a = make_args();
  CHECK(parse(a, {"--steps", "500", "--lr=0.25", "--data=moons", "--ema", "--mult", "1, 2,4,8"}));
  CHECK(a.i64("--steps") == 500);
  CHECK(a.given("--steps"));
  CHECK(a.f64("--lr") == 0.25);
  CHECK(a.str("--data") == "moons");
  CHECK(a.on("--ema"));
  CHECK(a.given("--ema"));
  CHECK(a.i64_list("--mult") == std::vector<int64_t>{1, 2, 4, 8});

  Args b = make_args();
  CHECK(parse(b, {"--steps", "-3", "--steps=2e4", "--ema=false", "--lr", "-1.5e-2"}));
  CHECK(b.i64("--steps") == 20000);  // the last one wins; 2e4 is an exact integer
  CHECK_FALSE(b.on("--ema"));
  CHECK(b.f64("--lr") == -0.015);
  Args c = make_args();
  CHECK(parse(c, {"--data="}));  // an explicitly empty value
  CHECK(c.given("--data"));
  CHECK(c.str("--data") == "");
}

TEST_CASE("args: unknown options suggest the closest name") {
  CHECK(parse_error({"--step", "5"}) == "unknown option --step (did you mean --steps?)");
  CHECK(parse_error({"--setps=5"}) == "unknown option --setps (did you mean --steps?)");
  CHECK(parse_error({"--emma"}) == "unknown option --emma (did you mean --ema?)");
  CHECK(parse_error({"-steps", "5"}) == "unknown option -steps (did you mean --steps?)");
  std::string far = parse_error({"--batch-size", "5"});
  CHECK(far.find("unknown option --batch-size") == 0);
  CHECK(far.find("did you mean") == std::string::npos);
  CHECK(far.find("fm train --help") != std::string::npos);
}

TEST_CASE("args: bad values, missing values, stray arguments") {
  Args a = make_args();
  CHECK(parse(a, {"--steps", "abc", "--lr", "fast"}));  // parsing stores strings; reading converts
  try {
    a.i64("--steps");
    FAIL("no UsageError for a non-integer");
  } catch (const UsageError& e) {
    CHECK(std::string(e.what()) == "--steps expects an integer, got 'abc'");
  }
  CHECK_THROWS_AS(a.f64("--lr"), UsageError);
  for (const char* bad : {"1.5", "12x", "", "99999999999999999999", "1e300"}) {
    Args b = make_args();
    CHECK(parse(b, {std::string("--steps=") + bad}));
    CHECK_THROWS_AS(b.i64("--steps"), UsageError);
  }
  for (const char* bad : {"nan", "inf", "-inf", "1e999", "0.1.2", "1,5"}) {
    Args b = make_args();
    CHECK(parse(b, {std::string("--lr=") + bad}));
    CHECK_THROWS_AS(b.f64("--lr"), UsageError);
  }
  for (const char* bad : {"1,,2", "1,x", "1,"}) {
    Args b = make_args();
    CHECK(parse(b, {"--mult", bad}));
    CHECK_THROWS_AS(b.i64_list("--mult"), UsageError);
  }

  CHECK(parse_error({"--steps"}) == "--steps expects a value");
  CHECK(parse_error({"--steps", "--ema"}) == "--steps expects a value");
  CHECK(parse_error({"moons"}).find("unexpected argument 'moons'") == 0);
  CHECK(parse_error({"--ema", "7"}).find("unexpected argument '7'") == 0);
  CHECK(parse_error({"--ema=maybe"}).find("--ema is a switch") == 0);
}

TEST_CASE("args: --help prints and returns false; help text lists options with defaults") {
  // Send stdout to /dev/null meanwhile, to keep the test log clean.
  std::fflush(stdout);
  int saved = dup(1), null_fd = open("/dev/null", O_WRONLY);
  dup2(null_fd, 1);
  Args a = make_args();
  bool r1 = parse(a, {"--help"});
  Args b = make_args();
  bool r2 = parse(b, {"--steps", "x", "--bogus", "-h"});  // help wins over other mistakes
  std::fflush(stdout);
  dup2(saved, 1);
  close(saved);
  close(null_fd);
  CHECK_FALSE(r1);
  CHECK_FALSE(r2);

  std::string h = make_args().help();
  CHECK(h.find("usage: fm train [options]") == 0);
  CHECK(h.find("Train a flow-matching model") != std::string::npos);
  CHECK(h.find("(default: 20000)") != std::string::npos);
  CHECK(h.find("--ema") != std::string::npos);
  CHECK(h.find("--help") != std::string::npos);
  // Aligned: every help text starts in the same column.
  size_t col = std::string::npos;
  size_t pos = h.find("options:\n") + 9;
  while (pos < h.size()) {
    size_t end = h.find('\n', pos);
    std::string line = h.substr(pos, end - pos);
    size_t gap = line.find("  ", 2);
    size_t text = line.find_first_not_of(' ', gap);
    if (col == std::string::npos) col = text;
    CHECK(text == col);
    pos = end + 1;
  }
  CHECK_THROWS_AS(make_args().opt("--steps", "1", "again"), std::logic_error);
}
