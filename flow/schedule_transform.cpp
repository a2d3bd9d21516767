// flow/schedule_transform.cpp
#include "flow/schedule_transform.h"

#include <cmath>
#include <map>
#include <stdexcept>
#include <vector>

#include "autodiff/ops.h"

namespace fm {

namespace {

// kappa = b / (a + b) and its time derivative (b' a - b a') / (a + b)^2.
double kappa(const ProbPath::Coeffs& c) { return c.b / (c.a + c.b); }
double kappa_rate(const ProbPath::Coeffs& c) { return (c.db * c.a - c.b * c.da) / ((c.a + c.b) * (c.a + c.b)); }

void check_starts_at_noise(const ProbPath& p) {
  const ProbPath::Coeffs c = p.coeffs(0.0);
  if (std::fabs(c.a - 1.0) > 1e-12 || std::fabs(c.b) > 1e-12)
    throw std::runtime_error("path " + p.name() + " does not start at the standard normal (a(0) = 1, b(0) = 0): " +
                             "a scheduler change takes condot, cosine, poly:N and linear-vp");
}

constexpr double kEarliest = 1e-6;  // times below it are evaluated there (see the header)

}  // namespace

ScheduleTransformedField::ScheduleTransformedField(const FieldModel& trained, const ProbPath& trained_path,
                                                   const ProbPath& path)
    : trained_(trained), from_(trained_path), to_(path) {
  check_starts_at_noise(from_);
  check_starts_at_noise(to_);
  kappa_end_ = kappa(from_.coeffs(1.0));
}

ScheduleTransformedField::TimeMap ScheduleTransformedField::map(double t) const {
  const ProbPath::Coeffs bar = to_.coeffs(t);
  const double target = kappa(bar), target_rate = kappa_rate(bar);
  TimeMap m{};
  if (target >= kappa_end_) {  // beyond the trained path's end: r = 1, a rescaling only
    const ProbPath::Coeffs c = from_.coeffs(1.0);
    return {1.0, 0.0, bar.b / c.b, bar.db / c.b};
  }
  // kappa is increasing on [0, 1]: bisection to the last bit (60 halvings of [0, 1]).
  double lo = 0.0, hi = 1.0;
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    (kappa(from_.coeffs(mid)) < target ? lo : hi) = mid;
  }
  m.r = 0.5 * (lo + hi);
  const ProbPath::Coeffs c = from_.coeffs(m.r);
  const double rate = kappa_rate(c);
  if (!(rate > 1e-12)) {
    if (t < kEarliest) return map(kEarliest);
    throw std::runtime_error("scheduler change: the path " + from_.name() + " does not advance at r = " + std::to_string(m.r));
  }
  m.dr = target_rate / rate;
  // s = b_bar / b(r) = a_bar / a(r): the form with the larger denominator.
  if (c.b >= c.a) {
    m.s = bar.b / c.b;
    m.ds = (bar.db * c.b - bar.b * c.db * m.dr) / (c.b * c.b);
  } else {
    m.s = bar.a / c.a;
    m.ds = (bar.da * c.a - bar.a * c.da * m.dr) / (c.a * c.a);
  }
  return m;
}

// v_bar(x, t) = (s'/s) x + s r' v(x / s, r), per sample: the coefficients are [B, 1, ...] tensors
// that broadcast over each sample's dimensions. Inside an ODE solve every sample has the same t,
// so the time map is computed once per distinct time.
template <class Field>
Var ScheduleTransformedField::moved(const Var& x, const Tensor& t, const Field& field) const {
  const std::vector<float> ts = t.to_vector();
  const int64_t B = int64_t(ts.size());
  std::vector<float> inv_s(ts.size()), rs(ts.size()), drift(ts.size()), gain(ts.size());
  std::map<float, TimeMap> seen;
  for (int64_t i = 0; i < B; ++i) {
    auto it = seen.find(ts[i]);
    if (it == seen.end()) it = seen.emplace(ts[i], map(ts[i])).first;
    const TimeMap& m = it->second;
    inv_s[i] = float(1.0 / m.s), rs[i] = float(m.r), drift[i] = float(m.ds / m.s), gain[i] = float(m.s * m.dr);
  }
  Shape per_sample(size_t(x.value().ndim()), 1);
  per_sample[0] = B;
  const Device dev = x.value().device();
  auto column = [&](const std::vector<float>& v) { return Var(Tensor::from(v, per_sample, dev)); };
  const Var v = field(mul(x, column(inv_s)), Tensor::from(rs, {B}, dev));
  return add(mul(x, column(drift)), mul(v, column(gain)));
}

Var ScheduleTransformedField::forward(const Var& x, const Tensor& t, Rng* dropout) const {
  return moved(x, t, [&](const Var& xs, const Tensor& r) { return trained_.forward(xs, r, dropout); });
}

Var ScheduleTransformedField::forward_class(const Var& x, const Tensor& t, const Tensor& onehot, Rng* dropout) const {
  return moved(x, t, [&](const Var& xs, const Tensor& r) { return trained_.forward_class(xs, r, onehot, dropout); });
}

}  // namespace fm
