// apps/args.h: the command-line flag parser for the `fm` subcommands.
//
// Each subcommand declares its options (with defaults and help text), then parses argv:
//   Args a("fm train", "Train a flow-matching model");
//   a.opt("--steps", "20000", "training steps").flag("--ema", "keep an EMA of the weights");
//   if (!a.parse(argc, argv, 2)) return 0;   // --help was printed
//   int64_t steps = a.i64("--steps");
// Options are "--name value" or "--name=value"; there are no positional arguments. Mistakes
// raise UsageError with a message meant for the user.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace fm {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  Args(std::string command, std::string summary);  // e.g. ("fm train", "Train a flow-matching model")

  // An option taking a value ("--steps"). default_value "" means no default: the option is
  // optional and str() returns "" unless it is given.
  Args& opt(const std::string& name, const std::string& default_value, const std::string& help);
  // A boolean switch, off by default; "--name" turns it on ("--name=false" is also accepted).
  Args& flag(const std::string& name, const std::string& help);

  // Parses argv[first..argc). Returns false if --help / -h was given (help already printed to
  // stdout). Throws UsageError for an unknown option (suggesting the closest known one), a
  // missing value, or a stray positional argument.
  bool parse(int argc, char** argv, int first);

  // Accessors take the name with or without the leading "--". Asking for an undeclared name is
  // a programming error (std::logic_error).
  bool given(const std::string& name) const;  // set on the command line
  std::string str(const std::string& name) const;
  int64_t i64(const std::string& name) const;  // UsageError: "--steps expects an integer, got 'abc'"
  double f64(const std::string& name) const;   // UsageError on non-numbers, NaN and Inf
  bool on(const std::string& name) const;
  std::vector<int64_t> i64_list(const std::string& name) const;  // "1,2,2"

  std::string help() const;  // usage line + aligned option list with defaults

 private:
  struct Option {
    std::string name, default_value, help, value;
    bool is_flag = false, given = false;
  };
  Option& find(const std::string& name);
  const Option& find(const std::string& name) const;
  Option* lookup(const std::string& name);
  UsageError unknown_option(const std::string& name, const std::string& see_help) const;
  // The numeric accessors: a value is required (given or defaulted).
  const std::string& required_value(const std::string& name, const char* what) const;
  Args& add(const std::string& name, const std::string& default_value, const std::string& help, bool is_flag);

  std::string command_, summary_;
  std::vector<Option> options_;
};

}  // namespace fm
