//! `io`: safetensors weights. A fixture written by numpy loads to its known
//! values; save -> load is bit-exact in f32 and f64; every damaged or
//! mismatched file gives the right error and leaves the model unchanged bit
//! for bit; a failed save leaves the previous file intact. (Hostile files
//! and stale temporary files: `hostile.rs`.)

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::{Path, PathBuf};
use tapegrad::io::{
    LoadOptions, WeightsProblem, load_safetensors, load_safetensors_with, save_safetensors,
};
use tapegrad::nn::{Linear, child_name};
use tapegrad::{Error, Float, Module, Param, Tensor};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tapegrad-io-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Module)]
struct Net<T: Float> {
    fc: Linear<T>,
    head: Linear<T>,
}

fn net<T: Float>(hidden: usize, seed: u64) -> Net<T> {
    let mut rng = StdRng::seed_from_u64(seed);
    Net {
        fc: Linear::new(3, hidden, &mut rng),
        head: Linear::new(hidden, 2, &mut rng),
    }
}

/// Every parameter's name, shape and bits (through f64, which is exact and
/// one-to-one for f32 as well).
type Snapshot = Vec<(String, Vec<usize>, Vec<u64>)>;

fn snapshot<T: Float, M: Module<T>>(m: &M) -> Snapshot {
    m.named_parameters()
        .into_iter()
        .map(|(name, p)| {
            let bits = p
                .value()
                .as_slice()
                .iter()
                .map(|x| x.to_f64().to_bits())
                .collect();
            (name, p.shape().to_vec(), bits)
        })
        .collect()
}

/// The `WeightsProblem` of an `Error::Weights`, after checking its path
/// and key.
fn weights_problem(err: Error, path: &Path, key: Option<&str>) -> WeightsProblem {
    match err {
        Error::Weights {
            path: p,
            key: k,
            problem,
        } => {
            assert_eq!(p, path);
            assert_eq!(k.as_deref(), key);
            problem
        }
        other => panic!("expected Error::Weights, got {other:?}"),
    }
}

// ---------------------------------------------------------------- fixture

