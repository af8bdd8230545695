//! Data-parallel training across processes and machines over MPI (cargo
//! feature `mpi`): [`DataParallel`].
//!
//! Every process (rank) holds the whole model and takes its own part of
//! each batch ([`DataLoader::shard`](crate::data::DataLoader::shard)). A
//! step is the one-process step with one thing added between backward and
//! the optimiser (the seam `train`'s update keeps for it): the gradients
//! are averaged across ranks, so every rank takes the same update and the
//! parameters stay the same on every rank, bit for bit.
//!
//! 1. `DataParallel::init()` starts MPI (once per process);
//! 2. [`sync_model`](DataParallel::sync_model) checks that every rank
//!    built the same model (names and shapes; a clear error if not) and
//!    gives every rank rank 0's values;
//! 3. each step, [`step`](DataParallel::step): the loss on this rank's
//!    part of the batch, backward, the tape reset, the gradients averaged
//!    ([`average_gradients`](DataParallel::average_gradients)), the
//!    optimiser's step; it returns the loss averaged over the ranks, so
//!    that every rank sees the same value (a NaN on one rank is a NaN on
//!    all: they stop or roll back together).
//!
//! ## Deterministic averages
//! MPI's own all-reduce may add the ranks' values in any order (an
//! implementation chooses by message size and topology), and float sums
//! depend on the order. Here each bucket of gradients is gathered from
//! every rank (`MPI_Allgather`) and every rank adds the ranks' values in
//! rank order itself, then divides by the number of ranks: the same
//! operations on the same numbers on every rank, whatever the timing. The
//! gradients travel in flat buckets of [`bucket_bytes`](DataParallel::bucket_bytes)
//! (one collective per bucket, not one per tensor), in the model's
//! parameter order.
//!
//! ## Running it
//! `mpirun -np 2 target/release/examples/mnist_mpi` on one machine (add
//! `--oversubscribe` when there are more ranks than cores, and
//! `--allow-run-as-root` as root); with a hostfile (`--hostfile hosts`,
//! one `name slots=N` line per machine) or under Slurm (`srun -n 8 ...`)
//! across machines. Give each rank one thread (`RAYON_NUM_THREADS=1`, or
//! as many as its share of the cores): ranks and threads compete for the
//! same cores otherwise.

use crate::nn::Module;
use crate::optim::Optimizer;
use crate::tape::{Grads, Param, Var};
use crate::tensor::{Float, Tensor};
use mpi::collective::{CommunicatorCollectives, Root};
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use std::any::Any;

/// The default bucket size: 4 MiB of gradients per collective.
pub const DEFAULT_BUCKET_BYTES: usize = 4 << 20;

/// One process's handle on data-parallel training over MPI (see the
/// [module docs](self)). Dropping it finalises MPI.
pub struct DataParallel {
    world: SimpleCommunicator,
    bucket_bytes: usize,
    /// Kept for its drop, which finalises MPI (after `world`).
    _universe: Universe,
}

impl DataParallel {
    /// Starts MPI and joins the world of every process `mpirun` (or `srun`)
    /// started. Run without `mpirun`, the world is this process alone:
    /// training proceeds as on one process.
    ///
    /// # Errors
    /// [`Error::Distributed`](crate::Error::Distributed) if MPI was already
    /// started in this process (it can be started once).
    pub fn init() -> crate::Result<Self> {
        let universe = mpi::initialize().ok_or_else(|| crate::Error::Distributed {
            message: "MPI was already started in this process (DataParallel::init can run once)"
                .into(),
        })?;
        Ok(DataParallel {
            world: universe.world(),
            bucket_bytes: DEFAULT_BUCKET_BYTES,
            _universe: universe,
        })
    }

    /// This process's rank, `0..size()`.
    pub fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    /// The number of ranks.
    pub fn size(&self) -> usize {
        self.world.size() as usize
    }

    /// Whether this is rank 0, the one that prints, plots and saves.
    pub fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// Sets the size of the buckets gradients travel in (bytes; the default
    /// is [`DEFAULT_BUCKET_BYTES`]). A parameter larger than a bucket is
    /// split across buckets.
    ///
    /// # Panics
    /// If `bytes` is 0.
    pub fn bucket_bytes(mut self, bytes: usize) -> Self {
        assert!(
            bytes > 0,
            "DataParallel::bucket_bytes: a bucket must hold something"
        );
        self.bucket_bytes = bytes;
        self
    }

    /// Ends every rank's process with `code` (`MPI_Abort`): what a rank
    /// that cannot go on calls, so that no other rank waits for it forever.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }

    /// Waits until every rank has called it.
    pub fn barrier(&self) {
        self.world.barrier();
    }

