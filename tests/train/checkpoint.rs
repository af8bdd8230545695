//! Checkpoints: bit-identical resume, damaged and mismatched files refused
//! without change, and a writer killed mid-save leaving the previous file
//! loadable.

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::{Path, PathBuf};
use tapegrad::data::{Batch, DataLoader, TensorDataset};
use tapegrad::nn::{Dropout, Forward, Linear, Relu, Sequential};
use tapegrad::optim::{Adam, Optimizer, Sgd};
use tapegrad::schedule::{CosineAnnealingLr, PlateauOptions, ReduceLrOnPlateau, SequentialLr};
use tapegrad::train::{Checkpoint, StepOutput, TrainState, Trainer};
use tapegrad::train::{load_checkpoint, save_checkpoint};
use tapegrad::{Error, Module, Param, Tape, Tensor};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tapegrad-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Three noisy blobs in 2-d, 60 points.
fn blobs() -> TensorDataset {
    let mut rng = StdRng::seed_from_u64(9);
    let noise = Tensor::<f32>::randn(&[60, 2], &mut rng);
    let centres = [[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]];
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..60 {
        let c = i % 3;
        x.push(centres[c][0] + 0.7 * noise.as_slice()[2 * i]);
        x.push(centres[c][1] + 0.7 * noise.as_slice()[2 * i + 1]);
        y.push(c as f32);
    }
    TensorDataset::new(
        Tensor::from_vec(x, &[60, 2]).unwrap(),
        Tensor::from_vec(y, &[60]).unwrap(),
    )
}

/// An MLP with dropout, so that the tape's seed matters.
fn model(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(Linear::new(2, 16, &mut rng))
        .add(Relu)
        .add(Dropout::new(0.2))
        .add(Linear::new(16, 3, &mut rng))
}

fn classify<'t>(model: &Sequential, tape: &'t Tape, batch: &Batch) -> StepOutput<'t> {
    let logits = model.forward(tape.constant(batch.inputs.clone()));
    let labels = batch.labels();
    StepOutput::new(logits.cross_entropy(&labels)).accuracy(logits, &labels)
}

/// Cosine decay for the first 20 steps, then a plateau schedule, which
/// depends on the metrics observed: both must resume where they were.
fn schedule() -> SequentialLr {
    let cosine = CosineAnnealingLr::new(0.05, 20, 0.01).unwrap();
    let options = PlateauOptions {
        patience: 0,
        factor: 0.5,
        threshold: 0.5,
        ..PlateauOptions::default()
    };
    let plateau = ReduceLrOnPlateau::new(0.01, options).unwrap();
    SequentialLr::new(vec![Box::new(cosine), Box::new(plateau)], vec![20]).unwrap()
}

fn params(m: &Sequential) -> Vec<Vec<u32>> {
    m.parameters()
        .iter()
        .map(|p| p.value().as_slice().iter().map(|v| v.to_bits()).collect())
        .collect()
}

