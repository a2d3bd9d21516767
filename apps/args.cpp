// apps/args.cpp: declaring, parsing and reading the flags of an `fm` subcommand.
#include "apps/args.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace fm {
namespace {

std::string with_dashes(const std::string& name) { return name.rfind("--", 0) == 0 ? name : "--" + name; }

std::string without_dashes(const std::string& s) {
  size_t i = s.find_first_not_of('-');
  return i == std::string::npos ? std::string() : s.substr(i);
}

// Optimal-string-alignment distance: Levenshtein plus adjacent transpositions ("setps" -> 1).
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + sub});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

bool parse_bool(const std::string& s, bool& out) {
  if (s == "1" || s == "true" || s == "yes" || s == "on") return out = true, true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return out = false, true;
  return false;
}

// Whole-string parses; from_chars is locale-independent, unlike strtod.
bool parse_double(const std::string& s, double& out) {
  const char* b = s.data() + (!s.empty() && s[0] == '+');
  const char* e = s.data() + s.size();
  auto [p, ec] = std::from_chars(b, e, out);
  return b != e && ec == std::errc() && p == e && std::isfinite(out);
}

bool parse_int(const std::string& s, int64_t& out) {
  const char* b = s.data() + (!s.empty() && s[0] == '+');
  const char* e = s.data() + s.size();
  auto [p, ec] = std::from_chars(b, e, out);
  if (b != e && ec == std::errc() && p == e) return true;
  // Also "2e4": a float literal that is exactly an integer (within double's exact range).
  double d;
  if (!parse_double(s, d) || d != std::floor(d) || std::fabs(d) > 9007199254740992.0) return false;
  out = static_cast<int64_t>(d);
  return true;
}

}  // namespace

Args::Args(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {}

Args& Args::add(const std::string& name, const std::string& default_value, const std::string& help, bool is_flag) {
  std::string full = with_dashes(name);
  if (full == "--help" || lookup(full)) throw std::logic_error("Args: option " + full + " declared twice");
  Option o;
  o.name = full;
  o.default_value = default_value;
  o.value = default_value;
  o.help = help;
  o.is_flag = is_flag;
  options_.push_back(std::move(o));
  return *this;
}

Args& Args::opt(const std::string& name, const std::string& default_value, const std::string& help) {
  return add(name, default_value, help, false);
}

Args& Args::flag(const std::string& name, const std::string& help) { return add(name, "false", help, true); }

Args::Option* Args::lookup(const std::string& name) {
  std::string full = with_dashes(name);
  for (Option& o : options_)
    if (o.name == full) return &o;
  return nullptr;
}

Args::Option& Args::find(const std::string& name) {
  if (Option* o = lookup(name)) return *o;
  throw std::logic_error("Args: " + command_ + " has no option " + with_dashes(name));
}

const Args::Option& Args::find(const std::string& name) const { return const_cast<Args*>(this)->find(name); }

// "unknown option --x", suggesting the closest declared name when it is close relative to what was
// typed, else pointing at --help.
UsageError Args::unknown_option(const std::string& name, const std::string& see_help) const {
  std::string typed = without_dashes(name), best;
  size_t best_d = std::numeric_limits<size_t>::max();
  std::vector<std::string> known = {"--help"};
  for (const Option& k : options_) known.push_back(k.name);
  for (const std::string& k : known) {
    size_t d = edit_distance(typed, without_dashes(k));
    if (d < best_d) best_d = d, best = k;
  }
  size_t limit = typed.size() <= 3 ? 1 : typed.size() <= 8 ? 2 : 3;
  if (best_d <= limit) return UsageError("unknown option " + name + " (did you mean " + best + "?)");
  return UsageError("unknown option " + name + " (" + see_help + ")");
}

bool Args::parse(int argc, char** argv, int first) {
  // --help anywhere wins over any mistake elsewhere on the line.
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(help().c_str(), stdout);
      std::fflush(stdout);
      return false;
    }
  }
  const std::string see_help = "run '" + command_ + " --help' to list the options";
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    double number;
    bool looks_like_option = a.size() > 1 && a[0] == '-' && !parse_double(a, number);
    if (!looks_like_option) throw UsageError("unexpected argument '" + a + "' (" + see_help + ")");

    size_t eq = a.find('=');
    std::string name = a.substr(0, eq);
    Option* o = name.rfind("--", 0) == 0 ? lookup(name) : nullptr;  // single-dash names are never ours
    if (!o) throw unknown_option(name, see_help);

    if (o->is_flag) {
      bool v = true;
      if (eq != std::string::npos && !parse_bool(a.substr(eq + 1), v))
        throw UsageError(o->name + " is a switch: use " + o->name + " or " + o->name + "=false, not '" + a + "'");
      o->value = v ? "true" : "false";
    } else if (eq != std::string::npos) {
      o->value = a.substr(eq + 1);
    } else {
      // The value is the next word, unless that is itself an option (a negative number is fine).
      bool next_is_option = i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) == 0;
      if (i + 1 >= argc || next_is_option) throw UsageError(o->name + " expects a value");
      o->value = argv[++i];
    }
    o->given = true;
  }
  return true;
}

bool Args::given(const std::string& name) const { return find(name).given; }

std::string Args::str(const std::string& name) const { return find(name).value; }

bool Args::on(const std::string& name) const {
  const Option& o = find(name);
  if (!o.is_flag) throw std::logic_error("Args: " + o.name + " is not a switch");
  return o.value == "true";
}

const std::string& Args::required_value(const std::string& name, const char* what) const {
  const Option& o = find(name);
  if (o.is_flag) throw std::logic_error("Args: " + o.name + " is a switch, not " + what);
  if (!o.given && o.default_value.empty()) throw UsageError("missing required option " + o.name);
  return o.value;
}

int64_t Args::i64(const std::string& name) const {
  const std::string& v = required_value(name, "an integer");
  int64_t out;
  if (!parse_int(v, out)) throw UsageError(with_dashes(name) + " expects an integer, got '" + v + "'");
  return out;
}

double Args::f64(const std::string& name) const {
  const std::string& v = required_value(name, "a number");
  double out;
  if (!parse_double(v, out)) throw UsageError(with_dashes(name) + " expects a finite number, got '" + v + "'");
  return out;
}

std::vector<int64_t> Args::i64_list(const std::string& name) const {
  const std::string& v = required_value(name, "a list");
  std::vector<int64_t> out;
  size_t start = 0;
  while (start <= v.size()) {
    size_t comma = std::min(v.find(',', start), v.size());
    std::string item = v.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    int64_t x;
    if (!parse_int(item, x))
      throw UsageError(with_dashes(name) + " expects a comma-separated list of integers, got '" + v + "'");
    out.push_back(x);
    start = comma + 1;
  }
  return out;
}

std::string Args::help() const {
  // Left column "--name VALUE"; help text aligned two spaces after the widest entry.
  std::vector<std::pair<std::string, std::string>> rows;
  for (const Option& o : options_) {
    std::string text = o.help;
    if (!o.is_flag && !o.default_value.empty()) text += " (default: " + o.default_value + ")";
    rows.push_back({o.is_flag ? o.name : o.name + " VALUE", text});
  }
  rows.push_back({"-h, --help", "show this help and exit"});
  size_t width = 0;
  for (const auto& r : rows) width = std::max(width, r.first.size());
  std::string s = "usage: " + command_ + " [options]\n\n" + summary_ + "\n\noptions:\n";
  for (const auto& r : rows) s += "  " + r.first + std::string(width - r.first.size() + 2, ' ') + r.second + "\n";
  return s;
}

}  // namespace fm
