//! The examples' one command-line parser, so that every example reads its
//! flags the same way:
//!
//! - a value goes as `--epochs 5` or `--epochs=5` (a separate value may not
//!   start with `--`, so `--out --gru` is a missing value, not a folder
//!   called `--gru`; write `--out=--gru` if you mean it);
//! - a switch is just `--gru`;
//! - the last of a repeated flag wins;
//! - `--help` (or `-h`) prints every flag with its default and exits 0;
//! - an unknown flag, a missing value or a value that does not parse prints
//!   one line saying which, and exits with status 2. Nothing panics.
//!
//! An example describes its flags in one function from [`Args`] to its
//! config and hands it to [`parse`] (which reads `std::env::args_os`), or
//! to [`parse_from`] (which takes the arguments, for tests):
//!
//! ```text
//! pub fn config(a: &mut args::Args) -> Config {
//!     Config {
//!         epochs: a.value("--epochs", "N", "60", "passes over the data"),
//!         gru: a.switch("--gru", "the recurrent variant"),
//!     }
//! }
//! let config = args::parse("forecast", "Monthly CO2 with a GRU.", config);
//! ```
//!
//! Each declaration finds and takes its own flag out of the arguments at
//! once and returns the value (or the default); whatever is left when the
//! function returns is unknown. An error is kept and reported at the end,
//! so the function itself never fails: a value that does not parse is
//! replaced by the default meanwhile, and the run stops before it starts.
//!
//! Written here rather than taken from a crate: the whole need fits in
//! this file, and `lexopt` would only split the arguments (the defaults,
//! the help text and the error exits would still be ours to write), so the
//! library gains no dependency for its examples.

// Each example uses only part of the parser.
#![allow(dead_code)]

use std::ffi::OsString;
use std::fmt::Display;
use std::str::FromStr;

/// Why parsing stopped short of a config.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// `--help` was given: the help text, for stdout.
    Help(String),
    /// The arguments were wrong: what is wrong, one line, for stderr.
    Usage(String),
}

impl Stop {
    /// Prints the help (exit status 0) or the error (status 2) and exits.
    pub fn exit(self) -> ! {
        match self {
            Stop::Help(text) => {
                print!("{text}");
                std::process::exit(0)
            }
            Stop::Usage(message) => {
                eprintln!("{message}");
                std::process::exit(2)
            }
        }
    }
}

/// One line of the help: the flag (or argument), its value's name, what it
/// does and its default.
struct Entry {
    flag: String,
    help: &'static str,
    default: Option<String>,
}

/// The arguments still to be claimed, and the flags declared so far.
pub struct Args {
    program: &'static str,
    about: &'static str,
    /// The arguments; `None` once a declaration has taken one.
    tokens: Vec<Option<String>>,
    flags: Vec<Entry>,
    positional: Option<Entry>,
    /// The first thing found wrong.
    error: Option<String>,
}

/// Parses the process's arguments with `build`; on `--help` or an error,
/// prints and exits (status 0 or 2).
pub fn parse<T>(
    program: &'static str,
    about: &'static str,
    build: impl FnOnce(&mut Args) -> T,
) -> T {
    parse_from(program, about, std::env::args_os().skip(1), build).unwrap_or_else(|s| s.exit())
}

/// Parses `argv` (without the program's own name) with `build`.
///
/// # Errors
/// [`Stop::Help`] if `--help` or `-h` is among the arguments;
/// [`Stop::Usage`] for an unknown flag, an unexpected argument, a missing
/// value, a value that does not parse or an argument that is not UTF-8.
pub fn parse_from<T, S: Into<OsString>>(
    program: &'static str,
    about: &'static str,
    argv: impl IntoIterator<Item = S>,
    build: impl FnOnce(&mut Args) -> T,
) -> Result<T, Stop> {
    let mut args = Args {
        program,
        about,
        tokens: Vec::new(),
        flags: Vec::new(),
        positional: None,
        error: None,
    };
    for (i, arg) in argv.into_iter().enumerate() {
        match arg.into().into_string() {
            Ok(s) => args.tokens.push(Some(s)),
            Err(bad) => args.fail(format!("argument {} is not UTF-8: {bad:?}", i + 1)),
        }
    }
    let value = build(&mut args);
    args.finish().map(|()| value)
}

impl Args {
    /// A switch, off unless given: `--gru`.
    pub fn switch(&mut self, name: &'static str, help: &'static str) -> bool {
        self.declare(name.to_string(), help, None);
        let mut on = false;
        for i in 0..self.tokens.len() {
            let Some(token) = self.tokens[i].as_deref() else {
                continue;
            };
            if token == name {
                on = true;
                self.tokens[i] = None;
            } else if token.strip_prefix(name).is_some_and(|r| r.starts_with('=')) {
                self.fail(format!("{name} takes no value: got {token}"));
                self.tokens[i] = None;
            }
        }
        on
    }

    /// A flag with a value and a default: `--epochs N`. `default` is shown
    /// in the help and parsed as the value would be.
    pub fn value<T: FromStr + Default>(
        &mut self,
        name: &'static str,
        metavar: &'static str,
        default: &str,
        help: &'static str,
    ) -> T
    where
        T::Err: Display,
    {
        match self.optional(name, metavar, default, help) {
            Some(v) => v,
            None => self.parse_default(name, default),
        }
    }

