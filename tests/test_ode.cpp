// tests/test_ode.cpp: the ODE solvers (ode/solver.h) against analytic solutions.
//
// Problems: decay y' = λy (λ = -1.3, y = e^{λt}), rotation y' = (-y2, y1) (y = (cos t, sin t)),
// logistic y' = y(1 - y) (y = 1 / (1 + (1/y0 - 1) e^{-t})).
#include <doctest/doctest.h>
#include "tensor/cpu/thread_pool.h"

#include <cmath>
#include <functional>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "ode/solver.h"

using namespace fm;

namespace {
// The solver on a host array: the state as a tensor, the right-hand side on its host floats.
// (odeint works on tensors of any device; these analytic test problems are easiest as arrays.)
OdeStats odeint_host(const std::function<void(double, const float*, float*)>& f, float* y, int64_t n, double t0,
                     double t1, const OdeOptions& o, const std::vector<int64_t>& parts = {}) {
  Tensor state = Tensor::from(std::vector<float>(y, y + n), {n});
  OdeStats st = odeint([&](double t, const Tensor& yin, Tensor& dy) { f(t, yin.data(), dy.data()); }, state, t0, t1, o, parts);
  std::copy(state.data(), state.data() + n, y);
  return st;
}
}  // namespace

namespace {

constexpr double kLambda = -1.3;
const double kTwoPi = 2.0 * std::acos(-1.0);

void decay(double, const float* y, float* d) { d[0] = float(kLambda * y[0]); }
void rotation(double, const float* y, float* d) { d[0] = -y[1], d[1] = y[0]; }
void logistic(double, const float* y, float* d) { d[0] = y[0] * (1.0f - y[0]); }
double logistic_exact(double y0, double t) { return 1.0 / (1.0 + (1.0 / y0 - 1.0) * std::exp(-t)); }

OdeOptions fixed(Method m, int64_t steps) {
  OdeOptions o;
  o.method = m;
  o.steps = steps;
  return o;
}

OdeOptions dopri5(double tol) {
  OdeOptions o;
  o.rtol = o.atol = tol;
  return o;
}

// Relative error of y(T) for the decay, from y(0) = 1.
double decay_error(const OdeOptions& o, double T, OdeStats* st = nullptr) {
  float y = 1.0f;
  OdeStats s = odeint_host(decay, &y, 1, 0.0, T, o);
  if (st) *st = s;
  return std::fabs(y - std::exp(kLambda * T)) / std::exp(kLambda * T);
}

// Euclidean error of y(T) for the rotation, from y(0) = (1, 0).
double rotation_error(const OdeOptions& o, double T, OdeStats* st = nullptr) {
  float y[2] = {1.0f, 0.0f};
  OdeStats s = odeint_host(rotation, y, 2, 0.0, T, o);
  if (st) *st = s;
  return std::hypot(y[0] - std::cos(T), y[1] - std::sin(T));
}

// log2(err_N / err_2N): the observed order of convergence.
template <class Err>
double observed_order(Method m, int64_t N, const Err& err) {
  return std::log2(err(fixed(m, N)) / err(fixed(m, 2 * N)));
}

// The exception message of a call expected to throw std::runtime_error ("" if it did not throw).
template <class Call>
std::string thrown_message(const Call& call) {
  try {
    call();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

bool nfe_is_fsal(const OdeStats& s) { return s.nfe == 2 + 6 * (s.accepted + s.rejected); }

}  // namespace

TEST_CASE("ode: method names round-trip and unknown names are rejected") {
  for (Method m : {Method::Euler, Method::Midpoint, Method::Heun, Method::RK4, Method::Dopri5}) {
    CHECK(parse_method(method_name(m)) == m);
    CHECK(is_adaptive(m) == (m == Method::Dopri5));
  }
  CHECK(thrown_message([] { parse_method("rk45"); }) ==
        "unknown solver 'rk45' (choose euler, midpoint, heun, rk4 or dopri5)");
}

// T = 4 (λT = -5.2, four radians) keeps the truncation error far above float32 round-off.
TEST_CASE("ode: fixed-step methods converge with their order") {
  const double T = 4.0;
  auto dec = [&](const OdeOptions& o) { return decay_error(o, T); };
  auto rot = [&](const OdeOptions& o) { return rotation_error(o, T); };
  struct Case {
    Method m;
    int64_t N;
    double order;
  };
  for (Case c : {Case{Method::Euler, 64, 1}, Case{Method::Midpoint, 32, 2},
                 Case{Method::Heun, 32, 2}, Case{Method::RK4, 32, 4}}) {
    double p_decay = observed_order(c.m, c.N, dec), p_rotation = observed_order(c.m, c.N, rot);
    std::string name = method_name(c.m);
    CAPTURE(name);
    CAPTURE(p_decay);
    CAPTURE(p_rotation);
    CHECK(std::fabs(p_decay - c.order) < 0.25);
    CHECK(std::fabs(p_rotation - c.order) < 0.25);
  }
}

// One step of y' = y^2 + t from (t, y) = (0.2, 0.5) with h = 0.5, against each tableau written
// out by hand. Non-autonomous and nonlinear, so it pins the stage times and tells midpoint from
// Heun and the 3/8 rule from the classic RK4.
TEST_CASE("ode: one fixed step matches the method's formula (rk4 is the 3/8 rule)") {
  auto g = [](double t, double y) { return y * y + t; };
  const double t = 0.2, y = 0.5, h = 0.5;
  double k1 = g(t, y);
  double euler = y + h * k1;
  double midpoint = y + h * g(t + h / 2, y + h / 2 * k1);
  double heun = y + h / 2 * (k1 + g(t + h, y + h * k1));
  double a2 = g(t + h / 3, y + h / 3 * k1);
  double a3 = g(t + 2 * h / 3, y + h * (a2 - k1 / 3));
  double a4 = g(t + h, y + h * (k1 - a2 + a3));
  double rk38 = y + h / 8 * (k1 + 3 * a2 + 3 * a3 + a4);
  double c2 = g(t + h / 2, y + h / 2 * k1), c3 = g(t + h / 2, y + h / 2 * c2),
         c4 = g(t + h, y + h * c3);
  double classic = y + h / 6 * (k1 + 2 * c2 + 2 * c3 + c4);
  REQUIRE(std::fabs(rk38 - classic) > 1e-4);  // the check below can tell them apart

  struct Case {
    Method m;
    double expect;
    int64_t nfe;
  };
  for (Case c : {Case{Method::Euler, euler, 1}, Case{Method::Midpoint, midpoint, 2},
                 Case{Method::Heun, heun, 2}, Case{Method::RK4, rk38, 4}}) {
    std::string name = method_name(c.m);
    CAPTURE(name);
    float yf = float(y);
    OdeStats st = odeint_host([&](double tt, const float* v, float* d) { d[0] = float(g(tt, v[0])); },
                         &yf, 1, t, t + h, fixed(c.m, 1));
    CHECK(std::fabs(yf - c.expect) < 1e-6);
    CHECK(st.nfe == c.nfe);
    CHECK(st.accepted == 1);
  }
  CHECK(std::fabs(midpoint - heun) > 1e-4);
}

TEST_CASE("ode: dopri5 meets its tolerance and counts NFE as torchdiffeq") {
  OdeStats loose[3], tight[3];
  for (double tol : {1e-3, 1e-5}) {
    CAPTURE(tol);
    OdeStats* st = tol > 1e-4 ? loose : tight;
    CHECK(decay_error(dopri5(tol), 1.0, &st[0]) < 5 * tol);
    CHECK(rotation_error(dopri5(tol), kTwoPi, &st[1]) < 10 * tol);
    float y = 0.1f;
    st[2] = odeint_host(logistic, &y, 1, 0.0, 5.0, dopri5(tol));
    CHECK(std::fabs(y - logistic_exact(0.1, 5.0)) < 5 * tol);
    for (int p = 0; p < 3; ++p) CHECK(nfe_is_fsal(st[p]));
  }
  for (int p = 0; p < 3; ++p) CHECK(tight[p].nfe > loose[p].nfe);
}

TEST_CASE("ode: dopri5 rejects a too-large first step and still meets its tolerance") {
  OdeOptions o = dopri5(1e-5);
  o.first_step = 5.0;
  OdeStats st;
  CHECK(rotation_error(o, kTwoPi, &st) < 10 * o.rtol);
  CHECK(st.rejected > 0);
  // A given first step skips the heuristic's call.
  CHECK(st.nfe == 1 + 6 * (st.accepted + st.rejected));
  OdeStats free_start;
  rotation_error(dopri5(1e-5), kTwoPi, &free_start);
  CHECK(free_start.rejected == 0);  // Hairer's heuristic starts small enough here
}

// The attempted dopri5 steps, read back from the times at which f was called: after f(t0) and
// the heuristic's call (if any), every attempt from t with step h calls f at t + h/5 first and
// at t + h last. An attempt was rejected iff the next one starts before its end.
namespace {
struct Attempt {
  double h;
  bool accepted;
};
std::vector<Attempt> read_attempts(const std::vector<double>& calls, size_t first, double t0) {
  std::vector<Attempt> out;
  double t = t0;
  for (size_t k = first; k + 6 <= calls.size(); k += 6) {
    double h = (calls[k] - t) * 5.0, t_end = calls[k + 5];
    bool accepted = k + 6 == calls.size() || (calls[k + 6] - t_end) * (t_end - t) > 0;
    out.push_back({h, accepted});
    if (accepted) t = t_end;
  }
  return out;
}
}  // namespace

TEST_CASE("ode: dopri5 first step is Hairer's heuristic and steps follow the controller") {
  // Hairer & Wanner II.4 by hand for y' = λy, y0 = 1, rtol = atol = 1e-5.
  const double tol = 1e-5, scale = 2 * tol;
  const double f0 = float(kLambda);  // f computes in float
  double d0 = 1 / scale, d1 = std::fabs(f0) / scale, h0 = 0.01 * d0 / d1;
  double f1 = float(kLambda * float(1 + h0 * f0));
  double d2 = std::fabs(f1 - f0) / scale / h0;
  double h_first = std::min(100 * h0, std::pow(0.01 / std::max(d1, d2), 0.2));
  for (double dir : {1.0, -1.0}) {
    CAPTURE(dir);
    std::vector<double> calls;
    auto f = [&](double t, const float* y, float* d) { calls.push_back(t), decay(t, y, d); };
    float y = 1.0f;
    odeint_host(f, &y, 1, 0.0, 3.0 * dir, dopri5(tol));
    CHECK(calls[1] == doctest::Approx(dir * h0).epsilon(1e-9));
    CHECK(calls[2] == doctest::Approx(dir * h_first / 5).epsilon(1e-4));
  }
  // Step ratios: after an acceptance in [1, 10], after a rejection in [0.2, 0.9] (0.9 / ratio^(1/5)
  // with ratio > 1). The pendulum's changing speed makes the controller work.
  std::vector<double> calls;
  auto pendulum = [&](double t, const float* y, float* d) {
    calls.push_back(t);
    d[0] = y[1], d[1] = -10.0f * std::sin(y[0]);
  };
  float y[2] = {2.5f, 0.0f};
  OdeOptions o = dopri5(1e-6);
  o.first_step = 1.0;
  OdeStats st = odeint_host(pendulum, y, 2, 0.0, 10.0, o);
  std::vector<Attempt> att = read_attempts(calls, 1, 0.0);
  REQUIRE(int64_t(att.size()) == st.accepted + st.rejected);
  int64_t rejected = 0;
  for (size_t i = 0; i + 2 < att.size(); ++i) {  // the last step is clipped onto t1
    double q = att[i + 1].h / att[i].h;
    CAPTURE(i);
    CAPTURE(q);
    rejected += !att[i].accepted;
    const double eps = 1e-6;  // reading h back from call times rounds
    if (att[i].accepted)
      CHECK((q >= 1.0 - eps && q <= 10.0 + eps));
    else
      CHECK((q >= 0.2 - eps && q <= 0.9 + eps));
  }
  CHECK(rejected > 1);
  CHECK(rejected == st.rejected);
}

// On y' = λy one dopri5 step of z = λh gives y5 - y4 = (R5 - R4)(z) y0 with the stability
// polynomials R5 = sum_{k<=5} z^k/k! + z^6/600 and R4 (embedded), so
//   R5 - R4 = -97/120000 z^5 + 13/40000 z^6 - 1/24000 z^7.
// The controller turns the error ratio into the next step: q = 0.9 / ratio^(1/5) (1 < q < 10),
// so the second step's size reveals the first step's error ratio.
TEST_CASE("ode: dopri5 error ratio on y' = λy matches the tableau's error polynomial") {
  const double h = 0.2, tol = 1e-5, z = kLambda * h;
  double err =
      -97.0 / 120000 * std::pow(z, 5) + 13.0 / 40000 * std::pow(z, 6) - std::pow(z, 7) / 24000;
  double y5 = 1 + z + z * z / 2 + std::pow(z, 3) / 6 + std::pow(z, 4) / 24 + std::pow(z, 5) / 120 +
              std::pow(z, 6) / 600;
  double expected = std::fabs(err) / (tol + tol * std::max(1.0, std::fabs(y5)));
  std::vector<double> calls;
  auto f = [&](double t, const float* y, float* d) { calls.push_back(t), decay(t, y, d); };
  float y = 1.0f;
  OdeOptions o = dopri5(tol);
  o.first_step = h;
  odeint_host(f, &y, 1, 0.0, 1.0, o);
  std::vector<Attempt> att = read_attempts(calls, 1, 0.0);
  REQUIRE(att.size() >= 2);
  REQUIRE(att[0].accepted);
  double q = att[1].h / att[0].h;
  REQUIRE((q > 1.0 && q < 10.0));
  CHECK(std::pow(0.9 / q, 5) == doctest::Approx(expected).epsilon(0.01));

  // A tiny first step has a tiny (round-off) error ratio: the growth is capped at ifactor = 10.
  calls.clear();
  y = 1.0f;
  o.first_step = 1e-4;
  odeint_host(f, &y, 1, 0.0, 1.0, o);
  att = read_attempts(calls, 1, 0.0);
  REQUIRE(att.size() >= 2);
  CHECK(att[1].h / att[0].h == doctest::Approx(10).epsilon(1e-6));
}

// y' = 0: d1 = d2 = 0, so the heuristic gives h0 = 1e-6 and h = min(100 h0, max(1e-6, 1e-3 h0))
// = 1e-6; every error ratio is 0, so every step grows tenfold (ifactor) until the last one is
// clipped onto t1: 1e-6, ..., 0.1, 0.888889.
TEST_CASE("ode: dopri5 with a zero error grows the step tenfold") {
  std::vector<double> calls;
  auto f = [&](double t, const float*, float* d) { calls.push_back(t), d[0] = d[1] = 0.0f; };
  float y[2] = {1.0f, 2.0f};
  OdeStats st = odeint_host(f, y, 2, 0.0, 1.0, dopri5(1e-5));
  CHECK(st.accepted == 7);  // six steps 1e-6 ... 0.1, then the clipped one
  CHECK(st.rejected == 0);
  CHECK(st.nfe == 2 + 6 * 7);
  std::vector<Attempt> att = read_attempts(calls, 2, 0.0);
  REQUIRE(att.size() == 7);
  CHECK(att[0].h == doctest::Approx(1e-6).epsilon(1e-6));
  for (size_t i = 0; i + 2 < att.size(); ++i)
    CHECK(att[i + 1].h / att[i].h == doctest::Approx(10).epsilon(1e-6));
  CHECK(y[0] == 1.0f);
  CHECK(y[1] == 2.0f);
}

TEST_CASE("ode: backward in time") {
  // y' = λy from y(1) = 1 down to t = 0: y(0) = e^{-λ}.
  for (OdeOptions o : {dopri5(1e-5), fixed(Method::RK4, 64)}) {
    std::string name = method_name(o.method);
    CAPTURE(name);
    float y = 1.0f;
    OdeStats st = odeint_host(decay, &y, 1, 1.0, 0.0, o);
    CHECK(std::fabs(y - std::exp(-kLambda)) / std::exp(-kLambda) < 5e-5);
    if (is_adaptive(o.method)) CHECK(nfe_is_fsal(st));
  }
  // A pendulum there and back again returns to its start.
  auto pendulum = [](double, const float* y, float* d) { d[0] = y[1], d[1] = -std::sin(y[0]); };
  const float start[2] = {1.0f, 0.3f};
  float y[2] = {start[0], start[1]};
  OdeOptions o = dopri5(1e-6);
  odeint_host(pendulum, y, 2, 0.0, 3.0, o);
  CHECK(std::hypot(y[0] - start[0], y[1] - start[1]) > 0.5);  // it really moved
  o.first_step = 0.01;  // a positive size is taken in the direction of time
  odeint_host(pendulum, y, 2, 3.0, 0.0, o);
  CHECK(std::hypot(y[0] - start[0], y[1] - start[1]) < 2e-5);
}

// A likelihood-style state (x, logdet): many huge-scale x that carry no error, then a small
// part (a rotation) that does. Under one RMS over everything the 20000 quiet elements dilute the
// rotation's error ~100x; the mixed norm (max over parts of each RMS) does not let them.
TEST_CASE("ode: the mixed norm keeps a small part's error under control") {
  const int64_t nx = 20000, n = nx + 2;
  auto f = [&](double, const float* y, float* d) {
    for (int64_t i = 0; i < nx; ++i) d[i] = 0.0f;
    rotation(0.0, y + nx, d + nx);
  };
  const double T = kTwoPi, tol = 1e-5;
  auto run = [&](const std::vector<int64_t>& parts, OdeStats& st) {
    std::vector<float> y(n, 1e6f);
    y[nx] = 1.0f, y[nx + 1] = 0.0f;
    st = odeint_host(f, y.data(), n, 0.0, T, dopri5(tol), parts);
    return std::hypot(y[nx] - std::cos(T), y[nx + 1] - std::sin(T));
  };
  OdeStats whole, split;
  double err_whole = run({}, whole), err_split = run({nx, 2}, split);
  CHECK(split.accepted > whole.accepted);
  CHECK(err_split < 10 * tol);
  CHECK(err_whole > 5 * err_split);
  CHECK(thrown_message([&] { run({nx, 1}, split); }).find("part sizes") != std::string::npos);
}

TEST_CASE("ode: NaN/Inf from the vector field and step limits throw") {
  auto bad = [](double t, const float* y, float* d) { d[0] = t > 0.5 ? NAN : -y[0]; };
  auto inf = [](double t, const float* y, float* d) { d[0] = t > 0.5 ? INFINITY : -y[0]; };
  for (Method m : {Method::Euler, Method::RK4, Method::Dopri5}) {
    std::string name = method_name(m);
    CAPTURE(name);
    OdeOptions o = dopri5(1e-5);
    o.method = m;
    float y = 1.0f;
    std::string msg = thrown_message([&] { odeint_host(bad, &y, 1, 0.0, 1.0, o); });
    CHECK(msg.find(std::string(method_name(m)) + ": the vector field returned NaN/Inf at t=") == 0);
    y = 1.0f;
    CHECK(!thrown_message([&] { odeint_host(inf, &y, 1, 0.0, 1.0, o); }).empty());
  }
  OdeOptions o = dopri5(1e-9);
  o.max_steps = 5;
  float y[2] = {1.0f, 0.0f};
  CHECK(thrown_message([&] { odeint_host(rotation, y, 2, 0.0, 10.0, o); }).find("max_steps") !=
        std::string::npos);
  // The evaluation limit: the solve that needs more stops before it, naming t and the step size.
  OdeOptions capped = dopri5(1e-9);
  float y_free[2] = {1.0f, 0.0f};
  const OdeStats free = odeint_host(rotation, y_free, 2, 0.0, 10.0, capped);
  REQUIRE(free.nfe > 100);
  capped.max_nfe = 100;
  float y_capped[2] = {1.0f, 0.0f};
  const std::string message = thrown_message([&] { odeint_host(rotation, y_capped, 2, 0.0, 10.0, capped); });
  CHECK(message.find("max_nfe 100 reached") != std::string::npos);
  CHECK(message.find(" at t=") != std::string::npos);
  CHECK(message.find("(step ") != std::string::npos);
  capped.max_nfe = free.nfe;  // exactly enough
  float y_enough[2] = {1.0f, 0.0f};
  CHECK(odeint_host(rotation, y_enough, 2, 0.0, 10.0, capped).nfe == free.nfe);
}

TEST_CASE("ode: results do not depend on the number of threads") {
  const int64_t n = 100000;
  auto f = [&](double t, const float* y, float* d) {
    for (int64_t i = 0; i < n; ++i)
      d[i] = -y[i] * y[i] * y[i] + float(std::sin(t + 1e-3 * double(i)));
  };
  const int saved = fm::num_threads();
  for (OdeOptions o : {dopri5(1e-5), fixed(Method::RK4, 10)}) {
    std::string name = method_name(o.method);
    CAPTURE(name);
    std::vector<float> out[2];
    OdeStats st[2];
    for (int threads : {1, 2}) {
      fm::set_num_threads(threads);
      std::vector<float>& y = out[threads - 1];
      y.resize(n);
      for (int64_t i = 0; i < n; ++i) y[i] = float(std::cos(0.01 * double(i)));
      st[threads - 1] = odeint_host(f, y.data(), n, 0.0, 1.0, o, {n - 1, 1});
    }
    CHECK(std::memcmp(out[0].data(), out[1].data(), n * sizeof(float)) == 0);
    CHECK(st[0].nfe == st[1].nfe);
    CHECK(st[0].rejected == st[1].rejected);
  }
  fm::set_num_threads(saved);
}

TEST_CASE("ode: an empty interval leaves the state alone") {
  float y[2] = {1.0f, 2.0f};
  OdeStats st = odeint_host(rotation, y, 2, 0.5, 0.5, dopri5(1e-5));
  CHECK(st.nfe == 0);
  CHECK(y[0] == 1.0f);
  CHECK(y[1] == 2.0f);
}