    /// Checks that every rank built the same model (the same parameter
    /// names and shapes, in the same order), then gives every parameter
    /// rank 0's values. Call it once, after building the model and before
    /// the first step (or after loading a checkpoint on rank 0 only).
    ///
    /// # Errors
    /// [`Error::Distributed`](crate::Error::Distributed), on every rank and
    /// with nothing changed, if the ranks' models differ; the message says
    /// which ranks disagree with rank 0.
    pub fn sync_model<T: Float, M: Module<T> + ?Sized>(&self, model: &mut M) -> crate::Result<()> {
        let mut layout = Fingerprint::new();
        model.visit("", &mut |name, p| {
            layout.add_bytes(name.as_bytes());
            layout.add_dims(p.shape());
        });
        self.agree("models (parameter names and shapes)", layout.0)?;
        model.visit_mut("", &mut |_, p| {
            let root = self.world.process_at_rank(0);
            with_wire(p.value_mut(), |wire| match wire {
                Wire::F32(x) => root.broadcast_into(x),
                Wire::F64(x) => root.broadcast_into(x),
            });
        });
        Ok(())
    }

    /// Checks that every rank passed the same `value` (a seed, a
    /// configuration's hash), naming `what` in the error.
    ///
    /// # Errors
    /// [`Error::Distributed`](crate::Error::Distributed) on every rank if
    /// any rank's value differs from rank 0's.
    pub fn agree(&self, what: &str, value: u64) -> crate::Result<()> {
        let mut all = vec![0u64; self.size()];
        self.world.all_gather_into(&value, &mut all[..]);
        let differ: Vec<usize> = (1..all.len()).filter(|&r| all[r] != all[0]).collect();
        if differ.is_empty() {
            Ok(())
        } else {
            Err(crate::Error::Distributed {
                message: format!("ranks {differ:?} disagree with rank 0 on the {what}"),
            })
        }
    }

    /// The mean of `x` over the ranks, computed in rank order on every rank
    /// (the same bits everywhere).
    pub fn mean(&self, x: f64) -> f64 {
        let mut all = vec![0.0f64; self.size()];
        self.world.all_gather_into(&x, &mut all[..]);
        all.iter().fold(0.0, |acc, v| acc + v) / all.len() as f64
    }

    /// Whether `flag` holds on any rank (the same answer on every rank).
    pub fn any(&self, flag: bool) -> bool {
        let mut all = vec![0u8; self.size()];
        self.world.all_gather_into(&u8::from(flag), &mut all[..]);
        all.contains(&1)
    }

    /// Replaces every parameter gradient of `model` in `grads` by its mean
    /// over the ranks: `(g₀ + g₁ + ... + gₙ₋₁) / n`, added in rank order on
    /// every rank, in buckets of [`bucket_bytes`](DataParallel::bucket_bytes)
    /// taken in the model's parameter order. Returns the number of buckets
    /// (0 on a single rank, where there is nothing to average).
    ///
    /// # Panics
    /// If the ranks disagree on which parameters have a gradient (a
    /// parameter bound on one rank and not another): the buckets would not
    /// line up.
    pub fn average_gradients<T: Float, M: Module<T> + ?Sized>(
        &self,
        model: &M,
        grads: &mut Grads<T>,
    ) -> usize {
        self.average_gradients_in(model, grads, self.bucket_bytes)
    }

    /// [`average_gradients`](DataParallel::average_gradients) in buckets of
    /// `bucket_bytes` (at least one element each) rather than the handle's.
    ///
    /// # Panics
    /// As `average_gradients`.
    pub fn average_gradients_in<T: Float, M: Module<T> + ?Sized>(
        &self,
        model: &M,
        grads: &mut Grads<T>,
        bucket_bytes: usize,
    ) -> usize {
        let mut ids = Vec::new();
        let mut present = Fingerprint::new();
        model.visit("", &mut |name, p: &Param<T>| {
            if grads.get_param(p.id()).is_some() {
                present.add_bytes(name.as_bytes());
                ids.push(p.id());
            }
        });
        if let Err(e) = self.agree("parameters that have gradients", present.0) {
            panic!("DataParallel::average_gradients: {e}");
        }
        if self.size() == 1 {
            // The mean over one rank is its own value, exactly (x / 1 = x).
            return 0;
        }
        let per_bucket = (bucket_bytes / std::mem::size_of::<T>()).max(1);
        let n = self.size();
        let scale = T::from_usize(n);
        let mut bucket: Vec<T> = Vec::with_capacity(per_bucket);
        let mut gathered: Vec<T> = Vec::new();
        // Where each piece of the bucket came from: (parameter, offset, len).
        let mut pieces: Vec<(usize, usize, usize)> = Vec::new();
        let mut buckets = 0;
        let mut flush = |bucket: &mut Vec<T>,
                         pieces: &mut Vec<(usize, usize, usize)>,
                         grads: &mut Grads<T>| {
            if bucket.is_empty() {
                return;
            }
            gathered.clear();
            gathered.resize(bucket.len() * n, T::ZERO);
            with_wire2(bucket, &mut gathered, |send, recv| match (send, recv) {
                (Wire::F32(s), Wire::F32(r)) => self.world.all_gather_into(&s[..], &mut r[..]),
                (Wire::F64(s), Wire::F64(r)) => self.world.all_gather_into(&s[..], &mut r[..]),
                _ => unreachable!("one element type"),
            });
            let len = bucket.len();
            for (i, v) in bucket.iter_mut().enumerate() {
                let mut acc = gathered[i];
                for r in 1..n {
                    acc += gathered[r * len + i];
                }
                *v = acc / scale;
            }
            let mut at = 0;
            for &(k, offset, count) in pieces.iter() {
                let g = grads.get_param_mut(ids[k]).expect("checked above");
                g.as_mut_slice()[offset..offset + count].copy_from_slice(&bucket[at..at + count]);
                at += count;
            }
            bucket.clear();
            pieces.clear();
            buckets += 1;
        };
        for (k, &id) in ids.iter().enumerate() {
            let total = grads.get_param(id).map_or(0, Tensor::numel);
            let mut offset = 0;
            while offset < total {
                let room = per_bucket - bucket.len();
                let count = room.min(total - offset);
                let g = grads.get_param(id).expect("checked above");
                bucket.extend_from_slice(&g.as_slice()[offset..offset + count]);
                pieces.push((k, offset, count));
                offset += count;
                if bucket.len() == per_bucket {
                    flush(&mut bucket, &mut pieces, grads);
                }
            }
        }
        flush(&mut bucket, &mut pieces, grads);
        buckets
    }

