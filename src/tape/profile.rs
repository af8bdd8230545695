//! The profiler: where a step's time goes, per op kind.
//!
//! Switched on with [`Tape::set_profiling`]; while on, the tape times each
//! op's forward computation as it is recorded and each backward rule as the
//! sweep runs it, and [`Tape::profile`] sums the times per op kind. While
//! off, recording and backward pay one branch each.

use super::Tape;
use super::print::kind_name;
use crate::tensor::Float;
use std::fmt;
use std::time::Duration;

/// Time spent on one node, in nanoseconds.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NodeTime {
    /// Whether the node was recorded while profiling was on.
    pub(crate) counted: bool,
    pub(crate) forward: u64,
    pub(crate) backward: u64,
}

/// One op kind's line in a [`Profile`].
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileRow {
    /// The op's name as the tape prints it, without its arguments
    /// (`matmul`, `relu`, `mul`, `param`, ...).
    pub op: String,
    /// How many nodes of this kind were recorded.
    pub count: u64,
    /// Time in the forward computations.
    pub forward: Duration,
    /// Time in the backward rules (including adding the gradients into
    /// the inputs' and summing broadcast ones back).
    pub backward: Duration,
}

impl ProfileRow {
    /// Forward plus backward time.
    pub fn total(&self) -> Duration {
        self.forward + self.backward
    }
}

/// Time per op kind, from a tape with profiling on: see
/// [`Tape::set_profiling`].
///
/// Rows are sorted by total time, largest first. `Display` prints them as
/// a table with each kind's share of the profiled time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    rows: Vec<ProfileRow>,
}

impl Profile {
    /// The rows, largest total time first.
    pub fn rows(&self) -> &[ProfileRow] {
        &self.rows
    }

    /// The row of one op kind (`"matmul"`), if any node of it was recorded.
    pub fn get(&self, op: &str) -> Option<&ProfileRow> {
        self.rows.iter().find(|r| r.op == op)
    }

    /// Number of nodes recorded while profiling was on.
    pub fn count(&self) -> u64 {
        self.rows.iter().map(|r| r.count).sum()
    }

    /// All profiled time, forward plus backward.
    pub fn total(&self) -> Duration {
        self.rows.iter().map(ProfileRow::total).sum()
    }

    /// A row's share of all profiled time, between 0 and 1.
    pub fn share(&self, row: &ProfileRow) -> f64 {
        let total = self.total().as_secs_f64();
        if total > 0.0 {
            row.total().as_secs_f64() / total
        } else {
            0.0
        }
    }

    /// Adds `count` nodes of kind `op` with the given times.
    fn add(&mut self, op: &str, count: u64, forward: u64, backward: u64) {
        let row = match self.rows.iter().position(|r| r.op == op) {
            Some(k) => &mut self.rows[k],
            None => {
                self.rows.push(ProfileRow {
                    op: op.to_string(),
                    count: 0,
                    forward: Duration::ZERO,
                    backward: Duration::ZERO,
                });
                self.rows.last_mut().expect("just pushed")
            }
        };
        row.count += count;
        row.forward += Duration::from_nanos(forward);
        row.backward += Duration::from_nanos(backward);
    }

    /// Adds every row of `other`.
    fn merge(&mut self, other: &Profile) {
        for r in &other.rows {
            self.add(
                &r.op,
                r.count,
                r.forward.as_nanos() as u64,
                r.backward.as_nanos() as u64,
            );
        }
    }

    fn sort(&mut self) {
        self.rows
            .sort_by(|a, b| b.total().cmp(&a.total()).then_with(|| a.op.cmp(&b.op)));
    }
}

