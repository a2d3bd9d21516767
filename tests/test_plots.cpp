// tests/test_plots.cpp: the charts of apps/plots.h and the SVG writer under them (apps/svg.h).
//
// Ticks: 1-2-5 steps with common labels, log axes with powers of ten and more labels for narrow
// ranges. Documents: well-formed XML (checked by a tiny parser below, tag by tag), one polyline
// point per drawable loss.csv row, the log mapping against positions computed here, the edge
// cases (one row, constant values, NaN/Inf, losses <= 0, no rows). And a real renderer:
// rsvg-convert (Debian's librsvg2-bin, which scripts/build.sh installs) turns a loss plot and a
// histogram into PNGs, whose signature and IHDR size are checked; without it that case says so
// and passes.
#include <doctest/doctest.h>

#include "tests/test_util.h"
#include <sys/wait.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <sstream>
#include <tuple>

#include "apps/plots.h"
#include "apps/svg.h"

using namespace fm;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN(), kInf = std::numeric_limits<double>::infinity();

std::vector<std::string> labels(const TickSet& t) {
  std::vector<std::string> out;
  for (const Tick& tk : t.ticks)
    if (!tk.label.empty()) out.push_back(tk.label);
  return out;
}

// A tiny XML well-formedness check: matching start and end tags, quoted attributes, text and
// attribute values free of '<' and of '&' outside the five entities. Counts the elements by name
// into `tags`; returns "" or what is wrong.
std::string xml_problem(const std::string& s, std::map<std::string, int>& tags) {
  size_t i = 0;
  std::vector<std::string> open;
  int roots = 0;
  auto entity_ok = [&](size_t at) {
    for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"})
      if (s.compare(at, std::string(e).size(), e) == 0) return true;
    return false;
  };
  auto name_at = [&](size_t& k) {
    size_t b = k;
    while (k < s.size() && (std::isalnum((unsigned char)s[k]) || s[k] == '-' || s[k] == ':' || s[k] == '_')) ++k;
    return s.substr(b, k - b);
  };
  if (s.compare(0, 5, "<?xml") == 0) i = s.find("?>") + 2;
  while (i < s.size()) {
    if (s[i] != '<') {
      if (s[i] == '&' && !entity_ok(i)) return "bare & at " + std::to_string(i);
      if (s[i] == '>') return "bare > at " + std::to_string(i);
      if (open.empty() && !std::isspace((unsigned char)s[i])) return "text outside the root at " + std::to_string(i);
      ++i;
      continue;
    }
    if (s.compare(i, 2, "</") == 0) {
      size_t k = i + 2;
      std::string name = name_at(k);
      if (open.empty() || open.back() != name) return "</" + name + "> does not close <" + (open.empty() ? "" : open.back()) + ">";
      open.pop_back();
      if (k >= s.size() || s[k] != '>') return "malformed end tag " + name;
      i = k + 1;
      continue;
    }
    size_t k = i + 1;
    std::string name = name_at(k);
    if (name.empty()) return "empty tag name at " + std::to_string(i);
    ++tags[name];
    if (open.empty()) ++roots;
    for (;;) {  // attributes
      while (k < s.size() && std::isspace((unsigned char)s[k])) ++k;
      if (k >= s.size()) return "unterminated <" + name;
      if (s[k] == '>' || s.compare(k, 2, "/>") == 0) break;
      std::string attr = name_at(k);
      if (attr.empty() || s[k] != '=' || (s[k + 1] != '"' && s[k + 1] != '\'')) return "bad attribute in <" + name + ">";
      const char q = s[k + 1];
      size_t end = s.find(q, k + 2);
      if (end == std::string::npos) return "unterminated attribute " + attr;
      for (size_t j = k + 2; j < end; ++j) {
        if (s[j] == '<') return "< in attribute " + attr;
        if (s[j] == '&' && !entity_ok(j)) return "bare & in attribute " + attr;
      }
      k = end + 1;
    }
    if (s[k] == '>') {
      open.push_back(name);
      i = k + 1;
    } else {
      i = k + 2;
    }
  }
  if (!open.empty()) return "<" + open.back() + "> not closed";
  if (roots != 1) return std::to_string(roots) + " root elements";
  return "";
}

