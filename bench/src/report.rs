//! The one table a run prints: the machine, the parameters, then one section per workload
//! (its own columns), as Markdown — readable in a terminal and kept in `bench/results/`.

use std::fmt::Write;
use std::process::Command;

/// One workload's figures.
#[derive(Debug, Clone)]
pub struct Section {
    pub id: &'static str,
    pub title: String,
    /// What was run: sizes, durations, clients.
    pub params: Vec<String>,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// What a reader needs to read the figures right (and what was not measured, and why).
    pub notes: Vec<String>,
}

impl Section {
    pub fn new(id: &'static str, title: &str, header: &[&str]) -> Section {
        Section {
            id,
            title: title.into(),
            params: Vec::new(),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// A section for a workload that could not run: the reason instead of figures.
    pub fn failed(id: &'static str, title: &str, why: String) -> Section {
        let mut s = Section::new(id, title, &[]);
        s.notes.push(why);
        s
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "## {} — {}\n", self.id, self.title);
        for p in &self.params {
            let _ = writeln!(out, "- {p}");
        }
        if !self.params.is_empty() {
            out.push('\n');
        }
        if !self.header.is_empty() {
            let _ = writeln!(out, "| {} |", self.header.join(" | "));
            let _ = writeln!(out, "|{}", "---|".repeat(self.header.len()));
            for r in &self.rows {
                let _ = writeln!(out, "| {} |", r.join(" | "));
            }
            out.push('\n');
        }
        for n in &self.notes {
            let _ = writeln!(out, "{n}\n");
        }
        out
    }
}

/// The machine the figures were taken on: CPU, cores, memory, kernel, versions.
pub fn machine() -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or("unknown".into(), |kib| {
            format!("{:.1} GiB", kib as f64 / 1048576.0)
        });
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_default();
    vec![
        ("CPU".into(), format!("{cpu}, {cores} cores")),
        ("memory".into(), mem),
        ("kernel".into(), output("uname", &["-r"])),
        ("load (1 min) at start".into(), load),
        (
            "raftwire commit".into(),
            output("git", &["rev-parse", "--short", "HEAD"]),
        ),
        ("etcd".into(), crate::etcd::Etcd::version()),
    ]
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The whole report: a heading, the machine, the parameters, every section.
pub fn render(
    title: &str,
    machine: &[(String, String)],
    params: &[String],
    sections: &[Section],
) -> String {
    let mut out = format!("# {title}\n\n| machine | |\n|---|---|\n");
    for (k, v) in machine {
        let _ = writeln!(out, "| {k} | {v} |");
    }
    out.push('\n');
    for p in params {
        let _ = writeln!(out, "- {p}");
    }
    out.push('\n');
    for s in sections {
        out.push_str(&s.markdown());
    }
    out
}
