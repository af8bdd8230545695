//! The examples on the user's own data (issue 16, point 7): `mnist` on any
//! IDX files, `char_lm` on any text, `forecast` on any CSV column, `iris`
//! on any class-last CSV; each file that does not fit gives an error naming
//! what is wrong instead of a panic, and the silent wrong answers (MNIST's
//! constants on any data, iris's validation rows in its statistics, the
//! last CSV column taken without a word) are gone.

#[allow(dead_code)]
#[path = "../../examples/mnist.rs"]
mod mnist;

#[allow(dead_code)]
#[path = "../../examples/char_lm.rs"]
mod char_lm;

#[allow(dead_code)]
#[path = "../../examples/forecast.rs"]
mod forecast;

#[allow(dead_code)]
#[path = "../../examples/iris.rs"]
mod iris;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::path::{Path, PathBuf};
use tapegrad::Tensor;
use tapegrad::data::{Dataset, TensorDataset};
use tapegrad::train::Progress;

/// A fresh folder for one test, under the target's temporary folder.
fn folder(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("user_data_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ------------------------------------------------------------------ mnist

/// An uncompressed IDX file of bytes: magic 0, 0, 0x08, the number of
/// dimensions, each dimension as a big-endian u32, then the data.
fn write_idx(path: &Path, dims: &[usize], data: &[u8]) {
    assert_eq!(dims.iter().product::<usize>(), data.len());
    let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        bytes.extend((d as u32).to_be_bytes());
    }
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

/// `n` images of `side x side` and their labels: class `k` of 3 is a
/// bright 3 x 3 block in the `k`-th third of the image's width, on noise.
fn toy_images(n: usize, side: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n {
        let k = i % 3;
        let mut image = vec![0u8; side * side];
        for p in image.iter_mut() {
            *p = rng.random_range(0..80);
        }
        let col = k * side / 3 + 1;
        let row = rng.random_range(1..side - 4);
        for r in row..row + 3 {
            for c in col..col + 3 {
                image[r * side + c] = 250;
            }
        }
        pixels.extend(image);
        labels.push(k as u8);
    }
    (pixels, labels)
}

/// Writes `PREFIX-images-idx3-ubyte` and `PREFIX-labels-idx1-ubyte`.
fn write_split(dir: &Path, prefix: &str, n: usize, side: usize, seed: u64) -> Vec<u8> {
    let (pixels, labels) = toy_images(n, side, seed);
    write_idx(
        &dir.join(format!("{prefix}-images-idx3-ubyte")),
        &[n, side, side],
        &pixels,
    );
    write_idx(
        &dir.join(format!("{prefix}-labels-idx1-ubyte")),
        &[n],
        &labels,
    );
    pixels
}

fn mnist_config(dir: &Path, arch: mnist::Arch) -> mnist::Config {
    mnist::Config {
        arch,
        epochs: 3,
        data: dir.to_path_buf(),
        train_prefix: "fit".into(),
        test_prefix: "check".into(),
        progress: Progress::Quiet,
        ..mnist::Config::default()
    }
}

#[test]
fn mnist_learns_other_idx_data_of_another_size_standardised_by_its_own_statistics() {
    let dir = folder("mnist_toy");
    let pixels = write_split(&dir, "fit", 300, 12, 1);
    write_split(&dir, "check", 60, 12, 2);
    // The statistics, by hand, over the training pixels (population).
    let n = pixels.len() as f64;
    let mean = pixels.iter().map(|&p| p as f64).sum::<f64>() / n;
    let var = pixels
        .iter()
        .map(|&p| (p as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    for arch in [mnist::Arch::Mlp, mnist::Arch::Cnn] {
        let out = mnist::run(&mnist_config(&dir, arch)).unwrap();
        assert!((out.norm.mean - mean).abs() < 1e-6 * mean, "{:?}", out.norm);
        assert!((out.norm.std - var.sqrt()).abs() < 1e-6 * var.sqrt());
        // MNIST's constants would be 0.1307 * 255 = 33.3 and 78.6
        assert!((out.norm.mean - 33.3).abs() > 10.0, "{:?}", out.norm);
        let acc = *out.test_accuracy.last().unwrap();
        assert!(acc > 0.9, "{arch:?}: test accuracy {acc}");
    }
    // and the loaded sets are standardised: training pixels mean 0, sd 1
    let data = mnist::load(&mnist_config(&dir, mnist::Arch::Mlp)).unwrap();
    let z = data.train.inputs().as_slice();
    let m = z.iter().map(|&v| v as f64).sum::<f64>() / z.len() as f64;
    let s = (z.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / z.len() as f64).sqrt();
    assert!(m.abs() < 1e-4 && (s - 1.0).abs() < 1e-4, "mean {m}, sd {s}");
    assert_eq!((data.size, data.classes), ((12, 12), 3));
    assert_eq!(data.train.inputs().shape(), [300, 1, 12, 12]);
}

#[test]
fn mnist_seeds_change_the_run_and_repeat_it() {
    // One epoch of 120 images is one step (batches of 128): that used to
    // stop the run (a one-cycle schedule of one step has an empty phase).
    let dir = folder("mnist_seed");
    write_split(&dir, "fit", 120, 12, 3);
    write_split(&dir, "check", 30, 12, 4);
    let run = |seed| {
        let config = mnist::Config {
            epochs: 1,
            seed,
            ..mnist_config(&dir, mnist::Arch::Mlp)
        };
        mnist::run(&config).unwrap().first_loss
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

/// The error `mnist::load` gives for the files in `dir`.
fn mnist_error(dir: &Path, arch: mnist::Arch) -> String {
    match mnist::run(&mnist_config(dir, arch)) {
        Ok(_) => panic!("{}: the files were accepted", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn mnist_names_what_is_wrong_with_files_that_do_not_fit() {
    // missing files
    let dir = folder("mnist_missing");
    let e = mnist_error(&dir, mnist::Arch::Mlp);
    assert!(
        e.contains("no file fit-images-idx3-ubyte.gz or fit-images-idx3-ubyte"),
        "{e}"
    );

    // labels that do not match the images
    let dir = folder("mnist_labels");
    write_split(&dir, "fit", 30, 12, 5);
    write_split(&dir, "check", 9, 12, 6);
    write_idx(&dir.join("check-labels-idx1-ubyte"), &[8], &[0; 8]);
    let e = mnist_error(&dir, mnist::Arch::Mlp);
    assert!(
        e.contains("check-labels-idx1-ubyte") && e.contains("need labels of shape [9], got [8]"),
        "{e}"
    );

    // test images of another size
    let dir = folder("mnist_size");
    write_split(&dir, "fit", 30, 12, 7);
    write_split(&dir, "check", 9, 14, 8);
    let e = mnist_error(&dir, mnist::Arch::Mlp);
    assert!(
        e.contains("test images are [14, 14], the training images 12 x 12"),
        "{e}"
    );

    // a test class the training set never shows
    let dir = folder("mnist_class");
    write_split(&dir, "fit", 30, 12, 9);
    write_split(&dir, "check", 9, 12, 10);
    write_idx(&dir.join("check-labels-idx1-ubyte"), &[9], &[7; 9]);
    let e = mnist_error(&dir, mnist::Arch::Mlp);
    assert!(
        e.contains("test label 7 is not among the training set's 3 classes"),
        "{e}"
    );

    // images as a flat [n, 144] array
    let dir = folder("mnist_flat");
    write_split(&dir, "check", 9, 12, 11);
    let (pixels, labels) = toy_images(30, 12, 12);
    write_idx(&dir.join("fit-images-idx3-ubyte"), &[30, 144], &pixels);
    write_idx(&dir.join("fit-labels-idx1-ubyte"), &[30], &labels);
    let e = mnist_error(&dir, mnist::Arch::Mlp);
    assert!(
        e.contains("images must be an IDX array [n, rows, cols]") && e.contains("[30, 144]"),
        "{e}"
    );

    // too small for the CNN
    let dir = folder("mnist_small");
    write_split(&dir, "fit", 30, 8, 13);
    write_split(&dir, "check", 9, 8, 14);
    let e = mnist_error(&dir, mnist::Arch::Cnn);
    assert!(
        e.contains("the CNN needs images of at least 10 x 10"),
        "{e}"
    );

    // all pixels alike: no statistics to standardise by (was a NaN run)
    let dir = folder("mnist_flat_pixels");
    write_idx(&dir.join("fit-images-idx3-ubyte"), &[3, 12, 12], &[9; 432]);
    write_idx(&dir.join("fit-labels-idx1-ubyte"), &[3], &[0, 1, 2]);
    write_split(&dir, "check", 9, 12, 15);
    let e = mnist_error(&dir, mnist::Arch::Mlp);
    assert!(e.contains("every pixel is 9"), "{e}");
}

#[test]
fn mnist_flags_name_the_folder_the_prefixes_and_the_seed() {
    let parse =
        |argv: &[&str]| mnist::args::parse_from("mnist", "", argv.iter().copied(), mnist::config);
    let c = parse(&[]).unwrap();
    assert_eq!(c.data, mnist::bundled_data());
    assert_eq!(
        (c.train_prefix.as_str(), c.test_prefix.as_str()),
        ("train", "t10k")
    );
    assert_eq!(c.seed, 0);
    let c = parse(&[
        "--data",
        "fashion",
        "--train-prefix",
        "a",
        "--test-prefix=b",
        "--seed",
        "9",
    ])
    .unwrap();
    assert_eq!(c.data, PathBuf::from("fashion"));
    assert_eq!(
        (c.train_prefix.as_str(), c.test_prefix.as_str()),
        ("a", "b")
    );
    assert_eq!(c.seed, 9);
}

// ---------------------------------------------------------------- char_lm

/// A short run on `text` written to `dir/text.txt`.
fn char_config(dir: &Path, text: &str) -> char_lm::Config {
    let path = dir.join("text.txt");
    std::fs::write(&path, text).unwrap();
    char_lm::Config {
        data: path,
        steps: 3,
        batch: 4,
        context: 8,
        width: 16,
        layers: 1,
        eval_every: 2,
        sample_len: 10,
        prompt: "ab".into(),
        verbose: false,
        out: Some(dir.join("plots")),
        ..char_lm::Config::shakespeare()
    }
}

#[test]
fn char_lm_refuses_a_prompt_the_text_cannot_spell_before_training() {
    // Was: every step trained, then a panic ("a character of the text")
    // before the plot was written.
    let dir = folder("char_prompt");
    let config = char_lm::Config {
        prompt: "HAMLET.\n".into(),
        ..char_config(&dir, &"abc abd\n".repeat(40))
    };
    let e = char_lm::run(&config).err().expect("refused");
    assert!(
        e.contains("'H', 'A', 'M', 'L', 'E', 'T', '.'") && e.contains("never uses"),
        "{e}"
    );
    // The space and the newline are in the text: not listed.
    assert!(!e.contains("newline"), "{e}");
    // nothing ran: the plot folder was never made
    assert!(!dir.join("plots").exists());
}

#[test]
fn char_lm_runs_one_step_and_any_text() {
    // Was: `--steps 1` panicked (warm-up of every step, cosine of 0 steps).
    let dir = folder("char_one_step");
    for steps in [1, 2, 3, 5] {
        let config = char_lm::Config {
            steps,
            ..char_config(&dir, &"abc abd bca\n".repeat(30))
        };
        let out = char_lm::run(&config).unwrap_or_else(|e| panic!("{steps} steps: {e}"));
        assert!(out.first_loss.is_finite() && out.val_bpc.is_finite());
        assert_eq!(out.sample.chars().count(), 10);
    }
    assert!(dir.join("plots").is_dir());
}

#[test]
fn char_lm_names_a_text_too_short_or_missing() {
    let dir = folder("char_short");
    let e = char_lm::run(&char_config(&dir, "abcab")).err().unwrap();
    assert!(e.contains("too short for windows of 8 characters"), "{e}");
    let config = char_lm::Config {
        data: dir.join("absent.txt"),
        ..char_config(&dir, "")
    };
    let e = char_lm::run(&config).err().unwrap();
    assert!(e.contains("absent.txt: cannot read the text"), "{e}");
    let config = char_lm::Config {
        prompt: String::new(),
        ..char_config(&dir, &"ab\n".repeat(40))
    };
    assert!(char_lm::run(&config).err().unwrap().contains("--prompt"));
}

#[test]
fn char_lm_flags_set_the_prompt_context_preset_and_line_shuffling() {
    let parse = |argv: &[&str]| {
        char_lm::args::parse_from("char_lm", "", argv.iter().copied(), char_lm::config).unwrap()
    };
    let c = parse(&[]);
    assert_eq!(
        (c.context, c.prompt.as_str(), c.shuffle_lines),
        (64, "HAMLET.\n", false)
    );
    let c = parse(&["--data", "names.txt"]);
    assert_eq!(
        (c.context, c.prompt.as_str(), c.shuffle_lines),
        (16, "\n", true)
    );
    // any file, with the names preset asked for by name, then overridden
    let c = parse(&[
        "--data",
        "my_list.txt",
        "--preset",
        "names",
        "--context",
        "24",
        "--prompt",
        "An\\n",
        "--shuffle-lines",
        "false",
    ]);
    assert_eq!(
        c.data,
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data/my_list.txt")
    );
    assert_eq!(
        (c.context, c.prompt.as_str(), c.shuffle_lines),
        (24, "An\n", false)
    );
    assert!(matches!(
        char_lm::args::parse_from("char_lm", "", ["--preset", "poems"], char_lm::config),
        Err(char_lm::args::Stop::Usage(_))
    ));
}

// --------------------------------------------------------------- forecast

/// A monthly CSV with a date column and a value that rises and swings with
/// the seasons: `date,value,other`.
fn series_csv(dir: &Path, months: usize) -> PathBuf {
    let mut text = String::from("date,value,other\n");
    for t in 0..months {
        let v = 10.0 + 0.05 * t as f64 + 2.0 * (t as f64 * std::f64::consts::PI / 6.0).sin();
        text.push_str(&format!("{}-{:02},{v:.4},7\n", 2000 + t / 12, t % 12 + 1));
    }
    let path = dir.join("series.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn forecast_config(data: PathBuf) -> forecast::Config {
    forecast::Config {
        kind: forecast::Kind::Mlp,
        epochs: 20,
        data,
        column: Some("value".into()),
        units: String::new(),
        test_months: 24,
        verbose: false,
        ..forecast::Config::default()
    }
}

#[test]
fn forecast_reads_a_named_column_of_any_csv() {
    let dir = folder("forecast_csv");
    let out = forecast::run(&forecast_config(series_csv(&dir, 180))).unwrap();
    assert_eq!(out.column, "value");
    assert!(out.last_loss < 0.5 * out.first_loss);
    // a smooth series: the model beats repeating last year (which misses
    // the trend by 12 * 0.05 = 0.6 every month)
    assert!(
        (out.naive_mae - 0.6).abs() < 1e-3,
        "naive MAE {}",
        out.naive_mae
    );
    assert!(
        out.test_mae < out.naive_mae,
        "{} vs {}",
        out.test_mae,
        out.naive_mae
    );
    // a constant error of 0.6: RMSE = MAE
    assert!((out.naive_rmse - out.naive_mae).abs() < 1e-3);
}

#[test]
fn forecast_names_what_is_wrong_with_a_csv_that_does_not_fit() {
    let dir = folder("forecast_bad");
    let data = series_csv(&dir, 180);
    let e = forecast::run(&forecast::Config {
        column: Some("co2".into()),
        ..forecast_config(data.clone())
    })
    .err()
    .unwrap();
    assert!(
        e.contains("no column \"co2\"; the header names \"date\", \"value\", \"other\""),
        "{e}"
    );
    let e = forecast::run(&forecast::Config {
        column: Some("date".into()),
        ..forecast_config(data.clone())
    })
    .err()
    .unwrap();
    assert!(
        e.contains("line 2: column \"date\" holds \"2000-01\", not a finite number"),
        "{e}"
    );
    let e = forecast::run(&forecast_config(series_csv(&dir, 60)))
        .err()
        .unwrap();
    assert!(
        e.contains("has 60 values") && e.contains("need at least"),
        "{e}"
    );
    let e = forecast::run(&forecast::Config {
        test_months: 6,
        ..forecast_config(data)
    })
    .err()
    .unwrap();
    assert!(
        e.contains("--test-months must be at least the horizon, 12"),
        "{e}"
    );
}

#[test]
fn forecast_flags_choose_the_data_column_split_rate_and_units() {
    let parse = |argv: &[&str]| {
        forecast::args::parse_from("forecast", "", argv.iter().copied(), forecast::config).unwrap()
    };
    let c = parse(&[]);
    assert_eq!(c.data, forecast::bundled_data());
    assert_eq!(
        (c.column.as_deref(), c.units.as_str()),
        (Some("co2"), "ppm")
    );
    assert_eq!((c.test_months, c.lr), (60, 3e-3));
    // other data: the last column unless named, and no units unless given
    let c = parse(&["--data", "x.csv"]);
    assert_eq!((c.column.as_deref(), c.units.as_str()), (None, ""));
    let c = parse(&[
        "--data",
        "x.csv",
        "--column",
        "sales",
        "--units",
        "EUR",
        "--test-months",
        "24",
        "--lr",
        "0.01",
        "--epochs",
        "5",
    ]);
    assert_eq!(
        (c.column.as_deref(), c.units.as_str()),
        (Some("sales"), "EUR")
    );
    assert_eq!((c.test_months, c.lr, c.epochs), (24, 0.01, 5));
}

// ------------------------------------------------------------------- iris

#[test]
fn iris_standardises_with_the_training_rows_only() {
    // Was: statistics over all rows, validation rows included (a leak).
    // One feature; rows 0..40, the split shuffled: the statistics must be
    // those of exactly the training rows.
    let xs: Vec<f32> = (0..40).map(|i| (i * i) as f32).collect();
    let labels: Vec<f32> = (0..40).map(|i| (i % 2) as f32).collect();
    let all = TensorDataset::new(
        Tensor::from_vec(xs.clone(), &[40, 1]).unwrap(),
        Tensor::from_vec(labels, &[40]).unwrap(),
    );
    let (train, val, stats) = iris::split_and_standardise(&all, 0);
    assert_eq!((train.len(), val.len()), (32, 8));
    // the raw training values, recovered from the standardised ones
    let (mean, sd) = stats[0];
    let raw: Vec<f64> = train
        .inputs()
        .as_slice()
        .iter()
        .map(|&z| (z * sd + mean) as f64)
        .collect();
    let m = raw.iter().sum::<f64>() / 32.0;
    let s = (raw.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 32.0).sqrt();
    assert!((m - mean as f64).abs() < 1e-2 && (s - sd as f64).abs() < 1e-2);
    // ... which are not the statistics of all 40 rows
    let all_mean = xs.iter().map(|&v| v as f64).sum::<f64>() / 40.0;
    assert!((all_mean - mean as f64).abs() > 1.0, "{all_mean} vs {mean}");
    // the validation rows are scaled by the same numbers
    let z: Vec<f32> = val.inputs().as_slice().to_vec();
    for v in z {
        let x = v * sd + mean;
        let nearest = xs.iter().map(|&r| (r - x).abs()).fold(f32::MAX, f32::min);
        assert!(nearest < 1e-2 * x.abs().max(1.0), "{x} is no row");
    }
}

#[test]
fn iris_reads_any_class_last_csv_and_names_a_bad_one() {
    let dir = folder("iris_csv");
    // two features, two classes that a line separates
    let mut text = String::from("a,b,class\n");
    let mut rng = StdRng::seed_from_u64(3);
    for i in 0..60 {
        let c = i % 2;
        let (a, b) = (rng.random::<f32>(), rng.random::<f32>());
        text.push_str(&format!("{},{b},{c}\n", a + 2.0 * c as f32));
    }
    std::fs::write(dir.join("two.csv"), &text).unwrap();
    let config = iris::Config {
        data: dir.join("two.csv"),
        epochs: 20,
        hidden: 8,
        out: dir.join("out"),
        progress: Progress::Quiet,
    };
    let o = iris::run(&config).unwrap();
    assert!(
        o.val_accuracy >= 0.9,
        "validation accuracy {}",
        o.val_accuracy
    );

    std::fs::write(dir.join("bad.csv"), text.replace(",1\n", ",0.5\n")).unwrap();
    let e = iris::run(&iris::Config {
        data: dir.join("bad.csv"),
        ..config
    })
    .err()
    .unwrap();
    assert!(e.contains("whole numbers from 0: found 0.5"), "{e}");
}
