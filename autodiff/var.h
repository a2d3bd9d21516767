// autodiff/var.h: reverse-mode automatic differentiation on a dynamic graph.
//
// A Var is a handle to a Node: a value tensor, a gradient slot, the parent nodes it was computed
// from and a backward rule. Ops (autodiff/ops.h) compute their value eagerly and, when some input
// requires a gradient and recording is on, attach a rule that turns dL/d(output) into
// contributions to dL/d(input) for each parent:
//
//     y = f(a, b)         backward:  a.grad += (dL/dy) (df/da),  b.grad += (dL/dy) (df/db)
//
// backward() runs the rules in reverse topological order. Gradients accumulate (+=) into leaves
// (parameters and inputs created with requires_grad); the graph is freed afterwards unless
// retain_graph is set. vjp() runs the same rules but only along paths from chosen inputs, and
// returns v^T dy/dx without touching any parameter's gradient: that is what the likelihood
// (the divergence of a vector field) needs.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "tensor/tensor.h"

namespace fm {

struct Node;
using NodePtr = std::shared_ptr<Node>;

// A backward rule reads node.grad (dL/d node.value) and accumulates into node.parents' grads.
using BackwardFn = std::function<void(Node& node)>;

struct Node {
  Tensor value;
  Tensor grad;                  // dL/d value; undefined until something flows in
  bool requires_grad = false;   // true for parameters, inputs asked for, and anything computed from them
  std::vector<NodePtr> parents;
  BackwardFn backward;          // empty for leaves
  const char* op = "leaf";
  bool needs_grad = false;      // per backward pass: must a gradient reach this node? (needs_grad(n, i) below)
  bool grad_borrowed = false;   // grad is another node's tensor, shared rather than copied: never
                                // written in place (the next accumulation makes a new tensor)
  bool is_leaf() const { return !backward; }
};

class Var {
 public:
  Var() = default;
  explicit Var(Tensor value, bool requires_grad = false);
  static Var param(Tensor value) { return Var(std::move(value), true); }

  bool defined() const { return node_ != nullptr; }
  const Tensor& value() const { return node_->value; }
  Tensor& value() { return node_->value; }
  const Tensor& grad() const { return node_->grad; }
  Tensor& grad() { return node_->grad; }
  bool requires_grad() const { return node_->requires_grad; }
  const Shape& shape() const { return node_->value.shape(); }
  int64_t dim(int i) const { return node_->value.dim(i); }
  int ndim() const { return node_->value.ndim(); }
  int64_t numel() const { return node_->value.numel(); }

  Node* node() const { return node_.get(); }
  const NodePtr& ptr() const { return node_; }
  Var detach() const { return Var(node_->value, false); }  // same value, no history

 private:
  friend Var make_result(Tensor, std::vector<Var>, const char*, BackwardFn);
  NodePtr node_;
};

// ---- recording ------------------------------------------------------------------------------
bool grad_enabled();

// While alive, ops record no graph (evaluation, sampling, parameter updates).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Wraps an op's output. Records the parents and the rule when recording is on and any parent
// requires a gradient; otherwise returns a plain constant.
Var make_result(Tensor value, std::vector<Var> parents, const char* op, BackwardFn rule);

// ---- helpers for backward rules -------------------------------------------------------------
// Does parent i of this node need a gradient in the current pass?
inline bool needs_grad(const Node& node, size_t i) { return node.parents[i]->needs_grad; }

// parent.grad += g, first summing g down to the parent's shape if the op broadcast it.
// `fresh` says g is a new tensor nobody else holds, so it can become the grad buffer as is;
// otherwise (an add or reshape passing its own gradient on) the parent borrows g, and only a
// second contribution allocates: no copy for the common single-consumer case.
void accumulate_grad(Node& parent, const Tensor& g, bool fresh);

// For kernels that accumulate by themselves (sgemm's beta): the parent's grad buffer, allocated
// if needed, and the beta to use with it (0 when the buffer is new, 1 when it holds a gradient).
Tensor& grad_buffer(Node& parent, float& beta);

// ---- running the graph backward -------------------------------------------------------------
// Seeds dL/dL = 1 for a one-element `loss`, or dL/dy = seed for any y.
void backward(const Var& loss, bool retain_graph = false);
void backward(const Var& y, const Tensor& seed, bool retain_graph = false);

// v^T (dy/dx) for each x in xs (each the shape of its x); leaves' grads are left as they were.
// With retain_graph the same graph can serve several VJPs (one per probe or per dimension).
std::vector<Tensor> vjp(const Var& y, const std::vector<Var>& xs, const Tensor& v, bool retain_graph = false);

}  // namespace fm
