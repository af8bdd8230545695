//! The Trainer end to end on iris: accuracy reached, a divergence rescued
//! (and one given up on), early stopping, and the History files read back.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::data::{CsvOptions, DataLoader, TensorDataset, read_csv};
use tapegrad::nn::{Forward, Linear, Relu, Sequential};
use tapegrad::optim::{Adam, Sgd};
use tapegrad::train::{DivergenceGuard, EarlyStopping, History, Progress, StepOutput, Trainer};
use tapegrad::{Error, Module, Tape, Tensor};

/// Iris with every feature standardised (mean 0, variance 1), split 120/30.
fn iris() -> (TensorDataset, TensorDataset) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/iris.csv");
    let all: TensorDataset = read_csv(path, &CsvOptions::default()).expect("iris.csv");
    let (n, d) = (all.inputs().shape()[0], all.inputs().shape()[1]);
    let x = all.inputs().as_slice();
    let mut out = x.to_vec();
    for j in 0..d {
        let mean = (0..n).map(|i| x[i * d + j]).sum::<f32>() / n as f32;
        let var = (0..n).map(|i| (x[i * d + j] - mean).powi(2)).sum::<f32>() / n as f32;
        for i in 0..n {
            out[i * d + j] = (x[i * d + j] - mean) / var.sqrt();
        }
    }
    let all = TensorDataset::new(
        Tensor::from_vec(out, &[n, d]).unwrap(),
        all.targets().clone(),
    );
    all.split(0.2, &mut StdRng::seed_from_u64(3))
}

fn mlp(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(Linear::new(4, 16, &mut rng))
        .add(Relu)
        .add(Linear::new(16, 3, &mut rng))
}

/// The step closure every test uses: cross-entropy and accuracy.
fn classify<'t>(
    model: &Sequential,
    tape: &'t Tape,
    batch: &tapegrad::data::Batch,
) -> StepOutput<'t> {
    let logits = model.forward(tape.constant(batch.inputs.clone()));
    let labels = batch.labels();
    StepOutput::new(logits.cross_entropy(&labels)).accuracy(logits, &labels)
}

#[test]
fn trainer_reaches_known_accuracy_on_iris() {
    let (train, val) = iris();
    let mut model = mlp(0);
    let mut opt = Adam::new(0.01);
    let mut loader = DataLoader::new(&train, 16).shuffle(1);
    let history = Trainer::new(40)
        .validation(&val, 64)
        .progress(Progress::Quiet)
        .fit(&mut model, &mut opt, &mut loader, classify)
        .unwrap();
    // Linear models already separate iris to about 95%; an MLP gets there
    // within a few dozen epochs.
    let acc = history.last_epoch("val_accuracy").unwrap();
    assert!(acc >= 0.9, "validation accuracy {acc}");
    assert!(history.last_epoch("accuracy").unwrap() >= 0.9);
    assert_eq!(history.epochs.len(), 40);
    assert_eq!(history.steps.len(), 40 * 8); // 120 examples in batches of 16
    let first = history.epochs[0].get("loss").unwrap();
    let last = history.last_epoch("loss").unwrap();
    assert!(last < first / 3.0, "loss {first} -> {last}");
    // Epoch loss is the example-weighted mean of its step losses (7 of 16, 1 of 8).
    let steps: Vec<f64> = history.steps[..8]
        .iter()
        .map(|r| r.get("loss").unwrap())
        .collect();
    let mean = (steps[..7].iter().sum::<f64>() * 16.0 + steps[7] * 8.0) / 120.0;
    assert!((history.epochs[0].get("loss").unwrap() - mean).abs() < 1e-9);
}

#[test]
fn learning_rate_100x_too_high_is_rescued_by_the_guard() {
    let (train, _) = iris();
    let mut model = mlp(0);
    // SGD at 0.1 trains iris; 10 diverges.
    let mut opt = Sgd::new(10.0);
    let mut loader = DataLoader::new(&train, 16).shuffle(1);
    let mut trainer = Trainer::new(20)
        .callback(DivergenceGuard::new().max_rollbacks(4))
        .quiet();
    let history = trainer
        .fit(&mut model, &mut opt, &mut loader, classify)
        .unwrap();
    assert!(
        history
            .events
            .iter()
            .any(|e| e.message.contains("rolled model and optimiser back")),
        "{:?}",
        history.events
    );
    let scale = trainer.state().unwrap().lr_scale;
    assert!(scale <= 0.1 + 1e-12, "lr scale {scale}");
    // The cut persists: every step after the last rollback ran at 10 x scale.
    let last_lr = history.steps.last().unwrap().get("lr").unwrap();
    assert!((last_lr - 10.0 * scale).abs() < 1e-12);
    let loss = history.last_epoch("loss").unwrap();
    assert!(loss.is_finite() && loss < 0.5, "final loss {loss}");
    for p in model.named_parameters() {
        assert!(p.1.value().as_slice().iter().all(|v| v.is_finite()));
    }
}

#[test]
fn guard_gives_up_with_a_clear_error() {
    let (train, _) = iris();
    let mut model = mlp(0);
    let mut opt = Sgd::new(1e6);
    let mut loader = DataLoader::new(&train, 16);
    let err = Trainer::new(5)
        .callback(DivergenceGuard::new().max_rollbacks(2).cut(0.9))
        .quiet()
        .fit(&mut model, &mut opt, &mut loader, classify)
        .unwrap_err();
    match &err {
        Error::Diverged { rollbacks, .. } => assert_eq!(*rollbacks, 2),
        e => panic!("expected Diverged, got {e}"),
    }
    assert!(err.to_string().contains("diverged"));
}

