//! Printing the tape as a Wengert list, and Graphviz export.
//!
//! Both views list nodes in recording order, which is also the order they
//! were computed in: a parent always comes before its children.

use super::{Node, Tape, Var};
use crate::ops::Op;
use crate::tensor::{Float, Tensor};
use std::fmt::{self, Write};

/// Elements up to which a DOT label shows a value in full.
const DOT_FULL_VALUE: usize = 4;
/// Decimals of numbers in DOT labels...
const DOT_DECIMALS: usize = 4;
/// ...but at least this many significant digits for small ones.
const DOT_DIGITS: usize = 4;

/// The Wengert list: one line per node, `%index = op(parents)  [shape]`.
///
/// ```
/// use tapegrad::{Tape, Tensor, tensor};
/// let tape = Tape::<f64>::new();
/// let x = tape.var(tensor![1.0, 2.0, 3.0]);
/// let c = tape.constant(Tensor::scalar(2.0));
/// let _ = ((x * c).exp() * 2.0).tanh();
/// assert_eq!(
///     tape.to_string(),
///     "%0 = var  [3]\n\
///      %1 = constant  []\n\
///      %2 = mul(%0, %1)  [3]\n\
///      %3 = exp(%2)  [3]\n\
///      %4 = mul[2](%3)  [3]\n\
///      %5 = tanh(%4)  [3]\n"
/// );
/// ```
impl<T: Float> fmt::Display for Tape<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, node) in self.nodes.borrow().iter().enumerate() {
            writeln!(f, "%{i} = {}  {:?}", call(node), node.value.shape())?;
        }
        Ok(())
    }
}

/// An op's name without its arguments: `mul[2]` is `mul`, `param#3` is
/// `param` (the profiler's rows).
pub(super) fn kind_name(op: &Op) -> String {
    let mut name = op.to_string();
    if let Some(k) = name.find(['[', '#']) {
        name.truncate(k);
    }
    name
}

/// `op(%a, %b)` for an op, the bare kind for a leaf.
fn call<T: Float>(node: &Node<T>) -> String {
    if node.parents.is_empty() {
        return node.op.to_string();
    }
    let args: Vec<String> = node.parents.iter().map(|p| format!("%{p}")).collect();
    format!("{}({})", node.op, args.join(", "))
}

impl<T: Float> Tape<T> {
    /// The tape as a Graphviz digraph: one node per tape node, an edge from
    /// each parent to its child.
    ///
    /// Each label shows the index, the op and the shape; the value in full
    /// when it has at most 4 elements, else its minimum and maximum (and
    /// whether it holds a NaN); and,
    /// after a backward pass, the gradient that pass kept (leaves always,
    /// every node if [`retain_grads`](Tape::retain_grads) was called first).
    /// Vars, constants and parameters each get their own shape and colour;
    /// nodes no gradient flows through have a dashed outline.
    ///
    /// Render it with `dot -Tsvg tape.dot -o tape.svg`.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(3.0));
    /// let _ = (x * x).backward();
    /// let dot = tape.to_dot();
    /// assert!(dot.starts_with("digraph tape {"));
    /// assert!(dot.contains("n0 -> n1"));
    /// assert!(dot.contains("grad 6.0000")); // d(x^2)/dx = 2x
    /// ```
    pub fn to_dot(&self) -> String {
        let nodes = self.nodes.borrow();
        let retained = self.retained.borrow();
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(out, "digraph tape {{");
        let _ = writeln!(out, "  rankdir=LR;");
        let _ = writeln!(out, "  node [fontname=\"monospace\", fontsize=10];");
        for (i, node) in nodes.iter().enumerate() {
            let mut label = format!("%{i} = {}\n{:?}", call(node), node.value.shape());
            label.push_str(&format!("\nvalue {}", summary(&node.value)));
            if let Some(Some(g)) = retained.get(i) {
                label.push_str(&format!("\ngrad {}", summary(g)));
            }
            let (shape, colour) = match node.op {
                Op::Var => ("ellipse", "#a6cee3"),
                Op::Constant => ("box", "#e0e0e0"),
                Op::Param(_) => ("octagon", "#b2df8a"),
                _ => ("box", "#ffffff"),
            };
            let mut style = String::from("filled");
            if !matches!(node.op, Op::Var | Op::Constant | Op::Param(_)) {
                style.push_str(",rounded");
            }
            if !node.requires_grad {
                style.push_str(",dashed");
            }
            let _ = writeln!(
                out,
                "  n{i} [shape={shape}, style=\"{style}\", fillcolor=\"{colour}\", label=\"{}\"];",
                dot_escape(&label)
            );
        }
        for (i, node) in nodes.iter().enumerate() {
            for p in &node.parents {
                let _ = writeln!(out, "  n{p} -> n{i};");
            }
        }
        out.push_str("}\n");
        out
    }
}

impl<T: Float> Var<'_, T> {
    /// The gradient the last backward pass on this tape kept for this node:
    /// always for `var` leaves; for every node the pass reached if
    /// [`Tape::retain_grads`] was called before it. `None` otherwise (no
    /// backward yet, or the node was not kept or not reached).
    ///
    /// For inspecting and teaching; training code reads [`Grads`](crate::Grads).
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// tape.retain_grads();
    /// let x = tape.var(Tensor::scalar(3.0));
    /// let y = x * 2.0;
    /// let z = y * y; // dz/dy = 2y = 12
    /// let _ = z.backward();
    /// assert_eq!(y.retained_grad().unwrap().item(), 12.0);
    /// ```
    pub fn retained_grad(&self) -> Option<Tensor<T>> {
        self.tape
            .retained
            .borrow()
            .get(self.live() as usize)
            .cloned()
            .flatten()
    }
}

/// A tensor in one short line: in full when small, else its range.
fn summary<T: Float>(t: &Tensor<T>) -> String {
    if t.ndim() == 0 {
        return short_number(t.as_slice()[0].to_f64());
    }
    if t.numel() <= DOT_FULL_VALUE {
        let full = format!("{t:.DOT_DECIMALS$}");
        return full.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    let (lo, hi) = t
        .as_slice()
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x.to_f64()), hi.max(x.to_f64()))
        });
    let nan = if t.as_slice().iter().any(|x| x.is_nan()) {
        " (and nan)"
    } else {
        ""
    };
    format!("min {} max {}{nan}", short_number(lo), short_number(hi))
}

/// A number with [`DOT_DECIMALS`] decimals, more below 0.1 so that
/// [`DOT_DIGITS`] significant digits show, and in scientific notation when
/// it is tiny or huge.
fn short_number(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 || !a.is_finite() {
        return format!("{x:.DOT_DECIMALS$}");
    }
    let e = a.log10().floor() as i32;
    if (-3..5).contains(&e) {
        // Enough decimals for DOT_DIGITS significant ones below 1.
        let decimals = (DOT_DIGITS as i32 - 1 - e).max(DOT_DECIMALS as i32) as usize;
        format!("{x:.decimals$}")
    } else {
        format!("{x:.prec$e}", prec = DOT_DIGITS - 1)
    }
}

/// Escapes a label for a double-quoted DOT string; newlines become `\n`.
fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}
