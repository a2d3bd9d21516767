// autodiff/gradcheck.cpp: finite-difference gradient checking.
#include "autodiff/gradcheck.h"

#include <cmath>
#include <cstdio>

#include "tensor/ops.h"
#include "tensor/random.h"

namespace fm {

GradCheckResult check_gradients(const GradFn& f, const std::vector<Tensor>& inputs, const GradCheckOptions& opt) {
  std::vector<Var> xs;
  for (const Tensor& t : inputs) xs.push_back(Var::param(t.clone()));
  return check_gradients([&]() { return f(xs); }, xs, opt);
}

GradCheckResult check_gradients(const std::function<Var()>& f, const std::vector<Var>& xs, const GradCheckOptions& opt) {
  GradCheckResult res;
  for (const Var& x : xs) x.node()->grad = Tensor();

  // Analytic: L = sum(w * f(x)), dL/df = w.
  Var y = f();
  Tensor w = Tensor::empty(y.shape(), y.value().device());
  Rng rng(12345);
  rng.uniform(w, -1.0f, 1.0f);
  backward(y, w);

  // Numerical: central differences on a spread of elements of each input, in double where it counts.
  auto loss_at = [&]() {
    NoGradGuard no_grad;
    return dot(f().value(), w);
  };
  for (size_t k = 0; k < xs.size(); ++k) {
    Tensor& x = xs[k].node()->value;
    const Tensor& g = xs[k].grad();
    int64_t n = x.numel();
    int64_t stride = std::max<int64_t>(1, n / opt.max_checks);
    for (int64_t i = 0; i < n; i += stride) {
      const float keep = x.at(i);
      x.set_at(i, keep + static_cast<float>(opt.eps));
      double up = loss_at();
      x.set_at(i, keep - static_cast<float>(opt.eps));
      double down = loss_at();
      x.set_at(i, keep);
      double numeric = (up - down) / (2.0 * opt.eps);
      double analytic = g.defined() ? g.at(i) : 0.0;
      double err = std::fabs(numeric - analytic);
      res.max_abs_error = std::max(res.max_abs_error, err);
      if (!(err <= opt.atol + opt.rtol * std::fabs(numeric))) {
        if (res.ok || res.report.size() < 800) {
          char line[200];
          std::snprintf(line, sizeof line, "input %zu element %lld: analytic %.6g vs numeric %.6g\n", k,
                        static_cast<long long>(i), analytic, numeric);
          res.report += line;
        }
        res.ok = false;
      }
    }
  }
  return res;
}

}  // namespace fm
