//! What the overview shows of the system, read without privileges: os-release(5), uname(2),
//! `/proc/uptime`, `/proc/loadavg`, `/proc/meminfo`, statvfs(3) and getifaddrs(3); the services'
//! states from systemd.

use std::path::Path;

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Memory {
    pub total: String,
    pub used: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Disk {
    pub mount: String,
    pub total: String,
    pub used: String,
    pub percent: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SystemInfo {
    pub hostname: String,
    pub os: String,
    pub kernel: String,
    pub uptime: String,
    pub load: String,
    pub memory: Memory,
    pub disks: Vec<Disk>,
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceState {
    pub name: String,
    pub state: String,
}

/// Bytes for people: `1.5 GiB`.
pub fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    #[expect(clippy::cast_precision_loss, reason = "one decimal is shown")]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `3 days, 4 hours` from seconds.
pub fn duration_text(seconds: u64) -> String {
    let (days, hours, minutes) = (seconds / 86400, seconds / 3600 % 24, seconds / 60 % 60);
    let plural = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (days, hours) {
        (0, 0) => plural(minutes, "minute"),
        (0, _) => format!("{}, {}", plural(hours, "hour"), plural(minutes, "minute")),
        _ => format!("{}, {}", plural(days, "day"), plural(hours, "hour")),
    }
}

/// `PRETTY_NAME` of os-release.
pub fn os_release(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
}

/// (total, available) in bytes from /proc/meminfo.
pub fn meminfo(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    Some((field("MemTotal:")?, field("MemAvailable:")?))
}

/// The states of `units`, from `systemctl show`'s blocks.
pub fn parse_states(text: &str) -> Vec<ServiceState> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut state = None;
            for line in block.lines() {
                if let Some(id) = line.strip_prefix("Id=") {
                    name = Some(id.trim_end_matches(".service").to_owned());
                } else if let Some(active) = line.strip_prefix("ActiveState=") {
                    state = Some(active.to_owned());
                }
            }
            Some(ServiceState {
                name: name?,
                state: state?,
            })
        })
        .collect()
}

/// The states of `units` (unknown units say `inactive`, as systemd says).
pub fn service_states(units: &[String]) -> Vec<ServiceState> {
    if units.is_empty() {
        return Vec::new();
    }
    let mut command = appliance::target::command("systemctl");
    command
        .args(["show", "--property=Id,ActiveState", "--"])
        .args(units);
    match appliance::target::run(command, "systemctl show", None) {
        Ok(ran) => parse_states(&ran.stdout),
        _ => units
            .iter()
            .map(|u| ServiceState {
                name: u.clone(),
                state: "unknown".into(),
            })
            .collect(),
    }
}

/// Reads it all; what cannot be read stays empty.
pub fn read(root: &Path) -> SystemInfo {
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap_or_default();
    let uname = nix::sys::utsname::uname().ok();
    let uptime = read("proc/uptime")
        .split_whitespace()
        .next()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or_else(String::new, |s| {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "whole seconds of a positive uptime"
            )]
            let seconds = s as u64;
            duration_text(seconds)
        });
    let load = read("proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let memory =
        meminfo(&read("proc/meminfo")).map_or_else(Memory::default, |(total, available)| Memory {
            total: size_text(total),
            used: size_text(total.saturating_sub(available)),
        });
    let mut disks = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for mount in ["/", "/var"] {
        if let Ok(stats) = nix::sys::statvfs::statvfs(&root.join(mount.trim_start_matches('/')))
            && seen.insert(stats.filesystem_id())
        {
            let block = stats.fragment_size();
            let total = stats.blocks() * block;
            let free = stats.blocks_available() * block;
            let used = total.saturating_sub(stats.blocks_free() * block);
            disks.push(Disk {
                mount: mount.to_owned(),
                total: size_text(total),
                used: size_text(used),
                percent: if total == 0 {
                    0
                } else {
                    used * 100 / (used + free).max(1)
                },
            });
        }
    }
    let mut addresses = Vec::new();
    if let Ok(interfaces) = nix::ifaddrs::getifaddrs() {
        for interface in interfaces {
            if interface.interface_name == "lo" {
                continue;
            }
            let Some(address) = interface.address else {
                continue;
            };
            if let Some(v4) = address.as_sockaddr_in() {
                addresses.push(format!("{} ({})", v4.ip(), interface.interface_name));
            } else if let Some(v6) = address.as_sockaddr_in6() {
                addresses.push(format!("{} ({})", v6.ip(), interface.interface_name));
            }
        }
    }
    SystemInfo {
        hostname: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        os: os_release(&read("etc/os-release")).unwrap_or_default(),
        kernel: uname
            .map(|u| {
                format!(
                    "{} {}",
                    u.sysname().to_string_lossy(),
                    u.release().to_string_lossy()
                )
            })
            .unwrap_or_default(),
        uptime,
        load,
        memory,
        disks,
        addresses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_for_people() {
        assert_eq!(size_text(512), "512 bytes");
        assert_eq!(size_text(1536), "1.5 KiB");
        assert_eq!(size_text(3 << 30), "3.0 GiB");
        assert_eq!(duration_text(59), "0 minutes");
        assert_eq!(duration_text(3600 + 60), "1 hour, 1 minute");
        assert_eq!(duration_text(2 * 86400 + 5 * 3600), "2 days, 5 hours");
    }

    #[test]
    fn system_files_parse() {
        assert_eq!(
            os_release(
                "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
            )
            .as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(
            meminfo("MemTotal:        2048000 kB\nMemFree:  1 kB\nMemAvailable:    1024000 kB\n"),
            Some((2_048_000 * 1024, 1_024_000 * 1024))
        );
        assert_eq!(
            parse_states(
                "Id=apache2.service\nActiveState=active\n\nId=moin.service\nActiveState=failed\n"
            ),
            [
                ServiceState {
                    name: "apache2".into(),
                    state: "active".into()
                },
                ServiceState {
                    name: "moin".into(),
                    state: "failed".into()
                }
            ]
        );
        let info = read(Path::new("/"));
        assert!(!info.hostname.is_empty() && !info.kernel.is_empty());
        assert!(!info.disks.is_empty());
    }
}
