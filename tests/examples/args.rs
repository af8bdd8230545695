//! The examples' argument parser (`examples/common/args.rs`): both value
//! forms, switches, positionals, `--help` with the defaults, and every way
//! the arguments can be wrong, each a usage error rather than a panic.

#[path = "../../examples/common/args.rs"]
mod parser;

use parser::{Args, Stop, parse_from};
use std::path::PathBuf;

/// What the test program reads.
#[derive(Debug, PartialEq)]
struct Config {
    epochs: usize,
    lr: f64,
    out: PathBuf,
    gru: bool,
    limit: Option<usize>,
}

fn config(a: &mut Args) -> Config {
    Config {
        epochs: a.value("--epochs", "N", "60", "passes over the data"),
        lr: a.value("--lr", "RATE", "0.001", "the learning rate"),
        out: a.value("--out", "DIR", "target", "where the chart goes"),
        gru: a.switch("--gru", "the recurrent variant"),
        limit: a.optional("--limit", "N", "all of them", "examples to use"),
    }
}

fn parse(argv: &[&str]) -> Result<Config, Stop> {
    parse_from("demo", "a demo.", argv.iter().copied(), config)
}

/// The usage message, or a failure if parsing did not stop with one.
fn usage(argv: &[&str]) -> String {
    match parse(argv) {
        Err(Stop::Usage(message)) => message,
        other => panic!("{argv:?}: expected a usage error, got {other:?}"),
    }
}

#[test]
fn no_arguments_give_the_defaults() {
    let want = Config {
        epochs: 60,
        lr: 0.001,
        out: PathBuf::from("target"),
        gru: false,
        limit: None,
    };
    assert_eq!(parse(&[]).unwrap(), want);
}

#[test]
fn a_value_reads_the_same_after_a_space_or_an_equals_sign() {
    let spaced = parse(&[
        "--epochs", "5", "--lr", "0.5", "--out", "a b", "--limit", "7",
    ])
    .unwrap();
    let joined = parse(&["--epochs=5", "--lr=0.5", "--out=a b", "--limit=7"]).unwrap();
    assert_eq!(spaced, joined);
    assert_eq!((spaced.epochs, spaced.lr, spaced.limit), (5, 0.5, Some(7)));
    assert_eq!(spaced.out, PathBuf::from("a b"));
    // The order of the flags does not matter, and switches mix in freely.
    let c = parse(&["--gru", "--out=x", "--epochs", "2"]).unwrap();
    assert!(c.gru);
    assert_eq!((c.epochs, c.out), (2, PathBuf::from("x")));
    // An `=` inside the value stays in it.
    assert_eq!(parse(&["--out=a=b"]).unwrap().out, PathBuf::from("a=b"));
    // A value may start with one dash (a negative number).
    assert_eq!(parse(&["--lr", "-1e-3"]).unwrap().lr, -1e-3);
}

#[test]
fn the_last_of_a_repeated_flag_wins() {
    assert_eq!(parse(&["--epochs", "1", "--epochs=3"]).unwrap().epochs, 3);
}

#[test]
fn an_unknown_flag_is_a_usage_error_naming_it() {
    assert_eq!(
        usage(&["--epoch", "5"]),
        "demo: unknown flag --epoch (run with --help for the flags)"
    );
    // A flag that only starts like a known one is unknown too.
    assert_eq!(
        usage(&["--grux"]),
        "demo: unknown flag --grux (run with --help for the flags)"
    );
    assert_eq!(
        usage(&["stray"]),
        "demo: unexpected argument \"stray\" (run with --help for the flags)"
    );
}

#[test]
fn a_missing_value_is_a_usage_error() {
    let want = "demo: --epochs needs a value (N) (run with --help for the flags)";
    assert_eq!(usage(&["--epochs"]), want);
    // The next flag is not taken as the value.
    assert_eq!(usage(&["--epochs", "--gru"]), want);
    assert_eq!(usage(&["--epochs="]), want);
}

#[test]
fn a_value_that_does_not_parse_is_a_usage_error_saying_why() {
    assert_eq!(
        usage(&["--epochs", "ten"]),
        "demo: --epochs: cannot read \"ten\" as N: invalid digit found in string \
         (run with --help for the flags)"
    );
    assert_eq!(
        usage(&["--epochs=-1"]),
        "demo: --epochs: cannot read \"-1\" as N: invalid digit found in string \
         (run with --help for the flags)"
    );
    assert!(usage(&["--lr=fast"]).contains("--lr: cannot read \"fast\" as RATE"));
    assert!(usage(&["--limit", "1.5"]).contains("--limit: cannot read \"1.5\" as N"));
}

