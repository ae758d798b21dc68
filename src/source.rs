//! Finding, reading and merging the configuration files.
//!
//! /etc/fleetnode.toml is read first, then /etc/fleetnode.d/*.toml in lexical order. Tables
//! merge key by key (so `[fleet.metadata]` can be split across files); any other value,
//! arrays included, is replaced by the later file. Every value keeps the file and span it came
//! from, so a diagnostic can point at the exact line even after merging.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use crate::diag::{Diagnostic, Loc};

pub const MAIN_CONFIG: &str = "/etc/fleetnode.toml";
pub const DROPIN_DIR: &str = "/etc/fleetnode.d";
/// Larger files are rejected before being read into memory: a config is a few KiB.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// At most this many drop-in files are read.
pub const MAX_DROPINS: usize = 1000;

/// One loaded file: the path the operator knows (without the test root) and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub files: Vec<SourceFile>,
}

impl Sources {
    /// A diagnostic pointing at `loc`.
    pub fn diag(&self, loc: Loc, key: &str, message: impl Into<String>) -> Diagnostic {
        let f = &self.files[loc.file];
        Diagnostic::new(f.name.clone(), key, message).at_span(&f.text, loc.start, loc.end)
    }

    /// A diagnostic at `loc` if known, else about the main file without a position.
    pub fn diag_at(&self, loc: Option<Loc>, key: &str, message: impl Into<String>) -> Diagnostic {
        match loc {
            Some(l) => self.diag(l, key, message),
            None => Diagnostic::new(
                self.files.first().map_or(MAIN_CONFIG, |f| f.name.as_str()),
                key,
                message,
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(Table),
}

impl Val {
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Str(_) => "a string",
            Val::Int(_) => "an integer",
            Val::Float(_) => "a float",
            Val::Bool(_) => "a boolean",
            Val::Datetime(_) => "a date-time",
            Val::Array(_) => "an array",
            Val::Table(_) => "a table",
        }
    }
}

/// A value with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub val: Val,
    pub loc: Loc,
    /// Where the key naming this value was written (absent for array elements).
    pub key_loc: Option<Loc>,
}

pub type Table = BTreeMap<String, Node>;

/// Reads all configuration files below `root` (normally `/`).
///
/// Returns the sources (possibly empty: an unconfigured node) or the diagnostics of files that
/// could not be read. A drop-in directory that does not exist is not an error.
///
/// `main` replaces /etc/fleetnode.toml (`fleetnode check --config FILE`); it must exist.
pub fn read_sources(root: &Path, main: Option<&Path>) -> Result<Sources, Vec<Diagnostic>> {
    let mut sources = Sources::default();
    let mut errors = Vec::new();
    let first = match main {
        Some(p) => match read_path(p, &p.to_string_lossy()) {
            Ok(None) => Err(Diagnostic::new(p.to_string_lossy(), "", "does not exist")
                .with_hint("check the path given to --config")),
            other => other,
        },
        None => read_file(root, MAIN_CONFIG),
    };
    match first {
        Ok(Some(f)) => sources.files.push(f),
        Ok(None) => {}
        Err(d) => errors.push(d),
    }
    match list_dropins(root) {
        Ok(names) => {
            for name in names {
                match read_file(root, &name) {
                    Ok(Some(f)) => sources.files.push(f),
                    // Vanished between listing and reading: treat as absent.
                    Ok(None) => {}
                    Err(d) => errors.push(d),
                }
            }
        }
        Err(d) => errors.push(d),
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(errors)
    }
}

fn host_path(root: &Path, name: &str) -> PathBuf {
    root.join(name.trim_start_matches('/'))
}

/// The drop-in files to read, as operator-visible names, in lexical order. Hidden files
/// (editor backups such as `.#x.toml`) and names not ending in `.toml` are ignored.
fn list_dropins(root: &Path) -> Result<Vec<String>, Diagnostic> {
    let dir = host_path(root, DROPIN_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(
                Diagnostic::new(DROPIN_DIR, "", format!("cannot list the directory: {e}"))
                    .with_hint("fix the directory's permissions, or remove it"),
            )
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            Diagnostic::new(DROPIN_DIR, "", format!("cannot list the directory: {e}"))
        })?;
        let Ok(name) = entry.file_name().into_string() else {
            return Err(Diagnostic::new(
                DROPIN_DIR,
                "",
                format!("a file name is not valid UTF-8: {:?}", entry.file_name()),
            )
            .with_hint("rename or remove that file"));
        };
        if name.chars().any(char::is_control) {
            return Err(Diagnostic::new(
                DROPIN_DIR,
                "",
                format!(
                    "a file name contains a control character: {}",
                    crate::config::show(&name)
                ),
            )
            .with_hint("rename or remove that file"));
        }
        if name.starts_with('.') || !name.ends_with(".toml") {
            continue;
        }
        names.push(name);
    }
    if names.len() > MAX_DROPINS {
        return Err(Diagnostic::new(
            DROPIN_DIR,
            "",
            format!(
                "{} .toml files, more than the limit of {MAX_DROPINS}",
                names.len()
            ),
        )
        .with_hint("merge them into fewer files"));
    }
    names.sort();
    Ok(names
        .into_iter()
        .map(|n| format!("{DROPIN_DIR}/{n}"))
        .collect())
}

