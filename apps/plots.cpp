// apps/plots.cpp: loss.svg and the NLL histogram.
#include "apps/plots.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <tuple>

namespace fm {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const std::string kLossColor = "#1f5fa8", kLrColor = "#d9730d", kAxisColor = "#333333", kGridColor = "#e4e4e4";

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  for (std::string field; std::getline(ss, field, ',');) out.push_back(field);
  return out;
}

// The whole field as a number (strtod takes "nan", "-nan" and "inf" too), else NaN.
double parse_field(const std::string& s) {
  if (s.empty()) return kNaN;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  while (*end == ' ' || *end == '\r') ++end;
  return *end == '\0' ? v : kNaN;
}

// " (x 1e-3)" for an axis whose labels carry a common exponent.
std::string exponent_note(const TickSet& t) {
  return t.exponent == 0 ? "" : " (\u00d7 1e" + std::to_string(t.exponent) + ")";
}

// The plot area inside the margins.
struct Frame {
  double left, right, top, bottom;  // pixels of its edges
};

// Light grid lines at the labelled ticks (all of the x axis's), behind the curves.
void grid_lines(Svg& svg, const Frame& f, const Axis& x, const TickSet& xt, const Axis* y, const TickSet* yt) {
  const std::string g = "stroke=\"" + kGridColor + "\" stroke-width=\"1\"";
  for (const Tick& t : xt.ticks) svg.line(x.map(t.value), f.top, x.map(t.value), f.bottom, g);
  if (y)
    for (const Tick& t : yt->ticks)
      if (!t.label.empty()) svg.line(f.left, y->map(t.value), f.right, y->map(t.value), g);
}

}  // namespace

std::vector<LossRow> read_loss_csv(const std::string& path) {
  std::vector<LossRow> rows;
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return rows;
  const std::vector<std::string> header = split_csv(line);
  auto column = [&](const std::string& name) {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name || header[i] == name + "\r") return int(i);
    return -1;
  };
  const int cs = column("step"), cl = column("loss"), cr = column("lr");
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::vector<std::string> f = split_csv(line);
    auto get = [&](int c) { return c >= 0 && c < int(f.size()) ? parse_field(f[c]) : kNaN; };
    rows.push_back({get(cs), get(cl), get(cr)});
  }
  return rows;
}

namespace {

using Points = std::vector<std::pair<double, double>>;  // (step, value)

// The plot's ranges. x: from 0 to the last step. Loss: its range padded by 4% of its decades, a
// constant widened to a factor 1.5 either way. Learning rate: from 0 to its maximum plus 5%.
struct LossRanges {
  double xhi = 0.0, llo = kNaN, lhi = kNaN, rlo = 0.0, rhi = 0.0;
};
LossRanges loss_ranges(const Points& loss, const Points& lr) {
  LossRanges r;
  for (const auto& [s, v] : loss) {
    r.xhi = std::max(r.xhi, s);
    r.llo = std::isnan(r.llo) ? v : std::min(r.llo, v);
    r.lhi = std::isnan(r.lhi) ? v : std::max(r.lhi, v);
  }
  for (const auto& [s, v] : lr) {
    r.xhi = std::max(r.xhi, s);
    r.rlo = std::min(r.rlo, v);
    r.rhi = std::max(r.rhi, v);
  }
  if (!(r.xhi > 0)) r.xhi = 1.0;
  if (std::isnan(r.llo)) r.llo = 0.1, r.lhi = 10.0;
  if (r.lhi <= r.llo * (1 + 1e-9)) r.llo /= 1.5, r.lhi *= 1.5;
  const double pad = 0.04 * std::log10(r.lhi / r.llo);
  r.llo /= std::pow(10.0, pad);
  r.lhi *= std::pow(10.0, pad);
  r.rhi = r.rhi > r.rlo ? r.rhi + 0.05 * (r.rhi - r.rlo) : r.rlo + 1.0;
  return r;
}

// The two curves; a single row is a point, which a polyline does not show.
void draw_curve(Svg& svg, const Points& pts, const Axis& x, const Axis& y, const std::string& attrs, const std::string& color) {
  Points px;
  for (const auto& [s, v] : pts) px.push_back({x.map(s), y.map(v)});
  svg.polyline(px, attrs);
  if (px.size() == 1) svg.circle(px[0].first, px[0].second, 3, "fill=\"" + color + "\"");
}

// The title, the note under it (rows, the last loss, what was skipped) and the legend, right-aligned
// above the plot where no curve can run under it.
void loss_header(Svg& svg, const Frame& f, const std::string& title, size_t rows, const Points& loss, size_t skipped) {
  svg.text(f.left, 22, title, "start", 14, 0, "font-weight=\"bold\" fill=\"" + kAxisColor + "\"");
  std::string note = std::to_string(rows) + (rows == 1 ? " row" : " rows");
  if (!loss.empty()) {
    const double step = loss.back().first;  // steps are integers; %.4g would write 2e+05
    note += ", last loss " + short_number(loss.back().second) + " at step " +
            (step == std::floor(step) && std::fabs(step) < 1e15 ? std::to_string(int64_t(step)) : short_number(step));
  }
  if (skipped > 0) note += "; " + std::to_string(skipped) + " skipped (NaN/Inf or loss <= 0)";
  svg.text(f.left, 40, note, "start", 11, 0, "fill=\"#666\"");
  double x = f.right;
  for (const auto& [label, dash, color] : {std::tuple<std::string, std::string, std::string>{"learning rate", " stroke-dasharray=\"6 3\"", kLrColor},
                                           {"loss", "", kLossColor}}) {
    x -= text_width(label, 12);
    svg.text(x, 26, label, "start", 12, 0, "fill=\"" + kAxisColor + "\"");
    svg.line(x - 30, 22, x - 6, 22, "stroke=\"" + color + "\" stroke-width=\"2\"" + dash);
    x -= 30 + 16;
  }
}

}  // namespace

