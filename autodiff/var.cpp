// autodiff/var.cpp: graph recording, topological ordering and the backward passes.
#include "autodiff/var.h"

#include <stdexcept>
#include <unordered_set>

#include "tensor/ops.h"
#include "tensor/profile.h"

namespace fm {

Var::Var(Tensor value, bool requires_grad) : node_(std::make_shared<Node>()) {
  node_->value = std::move(value);
  node_->requires_grad = requires_grad;
}

// ---- recording ------------------------------------------------------------------------------
static thread_local bool g_grad_enabled = true;

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

Var make_result(Tensor value, std::vector<Var> parents, const char* op, BackwardFn rule) {
  Var out(std::move(value), false);
  if (!g_grad_enabled) return out;
  bool any = false;
  for (const Var& p : parents) any = any || p.requires_grad();
  if (!any) return out;
  Node& n = *out.node_;
  n.requires_grad = true;
  n.op = op;
  n.backward = std::move(rule);
  n.parents.reserve(parents.size());
  for (Var& p : parents) n.parents.push_back(p.node_);
  return out;
}

// ---- gradient accumulation ------------------------------------------------------------------
void accumulate_grad(Node& parent, const Tensor& g, bool fresh) {
  Tensor r = sum_to(g, parent.value.shape());
  if (!r.shares_storage(g)) fresh = true;  // the reduction made a new tensor
  if (!parent.grad.defined()) {
    parent.grad = r;
    parent.grad_borrowed = !fresh;
  } else if (parent.grad_borrowed) {
    parent.grad = add(parent.grad, r);  // a new tensor: the borrowed one stays untouched
    parent.grad_borrowed = false;
  } else {
    add_(parent.grad, r);
  }
}

Tensor& grad_buffer(Node& parent, float& beta) {
  if (parent.grad.defined()) {
    if (parent.grad_borrowed) {  // the kernel will write into it: take a private copy first
      parent.grad = parent.grad.clone();
      parent.grad_borrowed = false;
    }
    beta = 1.0f;
  } else {
    parent.grad = Tensor::empty(parent.value.shape(), parent.value.device());
    parent.grad_borrowed = false;
    beta = 0.0f;
  }
  return parent.grad;
}

// ---- backward passes ------------------------------------------------------------------------
// Nodes reachable from `root` that require grad, parents before children (iterative DFS).
static std::vector<Node*> topo_order(Node* root) {
  std::vector<Node*> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
  seen.insert(root);
  while (!stack.empty()) {
    auto& [n, i] = stack.back();
    if (i < n->parents.size()) {
      Node* p = n->parents[i++].get();
      if (p->requires_grad && seen.insert(p).second) stack.push_back({p, 0});
    } else {
      order.push_back(n);
      stack.pop_back();
    }
  }
  return order;
}

// Runs the rules of `order` (parents first) in reverse, for nodes whose needs_grad is set.
static void run_rules(const std::vector<Node*>& order) {
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* n = *it;
    if (n->is_leaf() || !n->grad.defined()) continue;
    FM_PROFILE(n->op, " backward");
    n->backward(*n);
  }
  // Leaves keep their gradients after the pass, and their owners may change them in place
  // (clipping, zeroing), so a leaf that borrowed its gradient gets its own copy.
  for (Node* n : order)
    if (n->is_leaf() && n->grad_borrowed) {
      n->grad = n->grad.clone();
      n->grad_borrowed = false;
    }
}

// Drops the interior of the graph: rules, parent links and intermediate gradients.
static void free_graph(const std::vector<Node*>& order) {
  for (Node* n : order) {
    if (n->is_leaf()) continue;
    n->backward = nullptr;
    n->parents.clear();
    n->grad = Tensor();
  }
}

static void seed_root(Node* root, const Tensor& seed) {
  if (seed.shape() != root->value.shape())
    throw std::runtime_error("backward: seed shape " + shape_str(seed.shape()) + " differs from output " +
                             shape_str(root->value.shape()));
  root->grad = seed;  // read only, so borrowed rather than copied
  root->grad_borrowed = true;
}

void backward(const Var& y, const Tensor& seed, bool retain_graph) {
  Node* root = y.node();
  if (!root->requires_grad) throw std::runtime_error("backward: the output does not depend on anything that requires grad");
  std::vector<Node*> order = topo_order(root);
  for (Node* n : order) {
    n->needs_grad = true;
    if (!n->is_leaf()) n->grad = Tensor();
  }
  seed_root(root, seed);
  run_rules(order);
  if (!retain_graph) free_graph(order);
}

void backward(const Var& loss, bool retain_graph) {
  if (loss.numel() != 1)
    throw std::runtime_error("backward: loss must have one element, shape is " + shape_str(loss.shape()) +
                             " (pass a seed for non-scalar outputs)");
  backward(loss, Tensor::full(loss.shape(), 1.0f, loss.value().device()), retain_graph);
}

std::vector<Tensor> vjp(const Var& y, const std::vector<Var>& xs, const Tensor& v, bool retain_graph) {
  Node* root = y.node();
  std::vector<Tensor> saved(xs.size());
  std::unordered_set<Node*> targets;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!xs[i].requires_grad()) throw std::runtime_error("vjp: an input does not require grad");
    targets.insert(xs[i].node());
    saved[i] = xs[i].node()->grad;  // restored below: vjp leaves leaf gradients as they were
    xs[i].node()->grad = Tensor();
  }
  std::vector<Tensor> out(xs.size());
  if (root->requires_grad) {
    // A gradient is wanted at a node iff it lies on a path from some x to y.
    std::vector<Node*> order = topo_order(root);
    for (Node* n : order) {
      bool on_path = targets.count(n) > 0;
      for (const NodePtr& p : n->parents) on_path = on_path || p->needs_grad;
      n->needs_grad = on_path;
      if (!n->is_leaf()) n->grad = Tensor();
    }
    seed_root(root, v);
    run_rules(order);
    for (size_t i = 0; i < xs.size(); ++i) out[i] = xs[i].node()->grad;
    for (Node* n : order) n->needs_grad = n->requires_grad;  // back to the default for backward()
    if (!retain_graph) free_graph(order);
  }
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!out[i].defined()) out[i] = Tensor::zeros(xs[i].shape(), xs[i].value().device());  // y does not depend on this x
    xs[i].node()->grad = saved[i];
  }
  return out;
}

}  // namespace fm
