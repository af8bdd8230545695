//! Smoke tests: shortened runs of the examples, so that none can rot.

#[allow(dead_code)]
#[path = "../../examples/digits.rs"]
mod digits;

#[allow(dead_code)]
#[path = "../../examples/moons.rs"]
mod moons;

#[allow(dead_code)]
#[path = "../../examples/mnist.rs"]
mod mnist;

#[allow(dead_code)]
#[path = "../../examples/iris.rs"]
mod iris;

#[allow(dead_code)]
#[path = "../../examples/lr_find.rs"]
mod lr_find;

#[allow(dead_code)]
#[path = "../../examples/pinn.rs"]
mod pinn;

#[allow(dead_code)]
#[path = "../../examples/maml.rs"]
mod maml;

#[test]
fn digits_example_learns_in_a_few_epochs() {
    let out = digits::run(5, false);
    assert!(
        out.last_loss < 0.5 * out.first_loss,
        "loss {} -> {}",
        out.first_loss,
        out.last_loss
    );
    assert!(
        out.test_accuracy > 0.90,
        "test accuracy {}",
        out.test_accuracy
    );
}

#[test]
fn moons_example_separates_the_moons_and_draws_them() {
    // The full 100-step run is cheap (a 2-16-16-1 MLP on 100 points), so
    // the smoke test holds it to the example's own target: 100%.
    let out_path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("moons_smoke.svg");
    let _ = std::fs::remove_file(&out_path);
    let out = moons::run(100, false, Some(&out_path));
    assert!(
        out.last_loss < 0.1 * out.first_loss,
        "loss {} -> {}",
        out.first_loss,
        out.last_loss
    );
    assert_eq!(out.accuracy, 1.0, "training accuracy {}", out.accuracy);
    let svg = std::fs::read_to_string(&out_path).expect("the example writes its SVG");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    // One rectangle per grid cell (60 x 60), one circle per point.
    assert_eq!(svg.matches("<rect").count(), 60 * 60);
    assert_eq!(svg.matches("<circle").count(), 100);
}

#[test]
fn mnist_example_learns_from_a_fraction_of_the_images() {
    // One epoch over a fifth of the images for the MLP (94 steps) and a
    // tenth for the CNN (47 steps), tested on all 10,000 test images:
    // the MLP must pass 90% (the full run reaches 98%), the CNN 85%.
    // The plots and weights are written too, so their code runs.
    let out_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("mnist_smoke");
    let _ = std::fs::remove_dir_all(&out_dir);
    for (arch, floor, images) in [
        (mnist::Arch::Mlp, 0.90, 12_000),
        (mnist::Arch::Cnn, 0.85, 6000),
    ] {
        let config = mnist::Config {
            arch,
            epochs: 1,
            train_limit: Some(images),
            out: Some(out_dir.clone()),
            progress: tapegrad::train::Progress::Quiet,
            ..mnist::Config::default()
        };
        let out = mnist::run(&config).expect("bundled MNIST loads");
        // MNIST's well-known constants, 0.1307 and 0.3081 on a 0..1 scale,
        // now computed from the training images used
        assert!(
            (out.norm.mean / 255.0 - 0.1307).abs() < 0.005,
            "{:?}",
            out.norm
        );
        assert!(
            (out.norm.std / 255.0 - 0.3081).abs() < 0.005,
            "{:?}",
            out.norm
        );
        let acc = out.test_accuracy[0];
        assert!(acc > floor, "{arch:?}: test accuracy {acc}");
        assert!(
            out.last_loss < 0.5 * out.first_loss,
            "{arch:?}: loss {} -> {}",
            out.first_loss,
            out.last_loss
        );
    }
    for file in ["history.csv", "mlp.safetensors", "cnn.safetensors"] {
        assert!(out_dir.join(file).is_file(), "{file} was not written");
    }
}

