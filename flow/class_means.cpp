// flow/class_means.cpp: the nearest-class-mean classifier (the math is in the header).
#include "flow/class_means.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace fm {

namespace {

[[noreturn]] void fail(const char* fn, const std::string& what) { throw std::invalid_argument(std::string(fn) + ": " + what); }

void check_label(const char* fn, int64_t label, int64_t i, int64_t classes) {
  if (label < 0 || label >= classes)
    fail(fn, "label " + std::to_string(label) + " of sample " + std::to_string(i) + " is outside 0.." + std::to_string(classes - 1));
}

void check_fitted(const char* fn, const ClassMeans& m) {
  if (m.classes < 1 || m.dim < 1 || m.means.size() != static_cast<size_t>(m.classes * m.dim))
    fail(fn, "the class means are not fitted (" + std::to_string(m.classes) + " classes of dimension " + std::to_string(m.dim) +
                 ", " + std::to_string(m.means.size()) + " values)");
}

// predict_class without the checks on the model, for the loops.
int64_t nearest(const char* fn, const ClassMeans& m, const float* sample, int64_t row) {
  if (!sample) fail(fn, "null sample");
  for (int64_t j = 0; j < m.dim; ++j)
    if (!std::isfinite(sample[j])) fail(fn, "sample " + std::to_string(row) + " value " + std::to_string(j) + " is not finite");
  int64_t best = 0;
  double best_d2 = 0.0;
  for (int64_t k = 0; k < m.classes; ++k) {
    const double* mu = &m.means[static_cast<size_t>(k * m.dim)];
    double d2 = 0.0;
    for (int64_t j = 0; j < m.dim; ++j) {
      const double t = double(sample[j]) - mu[j];
      d2 += t * t;
    }
    if (k == 0 || d2 < best_d2) {  // strict: a tie keeps the lower class
      best = k;
      best_d2 = d2;
    }
  }
  return best;
}

}  // namespace

ClassMeans fit_class_means(const float* x, const int64_t* labels, int64_t n, int64_t dim, int64_t classes) {
  const char* fn = "fit_class_means";
  if (n < 1) fail(fn, std::to_string(n) + " samples (needs >= 1)");
  if (dim < 1) fail(fn, "dimension " + std::to_string(dim) + " (needs >= 1)");
  if (classes < 1) fail(fn, std::to_string(classes) + " classes (needs >= 1)");
  if (!x || !labels) fail(fn, std::string("null ") + (!x ? "samples" : "labels"));
  ClassMeans m;
  m.classes = classes;
  m.dim = dim;
  m.means.assign(static_cast<size_t>(classes * dim), 0.0);
  std::vector<int64_t> count(static_cast<size_t>(classes), 0);
  for (int64_t i = 0; i < n; ++i) {
    check_label(fn, labels[i], i, classes);
    double* sum = &m.means[static_cast<size_t>(labels[i] * dim)];
    for (int64_t j = 0; j < dim; ++j) {
      const float v = x[i * dim + j];
      if (!std::isfinite(v)) fail(fn, "sample " + std::to_string(i) + " value " + std::to_string(j) + " is not finite");
      sum[j] += v;
    }
    ++count[static_cast<size_t>(labels[i])];
  }
  for (int64_t k = 0; k < classes; ++k) {
    const int64_t c = count[static_cast<size_t>(k)];
    if (c == 0) fail(fn, "class " + std::to_string(k) + " has no samples");
    for (int64_t j = 0; j < dim; ++j) m.means[static_cast<size_t>(k * dim + j)] /= static_cast<double>(c);
  }
  return m;
}

int64_t predict_class(const ClassMeans& m, const float* sample) {
  check_fitted("predict_class", m);
  return nearest("predict_class", m, sample, 0);
}

std::vector<int64_t> predict_classes(const ClassMeans& m, const float* x, int64_t n) {
  const char* fn = "predict_classes";
  check_fitted(fn, m);
  if (n < 0) fail(fn, std::to_string(n) + " samples");
  if (n > 0 && !x) fail(fn, "null samples");
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = nearest(fn, m, x + i * m.dim, i);
  return out;
}

double accuracy(const ClassMeans& m, const float* x, const int64_t* labels, int64_t n) {
  const char* fn = "accuracy";
  check_fitted(fn, m);
  if (n < 1) fail(fn, std::to_string(n) + " samples (needs >= 1)");
  if (!x || !labels) fail(fn, std::string("null ") + (!x ? "samples" : "labels"));
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    check_label(fn, labels[i], i, m.classes);
    correct += nearest(fn, m, x + i * m.dim, i) == labels[i];
  }
  return static_cast<double>(correct) / static_cast<double>(n);
}

double intended_class_accuracy(const Tensor& train, const std::vector<int64_t>& train_labels, int64_t classes,
                               const Tensor& samples, const std::vector<int64_t>& labels) {
  const int64_t n_train = train.ndim() ? train.dim(0) : 0, n = samples.ndim() ? samples.dim(0) : 0;
  if (n_train < 1 || n < 1 || int64_t(train_labels.size()) != n_train || int64_t(labels.size()) != n ||
      train.numel() / n_train != samples.numel() / n)
    throw std::invalid_argument("intended_class_accuracy: need labelled training samples and samples of the same size, one label each");
  const int64_t dim = train.numel() / n_train;
  const ClassMeans m = fit_class_means(train.data(), train_labels.data(), n_train, dim, classes);
  return accuracy(m, samples.data(), labels.data(), n);
}

}  // namespace fm
