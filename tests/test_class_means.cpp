// tests/test_class_means.cpp: the nearest-class-mean classifier (flow/class_means.h): means against
// hand computation, ties, separable blobs, chance level on labels that carry no information, and
// the errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "flow/class_means.h"

using namespace fm;

namespace {

// n points of K Gaussian blobs in `dim` dimensions: class k centred at `spacing` * k on every
// coordinate, unit spread, labels cycling 0..K-1 (so each class has n/K points).
struct Blobs {
  std::vector<float> x;
  std::vector<int64_t> labels;
};
Blobs blobs(int64_t n, int64_t dim, int64_t classes, double spacing, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z;
  Blobs b;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = i % classes;
    b.labels.push_back(k);
    for (int64_t j = 0; j < dim; ++j) b.x.push_back(static_cast<float>(spacing * k + z(rng)));
  }
  return b;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("the means are the per-class averages") {
  // 2-D, 3 classes, labels out of order.
  const std::vector<float> x{1, 2,  3, 4,  10, 0,  5, 6,  -2, 8,  0, 0};
  const std::vector<int64_t> labels{0, 0, 2, 1, 1, 0};
  const ClassMeans m = fit_class_means(x.data(), labels.data(), 6, 2, 3);
  CHECK(m.classes == 3);
  CHECK(m.dim == 2);
  // class 0: (1,2), (3,4), (0,0) -> (4/3, 2); class 1: (5,6), (-2,8) -> (1.5, 7); class 2: (10, 0).
  const std::vector<double> expected{4.0 / 3.0, 2.0, 1.5, 7.0, 10.0, 0.0};
  REQUIRE(m.means.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) CHECK(m.means[i] == doctest::Approx(expected[i]).epsilon(1e-15));
  // Each training point is nearest its own class's mean, e.g. (3,4):
  // ||(3,4) - (4/3,2)||^2 = 2.78 + 4 = 6.78 < ||(3,4) - (1.5,7)||^2 = 2.25 + 9 = 11.25: class 0.
  const std::vector<float> p{3, 4};
  CHECK(predict_class(m, p.data()) == 0);
  CHECK(predict_classes(m, x.data(), 6) == std::vector<int64_t>{0, 0, 2, 1, 1, 0});
  CHECK(accuracy(m, x.data(), labels.data(), 6) == 1.0);
}

TEST_CASE("a point equidistant from several means goes to the lowest class") {
  // Means at (-1, 0), (1, 0), (0, 1), (0, -1) (one point per class); the origin is at distance 1
  // from all four, exactly in floating point.
  const std::vector<float> x{0, 1,  -1, 0,  1, 0,  0, -1};
  const std::vector<int64_t> labels{2, 0, 1, 3};
  const ClassMeans m = fit_class_means(x.data(), labels.data(), 4, 2, 4);
  const std::vector<float> origin{0, 0}, right_up{1, 1}, down{0, -2};
  CHECK(predict_class(m, origin.data()) == 0);
  CHECK(predict_class(m, right_up.data()) == 1);  // tied between classes 1 (1,0) and 2 (0,1)
  CHECK(predict_class(m, down.data()) == 3);      // not tied
}

TEST_CASE("separable Gaussian blobs are classified perfectly") {
  // Blobs 20 apart per coordinate in 8-D: the means are 20 sqrt8 = 57 apart and a point would
  // have to move 28 along the line between them, 28 sd of N(0,1): never, for any seed.
  const int64_t n = 2000, dim = 8, K = 5;
  const Blobs train = blobs(n, dim, K, 20.0, 1), test = blobs(n, dim, K, 20.0, 2);
  const ClassMeans m = fit_class_means(train.x.data(), train.labels.data(), n, dim, K);
  // Fitted means within 5 sd (sqrt(K/n) = 0.05) of the true centres.
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < dim; ++j) CHECK(std::fabs(m.means[k * dim + j] - 20.0 * k) < 5 * std::sqrt(double(K) / n));
  CHECK(accuracy(m, test.x.data(), test.labels.data(), n) == 1.0);
  CHECK(predict_classes(m, test.x.data(), n) == test.labels);
}

