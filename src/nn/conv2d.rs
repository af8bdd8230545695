//! [`Conv2d`]: 2-d convolution over `[N, C, H, W]` inputs.

use super::{Forward, Param, init};
use crate::Module;
use crate::ops::Conv2dOptions;
use crate::tape::Var;
use crate::tensor::Float;
use rand::Rng;

/// A 2-d convolution layer, as PyTorch's `nn.Conv2d` (a cross-correlation):
///
/// `y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] *
/// x[n, g(o) * C_in/groups + c, i*sH + u*dH - pH, j*sW + v*dW - pW]`,
///
/// reading zeros outside the input, where `g(o)` is the group of output
/// channel `o` (see [`Var::conv2d`]).
///
/// Shapes: input `[N, C_in, H, W]`, output `[N, C_out, OH, OW]` with
/// `OH = (H + 2 pH - dH (kH - 1) - 1) / sH + 1` rounded down, likewise `OW`;
/// `weight` is `[C_out, C_in / groups, kH, kW]` and `bias` `[C_out]`, as in
/// PyTorch, so weights move between the two unchanged.
///
/// Default init matches PyTorch's: weight and bias both drawn from
/// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` with
/// `fan_in = C_in / groups * kH * kW` (for the weight this is
/// `kaiming_uniform` with PyTorch's `a = sqrt(5)`).
///
/// ```
/// use tapegrad::nn::{Conv2d, Forward};
/// use tapegrad::{Tape, Tensor};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let conv = Conv2d::<f32>::new(3, 8, (3, 3), &mut rng).padding((1, 1)).stride((2, 2));
/// let tape = Tape::new();
/// let y = conv.forward(tape.constant(Tensor::zeros(&[2, 3, 32, 32])));
/// assert_eq!(y.shape().as_slice(), &[2, 8, 16, 16]);
/// ```
///
/// # Panics
/// In the constructors, if a channel count or kernel size is 0, `groups` is
/// 0 or does not divide both channel counts, or a stride or dilation is 0.
/// In `forward`, if the input is not `[N, C_in, H, W]` or the kernel does
/// not fit the padded input (see [`Var::conv2d`]).
#[derive(Module, Clone, Debug)]
pub struct Conv2d<T: Float = f32> {
    /// `[C_out, C_in / groups, kH, kW]`.
    pub weight: Param<T>,
    /// `[C_out]`, if the layer has a bias.
    pub bias: Option<Param<T>>,
    #[module(skip)]
    options: Conv2dOptions,
}

impl<T: Float> Conv2d<T> {
    /// A convolution from `in_channels` to `out_channels` with a
    /// `kernel = (kH, kW)` window, stride 1, no padding, dilation 1, one
    /// group, and a bias.
    pub fn new<R: Rng + ?Sized>(
        in_channels: usize,
        out_channels: usize,
        kernel: (usize, usize),
        rng: &mut R,
    ) -> Self {
        Self::with_options(
            in_channels,
            out_channels,
            kernel,
            Conv2dOptions::default(),
            rng,
        )
    }

    /// A convolution with all options chosen up front; the only way to set
    /// `groups`, which changes the weight's shape (and so its init).
    ///
    /// ```
    /// use tapegrad::nn::Conv2d;
    /// use tapegrad::ops::Conv2dOptions;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// // depthwise: one 3x3 filter per channel
    /// let opts = Conv2dOptions { groups: 16, padding: (1, 1), ..Default::default() };
    /// let dw = Conv2d::<f32>::with_options(16, 16, (3, 3), opts, &mut rng);
    /// assert_eq!(dw.weight.shape(), &[16, 1, 3, 3]);
    /// ```
    pub fn with_options<R: Rng + ?Sized>(
        in_channels: usize,
        out_channels: usize,
        kernel: (usize, usize),
        options: Conv2dOptions,
        rng: &mut R,
    ) -> Self {
        let g = options.groups;
        assert!(
            in_channels > 0 && out_channels > 0 && kernel.0 > 0 && kernel.1 > 0,
            "Conv2d: channels and kernel must be positive: in {in_channels}, out {out_channels}, \
             kernel {kernel:?}"
        );
        assert!(
            g > 0 && in_channels.is_multiple_of(g) && out_channels.is_multiple_of(g),
            "Conv2d: groups {g} must divide both channel counts: in {in_channels}, out {out_channels}"
        );
        check_positive("stride", options.stride);
        check_positive("dilation", options.dilation);
        let dims = [out_channels, in_channels / g, kernel.0, kernel.1];
        let (fan_in, _) = init::fans(&dims);
        let bound = 1.0 / (fan_in as f64).sqrt();
        let weight = init::uniform(&dims, -bound, bound, rng);
        let bias = init::uniform(&[out_channels], -bound, bound, rng);
        Conv2d {
            weight: Param::new("weight", weight),
            bias: Some(Param::new("bias", bias)),
            options,
        }
    }

    /// The same layer without a bias.
    pub fn without_bias(mut self) -> Self {
        self.bias = None;
        self
    }

    /// Sets the stride `(sH, sW)`.
    ///
    /// # Panics
    /// If either is 0.
    pub fn stride(mut self, stride: (usize, usize)) -> Self {
        check_positive("stride", stride);
        self.options.stride = stride;
        self
    }

    /// Sets the zero padding `(pH, pW)` added on each side.
    pub fn padding(mut self, padding: (usize, usize)) -> Self {
        self.options.padding = padding;
        self
    }

    /// Sets the dilation `(dH, dW)`.
    ///
    /// # Panics
    /// If either is 0.
    pub fn dilation(mut self, dilation: (usize, usize)) -> Self {
        check_positive("dilation", dilation);
        self.options.dilation = dilation;
        self
    }

    /// Stride, padding, dilation and groups.
    pub fn options(&self) -> Conv2dOptions {
        self.options
    }

    /// Input channels `C_in`.
    pub fn in_channels(&self) -> usize {
        self.weight.shape()[1] * self.options.groups
    }

    /// Output channels `C_out`.
    pub fn out_channels(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Kernel size `(kH, kW)`.
    pub fn kernel_size(&self) -> (usize, usize) {
        (self.weight.shape()[2], self.weight.shape()[3])
    }
}

fn check_positive(what: &str, v: (usize, usize)) {
    assert!(
        v.0 > 0 && v.1 > 0,
        "Conv2d: {what} must be positive: got {v:?}"
    );
}

impl<T: Float> Forward<T> for Conv2d<T> {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        let tape = x.tape();
        let w = tape.param(&self.weight);
        let b = self.bias.as_ref().map(|b| tape.param(b));
        x.conv2d(w, b, self.options)
    }
}
