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