#[test]
fn early_stopping_stops_when_the_metric_stalls() {
    let (train, val) = iris();
    let mut model = mlp(0);
    // A zero learning rate: nothing can improve after the first epoch.
    let mut opt = Sgd::new(0.0);
    let mut loader = DataLoader::new(&train, 32);
    let history = Trainer::new(50)
        .validation(&val, 32)
        .callback(EarlyStopping::new("val_loss").patience(3))
        .quiet()
        .fit(&mut model, &mut opt, &mut loader, classify)
        .unwrap();
    // Best at epoch 0, three epochs without improvement: stop after epoch 3.
    assert_eq!(history.epochs.len(), 4);
    assert!(history.events[0].message.contains("early stopping"));

    let err = Trainer::new(2)
        .callback(EarlyStopping::new("val_f1"))
        .quiet()
        .fit(&mut model, &mut opt, &mut loader, classify)
        .unwrap_err();
    assert!(err.to_string().contains("val_f1"), "{err}");
}

/// Splits a flat JSON object of numbers, null and strings (what
/// `write_jsonl` writes) into `(key, raw value)` pairs.
fn parse_json_line(line: &str) -> Vec<(String, String)> {
    let inner = line
        .trim()
        .strip_prefix('{')
        .and_then(|l| l.strip_suffix('}'))
        .expect("an object");
    let mut out = Vec::new();
    let mut rest = inner;
    while !rest.is_empty() {
        let rest2 = rest.strip_prefix('"').expect("a key");
        let end = rest2.find('"').unwrap();
        let key = rest2[..end].to_string();
        let after = rest2[end + 1..].strip_prefix(':').expect("a colon");
        let (value, tail) = if let Some(s) = after.strip_prefix('"') {
            let mut i = 0;
            let bytes = s.as_bytes();
            while bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            (s[..i].to_string(), &s[i + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        out.push((key, value));
        rest = tail.strip_prefix(',').unwrap_or(tail);
    }
    out
}

fn short_history() -> History {
    let (train, val) = iris();
    let mut model = mlp(0);
    let mut opt = Adam::new(0.01);
    let mut loader = DataLoader::new(&train, 40);
    Trainer::new(2)
        .validation(&val, 30)
        .quiet()
        .fit(&mut model, &mut opt, &mut loader, |m, tape, batch| {
            classify(m, tape, batch).metric("batch_size", batch.len() as f64)
        })
        .unwrap()
}

#[test]
fn history_csv_and_jsonl_read_back() {
    let history = short_history();
    let dir = std::env::temp_dir().join(format!("tapegrad-history-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let csv = dir.join("h.csv");
    history.write_csv(&csv).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..3], ["kind", "epoch", "step"]);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), history.steps.len() + history.epochs.len());
    let records = history.steps.iter().chain(&history.epochs);
    for (row, record) in rows.iter().zip(records) {
        assert_eq!(row.len(), header.len());
        assert_eq!(row[1].parse::<usize>().unwrap(), record.epoch);
        assert_eq!(row[2].parse::<usize>().unwrap(), record.step);
        for (col, name) in header.iter().enumerate().skip(3) {
            match record.get(name) {
                // Exactly the recorded number, bit for bit.
                Some(v) => assert_eq!(row[col].parse::<f64>().unwrap().to_bits(), v.to_bits()),
                None => assert_eq!(row[col], ""),
            }
        }
    }

    let jsonl = dir.join("h.jsonl");
    history.write_jsonl(&jsonl).unwrap();
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let objects: Vec<Vec<(String, String)>> = text.lines().map(parse_json_line).collect();
    assert_eq!(objects.len(), history.steps.len() + history.epochs.len());
    let records = history.steps.iter().chain(&history.epochs);
    for (obj, record) in objects.iter().zip(records) {
        assert_eq!(obj[1].1.parse::<usize>().unwrap(), record.epoch);
        for (name, v) in &record.values {
            let raw = &obj.iter().find(|(k, _)| k == name).unwrap().1;
            assert_eq!(raw.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{name}");
        }
    }
    assert_eq!(history.epochs[1].get("batch_size"), Some(40.0));
    assert!(history.epochs[1].get("val_loss").is_some());

    let charts = history.plot(dir.join("plots")).unwrap();
    assert!(charts.iter().any(|p| p.ends_with("steps_lr.svg")));
    assert!(charts.iter().any(|p| p.ends_with("epochs_loss.svg")));
    assert!(!charts.iter().any(|p| p.ends_with("epochs_val_loss.svg")));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn anomaly_mode_names_the_op_that_made_the_first_nan() {
    let (train, _) = iris();
    let mut model = mlp(0);
    let mut opt = Sgd::new(0.0);
    let mut loader = DataLoader::new(&train, 60);
    // The loss adds ln(-1): a NaN made by `ln` in the forward pass of every
    // step, after the model's own ops.
    fn poisoned<'t>(m: &Sequential, tape: &'t Tape, b: &tapegrad::data::Batch) -> StepOutput<'t> {
        let out = classify(m, tape, b);
        let bad = tape.constant(Tensor::scalar(-1.0)).ln();
        StepOutput::new(out.loss + bad)
    }
    let history = Trainer::new(1)
        .anomaly_mode(true)
        .quiet()
        .fit(&mut model, &mut opt, &mut loader, poisoned)
        .unwrap();
    // 120 examples in batches of 60: two steps, two reports.
    assert_eq!(history.events.len(), 2, "{:?}", history.events);
    let m = &history.events[0].message;
    assert!(
        m.starts_with("anomaly: ")
            && m.contains("ln(")
            && m.contains("NaN")
            && m.contains("forward"),
        "{m}"
    );

    // Off (the default), nothing is reported.
    let history = Trainer::new(1)
        .quiet()
        .fit(&mut model, &mut opt, &mut loader, poisoned)
        .unwrap();
    assert!(history.events.is_empty());
}