#[test]
fn fixture_written_by_numpy_loads_to_its_values() {
    // tests/fixtures/make_fixture.py: fc.weight = arange(6) * 0.5 as [2, 3],
    // fc.bias = [-1, 1], float32, written byte by byte without torch.
    #[derive(Module)]
    struct Small {
        fc: Linear,
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/linear.safetensors");
    let mut m = Small {
        fc: Linear::new(3, 2, &mut StdRng::seed_from_u64(0)),
    };
    let report = load_safetensors(&mut m, &path).unwrap();
    assert_eq!(report.loaded, ["fc.weight", "fc.bias"]);
    assert!(report.is_exact());
    assert_eq!(m.fc.weight.shape(), &[2, 3]);
    assert_eq!(m.fc.weight.value().to_vec(), [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
    assert_eq!(m.fc.bias.as_ref().unwrap().value().to_vec(), [-1.0, 1.0]);
}

// ---------------------------------------------------------------- round trip

/// Values that a conversion slip would change: signed zero, subnormals,
/// infinities, extremes, a NaN.
fn awkward<T: Float>() -> Vec<T> {
    let f = |x: f64| T::from_f64(x);
    let tiny = if size_of::<T>() == 4 {
        f32::from_bits(1) as f64
    } else {
        f64::from_bits(1)
    };
    let max = if size_of::<T>() == 4 {
        f32::MAX as f64
    } else {
        f64::MAX
    };
    vec![
        f(-0.0),
        f(tiny),
        f(-tiny),
        f(f64::INFINITY),
        f(f64::NEG_INFINITY),
        f(max),
        f(f64::NAN),
        f(1.0 / 3.0),
    ]
}

#[derive(Module)]
struct Mixed<T: Float> {
    scale: Param<T>,
    empty: Param<T>,
    blocks: Vec<Linear<T>>,
    odd: Param<T>,
}

fn mixed<T: Float>(seed: u64) -> Mixed<T> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut m = Mixed {
        scale: Param::new("scale", Tensor::scalar(T::from_f64(seed as f64 + 0.5))),
        empty: Param::new("empty", Tensor::zeros(&[0, 3])),
        blocks: vec![Linear::new(4, 3, &mut rng), Linear::new(3, 5, &mut rng)],
        odd: Param::new("odd", Tensor::randn(&[2, 4], &mut rng)),
    };
    if seed == 0 {
        m.odd = Param::new("odd", Tensor::from_vec(awkward(), &[2, 4]).unwrap());
    }
    m.blocks[1].weight.set_trainable(false);
    m
}

fn round_trip<T: Float>(dir: &TempDir) {
    let src = mixed::<T>(0);
    let path = dir.path(&format!("mixed-{}.safetensors", T::NAME));
    save_safetensors(&src, &path).unwrap();

    let mut dst = mixed::<T>(1);
    let ids: Vec<_> = dst.parameters().iter().map(|p| p.id()).collect();
    assert_ne!(snapshot(&dst), snapshot(&src));
    let report = load_safetensors(&mut dst, &path).unwrap();
    assert_eq!(snapshot(&dst), snapshot(&src), "{}", T::NAME);
    assert_eq!(report.loaded.len(), 7);
    assert!(report.is_exact());
    // Only values move: ids and trainable flags stay the loader's own.
    let ids_after: Vec<_> = dst.parameters().iter().map(|p| p.id()).collect();
    assert_eq!(ids, ids_after);
    assert!(!dst.blocks[1].weight.is_trainable());
}

#[test]
fn round_trip_is_bit_exact_in_f32_and_f64() {
    let dir = TempDir::new("round-trip");
    round_trip::<f32>(&dir);
    round_trip::<f64>(&dir);
    // f32 bits compared directly as well, NaN payload included.
    let mut m = mixed::<f32>(1);
    load_safetensors(&mut m, dir.path("mixed-f32.safetensors")).unwrap();
    let bits: Vec<u32> = m
        .odd
        .value()
        .as_slice()
        .iter()
        .map(|x| x.to_bits())
        .collect();
    let want: Vec<u32> = awkward::<f32>().iter().map(|x| x.to_bits()).collect();
    assert_eq!(bits, want);
}

#[test]
fn saved_file_is_plain_safetensors_with_dotted_names() {
    let dir = TempDir::new("format");
    let path = dir.path("net.safetensors");
    save_safetensors(&net::<f64>(4, 0), &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    assert_eq!(names, ["fc.bias", "fc.weight", "head.bias", "head.weight"]);
    let w = file.tensor("head.weight").unwrap();
    assert_eq!(w.dtype(), safetensors::Dtype::F64);
    assert_eq!(w.shape(), &[2, 4]);
    let format = meta.metadata().as_ref().and_then(|m| m.get("format"));
    assert_eq!(format.map(String::as_str), Some("pt"));
    // No temporary file left behind.
    assert_eq!(dir.entries(), ["net.safetensors"]);
}

// ---------------------------------------------------------------- damaged files

#[test]
fn truncated_files_fail_and_leave_the_model_unchanged() {
    let dir = TempDir::new("truncated");
    let good = dir.path("good.safetensors");
    save_safetensors(&net::<f32>(4, 0), &good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let cuts = [
        0,
        3,
        7,
        8,
        20,
        header_end - 1,
        header_end,
        header_end + 5,
        bytes.len() - 1,
    ];
    let mut m = net::<f32>(4, 1);
    let before = snapshot(&m);
    for cut in cuts {
        let path = dir.path("cut.safetensors");
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = load_safetensors(&mut m, &path).unwrap_err();
        let problem = weights_problem(err, &path, None);
        assert!(
            matches!(problem, WeightsProblem::Format(_)),
            "cut at {cut}: {problem:?}"
        );
        assert_eq!(snapshot(&m), before, "cut at {cut}");
    }
}

#[test]
fn flipped_header_bytes_fail_or_load_the_same_values_never_half() {
    // A flip in the length or the JSON must fail cleanly (model untouched);
    // the only flips that may load are those in parts of the header the
    // loader does not read (the metadata), and then the values are right.
    let dir = TempDir::new("flipped");
    let src = net::<f32>(4, 0);
    let good = dir.path("good.safetensors");
    save_safetensors(&src, &good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let path = dir.path("flipped.safetensors");
    let (mut failed, mut total) = (0, 0);
    for i in 0..header_end {
        for mask in [0x01u8, 0x20, 0x80] {
            let mut damaged = bytes.clone();
            damaged[i] ^= mask;
            std::fs::write(&path, &damaged).unwrap();
            let mut m = net::<f32>(4, 1);
            let before = snapshot(&m);
            total += 1;
            match load_safetensors(&mut m, &path) {
                Err(e) => {
                    failed += 1;
                    assert!(matches!(e, Error::Weights { .. }), "byte {i}: {e:?}");
                    assert_eq!(snapshot(&m), before, "byte {i} ^ {mask:#x}");
                }
                Ok(_) => assert_eq!(snapshot(&m), snapshot(&src), "byte {i} ^ {mask:#x}"),
            }
        }
    }
    assert!(failed * 10 >= total * 9, "{failed} of {total} flips failed");
}

#[test]
fn wrong_shape_names_the_key_and_both_shapes() {
    // head is [2, 5] in the file and [2, 4] in the model; fc would load
    // fine, and must not be written either.
    let dir = TempDir::new("shape");
    let path = dir.path("net.safetensors");
    let mut file_model = net::<f32>(4, 0);
    file_model.head = Linear::new(5, 2, &mut StdRng::seed_from_u64(9));
    save_safetensors(&file_model, &path).unwrap();
    let mut m = net::<f32>(4, 1);
    let before = snapshot(&m);
    let err = load_safetensors(&mut m, &path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: tensor `head.weight`: wrong shape: the model expects [2, 4], the file has [2, 5]",
            path.display()
        )
    );
    let problem = weights_problem(err, &path, Some("head.weight"));
    assert_eq!(
        problem,
        WeightsProblem::Shape {
            expected: vec![2, 4],
            found: vec![2, 5]
        }
    );
    assert_eq!(snapshot(&m), before);
    // Allowing missing and unexpected keys never allows a wrong shape.
    let lenient = LoadOptions {
        allow_missing: true,
        allow_unexpected: true,
        convert_dtype: true,
    };
    assert!(load_safetensors_with(&mut m, &path, lenient).is_err());
    assert_eq!(snapshot(&m), before);
}

#[test]
fn missing_keys_fail_unless_allowed() {
    #[derive(Module)]
    struct Body {
        fc: Linear,
    }
    let dir = TempDir::new("missing");
    let path = dir.path("body.safetensors");
    let body = Body {
        fc: Linear::new(3, 4, &mut StdRng::seed_from_u64(5)),
    };
    save_safetensors(&body, &path).unwrap();
    let mut m = net::<f32>(4, 1);
    let before = snapshot(&m);
    let err = load_safetensors(&mut m, &path).unwrap_err();
    assert!(
        err.to_string()
            .contains("the file lacks 2 tensors of the model: head.weight, head.bias")
    );
    let problem = weights_problem(err, &path, Some("head.weight"));
    assert_eq!(
        problem,
        WeightsProblem::Missing {
            keys: vec!["head.weight".into(), "head.bias".into()]
        }
    );
    assert_eq!(snapshot(&m), before);

    // Fine-tuning: load the body, keep the fresh head.
    let opts = LoadOptions {
        allow_missing: true,
        ..LoadOptions::default()
    };
    let report = load_safetensors_with(&mut m, &path, opts).unwrap();
    assert_eq!(report.loaded, ["fc.weight", "fc.bias"]);
    assert_eq!(report.missing, ["head.weight", "head.bias"]);
    assert!(report.unexpected.is_empty() && !report.is_exact());
    assert_eq!(m.fc.weight.value(), body.fc.weight.value());
    assert_eq!(snapshot(&m)[2..], before[2..]);
}

#[test]
fn unexpected_keys_fail_unless_allowed() {
    #[derive(Module)]
    struct Wider {
        net: Net<f32>,
        extra: Vec<Param>,
    }
    let dir = TempDir::new("unexpected");
    let path = dir.path("wider.safetensors");
    // The file holds a `Net` under `net.` and two extra tensors; the model
    // only the `Net`.
    let wider = Wider {
        net: net::<f32>(4, 0),
        extra: vec![
            Param::new("a", Tensor::ones(&[2])),
            Param::new("b", Tensor::ones(&[1])),
        ],
    };
    save_safetensors(&wider, &path).unwrap();
    #[derive(Module)]
    struct Narrow {
        net: Net<f32>,
    }
    let mut m = Narrow {
        net: net::<f32>(4, 1),
    };
    let before = snapshot(&m);
    let err = load_safetensors(&mut m, &path).unwrap_err();
    let problem = weights_problem(err, &path, Some("extra.0"));
    assert_eq!(
        problem,
        WeightsProblem::Unexpected {
            keys: vec!["extra.0".into(), "extra.1".into()]
        }
    );
    assert_eq!(snapshot(&m), before);

    let opts = LoadOptions {
        allow_unexpected: true,
        ..LoadOptions::default()
    };
    let report = load_safetensors_with(&mut m, &path, opts).unwrap();
    assert_eq!(report.unexpected, ["extra.0", "extra.1"]);
    assert_eq!(report.loaded.len(), 4);
    assert_eq!(
        snapshot(&m),
        snapshot(&wider.net)
            .into_iter()
            .map(|(n, s, b)| (child_name("net", n), s, b))
            .collect::<Snapshot>()
    );
}

#[test]
fn wrong_dtype_fails_unless_conversion_is_asked_for() {
    let dir = TempDir::new("dtype");
    let path = dir.path("net64.safetensors");
    let src = net::<f64>(4, 0);
    save_safetensors(&src, &path).unwrap();
    let mut m = net::<f32>(4, 1);
    let before = snapshot(&m);
    let err = load_safetensors(&mut m, &path).unwrap_err();
    assert!(
        err.to_string()
            .contains("wrong dtype: the model expects F32, the file has F64")
    );
    let problem = weights_problem(err, &path, Some("fc.weight"));
    assert_eq!(
        problem,
        WeightsProblem::Dtype {
            expected: "F32".into(),
            found: "F64".into()
        }
    );
    assert_eq!(snapshot(&m), before);

    // Converted on request: f64 -> f32 rounds to nearest (`as f32`).
    let opts = LoadOptions {
        convert_dtype: true,
        ..LoadOptions::default()
    };
    load_safetensors_with(&mut m, &path, opts).unwrap();
    let want: Vec<f32> = src
        .fc
        .weight
        .value()
        .as_slice()
        .iter()
        .map(|&x| x as f32)
        .collect();
    assert_eq!(m.fc.weight.value().to_vec(), want);
    // And f32 -> f64 is exact.
    let path32 = dir.path("net32.safetensors");
    save_safetensors(&m, &path32).unwrap();
    let mut m64 = net::<f64>(4, 2);
    load_safetensors_with(&mut m64, &path32, opts).unwrap();
    assert_eq!(snapshot(&m64), snapshot(&m));
}

#[test]
fn a_missing_file_is_an_io_error_with_its_path() {
    let dir = TempDir::new("no-file");
    let path = dir.path("nothing.safetensors");
    let mut m = net::<f32>(4, 1);
    match load_safetensors(&mut m, &path) {
        Err(Error::Io { path: p, source }) => {
            assert_eq!(p, path);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected Error::Io, got {other:?}"),
    }
}

// ---------------------------------------------------------------- atomic save

#[test]
fn a_directory_at_a_temporary_name_neither_blocks_a_save_nor_is_removed() {
    // Before the temporary names had a salt, a directory at `.NAME.PID.tmp`
    // (or a file left there by a killed save) made every save of NAME by
    // this process fail.
    let dir = TempDir::new("blocked");
    let path = dir.path("net.safetensors");
    save_safetensors(&net::<f32>(4, 0), &path).unwrap();
    let previous = std::fs::read(&path).unwrap();
    let blocker = format!(".net.safetensors.{}.tmp", std::process::id());
    std::fs::create_dir(dir.path(&blocker)).unwrap();
    save_safetensors(&net::<f32>(4, 1), &path).unwrap();
    assert_ne!(std::fs::read(&path).unwrap(), previous);
    // Not a file a save could have written: left where it is.
    assert!(dir.path(&blocker).is_dir());
    assert_eq!(dir.entries(), [blocker.as_str(), "net.safetensors"]);
}

#[test]
fn a_save_that_fails_after_writing_removes_its_temporary_file() {
    // The target is a non-empty directory: the temporary file is written
    // and synced, then the rename fails. What was there stays, and no
    // temporary file is left.
    let dir = TempDir::new("rename-fails");
    let target = dir.path("net.safetensors");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"previous").unwrap();
    match save_safetensors(&net::<f32>(4, 0), &target) {
        Err(Error::Io { path: p, .. }) => assert_eq!(p, target),
        other => panic!("expected Error::Io, got {other:?}"),
    }
    assert_eq!(std::fs::read(target.join("keep")).unwrap(), b"previous");
    assert_eq!(dir.entries(), ["net.safetensors"]);
}

#[test]
fn saving_into_a_missing_directory_fails_cleanly() {
    let dir = TempDir::new("no-dir");
    let path = dir.path("absent/net.safetensors");
    assert!(matches!(
        save_safetensors(&net::<f32>(4, 0), &path),
        Err(Error::Io { .. })
    ));
    assert!(dir.entries().is_empty());
}

#[test]
fn two_parameters_under_one_name_cannot_be_saved() {
    // A hand-written module that names both of its parameters "w".
    struct Twice {
        a: Param,
        b: Param,
    }
    impl Module for Twice {
        fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param)) {
            self.a.visit(&child_name(prefix, "w"), f);
            self.b.visit(&child_name(prefix, "w"), f);
        }
        fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(&str, &'a mut Param)) {
            self.a.visit_mut(&child_name(prefix, "w"), f);
            self.b.visit_mut(&child_name(prefix, "w"), f);
        }
    }
    let dir = TempDir::new("duplicate");
    let path = dir.path("twice.safetensors");
    let m = Twice {
        a: Param::new("a", Tensor::ones(&[1])),
        b: Param::new("b", Tensor::ones(&[2])),
    };
    let err = save_safetensors(&m, &path).unwrap_err();
    assert_eq!(
        weights_problem(err, &path, Some("w")),
        WeightsProblem::DuplicateName
    );
    assert!(dir.entries().is_empty());
}
