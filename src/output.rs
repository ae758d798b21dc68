//! Writing rendered files: each one atomically (temporary file, then rename), never outside
//! the output directory, never through a symlink planted there.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{symlink, DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use crate::render::{Content, OutFile};

/// Writes `files` below `dir`. On failure, files already written by this call are removed
/// again (best effort), so a half-written set never stays behind.
pub fn write_files(dir: &Path, files: &[OutFile]) -> io::Result<()> {
    let mut written: Vec<PathBuf> = Vec::new();
    // Subdirectories made so far: one mkdir per directory, not per file.
    let mut made: Vec<PathBuf> = Vec::new();
    // One getpid(2) for all temporary names (glibc does not cache it).
    let pid = std::process::id();
    for f in files {
        match write_one(dir, f, &mut made, pid) {
            Ok(p) => written.push(p),
            Err(e) => {
                for p in written.iter().rev() {
                    let _ = fs::remove_file(p);
                }
                return Err(io::Error::new(
                    e.kind(),
                    format!("{}: {e}", dir.join(&f.path).display()),
                ));
            }
        }
    }
    Ok(())
}

fn write_one(dir: &Path, f: &OutFile, made: &mut Vec<PathBuf>, pid: u32) -> io::Result<PathBuf> {
    let rel = Path::new(&f.path);
    // Rendered paths are relative and plain; refuse anything else rather than escape `dir`.
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing a path outside the output directory",
        ));
    }
    let path = dir.join(rel);
    let parent = path.parent().unwrap_or(dir);
    if parent != dir && !made.iter().any(|m| m == parent) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)?;
        made.push(parent.to_path_buf());
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = parent.join(format!(".#{name}.{pid}"));
    match &f.content {
        Content::File { text, mode } => {
            let open = || {
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(*mode)
                    .open(&tmp)
            };
            // A leftover from a crashed run with the same pid: remove it and try once more.
            let mut file = match open() {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    fs::remove_file(&tmp)?;
                    open()?
                }
                other => other?,
            };
            let res = file.write_all(text.as_bytes());
            if let Err(e) = res {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        }
        Content::Symlink { target } => {
            if let Err(e) = symlink(target, &tmp) {
                if e.kind() != io::ErrorKind::AlreadyExists {
                    return Err(e);
                }
                fs::remove_file(&tmp)?;
                symlink(target, &tmp)?;
            }
        }
    }
    if let Err(e) = fs::rename(&tmp, &path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fleetnode-output-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn writes_modes_and_symlinks() {
        let d = tmpdir("modes");
        let files = vec![
            OutFile {
                path: "a.d/x.conf".into(),
                content: Content::File {
                    text: "x\n".into(),
                    mode: 0o600,
                },
            },
            OutFile {
                path: "t.wants/a".into(),
                content: Content::Symlink {
                    target: "../a".into(),
                },
            },
        ];
        write_files(&d, &files).unwrap();
        let m = fs::metadata(d.join("a.d/x.conf"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(m, 0o600);
        assert_eq!(
            fs::read_link(d.join("t.wants/a")).unwrap(),
            Path::new("../a")
        );
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(d.join("a.d")).unwrap().count(), 1);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn refuses_escaping_paths() {
        let d = tmpdir("escape");
        let f = OutFile {
            path: "../evil".into(),
            content: Content::File {
                text: String::new(),
                mode: 0o644,
            },
        };
        assert!(write_files(&d, &[f]).is_err());
        assert!(!d.parent().unwrap().join("evil").exists());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn failure_removes_what_was_written() {
        let d = tmpdir("rollback");
        fs::write(d.join("blocker"), "").unwrap();
        let files = vec![
            OutFile {
                path: "ok.conf".into(),
                content: Content::File {
                    text: "x".into(),
                    mode: 0o644,
                },
            },
            // "blocker" is a file, so this parent directory cannot be created.
            OutFile {
                path: "blocker/x.conf".into(),
                content: Content::File {
                    text: "x".into(),
                    mode: 0o644,
                },
            },
        ];
        assert!(write_files(&d, &files).is_err());
        assert!(!d.join("ok.conf").exists());
        fs::remove_dir_all(&d).unwrap();
    }
}
