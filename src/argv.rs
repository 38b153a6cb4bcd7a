//! The command line as a person types it, turned into what argh parses. argh takes only
//! `--flag value`, so `--flag=value` is split in two first; an unknown flag is answered with the
//! closest real one. The flag names come from the `Cli` definition itself (`ArgsInfo`), so this
//! list can never drift from the flags.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use argh::{ArgsInfo, FlagInfoKind, FromArgs, Optionality};

use crate::cli::Cli;

/// A command line that ends before a run: `--help`, or a usage error (exit status 1).
#[derive(Debug, PartialEq)]
pub struct EarlyExit {
    /// The help text (for stdout) or the error (for stderr).
    pub output: String,
    pub status: u8,
}

impl EarlyExit {
    fn usage(message: String) -> EarlyExit {
        EarlyExit {
            output: message,
            status: 1,
        }
    }

    /// Print the help to stdout or the error to stderr (never panicking on a closed stream)
    /// and give the exit status.
    pub fn print(&self) -> ExitCode {
        let _ = if self.status == 0 {
            writeln!(std::io::stdout(), "{}", self.output)
        } else {
            writeln!(std::io::stderr(), "ecs-statsd: error: {}", self.output)
        };
        ExitCode::from(self.status)
    }
}

/// Parse the process arguments (program name first).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, EarlyExit> {
    let mut args = args.into_iter();
    let command = args
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "ecs-statsd".into());
    let args = args
        .map(|arg| {
            arg.into_string().map_err(|bad| {
                EarlyExit::usage(format!(
                    "argument {:?} is not valid UTF-8; give flags and values as UTF-8 text",
                    bad.to_string_lossy()
                ))
            })
        })
        .collect::<Result<Vec<String>, _>>()?;
    let args = normalize(&args, &command)?;
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    Cli::from_args(&[&command], &strs).map_err(|early| {
        if early.status.is_ok() {
            // argh's help is left for the one the settings table gives.
            return EarlyExit {
                output: crate::cli::help(&command),
                status: 0,
            };
        }
        EarlyExit::usage(explain(early.output.trim_end(), &command))
    })
}

/// Every long flag with whether it takes a value (`--help` included).
fn flags() -> Vec<(String, bool)> {
    let mut flags: Vec<(String, bool)> = Cli::get_args_info()
        .flags
        .iter()
        .map(|f| {
            let takes_value = matches!(f.kind, FlagInfoKind::Option { .. });
            (f.long.to_string(), takes_value)
        })
        .collect();
    if !flags.iter().any(|(name, _)| name == "--help") {
        flags.push(("--help".into(), false));
    }
    flags
}

/// The long name of a flag given as `-V` (its short form) or as itself; `None` for a word
/// that names no flag.
fn long_name(given: &str) -> Option<&'static str> {
    Cli::get_args_info()
        .flags
        .iter()
        .find(|f| f.long == given || f.short.is_some_and(|s| given == format!("-{s}")))
        .map(|f| f.long)
}

/// Flags that may be given more than once (`--tag`).
fn repeatable(long: &str) -> bool {
    Cli::get_args_info()
        .flags
        .iter()
        .any(|f| f.long == long && f.optionality == Optionality::Repeating)
}