#[test]
fn the_first_problem_is_the_one_reported() {
    assert_eq!(
        usage(&["--epochs=x", "--nope"]),
        "demo: --epochs: cannot read \"x\" as N: invalid digit found in string \
         (run with --help for the flags)"
    );
}

#[test]
fn a_switch_takes_no_value() {
    assert_eq!(
        usage(&["--gru=yes"]),
        "demo: --gru takes no value: got --gru=yes (run with --help for the flags)"
    );
}

#[test]
fn help_lists_every_flag_with_its_default_and_wins_over_errors() {
    let Err(Stop::Help(text)) = parse(&["--help"]) else {
        panic!("--help did not stop with the help");
    };
    let want = "\
demo: a demo.

Usage: cargo run --release --example demo -- [FLAGS]

Flags:
  --epochs N  passes over the data [default: 60]
  --lr RATE   the learning rate [default: 0.001]
  --out DIR   where the chart goes [default: target]
  --gru       the recurrent variant
  --limit N   examples to use [default: all of them]
  --help      print this help and exit

A value goes as `--flag value` or `--flag=value`.
";
    assert_eq!(text, want);
    // `-h` too, and with other flags, right or wrong, around it.
    for argv in [&["-h"][..], &["--epochs=x", "--help"], &["--nope", "-h"]] {
        assert_eq!(parse(argv), Err(Stop::Help(want.to_string())), "{argv:?}");
    }
}

#[test]
fn a_positional_argument_has_a_default_and_appears_in_the_help() {
    let out = |a: &mut Args| -> PathBuf { a.positional("PATH", "out.dot", "the file to write") };
    let run = |argv: &[&str]| parse_from("tour", "a tour.", argv.iter().copied(), out);
    assert_eq!(run(&[]).unwrap(), PathBuf::from("out.dot"));
    assert_eq!(run(&["x.dot"]).unwrap(), PathBuf::from("x.dot"));
    assert_eq!(
        run(&["x.dot", "y.dot"]),
        Err(Stop::Usage(
            "tour: unexpected argument \"y.dot\" (run with --help for the flags)".to_string()
        ))
    );
    assert_eq!(
        run(&["--out", "x.dot"]),
        Err(Stop::Usage(
            "tour: unknown flag --out (run with --help for the flags)".to_string()
        ))
    );
    let Err(Stop::Help(text)) = run(&["--help"]) else {
        panic!("no help");
    };
    assert!(text.contains("Usage: cargo run --release --example tour -- [FLAGS] [PATH]\n"));
    assert!(text.contains("\nArguments:\n  PATH    the file to write [default: out.dot]\n"));
}

#[test]
fn an_example_can_refuse_a_combination_of_flags() {
    let both = |a: &mut Args| {
        let (x, y) = (a.switch("--x", "x"), a.switch("--y", "y"));
        if x && y {
            a.fail("--x and --y exclude each other");
        }
    };
    let run = |argv: &[&str]| parse_from("xy", "x or y.", argv.iter().copied(), both);
    assert_eq!(run(&["--x"]), Ok(()));
    assert_eq!(
        run(&["--x", "--y"]),
        Err(Stop::Usage(
            "xy: --x and --y exclude each other (run with --help for the flags)".to_string()
        ))
    );
}

#[test]
fn a_default_that_does_not_parse_stops_the_run_instead_of_panicking() {
    let bad = |a: &mut Args| -> usize { a.value("--n", "N", "many", "how many") };
    let got = parse_from("bad", "a slip.", Vec::<String>::new(), bad);
    assert_eq!(
        got,
        Err(Stop::Usage(
            "bad: --n: the default \"many\" does not parse: invalid digit found in string \
             (run with --help for the flags)"
                .to_string()
        ))
    );
}

#[cfg(unix)]
#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let argv = vec![
        OsString::from("--gru"),
        OsString::from_vec(vec![0x66, 0xff]),
    ];
    let got = parse_from("demo", "a demo.", argv, config);
    assert_eq!(
        got,
        Err(Stop::Usage(
            "demo: argument 2 is not UTF-8: \"f\\xFF\" (run with --help for the flags)".to_string()
        ))
    );
}
