// ode/solver.cpp: the explicit Runge–Kutta solvers declared in ode/solver.h.
//
// Every method is a Butcher tableau driven by two ops of the op list (tensor/ops.h): rk_combine_
// forms y0 + h * sum_j w_j k_j (a stage input or the new solution) and rk_error_ratio forms
// dopri5's mixed norm. Arithmetic: the state and the stages k_j are float32 tensors on the
// state's device (as torchdiffeq with float32 tensors); each element's combination is accumulated
// in double and rounded to float once. Time and step sizes are double, on the host. The results
// do not depend on the number of threads. Scratch tensors are allocated once per odeint call,
// never inside the step loop.
#include "ode/solver.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include "tensor/ops.h"

namespace fm {
namespace {

constexpr int kMaxStages = 7;

// c: stage times; a: stage weights (row i uses k_0..k_{i-1}); b: solution weights;
// e: error weights b - b_hat (adaptive methods only).
struct Tableau {
  int stages;
  double c[kMaxStages];
  double a[kMaxStages][kMaxStages];
  double b[kMaxStages];
  double e[kMaxStages];
};

const Tableau kEuler = {1, {0}, {{0}}, {1}, {}};
const Tableau kMidpoint = {2, {0, 0.5}, {{0}, {0.5}}, {0, 1}, {}};
const Tableau kHeun = {2, {0, 1}, {{0}, {1}}, {0.5, 0.5}, {}};
// torchdiffeq's rk4 (rk4_alt_step_func) is Kutta's 3/8 rule, not the classic RK4.
const Tableau kRK4 = {4,
                      {0, 1.0 / 3, 2.0 / 3, 1},
                      {{0}, {1.0 / 3}, {-1.0 / 3, 1}, {1, -1, 1}},
                      {1.0 / 8, 3.0 / 8, 3.0 / 8, 1.0 / 8},
                      {}};
// Dormand–Prince RK5(4)7M (Hairer, Nørsett & Wanner I, Table II.5.2). The last row of `a` equals
// b, so stage 7 is f at the new solution: the FSAL property. e = b5 - b4 (b4: embedded 4th order).
const Tableau kDopri5 = {
    7,
    {0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1},
    {{0},
     {1.0 / 5},
     {3.0 / 40, 9.0 / 40},
     {44.0 / 45, -56.0 / 15, 32.0 / 9},
     {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
     {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
     {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}},
    {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0},
    {71.0 / 57600, 0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40}};

const Tableau& tableau(Method m) {
  switch (m) {
    case Method::Euler: return kEuler;
    case Method::Midpoint: return kMidpoint;
    case Method::Heun: return kHeun;
    case Method::RK4: return kRK4;
    case Method::Dopri5: return kDopri5;
  }
  throw std::runtime_error("odeint: invalid method");
}

// Time of a stage: c == 1 lands exactly on the step's end (as torchdiffeq evaluates at t1).
double stage_time(double t, double h, double c, double t_end) {
  return c == 1.0 ? t_end : t + c * h;
}

// The first `m` weights of a tableau row and the first `m` stages, as the combination op wants.
std::span<const double> first(const double* w, int m) { return {w, size_t(m)}; }
std::span<const Tensor* const> first(const Tensor* const* k, int m) { return {k, size_t(m)}; }

[[noreturn]] void nonfinite(const char* method, double t) {
  char msg[128];
  std::snprintf(msg, sizeof msg, "%s: the vector field returned NaN/Inf at t=%.6g", method, t);
  throw std::runtime_error(msg);
}

// Calls f and counts the calls. Whether f returned NaN/Inf is asked once per step for all its
// stages (check), not after every call: each question is a device-to-host transfer.
struct CountedRhs {
  const OdeRhs& f;
  const char* method;
  int64_t nfe = 0;
  void operator()(double t, const Tensor& y, Tensor& dydt) {
    f(t, y, dydt);
    ++nfe;
  }
  // Throws naming the time of the first stage that holds a NaN/Inf.
  void check(const Tensor* const* k, const double* times, int m) const {
    const int bad = first_nonfinite(first(k, m));
    if (bad >= 0) nonfinite(method, times[bad]);
  }
};

// The state's scratch buffers for one solve: `count` tensors shaped and placed like y, allocated
// once per odeint call and never inside the step loop.
struct Stages {
  std::vector<Tensor> buf;
  Tensor* k[kMaxStages];
  Stages(const Tensor& y, int count) {
    for (int j = 0; j < count; ++j) buf.push_back(Tensor::empty(y.shape(), y.device()));
    for (int j = 0; j < count; ++j) k[j] = &buf[size_t(j)];
  }
};

// Fixed grid t_k = t0 + k h, h = (t1 - t0) / steps, the last point forced to t1 (torchdiffeq).
OdeStats integrate_fixed(CountedRhs& f, const Tableau& tab, Tensor& y, double t0, double t1, int64_t steps) {
  Stages st(y, tab.stages);
  Tensor** k = st.k;
  Tensor ytmp = Tensor::empty(y.shape(), y.device());
  double times[kMaxStages];
  const double dt = (t1 - t0) / double(steps);
  for (int64_t s = 0; s < steps; ++s) {
    double ta = t0 + double(s) * dt, tb = s + 1 == steps ? t1 : t0 + double(s + 1) * dt;
    double h = tb - ta;
    f(times[0] = ta, y, *k[0]);
    for (int i = 1; i < tab.stages; ++i) {
      rk_combine_(ytmp, y, h, first(tab.a[i], i), first(k, i));
      f(times[i] = stage_time(ta, h, tab.c[i], tb), ytmp, *k[i]);
    }
    f.check(k, times, tab.stages);
    rk_combine_(y, y, h, first(tab.b, tab.stages), first(k, tab.stages));  // in place: element i reads only y[i]
  }
  OdeStats stats;
  stats.nfe = f.nfe;
  stats.accepted = steps;
  return stats;
}

// Hairer & Wanner II.4 starting step, as torchdiffeq's _select_initial_step with order 4:
//   scale = atol + rtol |y0|; d0 = ||y0 / scale||, d1 = ||f0 / scale||
//   h0 = 0.01 d0 / d1 (1e-6 if either is < 1e-5); f1 = f(t0 + h0, y0 + h0 f0)
//   d2 = ||(f1 - f0) / scale|| / h0
//   h1 = (0.01 / max(d1, d2))^(1/5) (max(1e-6, 1e-3 h0) if both are <= 1e-15); h = min(100 h0, h1)
// Returns the magnitude; dir = +-1 is the direction of time. ytmp and f1 are scratch.
double initial_step(CountedRhs& f, const Tensor& y0, const Tensor& f0, Tensor& ytmp, Tensor& f1, double t0, double dir,
                    const OdeOptions& opt, std::span<const int64_t> parts) {
  double d0 = scaled_norm(y0, nullptr, y0, opt.atol, opt.rtol, parts);
  double d1 = scaled_norm(f0, nullptr, y0, opt.atol, opt.rtol, parts);
  double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
  const double one = 1.0;
  const Tensor* k0 = &f0;
  rk_combine_(ytmp, y0, dir * h0, first(&one, 1), first(&k0, 1));  // y0 + h0 f0, with the sign of time
  const double t = t0 + dir * h0;
  f(t, ytmp, f1);
  const Tensor* k1 = &f1;
  f.check(&k1, &t, 1);
  double d2 = scaled_norm(f1, &f0, y0, opt.atol, opt.rtol, parts) / h0;
  double h1 = (d1 <= 1e-15 && d2 <= 1e-15) ? std::max(1e-6, h0 * 1e-3)
                                           : std::pow(0.01 / std::max(d1, d2), 1.0 / 5.0);
  return std::min(100.0 * h0, h1);
}

// torchdiffeq's _optimal_step_size with safety 0.9, ifactor 10, dfactor 0.2, order 5. Like
// torchdiffeq, dfactor becomes 1 when ratio < 1 (so ratio == 1 exactly is accepted, yet shrinks).
// A NaN/Inf ratio (overflow in the state) is treated as a rejection.
double next_step(double h, double ratio) {
  if (ratio == 0.0) return h * 10.0;
  if (!std::isfinite(ratio)) return h * 0.2;
  double dfactor = ratio < 1.0 ? 1.0 : 0.2;
  return h * std::min(10.0, std::max(0.9 / std::pow(ratio, 1.0 / 5.0), dfactor));
}

[[noreturn]] void fail(const char* what, double t, double h) {
  char msg[192];
  std::snprintf(msg, sizeof msg, "dopri5: %s at t=%.6g (step %.3g)", what, t, h);
  throw std::runtime_error(msg);
}

// One device-to-host scalar per attempted step: the error ratio (dopri5's accept/reject). A NaN
// from f makes the ratio NaN (every stage enters the error with its weight, zeros included), and
// only then are the stages asked which one it was.
// Deviation from torchdiffeq: it steps past t1 and interpolates back (4th-order dense output);
// here the last step is clipped to land exactly on t1, so y(t1) is a 5th-order step result.
OdeStats integrate_dopri5(CountedRhs& f, Tensor& y, double t0, double t1, const OdeOptions& opt,
                          std::span<const int64_t> parts) {
  const Tableau& tab = kDopri5;
  Stages st(y, kMaxStages);
  Tensor** k = st.k;
  Tensor ya = y.clone(), yb = Tensor::empty(y.shape(), y.device()), ytmp = Tensor::empty(y.shape(), y.device());
  Tensor *y0 = &ya, *y1 = &yb;
  const double dir = t1 > t0 ? 1.0 : -1.0;
  double times[kMaxStages];

  f(times[0] = t0, *y0, *k[0]);
  f.check(k, times, 1);
  double h = opt.first_step > 0 ? opt.first_step : initial_step(f, *y0, *k[0], ytmp, *k[1], t0, dir, opt, parts);
  OdeStats stats;
  double t = t0;
  while (t != t1) {
    if (stats.accepted + stats.rejected >= opt.max_steps)
      fail("max_steps exceeded (raise max_steps or loosen rtol/atol)", t, dir * h);
    if (opt.max_nfe > 0 && f.nfe + 6 > opt.max_nfe) {  // a step takes 6 more evaluations
      const std::string what = "max_nfe " + std::to_string(opt.max_nfe) + " reached (fm: --max-nfe; or looser --rtol/--atol)";
      fail(what.c_str(), t, dir * h);
    }
    if (!(h > 0.0) || !std::isfinite(h)) fail("invalid step size", t, dir * h);
    // Clip the last step onto t1; the 1e-9 slack avoids a sliver step left over by rounding.
    double remaining = std::fabs(t1 - t);
    bool last = h * (1.0 + 1e-9) >= remaining;
    double hs = last ? t1 - t : dir * h;
    double t_end = last ? t1 : t + hs;
    if (t_end == t) fail("step size underflow", t, hs);

    times[0] = t;
    for (int i = 1; i < 6; ++i) {
      rk_combine_(ytmp, *y0, hs, first(tab.a[i], i), first(k, i));
      f(times[i] = stage_time(t, hs, tab.c[i], t_end), ytmp, *k[i]);
    }
    rk_combine_(*y1, *y0, hs, first(tab.b, 6), first(k, 6));  // the 5th-order solution
    f(times[6] = t_end, *y1, *k[6]);
    double ratio = rk_error_ratio(*y0, *y1, first(k, kMaxStages), hs, first(tab.e, kMaxStages), opt.atol, opt.rtol, parts);
    if (!std::isfinite(ratio)) f.check(k, times, kMaxStages);
    if (ratio <= 1.0) {
      t = t_end;
      std::swap(y0, y1);
      std::swap(k[0], k[6]);  // FSAL: f(t_end, y1) is the next step's first stage
      ++stats.accepted;
    } else {
      ++stats.rejected;
    }
    h = next_step(std::fabs(hs), ratio);
  }
  y.copy_from(*y0);
  stats.nfe = f.nfe;
  return stats;
}

}  // namespace

Method parse_method(const std::string& name) {
  for (Method m : {Method::Euler, Method::Midpoint, Method::Heun, Method::RK4, Method::Dopri5})
    if (name == method_name(m)) return m;
  throw std::runtime_error("unknown solver '" + name +
                           "' (choose euler, midpoint, heun, rk4 or dopri5)");
}

const char* method_name(Method m) {
  switch (m) {
    case Method::Euler: return "euler";
    case Method::Midpoint: return "midpoint";
    case Method::Heun: return "heun";
    case Method::RK4: return "rk4";
    case Method::Dopri5: return "dopri5";
  }
  return "?";
}

bool is_adaptive(Method m) { return m == Method::Dopri5; }

OdeStats odeint(const OdeRhs& f, Tensor& y, double t0, double t1, const OdeOptions& opt,
                const std::vector<int64_t>& parts) {
  const char* name = method_name(opt.method);
  auto invalid = [&](const std::string& why) {
    throw std::runtime_error(std::string("odeint (") + name + "): " + why);
  };
  if (!y.defined()) invalid("undefined state");
  const int64_t n = y.numel();
  if (!std::isfinite(t0) || !std::isfinite(t1)) invalid("t0 and t1 must be finite");
  std::vector<int64_t> blocks = parts.empty() ? std::vector<int64_t>{n} : parts;
  int64_t total = 0;
  for (int64_t size : blocks) {
    if (size < 0) invalid("negative part size");
    total += size;
  }
  if (total != n)
    invalid("part sizes sum to " + std::to_string(total) + ", not n = " + std::to_string(n));

  CountedRhs counted{f, name};
  if (t0 == t1) return {};  // nothing to integrate (torchdiffeq would still spend 2 NFE on dopri5)
  if (!is_adaptive(opt.method)) {
    if (opt.steps < 1) invalid("steps must be >= 1");
    return integrate_fixed(counted, tableau(opt.method), y, t0, t1, opt.steps);
  }
  if (opt.rtol < 0 || opt.atol < 0 || (opt.rtol == 0 && opt.atol == 0))
    invalid("rtol and atol must be >= 0 and not both 0");
  if (opt.max_steps < 1) invalid("max_steps must be >= 1");
  if (opt.max_nfe < 0) invalid("max_nfe must be >= 0");
  return integrate_dopri5(counted, y, t0, t1, opt, blocks);
}

}  // namespace fm