/// Reads one file; Ok(None) if it does not exist.
fn read_file(root: &Path, name: &str) -> Result<Option<SourceFile>, Diagnostic> {
    read_path(&host_path(root, name), name)
}

/// Reads the file at `path`, known to the operator as `name`; Ok(None) if it does not exist.
fn read_path(path: &Path, name: &str) -> Result<Option<SourceFile>, Diagnostic> {
    let err = |msg: String, hint: &str| Diagnostic::new(name, "", msg).with_hint(hint);
    // O_NONBLOCK: opening a FIFO planted in /etc/fleetnode.d must not block the boot; the
    // type check below then rejects it. (The flag does not affect reading regular files.)
    const O_NONBLOCK: i32 = 0o4000;
    let file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A dangling symlink is an error, a missing file is not.
            return match fs::symlink_metadata(path) {
                Ok(_) => Err(err(
                    format!("cannot open: {e}"),
                    "the symlink points nowhere; fix or remove it",
                )),
                Err(_) => Ok(None),
            };
        }
        Err(e) => {
            let hint = if e.raw_os_error() == Some(40) {
                "a symlink loop; make it point at a regular file"
            } else {
                "make it readable by root, or remove it"
            };
            return Err(err(format!("cannot open: {e}"), hint));
        }
    };
    let meta = file.metadata().map_err(|e| {
        err(
            format!("cannot stat: {e}"),
            "make it readable by root, or remove it",
        )
    })?;
    if !meta.is_file() {
        return Err(err(
            "is not a regular file".into(),
            "configuration files must be regular files (or symlinks to them); rename or remove it",
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(err(
            format!(
                "is {} bytes, more than the limit of {MAX_FILE_BYTES}",
                meta.len()
            ),
            "a fleetnode configuration is a few KiB; is this the right file?",
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // take(): the file may grow after the stat.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            err(
                format!("cannot read: {e}"),
                "make it readable by root, or remove it",
            )
        })?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(err(
            format!("is more than the limit of {MAX_FILE_BYTES} bytes"),
            "a fleetnode configuration is a few KiB; is this the right file?",
        ));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Some(SourceFile {
            name: name.to_string(),
            text,
        })),
        Err(e) => {
            let bad = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let valid = String::from_utf8_lossy(&bytes[..bad]).into_owned();
            let mut d = Diagnostic::new(
                name,
                "",
                format!("invalid UTF-8 (byte 0x{:02x})", bytes[bad]),
            )
            .with_hint("TOML files must be UTF-8; convert the file, e.g. with iconv");
            // Position of the first bad byte: the line/column after the valid prefix.
            let lined = Diagnostic::new(name, "", "").at_span(
                &(valid.clone() + " "),
                valid.len(),
                valid.len() + 1,
            );
            d.line = lined.line;
            d.column = lined.column;
            d.source_line = lined.source_line.map(|l| l.trim_end().to_string());
            d.span_chars = 1;
            Err(d)
        }
    }
}

/// Parses every source and merges them into one tree, in order.
pub fn parse_and_merge(sources: &Sources) -> Result<Table, Vec<Diagnostic>> {
    let mut merged = Table::new();
    let mut errors = Vec::new();
    for (i, f) in sources.files.iter().enumerate() {
        match DeTable::parse(&f.text) {
            Ok(doc) => match convert_table(doc.get_ref(), i) {
                Ok(t) => merge(&mut merged, t),
                Err(e) => errors.push(sources.diag(e.0, "", e.1)),
            },
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let msg = e.message().trim().to_string();
                errors.push(
                    sources
                        .diag(
                            Loc {
                                file: i,
                                start: span.start,
                                end: span.end,
                            },
                            "",
                            format!("TOML syntax: {msg}"),
                        )
                        .with_hint("see https://toml.io for the syntax"),
                );
            }
        }
    }
    if errors.is_empty() {
        Ok(merged)
    } else {
        Err(errors)
    }
}

