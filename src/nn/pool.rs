//! [`MaxPool2d`] and [`AvgPool2d`]: window pooling of `[N, C, H, W]` inputs.

use super::Forward;
use super::activation::impl_module_without_params;
use crate::tape::Var;
use crate::tensor::Float;

/// Takes the largest value under each `kernel` window, as PyTorch's
/// `nn.MaxPool2d`:
/// `y[n, c, i, j] = max_{u < kH, v < kW} x_pad[n, c, i*sH + u, j*sW + v]`,
/// where the padding never wins.
///
/// Shapes: `[N, C, H, W]` to `[N, C, OH, OW]`,
/// `OH = (H + 2 pH - kH) / sH + 1` rounded down, likewise `OW`. The stride
/// defaults to the kernel size and the padding to 0, as in PyTorch. No
/// parameters.
///
/// ```
/// use tapegrad::nn::{Forward, MaxPool2d};
/// use tapegrad::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let y = MaxPool2d::new((2, 2)).forward(tape.constant(Tensor::zeros(&[1, 3, 8, 6])));
/// assert_eq!(y.shape().as_slice(), &[1, 3, 4, 3]);
/// ```
///
/// # Panics
/// In `forward`, if the input is not 4-d, the kernel or stride has a 0, the
/// padding is more than half the kernel, or the kernel does not fit the
/// padded input (see [`Var::max_pool2d`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    /// Window size `(kH, kW)`.
    pub kernel: (usize, usize),
    /// Step between windows `(sH, sW)`.
    pub stride: (usize, usize),
    /// Implicit padding on each side `(pH, pW)`.
    pub padding: (usize, usize),
}

impl MaxPool2d {
    /// Windows of `kernel`, `kernel` apart, no padding.
    pub fn new(kernel: (usize, usize)) -> Self {
        MaxPool2d {
            kernel,
            stride: kernel,
            padding: (0, 0),
        }
    }

    /// Sets the stride.
    pub fn stride(mut self, stride: (usize, usize)) -> Self {
        self.stride = stride;
        self
    }

    /// Sets the padding.
    pub fn padding(mut self, padding: (usize, usize)) -> Self {
        self.padding = padding;
        self
    }
}

impl_module_without_params!(MaxPool2d);

impl<T: Float> Forward<T> for MaxPool2d {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        x.max_pool2d(self.kernel, self.stride, self.padding)
    }
}

/// Averages each `kernel` window, as PyTorch's `nn.AvgPool2d` (with its
/// default `count_include_pad=True`):
/// `y[n, c, i, j] = sum_{u < kH, v < kW} x_pad[n, c, i*sH + u, j*sW + v] / (kH kW)`,
/// padding counting as zeros.
///
/// Shapes as [`MaxPool2d`]: `[N, C, H, W]` to `[N, C, OH, OW]`, stride
/// defaulting to the kernel size, padding to 0. No parameters.
///
/// # Panics
/// In `forward`, as [`MaxPool2d`] (see [`Var::avg_pool2d`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2d {
    /// Window size `(kH, kW)`.
    pub kernel: (usize, usize),
    /// Step between windows `(sH, sW)`.
    pub stride: (usize, usize),
    /// Implicit zero padding on each side `(pH, pW)`.
    pub padding: (usize, usize),
}

impl AvgPool2d {
    /// Windows of `kernel`, `kernel` apart, no padding.
    pub fn new(kernel: (usize, usize)) -> Self {
        AvgPool2d {
            kernel,
            stride: kernel,
            padding: (0, 0),
        }
    }

    /// Sets the stride.
    pub fn stride(mut self, stride: (usize, usize)) -> Self {
        self.stride = stride;
        self
    }

    /// Sets the padding.
    pub fn padding(mut self, padding: (usize, usize)) -> Self {
        self.padding = padding;
        self
    }
}

impl_module_without_params!(AvgPool2d);

impl<T: Float> Forward<T> for AvgPool2d {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        x.avg_pool2d(self.kernel, self.stride, self.padding)
    }
}