std::string checked(const Svg& svg) {
  const std::string doc = svg.str();
  std::map<std::string, int> tags;
  const std::string problem = xml_problem(doc, tags);
  INFO(doc.substr(0, 2000));
  CHECK(problem == "");
  CHECK(doc.find("nan") == std::string::npos);  // no NaN coordinates
  CHECK(doc.find("inf") == std::string::npos);
  return doc;
}

// The points of the polyline with this id.
std::vector<std::pair<double, double>> polyline_points(const std::string& doc, const std::string& id) {
  std::vector<std::pair<double, double>> out;
  const size_t at = doc.find("id=\"" + id + "\"");
  if (at == std::string::npos) return out;
  const size_t b = doc.find("points=\"", at) + 8, e = doc.find('"', b);
  std::stringstream ss(doc.substr(b, e - b));
  for (std::string p; ss >> p;) out.push_back({std::stod(p.substr(0, p.find(','))), std::stod(p.substr(p.find(',') + 1))});
  return out;
}

// The y of the <text> whose content is exactly `s` and whose anchor is `anchor`; NaN if none.
double text_y(const std::string& doc, const std::string& s, const std::string& anchor) {
  for (size_t at = doc.find(">" + s + "</text>"); at != std::string::npos; at = doc.find(">" + s + "</text>", at + 1)) {
    const size_t start = doc.rfind("<text", at);
    const std::string tag = doc.substr(start, at - start);
    if (tag.find("text-anchor=\"" + anchor + "\"") == std::string::npos) continue;
    const size_t y = tag.find(" y=\"") + 4;
    return std::stod(tag.substr(y));
  }
  return kNaN;
}

