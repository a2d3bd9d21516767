// apps/svg.h: a small SVG writer and the axis arithmetic of charts (tick values and labels,
// value-to-pixel mapping, drawing an axis), for the plots of apps/plots.h.
//
// SVG is plain XML text, so no library is needed: Svg collects elements and writes the document
// atomically (PATH.tmp, then rename), like the checkpoints. Ticks follow the usual rules: linear
// axes step by 1, 2 or 5 times a power of ten; log axes have a major tick at every power of ten
// and minor ticks at 2..9 times it, with more of them labelled when the range spans too few
// decades to read the axis from the powers alone.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace fm {

// ---- ticks ---------------------------------------------------------------------------------------

struct Tick {
  double value = 0.0;
  std::string label;  // empty: an unlabelled (minor) tick
  bool major = true;  // drawn longer; a log axis's powers of ten
  int rank = 0;       // label priority when labels would overlap: 0 first (powers of ten), then 1, 2
};

struct TickSet {
  std::vector<Tick> ticks;  // ascending
  int exponent = 0;         // labels are value / 10^exponent; the axis title says "x 1e<exponent>"
};

// The 1-2-5 step (1, 2 or 5 times a power of ten) closest above span / target; 1 for span <= 0.
double nice_step(double span, int target);

// Ticks at the multiples of nice_step(hi - lo, target) (at least min_step) inside [lo, hi], all
// labelled with the same number of decimals. Values below 0.01 or from 1e6 up (in magnitude) get
// a common exponent, so that 0.0005 .. 0.002 reads 0.5 .. 2.0 with "x 1e-3".
TickSet linear_ticks(double lo, double hi, int target = 6, double min_step = 0.0);

// Ticks of a log axis over [lo, hi] (0 < lo <= hi): majors at the powers of ten, minors at 2..9
// times them. Labelled: the powers of ten when at least two are in range; otherwise also 2 and 5
// times them (rank 1), and the other minors (rank 2) if that still gives fewer than three labels;
// and when even that gives fewer than two (a range inside one step, e.g. 1.2 .. 1.9), the linear
// ticks of [lo, hi] placed on the log axis instead.
TickSet log_ticks(double lo, double hi);

// ---- mapping -------------------------------------------------------------------------------------

// Values lo..hi onto pixels p0..p1 (p0 > p1 for a y axis, whose pixels grow downwards); on a log
// axis by log10. A constant range (lo == hi) maps everything to the middle.
struct Axis {
  double lo = 0.0, hi = 1.0;
  bool log = false;
  double p0 = 0.0, p1 = 1.0;
  double map(double v) const;
};

// ---- the document --------------------------------------------------------------------------------

// `&`, `<`, `>`, `"` and `'` as XML entities.
std::string xml_escape(const std::string& s);

// The estimated width in pixels of `s` at font size `size` (DejaVu Sans-like metrics; renderers
// have no way to tell us, and margins only need to be about right).
double text_width(const std::string& s, double size);

class Svg {
 public:
  Svg(int width, int height);
  // `attrs` are extra attributes written as given, e.g. R"(stroke="#333" stroke-width="1")".
  void line(double x1, double y1, double x2, double y2, const std::string& attrs);
  void rect(double x, double y, double w, double h, const std::string& attrs);
  void circle(double x, double y, double r, const std::string& attrs);
  void polyline(const std::vector<std::pair<double, double>>& points, const std::string& attrs);
  // `s` is escaped; anchor is start, middle or end; rotate in degrees about (x, y).
  void text(double x, double y, const std::string& s, const std::string& anchor = "start", double size = 12,
            double rotate = 0, const std::string& attrs = "");
  std::string str() const;  // the whole document
  void save(const std::string& path) const;  // atomically; throws naming the path

  int width() const { return width_; }
  int height() const { return height_; }

 private:
  int width_, height_;
  std::string body_;
};

// Where an axis is drawn: below the plot, or on its left or right side.
enum class Side { Bottom, Left, Right };

// Draws the axis line at pixel `at` (its y for Bottom, its x otherwise), the ticks pointing out of
// the plot, and the labels; a label that would overlap one already placed is left out, placing
// them by rank, so the powers of ten of a log axis always show.
void draw_axis(Svg& svg, const Axis& axis, const TickSet& ticks, Side side, double at, const std::string& color);

// The widest label of `ticks` in pixels at the axis font size.
double widest_label(const TickSet& ticks);

// A number for a title or a note: %.4g, without a trailing ".0".
std::string short_number(double v);

}  // namespace fm