/// `--flag=value` → `--flag`, `value`, for every flag that takes a value; a value after a
/// flag that takes one is left as it is, even when it starts with `--` or holds `=`.
/// Anything after `--` is a positional argument, which ecs-statsd takes none of: a usage
/// error here, as argh would only say "unrecognized" (and the closest flag, the very one
/// given). A flag that is not repeatable given twice is a usage error, switches
/// (`--dry-run --dry-run`, which argh accepts) as well as flags with a value: one rule here
/// for both.
fn normalize(args: &[String], command: &str) -> Result<Vec<String>, EarlyExit> {
    let flags = flags();
    let takes_value = |name: &str| flags.iter().find(|(f, _)| f == name).map(|(_, v)| *v);
    let mut seen: Vec<&'static str> = Vec::new();
    let mut once = |given: &str| match long_name(given) {
        Some(long) if long != "--help" && !repeatable(long) => {
            if seen.contains(&long) {
                return Err(EarlyExit::usage(format!(
                    "{long} is given twice; give it once ({command} --help lists every flag)"
                )));
            }
            seen.push(long);
            Ok(())
        }
        _ => Ok(()),
    };
    let mut out = Vec::with_capacity(args.len() + 4);
    let mut value_next = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if value_next {
            value_next = false;
            out.push(arg.clone());
            continue;
        }
        if arg == "--" {
            if let Some(positional) = rest.next() {
                return Err(EarlyExit::usage(format!(
                    "positional arguments are not accepted: {positional:?} follows --, after \
                     which nothing is a flag; leave out the -- ({command} --help lists every flag)"
                )));
            }
            out.push(arg.clone());
            break;
        }
        match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => match takes_value(name) {
                Some(true) => {
                    once(name)?;
                    out.push(name.to_string());
                    out.push(value.to_string());
                }
                Some(false) => {
                    return Err(EarlyExit::usage(format!(
                        "{name} takes no value (given {arg:?}); write {name} alone"
                    )));
                }
                // Unknown: argh reports it, with the closest flag (see `explain`).
                None => out.push(name.to_string()),
            },
            _ => {
                once(arg)?;
                value_next = takes_value(arg) == Some(true);
                out.push(arg.clone());
            }
        }
    }
    Ok(out)
}

/// argh's error in our words, one line: the closest flag for an unknown one, the flag that
/// lacks a value or is given twice. Wording argh may add later is kept, on one line.
fn explain(argh_error: &str, command: &str) -> String {
    let help = format!("({command} --help lists every flag)");
    if let Some(given) = argh_error.strip_prefix("Unrecognized argument: ") {
        let given = given.trim_matches('"');
        if !given.starts_with('-') {
            return format!("unexpected argument {given:?}; flags start with -- {help}");
        }
        return match closest(given) {
            Some(flag) => format!("unknown flag {given}; did you mean {flag}? {help}"),
            None => format!("unknown flag {given} {help}"),
        };
    }
    // "No value provided for option '--interval'."
    if let Some(flag) = argh_error
        .strip_prefix("No value provided for option '")
        .and_then(|rest| rest.strip_suffix("'."))
    {
        return format!("{flag} needs a value {help}");
    }
    // "Error parsing option '--interval' with value '2': duplicate values provided"
    if let Some((flag, _)) = argh_error
        .strip_prefix("Error parsing option '")
        .and_then(|rest| rest.strip_suffix(": duplicate values provided"))
        .and_then(|rest| rest.split_once("' with value '"))
    {
        return format!("{flag} is given twice; give it once {help}");
    }
    let one_line: Vec<&str> = argh_error.split_whitespace().collect();
    format!("{} {help}", one_line.join(" "))
}

/// The real flag nearest to `given` by edit distance, if near enough to be a typo (at most a
/// third of its length, and at least 2, away); for a one-letter flag, the short flag of that
/// letter in the other case (`-v`: `-V (--version)`).
fn closest(given: &str) -> Option<String> {
    if let [b'-', letter] = given.as_bytes() {
        let letter = char::from(*letter);
        return Cli::get_args_info()
            .flags
            .iter()
            .find(|f| f.short.is_some_and(|s| s.eq_ignore_ascii_case(&letter)))
            .map(|f| format!("-{} ({})", f.short.unwrap_or(letter), f.long));
    }
    let given = given.to_ascii_lowercase().replace('_', "-");
    let given = if given.starts_with("--") {
        given
    } else {
        format!("-{}", given.trim_start_matches('-')).replacen('-', "--", 1)
    };
    let limit = (given.len() / 3).max(2);
    flags()
        .into_iter()
        .map(|(name, _)| (edit_distance(&given, &name), name))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, name)| name)
}

