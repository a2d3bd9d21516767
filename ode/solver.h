// ode/solver.h: explicit Runge–Kutta ODE solvers with torchdiffeq's semantics.
//
// Solves dy/dt = f(t, y) for a float32 tensor state y on any device (time is double). Five methods:
//   euler     1 eval/step   y1 = y0 + h f(t, y0)
//   midpoint  2 evals/step  y1 = y0 + h f(t + h/2, y0 + h/2 f0)
//   heun      2 evals/step  explicit trapezoid (torchdiffeq "heun2"): y1 = y0 + h (k1 + k2) / 2
//   rk4       4 evals/step  torchdiffeq's "rk4", which is Kutta's 3/8-rule variant (not the classic
//                           1/6, 1/3, 1/3, 1/6 scheme)
//   dopri5    adaptive      Dormand & Prince (1980) RK5(4)7M, tableau as in Hairer, Nørsett &
//                           Wanner, "Solving ODEs I", Table II.5.2: FSAL, 5th-order solution
//                           propagated.
// Fixed-step methods take `steps` equal steps from t0 to t1 (torchdiffeq's step_size grid).
//
// dopri5 step-size control (torchdiffeq's _optimal_step_size, safety 0.9, order 5):
//   err   = y5 - y4 (the 5th- minus the embedded 4th-order solution)
//   ratio = mixed_norm(err / (atol + rtol * max(|y0|, |y1|)))     accept iff ratio <= 1
//   h_new = h * min(10, max(0.9 / ratio^(1/5), dfactor)),  dfactor = 0.2 after a rejection and 1
//           after an acceptance (an accepted step never shrinks); ratio == 0 gives h * 10.
//           As in torchdiffeq, dfactor = 1 needs ratio < 1, so ratio == 1 exactly is accepted
//           with factor 0.9.
// The first step is Hairer & Wanner's heuristic (II.4) as in torchdiffeq (one extra evaluation).
//
// NFE counts calls of f. dopri5: NFE = 2 + 6 * (accepted + rejected): f(t0, y0), the heuristic's
// extra call, then 6 new stages per attempted step (the 7th stage of an accepted step is the
// first stage of the next one); 1 + 6 * (accepted + rejected) when first_step is given.
// Fixed-step methods: NFE = steps * evals/step.
//
// Errors (std::runtime_error): NaN/Inf from f (checked once per step for all its stages: each check
// is a device-to-host scalar, and dopri5 asks only when its error ratio is not finite), more than
// max_steps attempts, step-size underflow. Results do not depend on the number of threads.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace fm {

// dy/dt = f(t, y): f writes dydt, a tensor shaped and placed like y (it must not keep y or dydt).
using OdeRhs = std::function<void(double t, const Tensor& y, Tensor& dydt)>;

enum class Method { Euler, Midpoint, Heun, RK4, Dopri5 };

// "euler", "midpoint", "heun", "rk4", "dopri5"; throws std::runtime_error on anything else.
Method parse_method(const std::string& name);
// The name parse_method accepts.
const char* method_name(Method m);
// True for the step-size-controlled methods (dopri5).
bool is_adaptive(Method m);

struct OdeOptions {
  Method method = Method::Dopri5;
  int64_t steps = 100;              // fixed-step methods: number of equal steps over [t0, t1]
  double rtol = 1e-5, atol = 1e-5;  // dopri5
  int64_t max_steps = 100000;       // dopri5: accepted + rejected steps before giving up (throws)
  int64_t max_nfe = 0;              // dopri5: evaluations of f before giving up (throws); 0 = no limit
  double first_step = 0.0;          // dopri5: size of the first step; 0 = Hairer's heuristic
};

struct OdeStats {
  int64_t nfe = 0;       // calls of f
  int64_t accepted = 0;  // steps taken (fixed-step methods: `steps`)
  int64_t rejected = 0;  // dopri5 steps thrown away by the error test
};

// Integrates y (in/out, any shape; n = y.numel()) from t0 to t1. t1 < t0 integrates backward in
// time. `parts` splits the state into consecutive blocks (sizes summing to n) for the error norm:
// the norm is the max over parts of each part's RMS (torchdiffeq's mixed norm for tuple
// states); empty = the whole state is one part.
OdeStats odeint(const OdeRhs& f, Tensor& y, double t0, double t1, const OdeOptions& opt,
                const std::vector<int64_t>& parts = {});

}  // namespace fm
