// tests/test_docs.cpp: docs/walkthrough.md stays true. Every file it names in backticks exists,
// every function it names exists in a file named in the same paragraph (as "name(" in that file's
// text), and every test program its commands run has its source in tests/.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool is_path(const std::string& t) { return t.find('/') != std::string::npos && t.find(' ') == std::string::npos; }
bool is_identifier(const std::string& t) { return std::regex_match(t, std::regex(R"([A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)?)")); }

struct Paragraph {
  int line;
  std::vector<std::string> files, names;
};

// Paragraphs are separated by blank lines and list items; code blocks are checked for test programs.
std::vector<Paragraph> paragraphs(const std::string& text, std::vector<std::string>& test_programs) {
  std::vector<Paragraph> out(1);
  std::istringstream in(text);
  std::string line;
  bool code = false;
  const std::regex tick("`([^`]+)`"), test_bin(R"(\./build/tests/(test_\w+))");
  for (int no = 1; std::getline(in, line); ++no) {
    if (line.rfind("```", 0) == 0) {
      code = !code;
      continue;
    }
    if (code) {
      for (std::sregex_iterator it(line.begin(), line.end(), test_bin), end; it != end; ++it) test_programs.push_back((*it)[1]);
      continue;
    }
    if (line.empty() || line.rfind("- ", 0) == 0 || line.rfind("#", 0) == 0) out.push_back({no, {}, {}});
    for (std::sregex_iterator it(line.begin(), line.end(), tick), end; it != end; ++it) {
      std::string t = (*it)[1];
      if (t.rfind("./", 0) == 0) t = t.substr(2);
      if (is_path(t)) out.back().files.push_back(t);
      else if (is_identifier(t)) out.back().names.push_back(t);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("docs: the walkthrough names files and functions that exist") {
  const char* root_env = std::getenv("FM_SOURCE_ROOT");
  if (!root_env) {
    MESSAGE("FM_SOURCE_ROOT is not set (run through meson test); skipping");
    return;
  }
  const fs::path root(root_env);
  const std::string text = read(root / "docs/walkthrough.md");
  REQUIRE(!text.empty());
  std::vector<std::string> programs;
  int files = 0, names = 0;
  for (const Paragraph& p : paragraphs(text, programs)) {
    for (const std::string& f : p.files) {
      CAPTURE(f);
      CHECK(fs::exists(root / f));
      ++files;
    }
    if (p.files.empty()) continue;  // a name without a file beside it is prose, not a reference
    for (const std::string& name : p.names) {
      CAPTURE(name);
      CAPTURE(p.line);
      bool found = false;
      for (const std::string& f : p.files)
        if (fs::is_regular_file(root / f) && read(root / f).find(name + "(") != std::string::npos) found = true;
      CHECK(found);
      ++names;
    }
  }
  for (const std::string& prog : programs) {
    CAPTURE(prog);
    CHECK(fs::exists(root / "tests" / (prog + ".cpp")));
  }
  // The check itself must see something: the walkthrough names dozens of both.
  CHECK(files >= 15);
  CHECK(names >= 20);
  CHECK(programs.size() >= 3);
}