/// Merges `over` into `base`: tables key by key, everything else replaced.
pub fn merge(base: &mut Table, over: Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v.val) {
            (
                Some(Node {
                    val: Val::Table(b), ..
                }),
                Val::Table(o),
            ) => merge(b, o),
            (_, val) => {
                base.insert(
                    k,
                    Node {
                        val,
                        loc: v.loc,
                        key_loc: v.key_loc,
                    },
                );
            }
        }
    }
}

type ConvErr = (Loc, String);

fn convert_table(t: &DeTable<'_>, file: usize) -> Result<Table, ConvErr> {
    let mut out = Table::new();
    for (k, v) in t.iter() {
        let ks = k.span();
        let mut node = convert_value(v.get_ref(), loc(file, v.span()), file)?;
        node.key_loc = Some(loc(file, ks));
        out.insert(k.get_ref().to_string(), node);
    }
    Ok(out)
}

fn loc(file: usize, r: std::ops::Range<usize>) -> Loc {
    Loc {
        file,
        start: r.start,
        end: r.end,
    }
}

fn convert_value(v: &DeValue<'_>, at: Loc, file: usize) -> Result<Node, ConvErr> {
    let val = match v {
        DeValue::String(s) => Val::Str(s.to_string()),
        DeValue::Integer(i) => {
            // as_str() is from_str_radix-compatible: no prefix, no underscores.
            let n = i64::from_str_radix(i.as_str(), i.radix())
                .map_err(|_| (at, "integer out of range".to_string()))?;
            Val::Int(n)
        }
        DeValue::Float(f) => Val::Float(f.as_str().replace('_', "").parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => Val::Bool(*b),
        DeValue::Datetime(d) => Val::Datetime(d.to_string()),
        DeValue::Array(a) => Val::Array(
            a.iter()
                .map(|e| convert_value(e.get_ref(), loc(file, e.span()), file))
                .collect::<Result<_, _>>()?,
        ),
        DeValue::Table(t) => Val::Table(convert_table(t, file)?),
    };
    Ok(Node {
        val,
        loc: at,
        key_loc: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(files: &[(&str, &str)]) -> Sources {
        Sources {
            files: files
                .iter()
                .map(|(n, t)| SourceFile {
                    name: n.to_string(),
                    text: t.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn later_files_override_key_by_key() {
        let s = src(&[
            (
                "/a",
                "[fleet]\nenabled = true\nmetadata = { region = \"eu\", az = \"a\" }\n",
            ),
            ("/b", "[fleet.metadata]\naz = \"b\"\n"),
        ]);
        let t = parse_and_merge(&s).unwrap();
        let Val::Table(fleet) = &t["fleet"].val else {
            panic!()
        };
        let Val::Table(md) = &fleet["metadata"].val else {
            panic!()
        };
        assert_eq!(md["region"].val, Val::Str("eu".into()));
        assert_eq!(md["az"].val, Val::Str("b".into()));
        assert_eq!(md["az"].loc.file, 1);
        assert_eq!(fleet["enabled"].val, Val::Bool(true));
    }

    #[test]
    fn arrays_are_replaced_not_appended() {
        let s = src(&[("/a", "x = [1, 2]\n"), ("/b", "x = [3]\n")]);
        let t = parse_and_merge(&s).unwrap();
        let Val::Array(a) = &t["x"].val else { panic!() };
        assert_eq!(a.len(), 1);
    }

    #[test]
    fn syntax_error_has_position() {
        let s = src(&[("/etc/fleetnode.toml", "[node]\nname = \"x\n")]);
        let e = parse_and_merge(&s).unwrap_err();
        assert_eq!(e[0].file, "/etc/fleetnode.toml");
        assert_eq!(e[0].line, 2);
        assert!(e[0].message.starts_with("TOML syntax"), "{}", e[0].message);
    }

    #[test]
    fn integers_in_every_radix() {
        let s = src(&[("/a", "a = 0x10\nb = -1_000\nc = 0o17\nd = +5\n")]);
        let t = parse_and_merge(&s).unwrap();
        assert_eq!(t["a"].val, Val::Int(16));
        assert_eq!(t["b"].val, Val::Int(-1000));
        assert_eq!(t["c"].val, Val::Int(15));
        assert_eq!(t["d"].val, Val::Int(5));
    }
}
