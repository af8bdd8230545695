//! # 2. The tape
//!
//! Chapter 1 used the tape without looking inside. Here we look, print it,
//! and then do backward's job ourselves from the printed list.
//!
//! ## What is recorded
//!
//! A [`Tape`](crate::Tape) is a list of nodes, appended to as you compute.
//! Each node holds a value, the operation that made it, and the positions
//! of its inputs (its *parents*). A [`Var`](crate::Var) is only a handle,
//! a node's position on its tape, so it is `Copy` and `a * b + c` needs no
//! `&` or `.clone()`.
//!
//! Here is the example from micrograd's introduction, `L = (a·b + c)·f`.
//! Printing the tape shows one line per node, `%i = op(parents)  [shape]`
//! (these are scalars, so every shape is `[]`). This form, each value
//! computed once from earlier ones, is called a *Wengert list*:
//!
//! ```
//! use tapegrad::{Tape, Tensor};
//!
//! let tape = Tape::<f64>::new();
//! let a = tape.var(Tensor::scalar(2.0));
//! let b = tape.var(Tensor::scalar(-3.0));
//! let c = tape.var(Tensor::scalar(10.0));
//! let e = a * b;
//! let d = e + c;
//! let f = tape.var(Tensor::scalar(-2.0));
//! let l = d * f;
//! assert_eq!(l.item(), -8.0); // (2 · -3 + 10) · -2
//! assert_eq!(
//!     tape.to_string(),
//!     "%0 = var  []
//! %1 = var  []
//! %2 = var  []
//! %3 = mul(%0, %1)  []
//! %4 = add(%3, %2)  []
//! %5 = var  []
//! %6 = mul(%4, %5)  []
//! "
//! );
//! ```
//!
//! Two things make this list enough for backward. A node is only ever
//! appended after its parents, so the list is already in an order where
//! every value comes after what it depends on; walking it from the end
//! visits every node after everything that depends on it. And each
//! operation has a simple local rule for passing a gradient to its parents:
//!
//! - `add(p, q)`: each parent gets the gradient unchanged (`∂(p+q)/∂p = 1`);
//! - `mul(p, q)`: `p` gets the gradient times `q`, and `q` gets it times `p`.
//!
//! ## Backward by hand, from the printed list
//!
//! The program below reads the printed tape (nothing else about its
//! structure), walks the lines from last to first, and applies those two
//! rules. Gradients are **added** into a parent, never written over it, for
//! the reason seen at the end of chapter 1. Then it compares the result with
//! [`backward`](crate::Var::backward):
//!
//! ```
//! use tapegrad::{Tape, Tensor};
//!
//! let tape = Tape::<f64>::new();
//! tape.retain_grads(); // so intermediate gradients can be compared too
//! let a = tape.var(Tensor::scalar(2.0));
//! let b = tape.var(Tensor::scalar(-3.0));
//! let c = tape.var(Tensor::scalar(10.0));
//! let e = a * b;
//! let d = e + c;
//! let f = tape.var(Tensor::scalar(-2.0));
//! let l = d * f;
//!
//! // The value of every node, by its position on the tape.
//! let nodes = [a, b, c, e, d, f, l];
//! let mut value = vec![0.0; tape.len()];
//! for v in nodes {
//!     value[v.index()] = v.item();
//! }
//!
//! // dL/dL = 1 at the end; every other gradient starts at zero.
//! let listing = tape.to_string();
//! let mut grad = vec![0.0; tape.len()];
//! grad[l.index()] = 1.0;
//! for line in listing.lines().rev() {
//!     // "%6 = mul(%4, %5)  []": the node, the op, the parents
//!     let (node, rest) = line.split_once(" = ").unwrap();
//!     let i: usize = node[1..].parse().unwrap();
//!     let call = rest.split("  ").next().unwrap();
//!     let Some((op, args)) = call.split_once('(') else {
//!         continue; // a leaf ("var"): nothing to pass on
//!     };
//!     let p: Vec<usize> = args
//!         .trim_end_matches(')')
//!         .split(", ")
//!         .map(|arg| arg[1..].parse().unwrap())
//!         .collect();
//!     match op {
//!         "add" => {
//!             grad[p[0]] += grad[i];
//!             grad[p[1]] += grad[i];
//!         }
//!         "mul" => {
//!             grad[p[0]] += grad[i] * value[p[1]];
//!             grad[p[1]] += grad[i] * value[p[0]];
//!         }
//!         other => panic!("no rule for {other}"),
//!     }
//! }
//! //               a     b     c     e     d    f    L
//! assert_eq!(grad, [6.0, -4.0, -2.0, -2.0, -2.0, 4.0, 1.0]);
//!
//! let grads = l.backward();
//! for v in [a, b, c, f] {
//!     assert_eq!(grads.wrt(v).item(), grad[v.index()]);
//! }
//! for v in [e, d] {
//!     assert_eq!(v.retained_grad().unwrap().item(), grad[v.index()]);
//! }
//! ```
//!
//! Check one by hand: `L = d · f`, so `dL/dd = f = -2`; `d = e + c` passes
//! `-2` to both `e` and `c`; `e = a · b` sends `a` the gradient times `b`,
//! `-2 · -3 = 6`, and `b` the gradient times `a`, `-2 · 2 = -4`.
//!
//! The library's backward is this loop with more rules: one per operation,
//! written next to the operation's forward computation in
//! [`ops`](crate::ops) (`src/ops/*.rs`), and with tensors where we had
//! numbers. It also skips nodes no wanted gradient depends on: a leaf made
//! with [`tape.constant`](crate::Tape::constant) needs no gradient, and
//! neither does anything computed only from constants
//! ([`Var::requires_grad`](crate::Var::requires_grad)).
//!
//! ## Drawing the tape
//!
//! [`Tape::to_dot`](crate::Tape::to_dot) writes the same graph for
//! Graphviz, with each node's value and, after a backward pass, its
//! gradient. `docs/tape.svg` in the repository is the neuron of
//! [chapter 4](super::chapter_4_neuron) drawn this way, made with
//! `cargo run --example tape_tour -- target/tape.dot` then
//! `dot -Tsvg target/tape.dot -o docs/tape.svg`.
//!
//! ```
//! use tapegrad::{Tape, Tensor};
//!
//! let tape = Tape::<f64>::new();
//! let x = tape.var(Tensor::scalar(3.0));
//! let y = x * x;
//! let _ = y.backward();
//! let dot = tape.to_dot();
//! assert!(dot.contains("n0 -> n1")); // an edge from x to x · x
//! assert!(dot.contains("grad 6.0000")); // dy/dx = 2x, kept for the leaf
//! ```
//!
//! In a training loop a tape lives for one step: record the forward pass,
//! run backward, drop the tape (or [`reset`](crate::Tape::reset) it to
//! reuse its memory), then update the parameters, in that order (chapter 5
//! says why; [`train::step`](crate::train::step) does it for you).
//!
//! Next: [chapter 3](super::chapter_3_broadcasting), tensors instead of
//! numbers.
