//! File operations inside a directory that another user controls (the core user's home):
//! every step is relative to an open directory descriptor and refuses symlinks, so a link
//! planted by that user can never redirect a write by root. Writes are atomic (temporary
//! file, then rename) with owner and mode set before the file appears under its name.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::{fchmod, fstat, mkdirat, Mode};
use nix::unistd::{fchown, unlinkat, Gid, Uid, UnlinkatFlags};

pub struct SafeDir {
    fd: OwnedFd,
    pub path: PathBuf,
}

fn io_err(path: &Path, e: Errno) -> io::Error {
    let msg = if e == Errno::ELOOP || e == Errno::ENOTDIR {
        format!(
            "{}: refusing to follow a symlink (or a non-directory) here; remove it",
            path.display()
        )
    } else {
        format!("{}: {}", path.display(), e.desc())
    };
    io::Error::new(io::Error::from(e).kind(), msg)
}

const DIR_FLAGS: OFlag = OFlag::O_DIRECTORY
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC)
    .union(OFlag::O_RDONLY);

impl SafeDir {
    /// Opens an existing directory; its last component must not be a symlink.
    pub fn open(path: &Path) -> io::Result<SafeDir> {
        let fd = nix::fcntl::open(path, DIR_FLAGS, Mode::empty()).map_err(|e| io_err(path, e))?;
        Ok(SafeDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Creates (if needed) and opens a subdirectory, owned by uid:gid with `mode`.
    /// Returns whether anything changed.
    pub fn subdir(&self, name: &str, mode: u32, uid: Uid, gid: Gid) -> io::Result<(SafeDir, bool)> {
        let path = self.path.join(name);
        let mut changed = match mkdirat(self.fd.as_fd(), name, Mode::from_bits_truncate(mode)) {
            Ok(()) => true,
            Err(Errno::EEXIST) => false,
            Err(e) => return Err(io_err(&path, e)),
        };
        let fd = openat(self.fd.as_fd(), name, DIR_FLAGS, Mode::empty())
            .map_err(|e| io_err(&path, e))?;
        changed |= set_owner_mode(&fd, &path, mode, uid, gid)?;
        Ok((SafeDir { fd, path }, changed))
    }

    /// The content of a regular file, None if it does not exist; a symlink is an error.
    pub fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        let path = self.path.join(name);
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
        let fd = match openat(self.fd.as_fd(), name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(io_err(&path, e)),
        };
        let st = fstat(&fd).map_err(|e| io_err(&path, e))?;
        if st.st_mode & libc_s_ifmt() != libc_s_ifreg() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a regular file", path.display()),
            ));
        }
        let mut buf = Vec::new();
        File::from(fd).take(1 << 20).read_to_end(&mut buf)?;
        Ok(Some(buf))
    }

    /// Writes `content` atomically unless the file already has exactly this content, owner
    /// and mode. Returns whether it wrote.
    pub fn write(
        &self,
        name: &str,
        content: &[u8],
        mode: u32,
        uid: Uid,
        gid: Gid,
    ) -> io::Result<bool> {
        let path = self.path.join(name);
        if self.read(name)?.as_deref() == Some(content) {
            let fd = openat(
                self.fd.as_fd(),
                name,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io_err(&path, e))?;
            return set_owner_mode(&fd, &path, mode, uid, gid);
        }
        let tmp = format!(".{name}.fleetnode-{}", std::process::id());
        let _ = unlinkat(self.fd.as_fd(), tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(
            self.fd.as_fd(),
            tmp.as_str(),
            flags,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| io_err(&self.path.join(&tmp), e))?;
        let result = (|| {
            set_owner_mode(&fd, &path, mode, uid, gid)?;
            let mut f = File::from(fd);
            f.write_all(content)?;
            f.sync_all()?;
            renameat(self.fd.as_fd(), tmp.as_str(), self.fd.as_fd(), name)
                .map_err(|e| io_err(&path, e))
        })();
        if result.is_err() {
            let _ = unlinkat(self.fd.as_fd(), tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        }
        result.map(|_| true)
    }
}

fn libc_s_ifmt() -> u32 {
    0o170000
}
fn libc_s_ifreg() -> u32 {
    0o100000
}

/// fchown/fchmod on an open descriptor; returns whether anything changed.
fn set_owner_mode(fd: &OwnedFd, path: &Path, mode: u32, uid: Uid, gid: Gid) -> io::Result<bool> {
    let st = fstat(fd).map_err(|e| io_err(path, e))?;
    let mut changed = false;
    if st.st_uid != uid.as_raw() || st.st_gid != gid.as_raw() {
        fchown(fd, Some(uid), Some(gid)).map_err(|e| io_err(path, e))?;
        changed = true;
    }
    if st.st_mode & 0o7777 != mode {
        fchmod(fd, Mode::from_bits_truncate(mode)).map_err(|e| io_err(path, e))?;
        changed = true;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fleetnode-safefs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn me() -> (Uid, Gid) {
        (Uid::current(), Gid::current())
    }

    #[test]
    fn writes_atomically_with_mode_and_reports_changes() {
        let d = tmp("write");
        let (u, g) = me();
        let dir = SafeDir::open(&d).unwrap();
        let (ssh, created) = dir.subdir(".ssh", 0o700, u, g).unwrap();
        assert!(created);
        assert!(ssh.write("authorized_keys", b"k\n", 0o600, u, g).unwrap());
        assert!(
            !ssh.write("authorized_keys", b"k\n", 0o600, u, g).unwrap(),
            "second write changes nothing"
        );
        let m = std::fs::metadata(d.join(".ssh/authorized_keys")).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(d.join(".ssh"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        assert_eq!(m.uid(), u.as_raw());
        assert_eq!(
            std::fs::read_dir(d.join(".ssh")).unwrap().count(),
            1,
            "no temporary file left"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn refuses_planted_symlinks() {
        let d = tmp("symlink");
        let (u, g) = me();
        let target = d.join("target");
        std::fs::create_dir(&target).unwrap();
        std::fs::create_dir(d.join("home")).unwrap();
        // A symlinked .ssh directory would redirect every write.
        symlink(&target, d.join("home/.ssh")).unwrap();
        let home = SafeDir::open(&d.join("home")).unwrap();
        let err = home.subdir(".ssh", 0o700, u, g).err().expect("refused");
        assert!(
            err.to_string().contains("refusing to follow a symlink"),
            "{err}"
        );
        // A symlinked file is neither read nor written through.
        std::fs::remove_file(d.join("home/.ssh")).unwrap();
        let (ssh, _) = home.subdir(".ssh", 0o700, u, g).unwrap();
        std::fs::write(target.join("secret"), "root's file").unwrap();
        symlink(target.join("secret"), d.join("home/.ssh/authorized_keys")).unwrap();
        assert!(ssh.read("authorized_keys").is_err());
        assert!(ssh.write("authorized_keys", b"x", 0o600, u, g).is_err());
        assert_eq!(
            std::fs::read_to_string(target.join("secret")).unwrap(),
            "root's file"
        );
        assert!(SafeDir::open(&d.join("home/.ssh/authorized_keys")).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
