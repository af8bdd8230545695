//! Datasets, CSV loading and the DataLoader.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::data::{CsvOptions, DataLoader, Dataset, LabelColumn, TensorDataset, read_csv};
use tapegrad::{Error, Tensor};

fn iris() -> TensorDataset<f32> {
    read_csv(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/iris.csv"),
        &CsvOptions::default(),
    )
    .unwrap()
}

#[test]
fn iris_loads_with_its_known_shape_and_first_row() {
    let ds = iris();
    assert_eq!(ds.len(), 150);
    assert_eq!(ds.input_shape().as_slice(), &[4]);
    // First row of Fisher's data: 5.1, 3.5, 1.4, 0.2, setosa (0).
    assert_eq!(&ds.inputs().as_slice()[..4], &[5.1, 3.5, 1.4, 0.2]);
    assert_eq!(ds.targets().as_slice()[0], 0.0);
    // 50 examples of each class.
    for c in 0..3 {
        let n = ds
            .targets()
            .as_slice()
            .iter()
            .filter(|&&y| y == c as f32)
            .count();
        assert_eq!(n, 50);
    }
}

#[test]
fn split_is_seeded_and_partitions_the_data() {
    let ds = iris();
    let (train, val) = ds.split(0.2, &mut StdRng::seed_from_u64(1));
    let (train2, _) = ds.split(0.2, &mut StdRng::seed_from_u64(1));
    assert_eq!((train.len(), val.len()), (120, 30));
    assert_eq!(train.inputs(), train2.inputs());
    // Column sums are preserved by a partition.
    let total: f32 = ds.inputs().as_slice().iter().sum();
    let parts: f32 = train
        .inputs()
        .as_slice()
        .iter()
        .chain(val.inputs().as_slice())
        .sum();
    assert!((total - parts).abs() < 1e-2);
}

#[test]
fn loader_visits_every_example_once_per_epoch_and_reshuffles() {
    let n = 10;
    let ds = TensorDataset::new(
        Tensor::<f32>::arange(0.0, n as f32, 1.0).reshape(&[n, 1]),
        Tensor::arange(0.0, n as f32, 1.0),
    );
    let mut loader = DataLoader::new(&ds, 3).shuffle(42);
    assert_eq!(loader.num_batches(), 4);
    let epoch1: Vec<f32> = loader.epoch().flat_map(|b| b.inputs.to_vec()).collect();
    let epoch2: Vec<f32> = loader.epoch().flat_map(|b| b.inputs.to_vec()).collect();
    let mut sorted = epoch1.clone();
    sorted.sort_by(f32::total_cmp);
    assert_eq!(sorted, (0..n).map(|i| i as f32).collect::<Vec<_>>());
    assert_ne!(epoch1, epoch2, "a new epoch should draw a new order");
    // Same seed, same batches.
    let mut again = DataLoader::new(&ds, 3).shuffle(42);
    let first: Vec<f32> = again.epoch().flat_map(|b| b.inputs.to_vec()).collect();
    assert_eq!(first, epoch1);
    // Inputs and targets stay paired.
    for b in loader.epoch() {
        assert_eq!(b.inputs.to_vec(), b.targets.to_vec());
        assert_eq!(b.labels().len(), b.len());
    }
    let sizes: Vec<usize> = DataLoader::new(&ds, 3)
        .drop_last(true)
        .epoch()
        .map(|b| b.len())
        .collect();
    assert_eq!(sizes, vec![3, 3, 3]);
}

