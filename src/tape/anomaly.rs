//! Anomaly mode: find the first op that produced a NaN or an infinity.
//!
//! Switched on with [`Tape::set_anomaly_mode`]. While on, every value
//! recorded on the tape and every gradient a backward rule adds into an
//! input is scanned; the first one that *produced* a NaN (none of its
//! inputs held one) or an infinity (none of its inputs held one) is kept
//! and read with [`Tape::anomaly`]. Values that only carry a NaN or an
//! infinity along are not reported: the one that made it is. While off,
//! recording and backward pay one branch each.

use super::{Node, Tape};
use crate::tensor::{Float, Tensor};
use std::fmt;

/// Which pass an [`Anomaly`] happened in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Computing the op's value.
    Forward,
    /// The op's backward rule, computing an input's gradient.
    Backward,
}

/// What was wrong with the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonFinite {
    /// Not a number.
    NaN,
    /// Plus or minus infinity.
    Infinity,
}

/// The first op that produced a NaN or an infinity: see
/// [`Tape::set_anomaly_mode`].
///
/// `Display` reads `node %17 = ln(%16) produced NaN in forward`, or for a
/// backward rule `node %3 = sqrt(%2) produced inf in backward (gradient
/// for %2)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// The node's index on the tape (`%17`).
    pub node: usize,
    /// The op's name as the tape prints it (`ln`, `mul[2]`).
    pub op: String,
    /// The node's inputs.
    pub parents: Vec<usize>,
    /// Forward or backward.
    pub phase: Phase,
    /// NaN or infinity.
    pub value: NonFinite,
    /// In backward: the input whose gradient it was.
    pub grad_of: Option<usize>,
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node %{} = {}", self.node, self.op)?;
        if !self.parents.is_empty() {
            let args: Vec<String> = self.parents.iter().map(|p| format!("%{p}")).collect();
            write!(f, "({})", args.join(", "))?;
        }
        let what = match self.value {
            NonFinite::NaN => "NaN",
            NonFinite::Infinity => "inf",
        };
        match self.phase {
            Phase::Forward if self.parents.is_empty() => write!(f, " holds {what} (a leaf)"),
            Phase::Forward => write!(f, " produced {what} in forward"),
            Phase::Backward => {
                write!(f, " produced {what} in backward")?;
                match self.grad_of {
                    Some(p) => write!(f, " (gradient for %{p})"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for Anomaly {}

/// What a tensor holds that is not finite: NaN first, as the worse.
fn non_finite<T: Float>(t: &Tensor<T>) -> (bool, bool) {
    let (mut nan, mut inf) = (false, false);
    for x in t.as_slice() {
        nan |= x.is_nan();
        inf |= !x.is_finite() && !x.is_nan();
    }
    (nan, inf)
}

/// Whether `out` holds a NaN none of `inputs` held, else an infinity none
/// of them held.
pub(crate) fn produced<'a, T: Float + 'a>(
    out: &Tensor<T>,
    inputs: impl Iterator<Item = &'a Tensor<T>> + Clone,
) -> Option<NonFinite> {
    if out.all_finite() {
        return None;
    }
    let (nan, inf) = non_finite(out);
    let (mut in_nan, mut in_inf) = (false, false);
    for t in inputs {
        let (n, i) = non_finite(t);
        in_nan |= n;
        in_inf |= i;
    }
    if nan && !in_nan {
        Some(NonFinite::NaN)
    } else if inf && !in_inf {
        Some(NonFinite::Infinity)
    } else {
        None
    }
}

impl Anomaly {
    pub(crate) fn new<T: Float>(
        idx: usize,
        node: &Node<T>,
        phase: Phase,
        value: NonFinite,
        grad_of: Option<usize>,
    ) -> Self {
        Anomaly {
            node: idx,
            op: node.op.to_string(),
            parents: node.parents.iter().map(|&p| p as usize).collect(),
            phase,
            value,
            grad_of,
        }
    }
}

impl<T: Float> Tape<T> {
    /// Switches anomaly mode on or off (off by default).
    ///
    /// While on, each value recorded on this tape and each gradient a
    /// backward rule computes is checked for NaN and infinity, and the
    /// first op that produced one is kept: [`anomaly`](Tape::anomaly) says
    /// which node, which op and which pass. A value is reported only if
    /// none of the op's inputs already held a NaN (for a NaN) or an
    /// infinity (for an infinity), so a causal mask's `-inf` added to the
    /// scores is not an anomaly, but `0 * inf` is. Leaves are checked for
    /// NaN only (a constant may hold `-inf` on purpose).
    ///
    /// It scans every value, so it slows a step down: switch it on to find
    /// where a NaN comes from, not for every run. [`reset`](Tape::reset)
    /// forgets the anomaly along with the nodes.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor, tensor};
    /// let tape = Tape::<f64>::new();
    /// tape.set_anomaly_mode(true);
    /// let x = tape.var(tensor![1.0, -1.0]);
    /// let y = x.ln().sum(); // ln(-1) is NaN
    /// let a = tape.anomaly().unwrap();
    /// assert_eq!(a.to_string(), "node %1 = ln(%0) produced NaN in forward");
    /// # let _ = y;
    /// ```
    pub fn set_anomaly_mode(&self, on: bool) {
        self.anomaly_mode.set(on);
    }

    /// Whether anomaly mode is on.
    pub fn is_anomaly_mode(&self) -> bool {
        self.anomaly_mode.get()
    }

    /// The first op that produced a NaN or an infinity since anomaly mode
    /// was switched on (or since the last reset), if any.
    pub fn anomaly(&self) -> Option<Anomaly> {
        self.anomaly.borrow().clone()
    }

    /// Checks the node just pushed at `idx` (anomaly mode is on).
    pub(crate) fn check_forward(&self, idx: usize) {
        if self.anomaly.borrow().is_some() {
            return;
        }
        let nodes = self.nodes.borrow();
        let node = &nodes[idx];
        let found = if node.parents.is_empty() {
            node.value
                .as_slice()
                .iter()
                .any(|x| x.is_nan())
                .then_some(NonFinite::NaN)
        } else {
            produced(
                &node.value,
                node.parents.iter().map(|&p| &nodes[p as usize].value),
            )
        };
        if let Some(value) = found {
            *self.anomaly.borrow_mut() = Some(Anomaly::new(idx, node, Phase::Forward, value, None));
        }
    }
}
