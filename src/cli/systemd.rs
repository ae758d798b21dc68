//! systemd's manager over D-Bus (zbus, blocking): reload, start/restart/stop, unit state.

use zbus::blocking::Connection;
use zbus::zvariant::OwnedObjectPath;

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
trait Manager {
    fn reload(&self) -> zbus::Result<()>;
    fn start_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn restart_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn reset_failed_unit(&self, name: &str) -> zbus::Result<()>;
    fn load_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
}

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Unit",
    default_service = "org.freedesktop.systemd1"
)]
trait Unit {
    #[zbus(property)]
    fn active_state(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn sub_state(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn load_state(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn fragment_path(&self) -> zbus::Result<String>;
    /// The pending job: (id, path); id 0 when there is none.
    #[zbus(property)]
    fn job(&self) -> zbus::Result<(u32, OwnedObjectPath)>;
}

pub struct Systemd {
    conn: Connection,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitState {
    pub load: String,
    pub active: String,
    pub sub: String,
    pub fragment: String,
    /// A job (start, stop, ...) is queued or running for the unit.
    pub job: bool,
}

pub type Result<T> = std::result::Result<T, String>;

fn err(what: &str, e: zbus::Error) -> String {
    format!("{what}: {e}")
}

impl Systemd {
    pub fn connect() -> Result<Systemd> {
        Connection::system()
            .map(|conn| Systemd { conn })
            .map_err(|e| err("cannot reach systemd over D-Bus", e))
    }

    fn manager(&self) -> Result<ManagerProxyBlocking<'_>> {
        ManagerProxyBlocking::new(&self.conn).map_err(|e| err("systemd manager", e))
    }

    /// `systemctl daemon-reload`: reruns the generators; returns when the reload is done.
    pub fn reload(&self) -> Result<()> {
        self.manager()?
            .reload()
            .map_err(|e| err("daemon-reload", e))
    }

    pub fn start(&self, unit: &str) -> Result<()> {
        self.manager()?
            .start_unit(unit, "replace")
            .map(|_| ())
            .map_err(|e| err(&format!("start {unit}"), e))
    }

    pub fn restart(&self, unit: &str) -> Result<()> {
        self.manager()?
            .restart_unit(unit, "replace")
            .map(|_| ())
            .map_err(|e| err(&format!("restart {unit}"), e))
    }

    pub fn stop(&self, unit: &str) -> Result<()> {
        self.manager()?
            .stop_unit(unit, "replace")
            .map(|_| ())
            .map_err(|e| err(&format!("stop {unit}"), e))
    }

    pub fn reset_failed(&self, unit: &str) -> Result<()> {
        self.manager()?
            .reset_failed_unit(unit)
            .map_err(|e| err(&format!("reset-failed {unit}"), e))
    }

    pub fn state(&self, unit: &str) -> Result<UnitState> {
        let path = self
            .manager()?
            .load_unit(unit)
            .map_err(|e| err(&format!("load {unit}"), e))?;
        let u = UnitProxyBlocking::builder(&self.conn)
            .path(path)
            .map_err(|e| err(unit, e))?
            .build()
            .map_err(|e| err(unit, e))?;
        Ok(UnitState {
            load: u.load_state().map_err(|e| err(unit, e))?,
            active: u.active_state().map_err(|e| err(unit, e))?,
            sub: u.sub_state().map_err(|e| err(unit, e))?,
            fragment: u.fragment_path().map_err(|e| err(unit, e))?,
            job: u.job().map(|(id, _)| id != 0).unwrap_or(false),
        })
    }
}