std::vector<LossRow> curve(int n) {
  std::vector<LossRow> rows;
  for (int i = 1; i <= n; ++i) rows.push_back({10.0 * i, 2.0 * std::exp(-0.05 * i) + 0.1, 1e-3 * std::min(1.0, i / 5.0)});
  return rows;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("linear ticks step by 1, 2 or 5 times a power of ten, with common labels") {
  CHECK(nice_step(30, 6) == 5);
  CHECK(nice_step(2600, 6) == 500);
  CHECK(nice_step(0.0021, 6) == doctest::Approx(5e-4));
  CHECK(nice_step(0, 6) == 1);
  for (double span = 1e-7; span < 1e9; span *= 1.37) {
    const double s = nice_step(span, 6), m = s / std::pow(10.0, std::floor(std::log10(s) + 1e-9));
    CAPTURE(span);
    CHECK((std::fabs(m - 1) < 1e-9 || std::fabs(m - 2) < 1e-9 || std::fabs(m - 5) < 1e-9));
    CHECK(span / s <= 6.0 + 1e-9);  // at most `target` steps ...
    CHECK(span / s > 6.0 / 5.0 - 1e-9);  // ... and not much fewer (5 is the largest 1-2-5 ratio)
  }
  CHECK(labels(linear_ticks(0, 30, 6)) == std::vector<std::string>{"0", "5", "10", "15", "20", "25", "30"});
  CHECK(labels(linear_ticks(-1, 1, 4)) == std::vector<std::string>{"-1.0", "-0.5", "0.0", "0.5", "1.0"});
  CHECK(labels(linear_ticks(0.3, 2.9, 6)) == std::vector<std::string>{"0.5", "1.0", "1.5", "2.0", "2.5"});
  // Small values share an exponent: 0 .. 2.1e-3 reads 0 .. 2 "x 1e-3".
  TickSet lr = linear_ticks(0, 0.0021, 6);
  CHECK(lr.exponent == -3);
  CHECK(labels(lr) == std::vector<std::string>{"0.0", "0.5", "1.0", "1.5", "2.0"});
  CHECK(linear_ticks(0, 3e6, 6).exponent == 6);
  // min_step: counts never tick at fractions.
  CHECK(labels(linear_ticks(0, 1.08, 5, 1.0)) == std::vector<std::string>{"0", "1"});
}

TEST_CASE("log ticks: powers of ten with minors, more labels when the range spans few decades") {
  TickSet wide = log_ticks(0.05, 20);
  CHECK(labels(wide) == std::vector<std::string>{"0.1", "1", "10"});
  CHECK(wide.ticks.size() == 5 + 9 + 9 + 2);  // 0.05..0.09, 0.1..0.9, 1..9, 10 and 20
  for (const Tick& t : wide.ticks) CHECK(t.major == (t.label != ""));
  CHECK(labels(log_ticks(3e-6, 2e-4)) == std::vector<std::string>{"1e-5", "0.0001"});
  // One power of ten in range: 2 and 5 times it too, then all minors if that is still too few.
  CHECK(labels(log_ticks(0.15, 6)) == std::vector<std::string>{"0.2", "0.5", "1", "2", "5"});
  CHECK(labels(log_ticks(0.85, 2.1)) == std::vector<std::string>{"0.9", "1", "2"});
  // Inside one step (1.2 .. 1.9): the linear ticks of the range.
  CHECK(labels(log_ticks(1.2, 1.9)) == std::vector<std::string>{"1.2", "1.4", "1.6", "1.8"});
}

TEST_CASE("axes map linearly, or by log10, onto pixels") {
  const Axis lin{0, 30, false, 100, 400}, lg{0.01, 100, true, 300, 20};
  CHECK(lin.map(0) == 100);
  CHECK(lin.map(15) == 250);
  CHECK(lg.map(0.01) == doctest::Approx(300));
  CHECK(lg.map(100) == doctest::Approx(20));
  CHECK(lg.map(1) == doctest::Approx(160));  // half way in log10: -2 .. 2
  CHECK(lg.map(std::sqrt(10.0)) == doctest::Approx(300 - 280 * 2.5 / 4));
  CHECK(Axis{5, 5, false, 0, 10}.map(5) == 5);  // a constant range: the middle
}

TEST_CASE("the SVG writer escapes text and writes well-formed XML") {
  CHECK(xml_escape("a<b & \"c\" 'd'>") == "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
  Svg svg(100, 50);
  svg.text(10, 20, "loss < 1 & lr > 0", "start", 12, -90);
  svg.polyline({{1, 2}, {3, 4}}, "stroke=\"red\"");
  svg.line(0, 0, 10, 10, "stroke=\"black\"");
  svg.rect(1, 1, 5, 5, "fill=\"blue\"");
  svg.circle(5, 5, 2, "fill=\"green\"");
  std::map<std::string, int> tags;
  const std::string doc = svg.str();
  CHECK(xml_problem(doc, tags) == "");
  CHECK(tags == std::map<std::string, int>{{"svg", 1}, {"rect", 2}, {"text", 1}, {"polyline", 1}, {"line", 1}, {"circle", 1}});
  CHECK(doc.find("loss &lt; 1 &amp; lr &gt; 0") != std::string::npos);
  // The checker itself catches what it is for.
  CHECK(xml_problem("<svg><g></svg>", tags) != "");
  CHECK(xml_problem("<svg><text>a & b</text></svg>", tags) != "");
  CHECK(xml_problem("<svg x=1/>", tags) != "");
}

TEST_CASE("loss plot: one point per drawable row, on a log axis for the loss") {
  std::vector<LossRow> rows = {{10, 2.0, 1e-4},  {20, 1.0, 2e-4}, {30, kNaN, 3e-4}, {40, 0.5, 4e-4},  {50, 0.0, 5e-4},
                               {60, -1.0, 6e-4}, {70, kInf, 7e-4}, {80, 0.1, kNaN}, {kNaN, 0.3, 1e-4}, {100, 0.2, 5e-4}};
  const std::string doc = checked(loss_plot(rows, "run <a&b>"));
  const auto loss = polyline_points(doc, "loss"), lr = polyline_points(doc, "lr");
  REQUIRE(loss.size() == 5);  // steps 10, 20, 40, 80, 100
  CHECK(lr.size() == 8);      // every row with a step and a finite lr
  CHECK(doc.find("10 rows, last loss 0.2 at step 100; 5 skipped (NaN/Inf or loss &lt;= 0)") != std::string::npos);
  CHECK(doc.find("run &lt;a&amp;b&gt;") != std::string::npos);
  // x: linear in the step (steps 10, 20, 40, 80, 100).
  const double dx = (loss[1].first - loss[0].first) / 10;
  CHECK(loss[2].first - loss[1].first == doctest::Approx(20 * dx).epsilon(0.01));
  CHECK(loss[4].first - loss[3].first == doctest::Approx(20 * dx).epsilon(0.01));
  // y: by log10 of the loss (2, 1, 0.5, 0.1, 0.2), up for larger values.
  const double per_decade = (loss[3].second - loss[1].second) / 1.0;  // 1 -> 0.1
  CHECK(per_decade > 0);
  CHECK(loss[1].second - loss[0].second == doctest::Approx(per_decade * std::log10(2.0)).epsilon(0.01));
  CHECK(loss[2].second - loss[1].second == doctest::Approx(per_decade * std::log10(2.0)).epsilon(0.01));
  CHECK(loss[4].second - loss[3].second == doctest::Approx(-per_decade * std::log10(2.0)).epsilon(0.01));
  // The tick labelled "1" on the left axis sits where the row of loss 1 is drawn (labels are set
  // 4 px below their tick, to centre them).
  CHECK(text_y(doc, "1", "end") - 4 == doctest::Approx(loss[1].second).epsilon(0.002));
  CHECK(text_y(doc, "0.1", "end") - 4 == doctest::Approx(loss[3].second).epsilon(0.002));
  // The learning rate is linear on its own axis: 1e-4, 2e-4 and 3e-4 are evenly spaced.
  CHECK(lr[0].second - lr[1].second == doctest::Approx(lr[1].second - lr[2].second).epsilon(0.01));
}

TEST_CASE("loss plot edge cases: one row, constant values, no rows, a long run") {
  const std::string one = checked(loss_plot({{5, 1.5, 1e-3}}, "one"));
  CHECK(polyline_points(one, "loss").size() == 1);
  CHECK(one.find("<circle") != std::string::npos);  // a single point is drawn as a dot
  std::vector<LossRow> flat(20, LossRow{0, 0.7, 2e-4});
  for (int i = 0; i < 20; ++i) flat[i].step = i + 1;
  const std::string constant = checked(loss_plot(flat, "constant"));
  const auto pts = polyline_points(constant, "loss");
  REQUIRE(pts.size() == 20);
  CHECK(pts.front().second == pts.back().second);
  const std::string none = checked(loss_plot({}, "none"));
  CHECK(none.find("no rows in loss.csv yet") != std::string::npos);
  CHECK(polyline_points(none, "loss").empty());
  const std::string all_bad = checked(loss_plot({{1, kNaN, kNaN}, {2, -3, kInf}}, "bad"));
  CHECK(all_bad.find("2 rows; 2 skipped") != std::string::npos);
  CHECK(all_bad.find("no drawable rows") != std::string::npos);
  const std::string big = checked(loss_plot(curve(2000), "long"));
  CHECK(polyline_points(big, "loss").size() == 2000);
}

TEST_CASE("read_loss_csv finds the columns by name and keeps unparsable fields as NaN") {
  fm::testing::TempDir tmp("fm_test_plots");
  const std::string path = tmp.path("loss.csv");
  std::ofstream(path) << "step,loss,lr,grad_norm,seconds\n10,1.500000,0.001,0.5,1.0\n20,nan,0.002,0.5,2.0\n"
                         "30,-nan,inf,0.5,3.0\ngarbage\n40,0.9x,0.002,0.5,4.0\n50,0.800000,0.0015,0.5,5.0\n";
  const std::vector<LossRow> rows = read_loss_csv(path);
  REQUIRE(rows.size() == 6);
  CHECK(rows[0].step == 10);
  CHECK(rows[0].loss == 1.5);
  CHECK(rows[0].lr == 0.001);
  CHECK(std::isnan(rows[1].loss));
  CHECK(std::isinf(rows[2].lr));
  CHECK(std::isnan(rows[3].step));
  CHECK(std::isnan(rows[4].loss));
  CHECK(polyline_points(loss_plot(rows, "t").str(), "loss").size() == 2);
  CHECK(read_loss_csv(tmp.path("missing.csv")).empty());
  // write_loss_svg: atomically, no temporary left behind.
  write_loss_svg(path, tmp.path("loss.svg"), "t");
  CHECK(std::filesystem::exists(tmp.path("loss.svg")));
  CHECK(!std::filesystem::exists(tmp.path("loss.svg.tmp")));
}

TEST_CASE("histogram: 1-2-5 bins holding every finite value, the mean marked") {
  std::vector<double> v;
  for (int i = 0; i < 1000; ++i) v.push_back(2.0 + std::sin(i * 0.7) + 0.3 * std::cos(i * 1.3));
  v.push_back(kNaN);
  v.push_back(kInf);
  const std::string doc = checked(histogram_plot(v, "nll", "NLL (nats)"));
  double mean = 0.0;
  for (int i = 0; i < 1000; ++i) mean += v[i] / 1000;
  CHECK(doc.find(">mean " + short_number(mean) + "</text>") != std::string::npos);
  CHECK(doc.find("1000 values, bins of 0.1; 2 NaN/Inf skipped") != std::string::npos);
  CHECK(doc.find(">NLL (nats)</text>") != std::string::npos);
  CHECK(doc.find("id=\"mean\"") != std::string::npos);
  // The bars: at most 50 of them.
  std::vector<double> heights;
  for (size_t at = doc.find("<rect", 1); at != std::string::npos; at = doc.find("<rect", at + 1)) {
    const size_t h = doc.find("height=\"", at) + 8;
    if (doc.find("fill=\"#6f9fd8\"", at) < doc.find("/>", at)) heights.push_back(std::stod(doc.substr(h)));
  }
  REQUIRE(!heights.empty());
  CHECK(heights.size() <= 50);
  checked(histogram_plot({3.25, 3.25, 3.25}, "constant", "bits/dim"));
  checked(histogram_plot({1.0}, "one", "bits/dim"));
  CHECK(checked(histogram_plot({kNaN}, "none", "bits/dim")).find("no finite values") != std::string::npos);
}

TEST_CASE("rsvg-convert renders the loss plot and the histogram to PNGs") {
  if (std::system("command -v rsvg-convert >/dev/null 2>&1") != 0) {
    MESSAGE("rsvg-convert not found (Debian: apt-get install librsvg2-bin; scripts/build.sh installs it); skipping");
    return;
  }
  fm::testing::TempDir tmp("fm_test_plots");
  loss_plot(curve(300), "render").save(tmp.path("loss.svg"));
  std::vector<double> v;
  for (int i = 0; i < 500; ++i) v.push_back(1.0 + 0.01 * (i % 97) + 0.002 * i);
  histogram_plot(v, "render", "bits/dim").save(tmp.path("hist.svg"));
  for (const auto& [name, w, h] : {std::tuple<std::string, uint32_t, uint32_t>{"loss", 800, 450}, {"hist", 640, 400}}) {
    CAPTURE(name);
    const std::string svg = tmp.path(name + ".svg"), png = tmp.path(name + ".png");
    const int status = std::system(("rsvg-convert -o '" + png + "' '" + svg + "' 2>'" + tmp.path("err.txt") + "'").c_str());
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    std::ifstream in(png, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(bytes.size() > 33);
    CHECK(bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
    CHECK(bytes.compare(12, 4, "IHDR") == 0);
    auto be32 = [&](size_t at) {
      return (uint32_t(uint8_t(bytes[at])) << 24) | (uint32_t(uint8_t(bytes[at + 1])) << 16) |
             (uint32_t(uint8_t(bytes[at + 2])) << 8) | uint32_t(uint8_t(bytes[at + 3]));
    };
    CHECK(be32(16) == w);  // the SVG's own size: rsvg-convert renders at 1 px per user unit
    CHECK(be32(20) == h);
  }
}

}  // TEST_SUITE
