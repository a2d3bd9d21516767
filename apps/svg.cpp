// apps/svg.cpp: the SVG writer, tick values and labels, and axis drawing.
#include "apps/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tensor/io/npy.h"  // AtomicFileWriter

namespace fm {

namespace {

constexpr double kAxisFont = 12;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Pixel coordinates with one decimal: plenty for a screen, and it keeps the files small.
std::string px(double v) { return fmt("%.1f", std::fabs(v) < 0.05 ? 0.0 : v); }

// v with `decimals` decimals, never "-0".
std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

// A log axis label for m * 10^k: plain decimals for moderate k, else "2e-7".
std::string log_label(int m, int k) {
  if (k >= -4 && k <= 5) return fixed(m * std::pow(10.0, k), std::max(0, -k));
  return std::to_string(m) + "e" + std::to_string(k);
}

}  // namespace

double nice_step(double span, int target) {
  if (!(span > 0) || !std::isfinite(span)) return 1.0;
  const double raw = span / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double n = raw / mag;  // in [1, 10)
  const double m = n <= 1.0 + 1e-9 ? 1 : n <= 2.0 + 1e-9 ? 2 : n <= 5.0 + 1e-9 ? 5 : 10;
  return m * mag;
}

TickSet linear_ticks(double lo, double hi, int target, double min_step) {
  TickSet t;
  if (hi < lo) std::swap(lo, hi);
  const double step = std::max(nice_step(hi - lo, target), min_step);
  const double first = std::ceil(lo / step - 1e-9), last = std::floor(hi / step + 1e-9);
  std::vector<double> values;
  for (double k = first; k <= last; ++k) values.push_back(std::fabs(k) < 0.5 ? 0.0 : k * step);  // k * step: no drift
  if (values.empty()) values.push_back(lo);  // cannot happen for a sane range; keeps the axis labelled
  double amax = 0.0;
  for (double v : values) amax = std::max(amax, std::fabs(v));
  if (amax > 0 && (amax < 1e-2 || amax >= 1e6)) t.exponent = int(std::floor(std::log10(amax)));
  const double scale = std::pow(10.0, t.exponent);
  const int decimals = std::max(0, -int(std::floor(std::log10(step / scale) + 1e-9)));
  for (double v : values) t.ticks.push_back({v, fixed(v / scale, decimals), true, 0});
  return t;
}

TickSet log_ticks(double lo, double hi) {
  TickSet t;
  if (!(lo > 0) || hi < lo) return linear_ticks(lo, hi);
  const int klo = int(std::floor(std::log10(lo))), khi = int(std::ceil(std::log10(hi)));
  int powers = 0;
  for (int k = klo; k <= khi; ++k)
    for (int m = 1; m <= 9; ++m) {
      const double v = m * std::pow(10.0, k);
      if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9)) continue;
      t.ticks.push_back({v, log_label(m, k), m == 1, m == 1 ? 0 : (m == 2 || m == 5) ? 1 : 2});
      powers += m == 1;
    }
  // Too few decades to read the axis from the powers of ten alone: label more, by rank.
  std::vector<std::string> all;
  for (const Tick& tk : t.ticks) all.push_back(tk.label);
  auto keep_labels_up_to = [&](int rank) {
    int labelled = 0;
    for (size_t i = 0; i < t.ticks.size(); ++i) {
      t.ticks[i].label = t.ticks[i].rank <= rank ? all[i] : "";
      labelled += t.ticks[i].rank <= rank;
    }
    return labelled;
  };
  if (powers >= 2) {
    keep_labels_up_to(0);
    return t;
  }
  if (keep_labels_up_to(1) >= 3) return t;
  if (keep_labels_up_to(2) >= 2) return t;
  // Inside one 1..9 step: the linear ticks of the range, on the log axis.
  TickSet lin = linear_ticks(lo, hi, 5);
  for (Tick& tk : lin.ticks)
    if (!(tk.value > 0)) tk.label.clear();
  return lin;
}

double Axis::map(double v) const {
  const double a = log ? std::log10(lo) : lo, b = log ? std::log10(hi) : hi, x = log ? std::log10(v) : v;
  if (!(b > a)) return 0.5 * (p0 + p1);
  return p0 + (x - a) / (b - a) * (p1 - p0);
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  return out;
}

double text_width(const std::string& s, double size) {
  double em = 0.0;
  for (unsigned char c : s) {
    if ((c & 0xC0) == 0x80) continue;  // a UTF-8 continuation byte: counted with its lead byte
    em += (c == '.' || c == ',' || c == ' ' || c == 'i' || c == 'l' || c == '(' || c == ')') ? 0.33
          : (c >= 'A' && c <= 'Z') || c == 'm' || c == 'w'                                  ? 0.75
                                                                                            : 0.62;
  }
  return em * size;
}