/// Milliseconds with three decimals.
fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// ```text
/// op              count  forward ms  backward ms  total ms   share
/// matmul              3       1.204        2.311     3.515   61.2%
/// ...
/// total              20       2.010        3.730     5.740  100.0%
/// ```
impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .rows
            .iter()
            .map(|r| r.op.len())
            .max()
            .unwrap_or(0)
            .max(5);
        writeln!(
            f,
            "{:<width$}  {:>7}  {:>10}  {:>11}  {:>9}  {:>6}",
            "op", "count", "forward ms", "backward ms", "total ms", "share"
        )?;
        let line = |f: &mut fmt::Formatter<'_>, name: &str, count, fw, bw, share: f64| {
            writeln!(
                f,
                "{name:<width$}  {count:>7}  {:>10}  {:>11}  {:>9}  {:>5.1}%",
                ms(fw),
                ms(bw),
                ms(fw + bw),
                100.0 * share
            )
        };
        for r in &self.rows {
            line(f, &r.op, r.count, r.forward, r.backward, self.share(r))?;
        }
        let fw = self.rows.iter().map(|r| r.forward).sum();
        let bw = self.rows.iter().map(|r| r.backward).sum();
        let all = if self.rows.is_empty() { 0.0 } else { 1.0 };
        line(f, "total", self.count(), fw, bw, all)
    }
}

impl<T: Float> Tape<T> {
    /// Switches the profiler on or off (off by default).
    ///
    /// While on, every op recorded on this tape has its forward computation
    /// timed, and every backward rule the sweep runs has its time added to
    /// its node; [`profile`](Tape::profile) sums them per op kind. Times add
    /// up across [`reset`](Tape::reset)s, so a profile can cover many
    /// steps; [`clear_profile`](Tape::clear_profile) starts over. Turned
    /// off, it costs one branch per op.
    ///
    /// ```
    /// use tapegrad::{Tape, Tensor};
    /// let tape = Tape::<f32>::new();
    /// tape.set_profiling(true);
    /// let x = tape.var(Tensor::ones(&[64, 64]));
    /// let loss = x.matmul(x).tanh().sum();
    /// let _ = loss.backward();
    /// let profile = tape.profile();
    /// assert_eq!(profile.get("matmul").unwrap().count, 1);
    /// assert_eq!(profile.count(), 4); // var, matmul, tanh, sum
    /// println!("{profile}");
    /// ```
    pub fn set_profiling(&self, on: bool) {
        self.profiling.set(on);
    }

    /// Whether the profiler is on.
    pub fn is_profiling(&self) -> bool {
        self.profiling.get()
    }

    /// The time per op kind since profiling was switched on (or since
    /// [`clear_profile`](Tape::clear_profile)), including the nodes
    /// recorded since the last reset.
    pub fn profile(&self) -> Profile {
        let mut profile = self.profile_done.borrow().clone();
        profile.merge(&self.current_profile());
        profile.sort();
        profile
    }

    /// Forgets every time measured so far.
    pub fn clear_profile(&self) {
        *self.profile_done.borrow_mut() = Profile::default();
        self.node_times.borrow_mut().clear();
    }

    /// The nodes on the tape now, summed per kind.
    fn current_profile(&self) -> Profile {
        let nodes = self.nodes.borrow();
        let times = self.node_times.borrow();
        let mut profile = Profile::default();
        for (node, t) in nodes.iter().zip(times.iter()) {
            if t.counted {
                profile.add(&kind_name(&node.op), 1, t.forward, t.backward);
            }
        }
        profile
    }

    /// Moves the current nodes' times into the running totals (before a
    /// reset forgets the nodes).
    pub(crate) fn fold_profile(&self) {
        if self.node_times.borrow().is_empty() {
            return;
        }
        let current = self.current_profile();
        self.profile_done.borrow_mut().merge(&current);
        self.node_times.borrow_mut().clear();
    }

    /// Notes the forward time of node `idx`, just recorded.
    pub(crate) fn note_forward(&self, idx: usize, nanos: u64) {
        let mut times = self.node_times.borrow_mut();
        if times.len() <= idx {
            times.resize(idx + 1, NodeTime::default());
        }
        times[idx] = NodeTime {
            counted: true,
            forward: nanos,
            backward: 0,
        };
    }
}
