//! Man pages from the command definitions (used by the RPM build).

use std::path::Path;

use super::{FAILED, OK};

pub fn write(cmd: clap::Command, dir: &Path) -> u8 {
    let result = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .section("1")
            .render(&mut buf)?;
        std::fs::write(dir.join("fleetnode.1"), buf)?;
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = format!("fleetnode-{}", sub.get_name());
            let mut buf = Vec::new();
            clap_mangen::Man::new(sub.clone().name(name.clone()))
                .section("1")
                .render(&mut buf)?;
            std::fs::write(dir.join(format!("{name}.1")), buf)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => OK,
        Err(e) => {
            eprintln!("error: {}: {e}", dir.display());
            FAILED
        }
    }
}
