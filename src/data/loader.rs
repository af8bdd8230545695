//! [`DataLoader`]: batches of a dataset, optionally shuffled with a seed.

use super::Dataset;
use crate::error::{Error, Result};
use crate::tensor::{Float, Shape, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// One batch: inputs `[B, ...]` and targets `[B, ...]`.
#[derive(Clone, Debug)]
pub struct Batch<T: Float = f32> {
    /// The inputs, first axis the batch.
    pub inputs: Tensor<T>,
    /// The targets, first axis the batch.
    pub targets: Tensor<T>,
}

impl<T: Float> Batch<T> {
    /// Number of examples in the batch.
    pub fn len(&self) -> usize {
        self.inputs.shape()[0]
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The targets as class indices (for cross-entropy), after checking
    /// that each is one: a whole number from 0 to `usize::MAX`.
    ///
    /// # Errors
    /// [`Error::Label`] for the first target that is negative, fractional,
    /// not finite or too large for `usize`, with its row in the batch and
    /// its value (a target of `1e20` is refused, not saturated to
    /// `usize::MAX`).
    ///
    /// ```
    /// use tapegrad::data::Batch;
    /// use tapegrad::{Error, Tensor, tensor};
    ///
    /// let batch = Batch { inputs: Tensor::<f32>::zeros(&[3, 2]), targets: tensor![2.0f32, 0.0, 1e20] };
    /// match batch.try_labels() {
    ///     // The f32 nearest 1e20, widened to f64.
    ///     Err(Error::Label { row, value }) => assert_eq!((row, value), (2, f64::from(1e20f32))),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn try_labels(&self) -> Result<Vec<usize>> {
        let targets = self.targets.as_slice();
        // Elements per row, for targets of shape [B, ...].
        let per_row = targets.len().checked_div(self.len()).unwrap_or(1).max(1);
        let mut labels = Vec::with_capacity(targets.len());
        for (i, &t) in targets.iter().enumerate() {
            let value = t.to_f64();
            // `usize::MAX as f64` rounds up to 2^64 (on 64-bit targets), so
            // `<` keeps every accepted value exactly representable.
            if !(value >= 0.0 && value.fract() == 0.0 && value < usize::MAX as f64) {
                return Err(Error::Label {
                    row: i / per_row,
                    value,
                });
            }
            labels.push(value as usize);
        }
        Ok(labels)
    }

    /// The targets as class indices (for cross-entropy): [`try_labels`]
    /// for data known to hold labels.
    ///
    /// [`try_labels`]: Batch::try_labels
    ///
    /// # Panics
    /// If a target is negative, fractional, not finite or too large for
    /// `usize`, with [`Error::Label`]'s message (the row and the value).
    pub fn labels(&self) -> Vec<usize> {
        self.try_labels().unwrap_or_else(|e| panic!("labels: {e}"))
    }
}

/// Splits a dataset into batches, in order or shuffled by a seed.
///
/// Each pass ([`epoch`](DataLoader::epoch)) draws a fresh order from the
/// loader's generator, so epoch `k` of two loaders built with the same seed
/// sees the same batches.
///
/// ```
/// use tapegrad::data::{DataLoader, TensorDataset};
/// use tapegrad::Tensor;
/// let ds = TensorDataset::new(Tensor::<f32>::zeros(&[10, 3]), Tensor::zeros(&[10]));
/// let mut loader = DataLoader::new(&ds, 4).shuffle(7).drop_last(true);
/// let sizes: Vec<usize> = loader.epoch().map(|b| b.len()).collect();
/// assert_eq!(sizes, vec![4, 4]);
/// ```
pub struct DataLoader<'d, T: Float, D: Dataset<T> + ?Sized> {
    dataset: &'d D,
    batch_size: usize,
    drop_last: bool,
    rng: Option<StdRng>,
    /// This loader's part of each epoch: (rank, number of parts).
    shard: (usize, usize),
    _t: std::marker::PhantomData<T>,
}

impl<'d, T: Float, D: Dataset<T> + ?Sized> DataLoader<'d, T, D> {
    /// Batches of `batch_size` in dataset order.
    ///
    /// # Panics
    /// If `batch_size` is 0.
    pub fn new(dataset: &'d D, batch_size: usize) -> Self {
        assert!(batch_size > 0, "DataLoader: batch size must be positive");
        DataLoader {
            dataset,
            batch_size,
            drop_last: false,
            rng: None,
            shard: (0, 1),
            _t: std::marker::PhantomData,
        }
    }