Svg loss_plot(const std::vector<LossRow>& rows, const std::string& title) {
  const int W = 800, H = 450;
  Points loss, lr;  // the drawable rows
  size_t skipped = 0;
  for (const LossRow& r : rows) {
    const bool step_ok = std::isfinite(r.step);
    if (step_ok && std::isfinite(r.loss) && r.loss > 0) loss.push_back({r.step, r.loss});
    else ++skipped;
    if (step_ok && std::isfinite(r.lr)) lr.push_back({r.step, r.lr});
  }
  const LossRanges g = loss_ranges(loss, lr);
  const TickSet xt = linear_ticks(0.0, g.xhi, 8, 1.0), lt = log_ticks(g.llo, g.lhi), rt = linear_ticks(g.rlo, g.rhi, 6);
  const Frame f{22 + 10 + widest_label(lt) + 4, W - (22 + 10 + widest_label(rt) + 4), 52, H - 50.0};
  const Axis xa{0.0, g.xhi, false, f.left, f.right}, la{g.llo, g.lhi, true, f.bottom, f.top}, ra{g.rlo, g.rhi, false, f.bottom, f.top};

  Svg svg(W, H);
  grid_lines(svg, f, xa, xt, &la, &lt);
  svg.line(f.left, f.top, f.right, f.top, "stroke=\"" + kGridColor + "\" stroke-width=\"1\"");
  draw_curve(svg, lr, xa, ra, "id=\"lr\" stroke=\"" + kLrColor + "\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\"", kLrColor);
  draw_curve(svg, loss, xa, la, "id=\"loss\" stroke=\"" + kLossColor + "\" stroke-width=\"1.5\" stroke-linejoin=\"round\"", kLossColor);
  if (loss.empty() && lr.empty())
    svg.text(0.5 * (f.left + f.right), 0.5 * (f.top + f.bottom), rows.empty() ? "no rows in loss.csv yet" : "no drawable rows",
             "middle", 14, 0, "fill=\"#888\"");
  draw_axis(svg, xa, xt, Side::Bottom, f.bottom, kAxisColor);
  draw_axis(svg, la, lt, Side::Left, f.left, kLossColor);
  draw_axis(svg, ra, rt, Side::Right, f.right, kLrColor);
  const double ymid = 0.5 * (f.top + f.bottom);
  svg.text(0.5 * (f.left + f.right), H - 12, "step", "middle", 13, 0, "fill=\"" + kAxisColor + "\"");
  svg.text(16, ymid, "loss (log scale)" + exponent_note(lt), "middle", 13, -90, "fill=\"" + kLossColor + "\"");
  svg.text(W - 16, ymid, "learning rate" + exponent_note(rt), "middle", 13, 90, "fill=\"" + kLrColor + "\"");
  loss_header(svg, f, title, rows.size(), loss, skipped);
  return svg;
}

void write_loss_svg(const std::string& csv_path, const std::string& svg_path, const std::string& title) {
  loss_plot(read_loss_csv(csv_path), title).save(svg_path);
}