    /// A flag with a value whose default the example works out itself
    /// (from other flags, say): `None` if not given. `default` only
    /// describes it in the help (`"4 for mlp, 3 for cnn"`).
    pub fn optional<T: FromStr>(
        &mut self,
        name: &'static str,
        metavar: &'static str,
        default: &str,
        help: &'static str,
    ) -> Option<T>
    where
        T::Err: Display,
    {
        self.declare(format!("{name} {metavar}"), help, Some(default));
        let mut found = None;
        for i in 0..self.tokens.len() {
            let Some(token) = self.tokens[i].as_deref() else {
                continue;
            };
            let raw = if token == name {
                self.tokens[i] = None;
                match self.tokens.get(i + 1).cloned().flatten() {
                    Some(next) if !next.starts_with("--") => {
                        self.tokens[i + 1] = None;
                        next
                    }
                    _ => {
                        self.fail(format!("{name} needs a value ({metavar})"));
                        continue;
                    }
                }
            } else if let Some(v) = token.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                let v = v.to_string();
                self.tokens[i] = None;
                v
            } else {
                continue;
            };
            if raw.is_empty() {
                self.fail(format!("{name} needs a value ({metavar})"));
                continue;
            }
            match raw.parse() {
                Ok(v) => found = Some(v),
                Err(e) => self.fail(format!("{name}: cannot read {raw:?} as {metavar}: {e}")),
            }
        }
        found
    }

    /// The argument that is not a flag (`out.dot`), or the default.
    /// Declare it after every flag: until then, a flag's value looks like
    /// it.
    pub fn positional<T: FromStr + Default>(
        &mut self,
        metavar: &'static str,
        default: &str,
        help: &'static str,
    ) -> T
    where
        T::Err: Display,
    {
        self.positional = Some(Entry {
            flag: metavar.to_string(),
            help,
            default: Some(default.to_string()),
        });
        let slot = self
            .tokens
            .iter()
            .position(|t| t.as_deref().is_some_and(|t| !t.starts_with('-')));
        let Some(raw) = slot.and_then(|i| self.tokens[i].take()) else {
            return self.parse_default(metavar, default);
        };
        match raw.parse() {
            Ok(v) => v,
            Err(e) => {
                self.fail(format!("{metavar}: cannot read {raw:?}: {e}"));
                self.parse_default(metavar, default)
            }
        }
    }

    /// The help text: what the example does, then every flag.
    pub fn help(&self) -> String {
        let mut entries: Vec<&Entry> = self.flags.iter().collect();
        let help = Entry {
            flag: "--help".to_string(),
            help: "print this help and exit",
            default: None,
        };
        entries.push(&help);
        let width = entries
            .iter()
            .chain(&self.positional.as_ref())
            .map(|e| e.flag.len())
            .max()
            .unwrap_or(0);
        let line = |e: &Entry| {
            let default = e
                .default
                .as_ref()
                .map_or(String::new(), |d| format!(" [default: {d}]"));
            format!("  {:width$}  {}{default}\n", e.flag, e.help)
        };
        let mut text = format!(
            "{}: {}\n\nUsage: cargo run --release --example {}",
            self.program, self.about, self.program
        );
        text += " -- [FLAGS]";
        if let Some(p) = &self.positional {
            text += &format!(" [{}]", p.flag);
        }
        text += "\n";
        if let Some(p) = &self.positional {
            text += "\nArguments:\n";
            text += &line(p);
        }
        text += "\nFlags:\n";
        for e in entries {
            text += &line(e);
        }
        if self.flags.iter().any(|e| e.default.is_some()) {
            text += "\nA value goes as `--flag value` or `--flag=value`.\n";
        }
        text
    }

    fn declare(&mut self, flag: String, help: &'static str, default: Option<&str>) {
        self.flags.push(Entry {
            flag,
            help,
            default: default.map(str::to_string),
        });
    }

    /// The example's own default, parsed; if that fails (a slip in the
    /// example, not the user's), the error stops the run like any other.
    fn parse_default<T: FromStr + Default>(&mut self, name: &str, default: &str) -> T
    where
        T::Err: Display,
    {
        default.parse().unwrap_or_else(|e| {
            self.fail(format!(
                "{name}: the default {default:?} does not parse: {e}"
            ));
            T::default()
        })
    }

    /// Reports a problem the flags cannot express alone (two switches
    /// that exclude each other, say): the run stops with `message` as any
    /// other usage error. The first error is the one reported.
    pub fn fail(&mut self, message: impl Into<String>) {
        self.error.get_or_insert(message.into());
    }

    /// `--help`, else the first error, else whatever nobody claimed.
    fn finish(self) -> Result<(), Stop> {
        let left: Vec<&str> = self.tokens.iter().flatten().map(String::as_str).collect();
        if left.iter().any(|t| *t == "--help" || *t == "-h") {
            return Err(Stop::Help(self.help()));
        }
        let problem = self.error.clone().or_else(|| {
            left.first().map(|t| {
                if t.starts_with('-') {
                    format!("unknown flag {t}")
                } else {
                    format!("unexpected argument {t:?}")
                }
            })
        });
        match problem {
            None => Ok(()),
            Some(p) => Err(Stop::Usage(format!(
                "{}: {p} (run with --help for the flags)",
                self.program
            ))),
        }
    }
}