    /// Shuffles every epoch with a generator seeded by `seed`.
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.rng = Some(StdRng::seed_from_u64(seed));
        self
    }

    /// Whether to skip a last batch smaller than the batch size.
    pub fn drop_last(mut self, drop: bool) -> Self {
        self.drop_last = drop;
        self
    }

    /// Makes this loader one of `parts` that share each epoch, for
    /// data-parallel training (a distributed sampler): every part draws the
    /// same shuffled order (build each with the same seed), and part `rank`
    /// takes its positions `rank, rank + parts, rank + 2 parts, ...`, so
    /// the parts are disjoint and together cover the epoch. When the
    /// dataset's length is not a multiple of `parts`, the order is padded
    /// by wrapping around to its start, so every part has the same number
    /// of examples and batches (data-parallel ranks must take the same
    /// number of steps); PyTorch's `DistributedSampler` does the same.
    /// The batch size is per part: batch `k` of the `parts` parts together
    /// is batch `k` of an unsharded loader with `parts` times the batch
    /// size, when the padded order divides evenly.
    ///
    /// ```
    /// use tapegrad::data::{DataLoader, TensorDataset};
    /// use tapegrad::Tensor;
    /// let ds = TensorDataset::new(Tensor::<f32>::zeros(&[10, 1]), Tensor::zeros(&[10]));
    /// // 10 examples in 3 parts: padded to 12, four each, two batches of 2.
    /// let loader = DataLoader::new(&ds, 2).shuffle(1).shard(2, 3);
    /// assert_eq!(loader.num_batches(), 2);
    /// ```
    ///
    /// # Panics
    /// If `parts` is 0 or `rank` is not below it.
    pub fn shard(mut self, rank: usize, parts: usize) -> Self {
        assert!(
            parts > 0 && rank < parts,
            "DataLoader::shard: rank {rank} of {parts} parts (rank must be below parts)"
        );
        self.shard = (rank, parts);
        self
    }

    /// Examples this loader sees per epoch (its part, when sharded).
    fn examples_per_epoch(&self) -> usize {
        let (n, parts) = (self.dataset.len(), self.shard.1);
        if parts == 1 { n } else { n.div_ceil(parts) }
    }

    /// Number of batches per epoch.
    pub fn num_batches(&self) -> usize {
        let n = self.examples_per_epoch();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The generator's state, for checkpoints (`None` when not shuffling).
    pub fn rng(&self) -> Option<&StdRng> {
        self.rng.as_ref()
    }

    /// Replaces the generator (to resume from a checkpoint).
    pub fn set_rng(&mut self, rng: StdRng) {
        self.rng = Some(rng);
    }

    /// Swaps in another generator (`None`: stop shuffling) and returns the
    /// one it replaces, untouched: how a detour (the LR range test) borrows
    /// the loader and hands it back exactly as it was.
    pub fn replace_rng(&mut self, rng: Option<StdRng>) -> Option<StdRng> {
        std::mem::replace(&mut self.rng, rng)
    }

    /// The batches of one pass over the data.
    pub fn epoch(&mut self) -> impl Iterator<Item = Batch<T>> + '_ {
        let mut order: Vec<usize> = (0..self.dataset.len()).collect();
        if let Some(rng) = self.rng.as_mut() {
            order.shuffle(rng);
        }
        let (rank, parts) = self.shard;
        if parts > 1 && !order.is_empty() {
            let per_part = self.examples_per_epoch();
            let n = order.len();
            order = (0..per_part)
                .map(|k| order[(rank + k * parts) % n])
                .collect();
        }
        let n_batches = self.num_batches();
        let (bs, ds) = (self.batch_size, self.dataset);
        (0..n_batches).map(move |k| {
            let idx = &order[k * bs..((k + 1) * bs).min(order.len())];
            gather(ds, idx)
        })
    }
}

/// Builds one batch from the examples at `idx`.
fn gather<T: Float, D: Dataset<T> + ?Sized>(ds: &D, idx: &[usize]) -> Batch<T> {
    let (xs, ys) = (ds.input_shape(), ds.target_shape());
    let (nx, ny) = (xs.iter().product::<usize>(), ys.iter().product::<usize>());
    let mut x = vec![T::ZERO; idx.len() * nx];
    let mut y = vec![T::ZERO; idx.len() * ny];
    for (k, &i) in idx.iter().enumerate() {
        ds.write_example(
            i,
            &mut x[k * nx..(k + 1) * nx],
            &mut y[k * ny..(k + 1) * ny],
        );
    }
    let with_batch = |s: &Shape| {
        let mut d = Shape::from_slice(&[idx.len()]);
        d.extend_from_slice(s);
        d
    };
    Batch {
        inputs: Tensor::from_vec(x, &with_batch(&xs)).expect("tapegrad bug: batch input length"),
        targets: Tensor::from_vec(y, &with_batch(&ys)).expect("tapegrad bug: batch target length"),
    }
}
