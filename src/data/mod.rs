//! Datasets and batching: the [`Dataset`] trait, an in-memory
//! [`TensorDataset`], CSV loading ([`read_csv`]), IDX (MNIST) arrays
//! ([`read_idx`]), train/validation
//! [`split`](TensorDataset::split), and the [`DataLoader`].

mod csv;
mod idx;
mod loader;

pub use csv::{CsvOptions, LabelColumn, read_csv};
pub use idx::read_idx;
pub use loader::{Batch, DataLoader};

use crate::tensor::{Float, Shape, Tensor};
use rand::Rng;
use rand::seq::SliceRandom;

/// A collection of examples, each an input and a target of fixed shapes.
///
/// Class labels are stored as numbers in the target (`[]`-shaped, holding
/// 0, 1, 2, ...), so that one trait serves classification and regression;
/// [`Batch::labels`] turns them back into indices.
pub trait Dataset<T: Float = f32>: Sync {
    /// Number of examples.
    fn len(&self) -> usize;

    /// Whether there are no examples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shape of one example's input (e.g. `[784]` or `[1, 28, 28]`).
    fn input_shape(&self) -> Shape;

    /// Shape of one example's target (`[]` for a class label or a single value).
    fn target_shape(&self) -> Shape;

    /// Writes example `i` into the given buffers (sized by the two shapes).
    fn write_example(&self, i: usize, input: &mut [T], target: &mut [T]);
}

/// A dataset held in two tensors whose first axis indexes examples.
#[derive(Clone, Debug)]
pub struct TensorDataset<T: Float = f32> {
    inputs: Tensor<T>,
    targets: Tensor<T>,
}

impl<T: Float> TensorDataset<T> {
    /// Pairs `inputs` (`[N, ...]`) with `targets` (`[N, ...]`).
    ///
    /// # Panics
    /// If either has no first axis or their first axes differ.
    pub fn new(inputs: Tensor<T>, targets: Tensor<T>) -> Self {
        assert!(
            inputs.ndim() >= 1 && targets.ndim() >= 1 && inputs.shape()[0] == targets.shape()[0],
            "TensorDataset: inputs {:?} and targets {:?} must share their first axis",
            inputs.shape(),
            targets.shape()
        );
        TensorDataset { inputs, targets }
    }

    /// All inputs, `[N, ...]`.
    pub fn inputs(&self) -> &Tensor<T> {
        &self.inputs
    }

    /// All targets, `[N, ...]`.
    pub fn targets(&self) -> &Tensor<T> {
        &self.targets
    }

    /// The examples at `indices`, in that order, as a new dataset.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn subset(&self, indices: &[usize]) -> Self {
        TensorDataset {
            inputs: take_rows(&self.inputs, indices),
            targets: take_rows(&self.targets, indices),
        }
    }

    /// Splits into (train, validation), shuffling with `rng` first; the
    /// validation part gets `round(fraction * N)` examples.
    ///
    /// # Panics
    /// If `fraction` is not within `[0, 1]`.
    pub fn split<R: Rng + ?Sized>(&self, fraction: f64, rng: &mut R) -> (Self, Self) {
        assert!(
            (0.0..=1.0).contains(&fraction),
            "split: fraction {fraction} is not within [0, 1]"
        );
        let n = self.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(rng);
        let n_val = (fraction * n as f64).round() as usize;
        let (val, train) = order.split_at(n_val);
        (self.subset(train), self.subset(val))
    }
}

/// Rows `indices` of a tensor whose first axis indexes examples.
fn take_rows<T: Float>(t: &Tensor<T>, indices: &[usize]) -> Tensor<T> {
    let n = t.shape()[0];
    let row = t.numel() / n.max(1);
    let mut data = Vec::with_capacity(indices.len() * row);
    for &i in indices {
        assert!(i < n, "subset: index {i} is out of range for {n} examples");
        data.extend_from_slice(&t.as_slice()[i * row..(i + 1) * row]);
    }
    let mut dims = Shape::from_slice(t.shape());
    dims[0] = indices.len();
    Tensor::from_vec(data, &dims).expect("tapegrad bug: row gather length")
}

impl<T: Float> Dataset<T> for TensorDataset<T> {
    fn len(&self) -> usize {
        self.inputs.shape()[0]
    }

    fn input_shape(&self) -> Shape {
        Shape::from_slice(&self.inputs.shape()[1..])
    }

    fn target_shape(&self) -> Shape {
        Shape::from_slice(&self.targets.shape()[1..])
    }

    fn write_example(&self, i: usize, input: &mut [T], target: &mut [T]) {
        let (ni, nt) = (input.len(), target.len());
        input.copy_from_slice(&self.inputs.as_slice()[i * ni..(i + 1) * ni]);
        target.copy_from_slice(&self.targets.as_slice()[i * nt..(i + 1) * nt]);
    }
}