TEST_CASE("labels that carry no information score chance level, about 1/K") {
  // 1. A perfect classifier on blobs, scored against a random permutation of the true labels:
  //    correct iff the permuted label equals the true one, which for balanced classes happens
  //    with probability 1/K each, nearly independently; the count has sd ~ sqrt(n p (1 - p)).
  // 2. Means fitted to pure noise with random labels, scored on fresh noise with fresh random
  //    labels: the labels are independent of the points and of the fit, so the number correct is
  //    exactly Binomial(n, 1/K) whatever the classifier does.
  // Both: n = 20000, K = 4: sd = sqrt(0.1875 / 20000) = 0.0031; tolerance 5 sd.
  const int64_t n = 20000, dim = 3, K = 4;
  const double tol = 5.0 * std::sqrt(0.25 * 0.75 / n);
  std::mt19937_64 rng(3);
  const Blobs b = blobs(n, dim, K, 20.0, 4);
  const ClassMeans m = fit_class_means(b.x.data(), b.labels.data(), n, dim, K);
  std::vector<int64_t> shuffled = b.labels;
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  CHECK(std::fabs(accuracy(m, b.x.data(), shuffled.data(), n) - 0.25) < tol);

  const Blobs noise = blobs(n, dim, K, 0.0, 5), fresh = blobs(n, dim, K, 0.0, 6);
  std::uniform_int_distribution<int64_t> label(0, K - 1);
  std::vector<int64_t> noise_labels(n), fresh_labels(n);
  for (auto& l : noise_labels) l = label(rng);
  for (auto& l : fresh_labels) l = label(rng);
  const ClassMeans mn = fit_class_means(noise.x.data(), noise_labels.data(), n, dim, K);
  CHECK(std::fabs(accuracy(mn, fresh.x.data(), fresh_labels.data(), n) - 0.25) < tol);
}

TEST_CASE("bad arguments throw std::invalid_argument naming the problem") {
  const std::vector<float> x{0, 1, 2, 3, 4, 5};
  const std::vector<int64_t> labels{0, 1, 1};
  CHECK_THROWS_WITH_AS(fit_class_means(x.data(), labels.data(), 0, 2, 2), doctest::Contains("0 samples"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(fit_class_means(x.data(), labels.data(), 3, 0, 2), doctest::Contains("dimension 0"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(fit_class_means(x.data(), labels.data(), 3, 2, 0), doctest::Contains("0 classes"), std::invalid_argument);
  CHECK_THROWS_AS(fit_class_means(nullptr, labels.data(), 3, 2, 2), std::invalid_argument);
  CHECK_THROWS_AS(fit_class_means(x.data(), nullptr, 3, 2, 2), std::invalid_argument);
  // Labels out of range, either side.
  const std::vector<int64_t> high{0, 2, 1}, low{0, -1, 1};
  CHECK_THROWS_WITH_AS(fit_class_means(x.data(), high.data(), 3, 2, 2), doctest::Contains("label 2 of sample 1 is outside 0..1"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(fit_class_means(x.data(), low.data(), 3, 2, 2), doctest::Contains("label -1 of sample 1"),
                       std::invalid_argument);
  // A class with no samples.
  CHECK_THROWS_WITH_AS(fit_class_means(x.data(), labels.data(), 3, 2, 3), doctest::Contains("class 2 has no samples"),
                       std::invalid_argument);
  // Non-finite data.
  for (float v : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::vector<float> bad = x;
    bad[3] = v;
    CHECK_THROWS_WITH_AS(fit_class_means(bad.data(), labels.data(), 3, 2, 2), doctest::Contains("sample 1 value 1 is not finite"),
                         std::invalid_argument);
  }
  // Predicting: an unfitted model, a non-finite sample, a label out of range in accuracy.
  const ClassMeans m = fit_class_means(x.data(), labels.data(), 3, 2, 2);
  const std::vector<float> nan_point{0, std::numeric_limits<float>::quiet_NaN()};
  CHECK_THROWS_AS(predict_class(ClassMeans{}, x.data()), std::invalid_argument);
  CHECK_THROWS_AS(predict_class(m, nan_point.data()), std::invalid_argument);
  CHECK_THROWS_AS(predict_classes(m, nan_point.data(), 1), std::invalid_argument);
  CHECK_THROWS_WITH_AS(accuracy(m, x.data(), high.data(), 3), doctest::Contains("label 2 of sample 1"), std::invalid_argument);
  CHECK_THROWS_AS(accuracy(m, x.data(), labels.data(), 0), std::invalid_argument);
  CHECK(predict_classes(m, nullptr, 0).empty());
}

}  // TEST_SUITE
