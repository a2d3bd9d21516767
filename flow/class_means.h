// flow/class_means.h: a nearest-class-mean classifier in pixel space, to check that
// class-conditional samples show the class they were asked for (fit on labelled data, score the
// samples with the labels they were conditioned on).
//
// Fit: for classes k = 0 .. K-1 with n_k samples each,
//     mu_k = (1 / n_k) sum_{i : label_i = k} x_i.
// Predict: the class of the nearest mean in Euclidean distance,
//     k*(x) = argmin_k ||x - mu_k||^2,   ties going to the lowest k.
// This is the Bayes classifier for Gaussian classes with a shared isotropic covariance and equal
// priors; it has no parameters to tune and no training randomness, so its accuracy on a model's
// samples is a reproducible (if crude) measure: a sample that lands nearer another class's mean
// than its own counts as wrong. Accuracy = (1/n) #{i : k*(x_i) = label_i}; chance level is about 1/K.
//
// Everything is computed in double. Errors are std::invalid_argument naming the problem: n < 1,
// dim < 1, classes < 1, a null pointer, a label outside 0 .. classes-1, a class with no samples, a
// non-finite value (in the data, or in a sample to classify), a model that was never fitted.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace fm {

struct ClassMeans {
  int64_t classes = 0, dim = 0;
  std::vector<double> means;  // [classes, dim], row-major: means[k * dim + j]
};

// The per-class means of x [n, dim] with labels [n] in 0 .. classes-1.
ClassMeans fit_class_means(const float* x, const int64_t* labels, int64_t n, int64_t dim, int64_t classes);

// The class of the nearest mean to `sample` [m.dim]; ties go to the lowest class.
int64_t predict_class(const ClassMeans& m, const float* sample);

// predict_class for each row of x [n, m.dim].
std::vector<int64_t> predict_classes(const ClassMeans& m, const float* x, int64_t n);

// The fraction of rows of x [n, m.dim] predicted as their label (labels in 0 .. m.classes-1).
double accuracy(const ClassMeans& m, const float* x, const int64_t* labels, int64_t n);

// Host tensors: fits the means on `train` [N, ...] with `train_labels` (classes 0..K-1) and
// returns the fraction of `samples` [n, ...] predicted as their intended class `labels`.
double intended_class_accuracy(const Tensor& train, const std::vector<int64_t>& train_labels, int64_t classes,
                               const Tensor& samples, const std::vector<int64_t>& labels);

}  // namespace fm