#[test]
fn iris_example_finds_a_rate_trains_and_writes_its_files() {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("iris_smoke");
    let o = iris::run(&iris::Config {
        epochs: 30,
        out: out.clone(),
        progress: tapegrad::train::Progress::Quiet,
        ..iris::Config::default()
    })
    .expect("the bundled iris fits");
    assert!(o.suggested_lr > 1e-5 && o.suggested_lr < 10.0);
    assert!(
        o.val_accuracy >= 0.9,
        "validation accuracy {}",
        o.val_accuracy
    );
    for f in [
        "lr_finder.svg",
        "lr_finder.png",
        "history.csv",
        "history.jsonl",
        "checkpoint.safetensors",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    assert!(out.join("plots/epochs_accuracy.svg").exists());
    assert!(out.join("plots/epochs_accuracy.png").exists());
}

#[test]
fn lr_find_example_suggests_a_rate_that_beats_ten_times_either_side() {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("lr_find_smoke");
    let o = lr_find::run(5, &out, false);
    let last = |i: usize| *o.runs[i].losses.last().unwrap();
    // The runs are suggested/10, suggested, suggested*10.
    assert!((o.runs[1].lr - o.suggested).abs() < 1e-12);
    assert!(
        last(1) < last(0) && last(1) < last(2),
        "last losses {} {} {}",
        last(0),
        last(1),
        last(2)
    );
    assert!(o.runs[1].val_accuracy > 0.9, "{}", o.runs[1].val_accuracy);
    for f in ["range_test.svg", "runs.svg", "range_test.png", "runs.png"] {
        assert!(out.join(f).is_file(), "{f}");
    }
}

#[test]
fn pinn_example_solves_the_oscillator_from_the_equation_alone() {
    // A fifth of the default run. The untrained network is off by about 1
    // (sin reaches ±1); the full run gets to about 5e-4.
    let config = pinn::Config {
        steps: 1000,
        points: 64,
        width: 32,
        lr: 0.01,
        length: 2.0 * std::f64::consts::PI,
        seed: 0,
        verbose: false,
    };
    let out = pinn::run(&config);
    assert!(
        out.final_loss < 1e-3 * out.first_loss,
        "loss {} -> {}",
        out.first_loss,
        out.final_loss
    );
    assert!(out.max_error < 1e-2, "max |u - sin| = {}", out.max_error);
    assert!(out.rms_error < 5e-3, "RMS {}", out.rms_error);
    assert!(out.rms_error <= out.max_error);
    assert!(
        out.max_derivative_error < 2e-2,
        "max |u' - cos| = {}",
        out.max_derivative_error
    );
}

#[test]
fn pinn_derivatives_of_a_batch_are_each_points_own_derivatives() {
    // The example's u' and u'' come from tape.grad of the sum over the
    // batch; against central differences of u, point by point, on an
    // untrained network (so nothing is small by luck).
    let model = pinn::network(8, 3);
    let xs = pinn::linspace(7, 3.0);
    let tape = tapegrad::Tape::<f64>::new();
    let [u, du, d2u] = pinn::derivatives(&model, tape.var(xs.clone()));
    let (u, du, d2u) = (u.value(), du.value(), d2u.value());
    let at = |x: f64| {
        let t = tapegrad::Tape::<f64>::eval();
        let v = tapegrad::Tensor::from_vec(vec![x], &[1, 1]).unwrap();
        tapegrad::nn::Forward::forward(&model, t.constant(v)).item()
    };
    for (i, &x) in xs.as_slice().iter().enumerate() {
        let h = 1e-4;
        let (lo, mid, hi) = (at(x - h), at(x), at(x + h));
        assert!((u.as_slice()[i] - mid).abs() < 1e-12);
        let d1 = (hi - lo) / (2.0 * h);
        let d2 = (hi - 2.0 * mid + lo) / (h * h);
        assert!(
            (du.as_slice()[i] - d1).abs() < 1e-7,
            "u'({x}): {} vs {d1}",
            du.as_slice()[i]
        );
        assert!(
            (d2u.as_slice()[i] - d2).abs() < 1e-5,
            "u''({x}): {} vs {d2}",
            d2u.as_slice()[i]
        );
    }
}

#[test]
fn maml_example_adapts_in_one_step_better_than_the_baseline() {
    // 1500 meta steps (the default is 10,000): after one adaptation step
    // MAML's error must be well below both its own unadapted error and the
    // baseline's adapted error (the full run: 0.52 against 2.6).
    let config = maml::Config {
        steps: 1500,
        tasks: 10,
        shots: 10,
        inner_lr: 0.01,
        lr: 0.001,
        seed: 0,
        verbose: false,
    };
    let out = maml::run(&config);
    let (m, b) = (out.maml, out.baseline);
    assert!(m.one_step < 0.5 * m.before, "maml {m:?}");
    assert!(m.one_step < 0.7 * b.one_step, "maml {m:?}, baseline {b:?}");
    assert!(
        m.ten_steps < m.one_step && b.ten_steps < b.before,
        "{m:?} {b:?}"
    );
}

#[test]
fn maml_meta_gradient_runs_through_the_inner_step() {
    // One linear layer u = w x + b, so everything has a closed form. With
    // r the residuals, the support loss's gradient is (2/K) sum r (x, 1)
    // and its Hessian H = (2/K) sum (x, 1)(x, 1)^T; the adapted weights are
    // theta' = theta - alpha grad, and the meta-gradient is
    // (I - alpha H) grad L_query(theta').
    let (w0, b0, alpha) = (0.5f64, -0.2f64, 0.1f64);
    let (xs, ys) = ([1.0f64, 2.0, -1.0], [0.3f64, 1.0, -0.4]);
    let (xq, yq) = ([0.5f64, -2.0], [0.1f64, -0.8]);
    let grad = |w: f64, b: f64, x: &[f64], y: &[f64]| {
        let k = x.len() as f64;
        let (mut gw, mut gb) = (0.0, 0.0);
        for (x, y) in x.iter().zip(y) {
            let r = w * x + b - y;
            gw += 2.0 * r * x / k;
            gb += 2.0 * r / k;
        }
        (gw, gb)
    };
    let (gw, gb) = grad(w0, b0, &xs, &ys);
    let (w1, b1) = (w0 - alpha * gw, b0 - alpha * gb);
    let (qw, qb) = grad(w1, b1, &xq, &yq);
    let k = xs.len() as f64;
    let (sxx, sx) = (
        xs.iter().map(|x| x * x).sum::<f64>(),
        xs.iter().sum::<f64>(),
    );
    let h = [2.0 * sxx / k, 2.0 * sx / k, 2.0 * sx / k, 2.0];
    let full = (
        qw - alpha * (h[0] * qw + h[1] * qb),
        qb - alpha * (h[2] * qw + h[3] * qb),
    );

    let tape = tapegrad::Tape::<f32>::new();
    let t = |v: &[f64], dims: &[usize]| {
        tapegrad::Tensor::from_vec(v.iter().map(|&x| x as f32).collect(), dims).unwrap()
    };
    let w = tape.var(t(&[w0], &[1, 1]));
    let b = tape.var(t(&[b0], &[1]));
    let fast = maml::adapt(
        &[w, b],
        tape.constant(t(&xs, &[3, 1])),
        tape.constant(t(&ys, &[3, 1])),
        alpha as f32,
    );
    assert!((f64::from(fast[0].item()) - w1).abs() < 1e-6);
    assert!((f64::from(fast[1].item()) - b1).abs() < 1e-6);
    let query = maml::forward(&fast, tape.constant(t(&xq, &[2, 1])))
        .mse_loss(tape.constant(t(&yq, &[2, 1])));
    let grads = query.backward();
    let (tw, tb) = (
        f64::from(grads.wrt(w).item()),
        f64::from(grads.wrt(b).item()),
    );
    assert!(
        (tw - full.0).abs() < 1e-5,
        "d/dw: tape {tw}, by hand {}",
        full.0
    );
    assert!(
        (tb - full.1).abs() < 1e-5,
        "d/db: tape {tb}, by hand {}",
        full.1
    );
    // The first-order shortcut (dropping the Hessian term) is far off, so
    // the check above sees the second-order path.
    assert!((qw - full.0).abs() > 1e-2 && (qb - full.1).abs() > 1e-2);
}

#[test]
fn the_flags_of_maml_keep_their_names_and_defaults() {
    let maml =
        |argv: &[&str]| maml::args::parse_from("maml", "", argv.iter().copied(), maml::config);
    let c = maml(&[]).unwrap();
    assert_eq!((c.steps, c.tasks, c.shots, c.seed), (10_000, 10, 10, 0));
    assert_eq!((c.inner_lr, c.lr), (0.01, 0.001));
    let c = maml(&["--inner-lr=0.1", "--shots", "5"]).unwrap();
    assert_eq!((c.inner_lr, c.shots), (0.1, 5));
    assert!(matches!(
        maml(&["--shot", "5"]),
        Err(maml::args::Stop::Usage(_))
    ));
}

#[test]
fn the_flags_of_pinn_keep_their_names_and_defaults() {
    let pinn =
        |argv: &[&str]| pinn::args::parse_from("pinn", "", argv.iter().copied(), pinn::config);
    let c = pinn(&[]).unwrap();
    assert_eq!((c.steps, c.points, c.width, c.seed), (5000, 64, 32, 0));
    assert_eq!(c.lr, 0.01);
    assert_eq!(c.length, 2.0 * std::f64::consts::PI);
    let c = pinn(&["--steps=10", "--points", "9", "--length", "3.5"]).unwrap();
    assert_eq!((c.steps, c.points, c.length), (10, 9, 3.5));
    assert!(matches!(
        pinn(&["--step", "10"]),
        Err(pinn::args::Stop::Usage(_))
    ));
}

#[test]
fn the_flags_of_mnist_moons_lr_find_and_iris_keep_their_names_and_defaults() {
    use std::path::PathBuf;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));

    let mnist =
        |argv: &[&str]| mnist::args::parse_from("mnist", "", argv.iter().copied(), mnist::config);
    let c = mnist(&[]).unwrap();
    assert_eq!((c.arch, c.epochs), (mnist::Arch::Mlp, 4));
    assert_eq!(c.out, Some(PathBuf::from("target/mnist")));
    assert_eq!(c.train_limit, None);
    // The CNN's default is 3 epochs, unless given.
    let c = mnist(&["--model", "cnn"]).unwrap();
    assert_eq!((c.arch, c.epochs), (mnist::Arch::Cnn, 3));
    let c = mnist(&["--model=cnn", "--epochs=7", "--out", "elsewhere"]).unwrap();
    assert_eq!((c.arch, c.epochs), (mnist::Arch::Cnn, 7));
    assert_eq!(c.out, Some(PathBuf::from("elsewhere")));
    let Err(mnist::args::Stop::Usage(m)) = mnist(&["--model", "rnn"]) else {
        panic!("--model rnn was accepted");
    };
    assert!(
        m.contains("--model: cannot read \"rnn\" as mlp|cnn: the models are mlp and cnn"),
        "{m}"
    );

    let moons =
        |argv: &[&str]| moons::args::parse_from("moons", "", argv.iter().copied(), moons::out_path);
    assert_eq!(moons(&[]).unwrap(), root.join("target/moons.svg"));
    assert_eq!(moons(&["--out=m.svg"]).unwrap(), PathBuf::from("m.svg"));

    // lr_find takes its folder as the one positional argument.
    let lr_find = |argv: &[&str]| {
        lr_find::args::parse_from("lr_find", "", argv.iter().copied(), lr_find::out_dir)
    };
    assert_eq!(lr_find(&[]).unwrap(), root.join("target/lr_find"));
    assert_eq!(lr_find(&["charts"]).unwrap(), PathBuf::from("charts"));

    let iris = |argv: &[&str]| {
        iris::args::parse_from("iris", "", argv.iter().copied(), iris::config).map(|c| c.out)
    };
    assert_eq!(iris(&[]).unwrap(), root.join("target/iris"));
    assert_eq!(iris(&["--out", "i"]).unwrap(), PathBuf::from("i"));
    assert!(matches!(
        iris(&["--outt", "i"]),
        Err(iris::args::Stop::Usage(_))
    ));
}