Svg::Svg(int width, int height) : width_(width), height_(height) {}

void Svg::line(double x1, double y1, double x2, double y2, const std::string& attrs) {
  body_ += "<line x1=\"" + px(x1) + "\" y1=\"" + px(y1) + "\" x2=\"" + px(x2) + "\" y2=\"" + px(y2) + "\" " + attrs + "/>\n";
}

void Svg::rect(double x, double y, double w, double h, const std::string& attrs) {
  body_ += "<rect x=\"" + px(x) + "\" y=\"" + px(y) + "\" width=\"" + px(std::max(0.0, w)) + "\" height=\"" +
           px(std::max(0.0, h)) + "\" " + attrs + "/>\n";
}

void Svg::circle(double x, double y, double r, const std::string& attrs) {
  body_ += "<circle cx=\"" + px(x) + "\" cy=\"" + px(y) + "\" r=\"" + px(r) + "\" " + attrs + "/>\n";
}

void Svg::polyline(const std::vector<std::pair<double, double>>& points, const std::string& attrs) {
  body_ += "<polyline fill=\"none\" " + attrs + " points=\"";
  for (size_t i = 0; i < points.size(); ++i) {
    if (i) body_ += ' ';
    body_ += px(points[i].first);
    body_ += ',';
    body_ += px(points[i].second);
  }
  body_ += "\"/>\n";
}

void Svg::text(double x, double y, const std::string& s, const std::string& anchor, double size, double rotate,
               const std::string& attrs) {
  body_ += "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\" font-size=\"" + fmt("%g", size) + "\" text-anchor=\"" + anchor + "\"";
  if (rotate != 0) body_ += " transform=\"rotate(" + fmt("%g", rotate) + " " + px(x) + " " + px(y) + ")\"";
  if (!attrs.empty()) {
    body_ += ' ';
    body_ += attrs;
  }
  body_ += '>';
  body_ += xml_escape(s);
  body_ += "</text>\n";
}

std::string Svg::str() const {
  const std::string w = std::to_string(width_), h = std::to_string(height_);
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + w + "\" height=\"" + h + "\" viewBox=\"0 0 " + w + " " + h +
         "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
         "<rect x=\"0\" y=\"0\" width=\"" + w + "\" height=\"" + h + "\" fill=\"white\"/>\n" +
         body_ + "</svg>\n";
}

void Svg::save(const std::string& path) const {
  AtomicFileWriter out(path);
  out.write(str());
  out.commit();
}

void draw_axis(Svg& svg, const Axis& axis, const TickSet& ticks, Side side, double at, const std::string& color) {
  const std::string stroke = "stroke=\"" + color + "\" stroke-width=\"1\"";
  const double dir = side == Side::Left ? -1 : 1;  // ticks point out of the plot
  if (side == Side::Bottom) svg.line(axis.p0, at, axis.p1, at, stroke);
  else svg.line(at, axis.p0, at, axis.p1, stroke);
  std::vector<std::pair<double, double>> placed;  // label extents along the axis
  std::vector<const Tick*> order;
  for (const Tick& t : ticks.ticks) {
    const double p = axis.map(t.value);
    const double len = t.major ? 5 : 3;
    if (side == Side::Bottom) svg.line(p, at, p, at + len, stroke);
    else svg.line(at, p, at + dir * len, p, stroke);
    if (!t.label.empty()) order.push_back(&t);
  }
  std::stable_sort(order.begin(), order.end(), [](const Tick* a, const Tick* b) { return a->rank < b->rank; });
  for (const Tick* t : order) {
    const double p = axis.map(t->value);
    // Along the axis a label takes its width (x axis) or its height plus a gap (y axis).
    const double half = side == Side::Bottom ? 0.5 * text_width(t->label, kAxisFont) + 4 : 0.5 * kAxisFont + 1;
    bool clash = false;
    for (const auto& [a, b] : placed) clash |= p + half > a && p - half < b;
    if (clash) continue;
    placed.push_back({p - half, p + half});
    if (side == Side::Bottom) svg.text(p, at + 18, t->label, "middle", kAxisFont, 0, "fill=\"" + color + "\"");
    else svg.text(at + dir * 8, p + 4, t->label, side == Side::Left ? "end" : "start", kAxisFont, 0, "fill=\"" + color + "\"");
  }
}

double widest_label(const TickSet& ticks) {
  double w = 0.0;
  for (const Tick& t : ticks.ticks) w = std::max(w, text_width(t.label, kAxisFont));
  return w;
}

std::string short_number(double v) { return fmt("%.4g", v); }

}  // namespace fm