/// Levenshtein distance over bytes (flag names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Cli, EarlyExit> {
        parse(
            std::iter::once("ecs-statsd")
                .chain(args.iter().copied())
                .map(OsString::from),
        )
    }

    #[test]
    fn every_flag_that_takes_a_value_accepts_equals() {
        for (name, takes_value) in flags() {
            if !takes_value {
                continue;
            }
            let joined = parse_strs(&[&format!("{name}=v=1")]);
            let split = parse_strs(&[&name, "v=1"]);
            assert_eq!(
                format!("{joined:?}"),
                format!("{split:?}"),
                "{name}=v=1 parses as {name} v=1"
            );
            assert!(joined.is_ok(), "{name}: {joined:?}");
        }
        let cli = parse_strs(&["--interval=5", "--tag=a:b", "--tag", "--c=d"]).unwrap();
        assert_eq!(cli.interval.as_deref(), Some("5"));
        // A value that looks like a flag stays a value.
        assert_eq!(cli.tag, ["a:b", "--c=d"]);
        assert_eq!(
            parse_strs(&["--include="]).unwrap().include.as_deref(),
            Some("")
        );
    }

    #[test]
    fn a_switch_with_a_value_is_a_usage_error() {
        let err = parse_strs(&["--dry-run=true"]).unwrap_err();
        assert_eq!(err.status, 1);
        assert!(err.output.contains("--dry-run takes no value"), "{err:?}");
    }

    /// One rule for every flag that is not repeatable: given twice is exit 1, whether it is
    /// a switch (argh alone accepts `--dry-run --dry-run`), a flag with a value, or a short
    /// flag with its long form; a repeatable flag may be given many times.
    #[test]
    fn a_flag_given_twice_is_a_usage_error_switch_or_value() {
        for args in [
            &["--dry-run", "--dry-run"][..],
            &["--since-last-run", "--interval", "5", "--since-last-run"],
            &["-V", "--version"],
            &["--interval", "1", "--interval=2"],
            &["--interval=1", "--interval", "2"],
        ] {
            let err = parse_strs(args).unwrap_err();
            assert_eq!(err.status, 1, "{args:?}");
            let flag = if args[0] == "-V" {
                "--version"
            } else {
                args[0]
            };
            let flag = flag.split('=').next().unwrap();
            assert!(
                err.output
                    .starts_with(&format!("{flag} is given twice; give it once")),
                "{args:?}: {}",
                err.output
            );
        }
        let cli = parse_strs(&["--tag", "a:b", "--tag=c:d", "--dry-run"]).unwrap();
        assert_eq!(cli.tag, ["a:b", "c:d"]);
        // A value that happens to spell a flag is a value, not a second flag.
        assert!(parse_strs(&["--tag", "--dry-run", "--dry-run"]).is_ok());
    }

    #[test]
    fn dash_h_is_help() {
        let short = parse_strs(&["-h"]).unwrap_err();
        let long = parse_strs(&["--help"]).unwrap_err();
        assert_eq!(short.status, 0);
        assert_eq!(short, long);
        assert!(short.output.contains("--interval"), "{}", short.output);
    }

    #[test]
    fn an_unknown_flag_names_the_closest_one() {
        for (typo, meant) in [
            ("--intervl", "--interval"),
            ("--interval_secs", "--interval"),
            ("--statsd_host", "--statsd-host"),
            ("--dryrun", "--dry-run"),
            ("--output_file=x", "--output-file"),
            ("-interval", "--interval"),
        ] {
            let err = parse_strs(&[typo]).unwrap_err();
            assert_eq!(err.status, 1, "{typo}");
            assert!(
                err.output.contains(&format!("did you mean {meant}?")),
                "{typo}: {}",
                err.output
            );
            assert!(!err.output.contains('\n'), "one line: {}", err.output);
        }
        let far = parse_strs(&["--completely-different"]).unwrap_err();
        assert!(!far.output.contains("did you mean"), "{}", far.output);
        assert!(far.output.contains("unknown flag --completely-different"));
    }

    #[test]
    fn nothing_may_follow_double_dash_but_a_value_may_be_double_dash() {
        let err = normalize(&["--".into(), "--interval=5".into()], "ecs-statsd").unwrap_err();
        assert_eq!(err.status, 1);
        assert!(
            err.output
                .starts_with("positional arguments are not accepted: \"--interval=5\""),
            "{err:?}"
        );
        assert_eq!(normalize(&["--".into()], "ecs-statsd").unwrap(), ["--"]);
        assert_eq!(
            normalize(
                &["--tag".into(), "--".into(), "--dry-run".into()],
                "ecs-statsd"
            )
            .unwrap(),
            ["--tag", "--", "--dry-run"]
        );
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