#[test]
fn four_epochs_equal_two_plus_checkpoint_plus_two() {
    let data = blobs();
    let val = blobs().subset(&[0, 1, 2, 3, 4, 5]);
    let dir = temp_dir("resume");
    let path = dir.join("run.safetensors");

    // Straight through.
    let mut straight = model(1);
    let mut opt = Adam::new(0.05);
    let mut loader = DataLoader::new(&data, 8).shuffle(0);
    let full = Trainer::new(4)
        .seed(11)
        .schedule(schedule())
        .validation(&val, 6)
        .quiet()
        .fit(&mut straight, &mut opt, &mut loader, classify)
        .unwrap();

    // Two epochs, saved after each.
    let mut first = model(1);
    let mut opt = Adam::new(0.05);
    let mut loader = DataLoader::new(&data, 8).shuffle(0);
    Trainer::new(2)
        .seed(11)
        .schedule(schedule())
        .validation(&val, 6)
        .callback(Checkpoint::each_epoch(&path))
        .quiet()
        .fit(&mut first, &mut opt, &mut loader, classify)
        .unwrap();
    drop((first, opt));

    // A fresh model (other initial weights), optimiser, loader and trainer.
    let mut resumed = model(99);
    let mut opt = Adam::new(0.05);
    let state = load_checkpoint(&path, &mut resumed, &mut opt).unwrap();
    assert_eq!(
        (state.epoch, state.batch, state.step, state.seed),
        (2, 0, 16, 11)
    );
    assert_eq!(state.observations.len(), 2);
    let mut loader = DataLoader::new(&data, 8).shuffle(12345);
    let rest = Trainer::new(4)
        .schedule(schedule())
        .validation(&val, 6)
        .resume(state)
        .quiet()
        .fit(&mut resumed, &mut opt, &mut loader, classify)
        .unwrap();

    assert_eq!(params(&resumed), params(&straight));
    assert_eq!(rest.epochs.len(), 2);
    for (a, b) in rest.steps.iter().zip(&full.steps[16..]) {
        assert_eq!(a.step, b.step);
        assert_eq!(
            a.get("loss").unwrap().to_bits(),
            b.get("loss").unwrap().to_bits()
        );
        assert_eq!(
            a.get("lr").unwrap().to_bits(),
            b.get("lr").unwrap().to_bits()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resume_mid_epoch_from_a_step_checkpoint() {
    let data = blobs();
    let dir = temp_dir("mid");
    let path = dir.join("run.safetensors");
    let run = |m: &mut Sequential, trainer: Trainer<'_>| {
        let mut opt = Sgd::new(0.1).momentum(0.9);
        let mut loader = DataLoader::new(&data, 8).shuffle(0);
        let mut trainer = trainer.quiet().seed(3);
        trainer.fit(m, &mut opt, &mut loader, classify).unwrap();
    };
    let mut straight = model(1);
    run(&mut straight, Trainer::new(2));
    let mut first = model(1);
    // 8 batches per epoch: stops after step 11, in the middle of epoch 1.
    run(
        &mut first,
        Trainer::new(2)
            .callback(StopAt(11))
            .callback(Checkpoint::every_steps(&path, 11)),
    );
    let mut resumed = model(5);
    let mut opt = Sgd::new(0.1).momentum(0.9);
    let state = load_checkpoint(&path, &mut resumed, &mut opt).unwrap();
    assert_eq!((state.epoch, state.batch, state.step), (1, 3, 11));
    let mut loader = DataLoader::new(&data, 8).shuffle(0);
    Trainer::new(2)
        .resume(state)
        .quiet()
        .fit(&mut resumed, &mut opt, &mut loader, classify)
        .unwrap();
    assert_eq!(params(&resumed), params(&straight));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Stops training after `n` steps.
struct StopAt(usize);

impl tapegrad::train::Callback for StopAt {
    fn on_step_end(
        &mut self,
        ctx: &mut tapegrad::train::Context<'_>,
        _: &tapegrad::train::Record,
    ) -> tapegrad::Result<tapegrad::train::Control> {
        Ok(if ctx.state.step >= self.0 {
            tapegrad::train::Control::Stop
        } else {
            tapegrad::train::Control::Continue
        })
    }
}

/// A model and an Adam that has taken two steps, so it has state.
fn trained() -> (Sequential, Adam) {
    let data = blobs();
    let mut m = model(1);
    let mut opt = Adam::new(0.01);
    let mut loader = DataLoader::new(&data, 30);
    Trainer::new(1)
        .quiet()
        .fit(&mut m, &mut opt, &mut loader, classify)
        .unwrap();
    (m, opt)
}

/// Loading `path` into a fresh model and Adam fails and changes neither.
fn refused(path: &Path) -> Error {
    let mut m = model(7);
    let mut opt = Adam::new(0.01);
    let (before, opt_before) = (params(&m), opt.state(&m));
    let err = load_checkpoint(path, &mut m, &mut opt).unwrap_err();
    assert_eq!(params(&m), before);
    assert_eq!(opt.state(&m), opt_before);
    err
}

#[test]
fn damaged_or_mismatched_checkpoints_are_refused_without_change() {
    let dir = temp_dir("damaged");
    let path = dir.join("ok.safetensors");
    let (m, opt) = trained();
    save_checkpoint(&path, &m, &opt, &TrainState::new(0, 0.01)).unwrap();
    let bytes = std::fs::read(&path).unwrap();

    let truncated = dir.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    assert!(matches!(refused(&truncated), Error::Checkpoint { .. }));

    // One flipped bit in the tensor data (the end of the file).
    let flipped = dir.join("flipped.safetensors");
    let mut b = bytes.clone();
    *b.last_mut().unwrap() ^= 0x10;
    std::fs::write(&flipped, &b).unwrap();
    let err = refused(&flipped);
    assert!(err.to_string().contains("checksum"), "{err}");

    // Another architecture.
    let wide = dir.join("wide.safetensors");
    let mut rng = StdRng::seed_from_u64(0);
    let other: Sequential = Sequential::new().add(Linear::new(2, 8, &mut rng));
    save_checkpoint(&wide, &other, &Adam::new(0.01), &TrainState::new(0, 0.01)).unwrap();
    assert!(matches!(refused(&wide), Error::Checkpoint { .. }));

    // Another optimiser.
    let sgd = dir.join("sgd.safetensors");
    save_checkpoint(&sgd, &m, &Sgd::new(0.01), &TrainState::new(0, 0.01)).unwrap();
    let err = refused(&sgd);
    assert!(err.to_string().contains("Sgd"), "{err}");

    // A plain weights file is not a checkpoint.
    let weights = dir.join("weights.safetensors");
    tapegrad::io::save_safetensors(&m, &weights).unwrap();
    assert!(
        refused(&weights)
            .to_string()
            .contains("not a tapegrad checkpoint")
    );

    // And the good one loads, optimiser state included.
    let mut m2 = model(7);
    let mut opt2 = Adam::new(0.01);
    load_checkpoint(&path, &mut m2, &mut opt2).unwrap();
    assert_eq!(params(&m2), params(&m));
    assert_eq!(opt2.state(&m2), opt.state(&m));
    std::fs::remove_dir_all(&dir).unwrap();
}

const CHILD_ENV: &str = "TAPEGRAD_TEST_HUGE_CHECKPOINT";

/// Run by `kill_during_write_leaves_previous_checkpoint_loadable` in a
/// child process: writes a checkpoint big enough to be killed in the act.
/// Does nothing in a normal test run.
#[test]
fn child_writes_a_huge_checkpoint() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let huge = Param::new("w", Tensor::<f32>::zeros(&[8 << 20]));
    save_checkpoint(&path, &huge, &Sgd::new(0.1), &TrainState::new(0, 0.1)).unwrap();
}

#[test]
fn kill_during_write_leaves_previous_checkpoint_loadable() {
    let dir = temp_dir("kill");
    let path = dir.join("run.safetensors");
    let (m, opt) = trained();
    save_checkpoint(&path, &m, &opt, &TrainState::new(0, 0.01)).unwrap();

    // A writer that died before renaming leaves only its temporary file.
    std::fs::write(dir.join(".run.safetensors.999999.tmp"), b"partial").unwrap();

    // A real one, killed while its temporary file is being written. The
    // kill races the child's rename: if the rename wins (the file at
    // `path` changed), that attempt proves nothing, so put the old file
    // back and try again.
    let before = std::fs::read(&path).unwrap();
    let mut caught = false;
    for _attempt in 0..5 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "train::checkpoint::child_writes_a_huge_checkpoint",
                "--nocapture",
            ])
            .env(CHILD_ENV, &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // The child's temporary file: `.run.safetensors.PID-SALT-SEQ.tmp`.
        let prefix = format!(".run.safetensors.{}-", child.id());
        let has_tmp = || {
            std::fs::read_dir(&dir).unwrap().any(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&prefix)
            })
        };
        let start = std::time::Instant::now();
        while !has_tmp() && child.try_wait().unwrap().is_none() {
            assert!(
                start.elapsed().as_secs() < 120,
                "no temporary file appeared"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let _ = child.kill();
        child.wait().unwrap();
        if std::fs::read(&path).unwrap() == before {
            caught = has_tmp();
            break;
        }
        std::fs::write(&path, &before).unwrap();
    }
    assert!(
        caught,
        "the child finished its write before it could be killed, five times"
    );

    let mut m2 = model(7);
    let mut opt2 = Adam::new(0.01);
    load_checkpoint(&path, &mut m2, &mut opt2).unwrap();
    assert_eq!(params(&m2), params(&m));

    // The killed writer's temporary file is still there (and perhaps the
    // planted one, unless the child's save found it stale); once they have
    // sat unlocked for a while (backdated here rather than waited for), the
    // next save removes them, and never fails because of them.
    let mut temps = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().ends_with(".tmp") {
            temps += 1;
            let file = std::fs::File::options()
                .write(true)
                .open(entry.path())
                .unwrap();
            let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
            file.set_modified(old).unwrap();
        }
    }
    assert!(temps >= 1, "{temps} temporary files");
    save_checkpoint(&path, &m, &opt, &TrainState::new(0, 0.01)).unwrap();
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["run.safetensors"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn batch_norm_running_statistics_travel_in_the_checkpoint() {
    let data = blobs();
    let net = |seed: u64| -> Sequential {
        let mut rng = StdRng::seed_from_u64(seed);
        Sequential::new()
            .add(Linear::new(2, 8, &mut rng))
            .add(tapegrad::nn::BatchNorm1d::new(8))
            .add(Relu)
            .add(Linear::new(8, 3, &mut rng))
    };
    let mut m = net(1);
    let mut opt = Adam::new(0.01);
    let mut loader = DataLoader::new(&data, 20);
    Trainer::new(1)
        .quiet()
        .fit(&mut m, &mut opt, &mut loader, classify)
        .unwrap();
    let buffers = |m: &Sequential| -> Vec<(String, Vec<u32>)> {
        m.named_buffers()
            .into_iter()
            .map(|(n, t)| (n, t.as_slice().iter().map(|v| v.to_bits()).collect()))
            .collect()
    };
    let fresh = net(2);
    assert_ne!(
        buffers(&m),
        buffers(&fresh),
        "training moved the running statistics"
    );

    let dir = temp_dir("bn");
    let path = dir.join("bn.safetensors");
    save_checkpoint(&path, &m, &opt, &TrainState::new(0, 0.01)).unwrap();
    let mut loaded = fresh;
    let mut opt2 = Adam::new(0.01);
    load_checkpoint(&path, &mut loaded, &mut opt2).unwrap();
    assert_eq!(buffers(&loaded), buffers(&m));
    assert_eq!(params(&loaded), params(&m));

    // A model without the batch norm does not fit the file.
    assert!(matches!(refused(&path), Error::Checkpoint { .. }));
    std::fs::remove_dir_all(&dir).unwrap();
}