#[test]
fn bad_files_return_errors_with_line_numbers() {
    let dir = std::env::temp_dir().join(format!("tapegrad-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "a,b,label\n1,2,0\n3,oops,1\n").unwrap();
    match read_csv::<f32>(&bad, &CsvOptions::default()) {
        Err(Error::Csv { line, message, .. }) => {
            assert_eq!(line, 3);
            assert!(message.contains("'oops'"), "{message}");
        }
        other => panic!("expected a CSV error, got {other:?}"),
    }
    let opts = CsvOptions {
        label: LabelColumn::Name("target".into()),
        ..Default::default()
    };
    let err = read_csv::<f32>(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/iris.csv"),
        &opts,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("no column named 'target'"),
        "{err}"
    );
    assert!(matches!(
        read_csv::<f32>(dir.join("missing.csv"), &CsvOptions::default()),
        Err(Error::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).ok();
}

/// An IDX header: two zero bytes, the type byte, the rank, then each
/// dimension as a big-endian u32.
fn idx_header(kind: u8, dims: &[u32]) -> Vec<u8> {
    let mut out = vec![0, 0, kind, dims.len() as u8];
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out
}

#[test]
fn idx_reads_every_value_type_big_endian() {
    use tapegrad::data::read_idx;
    // u8 [2, 2]
    let mut b = idx_header(0x08, &[2, 2]);
    b.extend([0u8, 7, 128, 255]);
    let t = read_idx::<f64>(&b[..], "u8").unwrap();
    assert_eq!(t.shape(), [2, 2]);
    assert_eq!(t.as_slice(), [0.0, 7.0, 128.0, 255.0]);
    // i8 [2]: 0xff is -1
    let mut b = idx_header(0x09, &[2]);
    b.extend([0xffu8, 5]);
    assert_eq!(
        read_idx::<f64>(&b[..], "i8").unwrap().as_slice(),
        [-1.0, 5.0]
    );
    // i16 [1]: 0xfe 0x0c is -500
    let mut b = idx_header(0x0B, &[1]);
    b.extend((-500i16).to_be_bytes());
    assert_eq!(read_idx::<f64>(&b[..], "i16").unwrap().as_slice(), [-500.0]);
    // i32, f32 and f64 [1] each
    let mut b = idx_header(0x0C, &[1]);
    b.extend((-70_000i32).to_be_bytes());
    assert_eq!(
        read_idx::<f64>(&b[..], "i32").unwrap().as_slice(),
        [-70_000.0]
    );
    let mut b = idx_header(0x0D, &[1]);
    b.extend(1.5f32.to_be_bytes());
    assert_eq!(read_idx::<f64>(&b[..], "f32").unwrap().as_slice(), [1.5]);
    let mut b = idx_header(0x0E, &[1]);
    b.extend(0.1f64.to_be_bytes());
    assert_eq!(read_idx::<f64>(&b[..], "f64").unwrap().as_slice(), [0.1]);
    // rank 0: one value
    let mut b = idx_header(0x08, &[]);
    b.push(9);
    let t = read_idx::<f32>(&b[..], "scalar").unwrap();
    assert_eq!((t.shape(), t.as_slice()), (&[][..], &[9.0][..]));
}

#[test]
fn damaged_idx_files_are_errors_that_say_what_is_wrong() {
    use tapegrad::data::read_idx;
    let problem = |bytes: &[u8]| match read_idx::<f32>(bytes, "bad.idx") {
        Err(Error::Idx { path, problem }) => {
            assert_eq!(path, std::path::Path::new("bad.idx"));
            problem
        }
        other => panic!("expected an IDX error, got {other:?}"),
    };
    assert!(problem(&[0, 0]).contains("too short"));
    assert!(problem(&[1, 0, 8, 1, 0, 0, 0, 1, 0]).contains("not an IDX file"));
    assert!(problem(&[0, 0, 0x42, 0]).contains("unknown IDX value type 0x42"));
    assert!(problem(&[0, 0, 8, 2, 0, 0, 0, 1]).contains("promises 2 dimensions"));
    let mut short = idx_header(0x08, &[2, 3]);
    short.extend([1u8; 5]);
    let p = problem(&short);
    assert!(
        p.contains("[2, 3]") && p.contains("needs 6 bytes") && p.contains("found 5"),
        "{p}"
    );
    let mut long = idx_header(0x0C, &[2]);
    long.extend([0u8; 9]);
    assert!(problem(&long).contains("needs 8 bytes of data, the stream goes on past them"));
    let huge = idx_header(0x0E, &[u32::MAX, u32::MAX, u32::MAX]);
    assert!(problem(&huge).contains("too large"));
}

/// The first column of every batch of `loader`'s next epoch: which examples
/// it saw, in order (the dataset below stores each example's index).
fn seen(loader: &mut DataLoader<'_, f32, TensorDataset<f32>>) -> Vec<usize> {
    loader
        .epoch()
        .flat_map(|b| b.inputs.to_vec())
        .map(|v| v as usize)
        .collect()
}

fn numbered(n: usize) -> TensorDataset<f32> {
    let x = Tensor::from_vec((0..n).map(|i| i as f32).collect(), &[n, 1]).unwrap();
    TensorDataset::new(x, Tensor::zeros(&[n]))
}

#[test]
fn shards_are_disjoint_cover_each_epoch_and_interleave_to_the_unsharded_batches() {
    let ds = numbered(12);
    let mut whole = DataLoader::new(&ds, 6).shuffle(9);
    let mut parts: Vec<_> = (0..3)
        .map(|r| DataLoader::new(&ds, 2).shuffle(9).shard(r, 3))
        .collect();
    for _epoch in 0..3 {
        let order = seen(&mut whole);
        let got: Vec<Vec<usize>> = parts.iter_mut().map(seen).collect();
        // Part r takes positions r, r + 3, ... of the epoch's one order.
        for (r, part) in got.iter().enumerate() {
            let expected: Vec<usize> = order.iter().skip(r).step_by(3).copied().collect();
            assert_eq!(part, &expected, "part {r}");
        }
        let mut all: Vec<usize> = got.concat();
        all.sort_unstable();
        assert_eq!(all, (0..12).collect::<Vec<_>>());
        // Batch k of the three parts is batch k of the unsharded loader.
        for k in 0..2 {
            let mut joined: Vec<usize> = got
                .iter()
                .flat_map(|p| p[2 * k..2 * k + 2].to_vec())
                .collect();
            let mut batch = order[6 * k..6 * k + 6].to_vec();
            joined.sort_unstable();
            batch.sort_unstable();
            assert_eq!(joined, batch);
        }
    }
}

#[test]
fn an_uneven_epoch_is_padded_so_every_shard_takes_the_same_steps() {
    let ds = numbered(10);
    let mut parts: Vec<_> = (0..4)
        .map(|r| DataLoader::new(&ds, 2).shuffle(3).shard(r, 4))
        .collect();
    let got: Vec<Vec<usize>> = parts.iter_mut().map(seen).collect();
    // 10 in 4 parts: padded to 12 by wrapping, 3 each, 2 batches (2 and 1).
    assert!(got.iter().all(|p| p.len() == 3));
    assert!(parts.iter().all(|p| p.num_batches() == 2));
    let mut all = got.concat();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all, (0..10).collect::<Vec<_>>());
}

#[test]
#[should_panic(expected = "DataLoader::shard: rank 2 of 2 parts")]
fn a_rank_outside_the_parts_panics() {
    let ds = numbered(4);
    let _ = DataLoader::new(&ds, 2).shard(2, 2);
}
