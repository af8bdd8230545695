//! [`Dropout`]: random zeroing in training, identity in evaluation.

use super::Forward;
use super::activation::impl_module_without_params;
use crate::tape::Var;
use crate::tensor::Float;

/// Dropout (Srivastava et al. 2014), as PyTorch's `nn.Dropout(p)`: in
/// training mode each element is zeroed with probability `p` and the
/// survivors are scaled by `1 / (1 - p)`, so that the expected output is the
/// input; in evaluation mode ([`Tape::eval`](crate::Tape::eval)) the input
/// passes through untouched.
///
/// The mask is drawn from the tape's generator ([`Tape::rng`](crate::Tape::rng)),
/// so the same [`Tape::seed`](crate::Tape::seed) (0 on a fresh tape) gives
/// the same masks. Shape: any, unchanged. No parameters.
///
/// ```
/// use tapegrad::nn::{Dropout, Forward};
/// use tapegrad::{Tape, Tensor};
/// let drop = Dropout::new(0.5);
/// let tape = Tape::<f32>::eval();
/// let x = tape.constant(Tensor::ones(&[4]));
/// assert_eq!(drop.forward(x).value().to_vec(), vec![1.0; 4]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    p: f64,
}

impl Dropout {
    /// Drops each element with probability `p`.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    pub fn new(p: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&p),
            "Dropout: p must be in [0, 1]: got {p}"
        );
        Dropout { p }
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }
}

impl Default for Dropout {
    /// PyTorch's default, `p = 0.5`.
    fn default() -> Self {
        Dropout::new(0.5)
    }
}

impl_module_without_params!(Dropout);

impl<T: Float> Forward<T> for Dropout {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        let tape = x.tape();
        if tape.is_training() {
            x.dropout(self.p, &mut *tape.rng())
        } else {
            x
        }
    }
}