    /// One data-parallel training step: `loss` on this rank's part of the
    /// batch, backward, the tape reset, the gradients averaged over the
    /// ranks, the optimiser's update (the order of
    /// [`train::step`](crate::train::step), with the average in the seam
    /// between backward and the update). Returns the loss averaged over the
    /// ranks (the same value on every rank; NaN if it was NaN on any).
    ///
    /// When every rank's loss is a mean over its own examples and the ranks
    /// hold equally many, the averaged gradient is the gradient of the mean
    /// over all of them: `n` ranks with batch `b` take the step one process
    /// takes with batch `n b`.
    ///
    /// # Panics
    /// If the loss is not a scalar, and as
    /// [`average_gradients`](DataParallel::average_gradients).
    pub fn step<'t, T, M, O>(
        &self,
        model: &mut M,
        optimizer: &mut O,
        loss: impl FnOnce(&M) -> Var<'t, T>,
    ) -> f64
    where
        T: Float,
        M: Module<T>,
        O: Optimizer<T> + ?Sized,
    {
        let loss = loss(model);
        let mut value = 0.0;
        crate::train::update_with(model, optimizer, loss, None, &mut |model, grads, local| {
            value = self.mean(local);
            self.average_gradients(model, grads);
        });
        value
    }
}

/// A 64-bit FNV-1a hash: equal layouts give equal fingerprints.
struct Fingerprint(u64);

impl Fingerprint {
    fn new() -> Self {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }

    fn add_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
    }

    fn add_dims(&mut self, dims: &[usize]) {
        for &d in dims {
            self.add_bytes(&(d as u64).to_le_bytes());
        }
    }
}

/// The fingerprint of every parameter's name, shape and bits: equal on two
/// ranks exactly when their models are the same, bit for bit.
pub fn parameters_fingerprint<T: Float, M: Module<T> + ?Sized>(model: &M) -> u64 {
    let mut f = Fingerprint::new();
    model.visit("", &mut |name, p| {
        f.add_bytes(name.as_bytes());
        f.add_dims(p.shape());
        for v in p.value().as_slice() {
            f.add_bytes(&v.to_f64().to_bits().to_le_bytes());
        }
    });
    f.0
}

/// A slice of one of MPI's float types.
enum Wire<'a> {
    F32(&'a mut [f32]),
    F64(&'a mut [f64]),
}

/// Buffers that can be seen as a slice of MPI's float types.
trait AsWire: Any {
    fn wire(&mut self) -> Option<Wire<'_>>;
}

impl<T: Float> AsWire for Tensor<T> {
    fn wire(&mut self) -> Option<Wire<'_>> {
        let any: &mut dyn Any = self;
        if any.is::<Tensor<f32>>() {
            return any
                .downcast_mut::<Tensor<f32>>()
                .map(|t| Wire::F32(t.as_mut_slice()));
        }
        any.downcast_mut::<Tensor<f64>>()
            .map(|t| Wire::F64(t.as_mut_slice()))
    }
}

impl<T: Float> AsWire for Vec<T> {
    fn wire(&mut self) -> Option<Wire<'_>> {
        let any: &mut dyn Any = self;
        if any.is::<Vec<f32>>() {
            return any
                .downcast_mut::<Vec<f32>>()
                .map(|v| Wire::F32(&mut v[..]));
        }
        any.downcast_mut::<Vec<f64>>()
            .map(|v| Wire::F64(&mut v[..]))
    }
}

/// Runs `f` on `data` seen as the float type it holds (`f32` or `f64`:
/// `Float` is sealed).
fn with_wire<B: AsWire, R>(data: &mut B, f: impl FnOnce(Wire<'_>) -> R) -> R {
    f(data.wire().expect("Float is f32 or f64"))
}

/// [`with_wire`] for two buffers of the same element type.
fn with_wire2<B: AsWire>(a: &mut B, b: &mut B, f: impl FnOnce(Wire<'_>, Wire<'_>)) {
    with_wire(a, |wa| with_wire(b, |wb| f(wa, wb)))
}