namespace {

// Bins of a 1-2-5 width, about sqrt(n) of them (5 to 50), with edges at its multiples; a constant
// gets one bar in a range around it.
struct Bins {
  double start, width;
  std::vector<int64_t> counts;
};
Bins histogram_bins(const std::vector<double>& v) {
  double lo = v.empty() ? 0.0 : *std::min_element(v.begin(), v.end()), hi = v.empty() ? 1.0 : *std::max_element(v.begin(), v.end());
  if (hi - lo <= 1e-9 * std::max(1.0, std::fabs(lo))) {
    const double d = std::max(0.05 * std::fabs(lo), 0.05);
    lo -= d, hi += d;
  }
  const int target = std::clamp(int(std::ceil(std::sqrt(double(v.size())))), 5, 50);
  Bins b;
  b.width = nice_step(hi - lo, target);
  b.start = std::floor(lo / b.width) * b.width;
  b.counts.assign(size_t(std::max(1, int(std::floor((hi - b.start) / b.width)) + 1)), 0);
  const int last = int(b.counts.size()) - 1;
  for (double x : v) ++b.counts[size_t(std::clamp(int(std::floor((x - b.start) / b.width)), 0, last))];
  return b;
}

}  // namespace

Svg histogram_plot(const std::vector<double>& values, const std::string& title, const std::string& x_label) {
  const int W = 640, H = 400;
  std::vector<double> v;
  for (double x : values)
    if (std::isfinite(x)) v.push_back(x);
  const size_t skipped = values.size() - v.size();
  const Bins bin = histogram_bins(v);
  const double start = bin.start, width = bin.width;
  const std::vector<int64_t>& counts = bin.counts;
  const int bins = int(counts.size());
  const int64_t most = std::max<int64_t>(1, *std::max_element(counts.begin(), counts.end()));
  double mean = 0.0;
  for (double x : v) mean += x / double(v.size());

  const double xlo = start, xhi = start + bins * width, yhi = double(most) * 1.08;
  const TickSet xt = linear_ticks(xlo, xhi, 7), yt = linear_ticks(0.0, yhi, 5, 1.0);
  const Frame f{22 + 10 + widest_label(yt) + 4, W - 24.0, 58, H - 50.0};
  const Axis xa{xlo, xhi, false, f.left, f.right}, ya{0.0, yhi, false, f.bottom, f.top};

  Svg svg(W, H);
  grid_lines(svg, f, xa, TickSet{}, &ya, &yt);
  for (int b = 0; b < bins; ++b) {
    const double x0 = xa.map(start + b * width), x1 = xa.map(start + (b + 1) * width), y = ya.map(double(counts[b]));
    if (counts[b] > 0) svg.rect(x0, y, x1 - x0, f.bottom - y, "fill=\"#6f9fd8\" stroke=\"white\" stroke-width=\"0.5\"");
  }
  if (v.empty()) svg.text(0.5 * (f.left + f.right), 0.5 * (f.top + f.bottom), "no finite values", "middle", 14, 0, "fill=\"#888\"");
  else {  // the mean: a dashed line through the plot, labelled above it
    const double xm = xa.map(mean);
    svg.line(xm, f.top, xm, f.bottom, "id=\"mean\" stroke=\"#c0392b\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"");
    const std::string label = "mean " + short_number(mean);
    const double w = text_width(label, 12);
    const double lx = std::clamp(xm, f.left + 0.5 * w, f.right - 0.5 * w);  // inside the picture
    svg.text(lx, f.top - 6, label, "middle", 12, 0, "fill=\"#c0392b\"");
  }
  draw_axis(svg, xa, xt, Side::Bottom, f.bottom, kAxisColor);
  draw_axis(svg, ya, yt, Side::Left, f.left, kAxisColor);
  svg.text(0.5 * (f.left + f.right), H - 12, x_label + exponent_note(xt), "middle", 13, 0, "fill=\"" + kAxisColor + "\"");
  svg.text(16, 0.5 * (f.top + f.bottom), "samples" + exponent_note(yt), "middle", 13, -90, "fill=\"" + kAxisColor + "\"");
  svg.text(f.left, 22, title, "start", 14, 0, "font-weight=\"bold\" fill=\"" + kAxisColor + "\"");
  std::string note = std::to_string(v.size()) + " values, bins of " + short_number(width);
  if (skipped > 0) note += "; " + std::to_string(skipped) + " NaN/Inf skipped";
  svg.text(f.left, 38, note, "start", 11, 0, "fill=\"#666\"");
  return svg;
}

}  // namespace fm
