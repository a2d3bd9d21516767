// flow/toy2d.h: the 2-D toy datasets of FFJORD (Grathwohl et al. 2019, lib/toy_data.py).
//
// Same distributions, constants and scalings as FFJORD's generators (and, where FFJORD calls
// sklearn's make_moons / make_circles / make_swiss_roll, sklearn's sampling scheme), drawn from
// our counter-based Rng so that a seed gives the same points for any thread count.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace fm {

// checkerboard, 8gaussians, moons, circles, swissroll, 2spirals, pinwheel, rings.
const std::vector<std::string>& toy2d_names();
bool is_toy2d(const std::string& name);

// n points of `name` as an [n, 2] tensor; rows are exchangeable (any prefix is a fair sample).
// Deterministic for a given Rng state, independent of the thread count. Throws
// std::runtime_error naming the valid datasets for an unknown name.
Tensor sample_toy2d(const std::string& name, int64_t n, Rng& rng);

// Whether toy2d_log_density knows `name` in closed form (checkerboard, 8gaussians); false for
// every other name, toy or not, so callers may ask about any dataset spec.
bool toy2d_has_log_density(const std::string& name);

// The log-density of the dataset at (x, y) where it is known in closed form: checkerboard is
// log(1/32) on its (closed) squares and -inf off them; 8gaussians is its mixture of 8 isotropic
// Gaussians. Throws std::runtime_error for the other datasets.
double toy2d_log_density(const std::string& name, float x, float y);

// The differential entropy in nats wherever toy2d_has_log_density: checkerboard log 32 exactly;
// 8gaussians by numerical quadrature (no closed form; just below log 8 + log(2 pi e s^2)).
// Throws std::runtime_error for the others.
double toy2d_entropy(const std::string& name);

}  // namespace fm
