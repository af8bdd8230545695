//! # 3. Vectors, broadcasting, and why gradients are summed back
//!
//! So far every value was one number. A [`Tensor`](crate::Tensor) is an
//! n-dimensional array, and operations apply to every element. The rules
//! of chapter 2 carry over element by element; one new thing happens when
//! shapes differ.
//!
//! ## Elementwise operations and sums
//!
//! For `y = Σ xᵢ²` the derivative with respect to each `xᵢ` is `2xᵢ`: the
//! gradient of a tensor has the tensor's shape, one derivative per element.
//! `sum` passes its incoming gradient (a single number) to every element it
//! added up, and `mean` passes it divided by the count:
//!
//! ```
//! use tapegrad::{Tape, tensor};
//!
//! let tape = Tape::<f64>::new();
//! let x = tape.var(tensor![1.0, 2.0, 3.0]);
//! let y = (x * x).sum();
//! assert_eq!(y.item(), 14.0);
//! assert_eq!(y.backward().wrt(x).to_vec(), [2.0, 4.0, 6.0]);
//!
//! let m = (x * x).mean(); // (1 + 4 + 9) / 3
//! assert_eq!(m.backward().wrt(x).to_vec(), [2.0 / 3.0, 4.0 / 3.0, 6.0 / 3.0]);
//! ```
//!
//! ## Broadcasting
//!
//! Adding a bias `r` of shape `[3]` to a batch `X` of shape `[2, 3]` adds
//! `r` to each row. The rule (NumPy's) lines shapes up from the right; a
//! missing axis, or an axis of size 1, is stretched to match the other
//! operand. Nothing is copied: `r` is simply *used once per row*.
//!
//! And a value used more than once gets the **sum** of the gradients from
//! its uses (chapter 1). So the gradient of `r` is the gradient that
//! arrives at `X + r`, summed over the axis `r` was stretched along. Take
//! `L = Σ (X + r) ⊙ C` for a constant `C`: `∂L/∂(X + r) = C`, hence
//! `∂L/∂X = C` (same shape, nothing to sum) and `∂L/∂r` is `C` summed over
//! its rows: `[1 + 4, 2 + 5, 3 + 6] = [5, 7, 9]`.
//!
//! ```
//! use tapegrad::{Tape, Tensor, tensor};
//!
//! let tape = Tape::<f64>::new();
//! let x = tape.var(tensor![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]); // [2, 3]
//! let r = tape.var(tensor![0.5, -1.0, 2.0]);                    // [3]
//! let s = tape.var(tensor![[10.0], [20.0]]);                    // [2, 1]
//! let b = tape.var(Tensor::scalar(0.1));                        // []
//! let c: Tensor<f64> = tensor![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
//!
//! let z = x + r + s + b; // [2, 3]: r along rows, s along columns, b everywhere
//! assert_eq!(z.shape().as_slice(), &[2, 3]);
//! let l = (z * tape.constant(c.clone())).sum();
//! let grads = l.backward();
//!
//! assert_eq!(grads.wrt(x).to_vec(), c.to_vec());                // C itself
//! assert_eq!(grads.wrt(r).to_vec(), [5.0, 7.0, 9.0]);           // C summed over rows
//! assert_eq!(grads.wrt(s).to_vec(), [6.0, 15.0]);               // C summed over columns
//! assert_eq!(grads.wrt(s).shape(), &[2, 1]);                    // ... in s's shape
//! assert_eq!(grads.wrt(b).item(), 21.0);                        // C summed over everything
//!
//! // The reduction is `Tensor::sum_to_shape`: sum over stretched axes.
//! assert_eq!(c.sum_to_shape(&[3]).to_vec(), [5.0, 7.0, 9.0]);
//! assert_eq!(c.sum_to_shape(&[2, 1]).to_vec(), [6.0, 15.0]);
//! ```
//!
//! Every gradient comes back in the shape of its input. In tapegrad this
//! summing-back is done in one place, by the backward walker, whenever a
//! gradient's shape differs from its parent's; the rule for `add` or `mul`
//! itself never has to think about broadcasting.
//!
//! ## Matrix products
//!
//! A layer of a network is mostly a matrix product `Y = X W` (`X` is
//! `[n, i]`, `W` is `[i, o]`). Its rule is the same `mul` rule, organised
//! by matrices: `∂L/∂X = G Wᵀ` and `∂L/∂W = Xᵀ G`, where `G = ∂L/∂Y`. The
//! second is again a sum over the batch: each row of `X` contributes its
//! outer product with the matching row of `G`.
//!
//! ```
//! use tapegrad::{Tape, tensor};
//!
//! let tape = Tape::<f64>::new();
//! let x = tape.constant(tensor![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]); // [3, 2]
//! let w = tape.var(tensor![[1.0], [-1.0]]);                         // [2, 1]
//! let l = x.matmul(w).sum(); // G is all ones, [3, 1]
//! // Xᵀ G: each column of X summed = [1 + 3 + 5, 2 + 4 + 6]
//! assert_eq!(l.backward().wrt(w).to_vec(), [9.0, 12.0]);
//! ```
//!
//! Next: [chapter 4](super::chapter_4_neuron), a neuron.
