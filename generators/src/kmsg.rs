//! Logging for a generator: at boot its stderr may go nowhere (EL8's systemd 239 connects it
//! to /dev/null), so messages go to /dev/kmsg, tagged with the name and pid, like systemd's own
//! generators. `SYSTEMD_LOG_TARGET=console` (or =stderr) sends them to stderr instead.

use std::fs::OpenOptions;
use std::io::Write;

#[derive(Clone, Copy)]
pub enum Level {
    Error = 3,
    Warning = 4,
    Info = 6,
}

pub struct Log {
    kmsg: Option<std::fs::File>,
}

impl Log {
    pub fn open() -> Self {
        let console = matches!(
            std::env::var("SYSTEMD_LOG_TARGET").as_deref(),
            Ok("console" | "stderr")
        );
        let kmsg = if console {
            None
        } else {
            OpenOptions::new().write(true).open("/dev/kmsg").ok()
        };
        Log { kmsg }
    }

    pub fn log(&mut self, level: Level, msg: &str) {
        // One record per line; the kernel truncates records around 1 KiB.
        for line in msg.lines() {
            let line: String = line.chars().take(900).collect();
            let record = format!(
                "<{}>fleetnode-generator[{}]: {line}\n",
                level as u8,
                std::process::id()
            );
            let sent = match &mut self.kmsg {
                Some(k) => k.write_all(record.as_bytes()).is_ok(),
                None => false,
            };
            if !sent {
                let _ = std::io::stderr().write_all(&record.as_bytes()[3..]);
            }
        }
    }
}
