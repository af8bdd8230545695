//! # 6. The learning rate
//!
//! Gradient descent moves each parameter by `-lr · gradient`. The gradient
//! gives the direction; the learning rate `lr` decides how far to go. Too
//! small and training crawls; too large and it overshoots, oscillates, or
//! blows up. The clearest place to see this is a function whose every step
//! can be written down.
//!
//! ## A quadratic, solved exactly
//!
//! Take `f(w) = (w - 3)²`, smallest at `w = 3`. Its gradient is
//! `2 (w - 3)`, so one step gives `w - 3 ← (w - 3) - lr · 2 (w - 3)`: the
//! distance to the minimum is multiplied by `1 - 2 lr` every step. After
//! `t` steps it is `(1 - 2 lr)ᵗ` times what it was. Everything follows:
//!
//! | `lr`  | factor `1 - 2 lr` | what happens                                  |
//! |-------|-------------------|-----------------------------------------------|
//! | 0.01  | 0.98              | crawls: 2% closer per step                    |
//! | 0.25  | 0.5               | converges smoothly, halving the distance      |
//! | 0.5   | 0                 | lands on the minimum in one step              |
//! | 0.9   | -0.8              | overshoots each time, oscillating, converging |
//! | 1.0   | -1                | bounces between 1 and 5 forever               |
//! | 1.1   | -1.2              | overshoots further each time: diverges        |
//!
//! The curvature sets the scale: here `f'' = 2`, and any `lr` above
//! `2 / f'' = 1` diverges. A network's loss has many curvatures at once;
//! the largest one caps the usable rate, and the smallest decides how slow
//! progress is along the flattest direction.
//!
//! The code runs 20 steps of gradient descent with backward at each rate,
//! starting from `w = 1` (distance `-2`), and checks each against the
//! formula:
//!
//! ```
//! use tapegrad::{Tape, Tensor};
//!
//! /// Gradient descent on (w - 3)^2 from w = 1; every iterate.
//! fn descend(lr: f64, steps: usize) -> Vec<f64> {
//!     let mut w = 1.0;
//!     let mut path = vec![w];
//!     for _ in 0..steps {
//!         let tape = Tape::<f64>::new();
//!         let wv = tape.var(Tensor::scalar(w));
//!         let loss = (wv - 3.0).square();
//!         w -= lr * loss.backward().wrt(wv).item();
//!         path.push(w);
//!     }
//!     path
//! }
//!
//! for lr in [0.01, 0.25, 0.5, 0.9, 1.0, 1.1] {
//!     let path = descend(lr, 20);
//!     for (t, w) in path.iter().enumerate() {
//!         let predicted = 3.0 - 2.0 * (1.0 - 2.0 * lr).powi(t as i32);
//!         assert!((w - predicted).abs() < 1e-9 * predicted.abs().max(1.0));
//!     }
//! }
//!
//! let distance = |lr: f64| (descend(lr, 20)[20] - 3.0).abs();
//! assert!(distance(0.01) > 1.3);                  // crawling: 2 · 0.98^20 = 1.34
//! assert!(distance(0.25) < 1e-5);                 // 2 · 0.5^20
//! assert_eq!(descend(0.5, 1)[1], 3.0);            // one step
//! assert!(distance(0.9) < 0.05);                  // 2 · 0.8^20 = 0.023, after oscillating
//! assert_eq!(descend(1.0, 3), [1.0, 5.0, 1.0, 5.0]); // bounces forever
//! assert!(distance(1.1) > 70.0);                  // 2 · 1.2^20 = 76: diverged
//! let jumps: Vec<bool> = descend(0.9, 4).iter().map(|&w| w > 3.0).collect();
//! assert_eq!(jumps, [false, true, false, true, false]); // sides alternate
//! ```
//!
//! How this looks in a real loss curve: a crawling run is a loss that
//! falls in a straight, shallow line; a good one falls fast, then flattens;
//! an oscillating one zigzags or stalls above where it should be; a
//! diverging one shoots up, often to `inf` or `NaN` within a few steps.
//! The `lr_sweep` example shows all four on real data.
//!
//! ## Schedules
//!
//! No single rate is best for the whole run. Early on a large rate makes
//! fast progress; near the end a small one settles into the minimum instead
//! of rattling around it. A *schedule* sets the rate for each step: the
//! [`schedule`](crate::schedule) module has the common ones, each with a
//! pure [`lr_at(step)`](crate::schedule::LrSchedule::lr_at) that can be
//! printed or plotted before training.
//!
//! [`StepLr`](crate::schedule::StepLr) multiplies the rate by `gamma` every
//! `step_size` steps; [`CosineAnnealingLr`](crate::schedule::CosineAnnealingLr)
//! glides from the base rate to a floor along half a cosine,
//! `η_min + (η₀ - η_min)(1 + cos(π t / T)) / 2`;
//! [`LinearWarmup`](crate::schedule::LinearWarmup) ramps up first, which
//! keeps the first steps (taken from random weights, with large gradients)
//! from blowing up.
//!
//! ```
//! use tapegrad::schedule::{CosineAnnealingLr, LinearWarmup, LrSchedule, StepLr};
//!
//! let step = StepLr::new(0.1, 10, 0.5)?;
//! assert_eq!(step.lr_at(9), 0.1);
//! assert_eq!(step.lr_at(10), 0.05);
//! assert_eq!(step.lr_at(25), 0.025);
//!
//! let cosine = CosineAnnealingLr::new(0.1, 100, 0.0)?;
//! assert_eq!(cosine.lr_at(0), 0.1);
//! assert!((cosine.lr_at(50) - 0.05).abs() < 1e-12); // halfway: (1 + cos(π/2)) / 2 = 1/2
//! assert!(cosine.lr_at(100).abs() < 1e-12);
//!
//! // 10 warm-up steps from 1% of the rate, then the cosine
//! let warm = LinearWarmup::new(CosineAnnealingLr::new(0.1, 100, 0.0)?, 10, 0.01)?;
//! assert!((warm.lr_at(0) - 0.001).abs() < 1e-12);
//! assert!(warm.lr_at(5) < warm.lr_at(9) && warm.lr_at(9) <= 0.1);
//! # Ok::<(), tapegrad::schedule::ScheduleError>(())
//! ```
//!
//! A schedule can also rescue a rate that is too high for the end of
//! training. On the quadratic, `lr = 0.95` starts by oscillating hard
//! (factor `-0.9`); halving it every 5 steps soon brings the factor to
//! `1 - 2 · 0.475 = 0.05`, and the last steps close in quickly:
//!
//! ```
//! use tapegrad::schedule::{LrSchedule, StepLr};
//! use tapegrad::{Tape, Tensor};
//!
//! let run = |schedule: &dyn LrSchedule| {
//!     let mut w = 1.0;
//!     for t in 0..20 {
//!         let tape = Tape::<f64>::new();
//!         let wv = tape.var(Tensor::scalar(w));
//!         w -= schedule.lr_at(t) * (wv - 3.0).square().backward().wrt(wv).item();
//!     }
//!     (w - 3.0).abs()
//! };
//! let fixed = run(&StepLr::new(0.95, 1000, 1.0)?); // never decays
//! let decayed = run(&StepLr::new(0.95, 5, 0.5)?);
//! // fixed: 2 · 0.9^20 = 0.24; decayed: 2 · 0.9^5 · 0.05^5 · 0.525^5 · 0.7625^5 ≈ 4e-9
//! assert!(fixed > 0.2);
//! assert!(decayed < 1e-7);
//! # Ok::<(), tapegrad::schedule::ScheduleError>(())
//! ```
//!
//! ## Finding a good rate: the range test
//!
//! On a network nobody can write down `f''`. The *learning-rate range
//! test* (Leslie Smith, 2015, popularised by fast.ai) measures instead:
//! train from the initial weights for a few hundred steps while raising
//! the rate exponentially, from far too small (say `1e-7`) to far too
//! large (say `10`), recording the loss at each step. The curve of loss
//! against rate is flat at first (the crawling rates), then falls (rates
//! that learn), then turns up and explodes (rates that overshoot and
//! diverge). A good rate lies on the falling part, somewhat below the
//! bottom: the common heuristics take the point where the loss falls
//! fastest, or a tenth of the rate at the minimum. The test costs a
//! fraction of one epoch, and its result is the `lr` to put into a
//! schedule. tapegrad's `LrFinder` runs it, and the `lr_find` example
//! compares training at its suggestion with rates ten times above and
//! below.
//!
//! Next: [chapter 7](super::chapter_7_new_op), adding an operation.
