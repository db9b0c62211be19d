//! `cargo xtask bench`: where users wait, measured side by side with what it
//! replaces (the old `bin/` scripts, as bash in `bench/`) and, where there is
//! one, the floor (the same work with no tool at all). Prints a markdown table
//! (median, min, max over N runs, the ratios), writes it with JSON under
//! `target/bench/`, and with `--update-readme` into the README's Performance
//! section. Every tool row is the whole `cargo xtask …` process, cargo's check
//! included.

mod load;
mod locust;
mod rows;

use std::cell::RefCell;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use serde::Serialize;
use xshell::cmd;

use crate::ctx::Ctx;
use crate::errors::BadInput;
use crate::exec::{shell, Cmd};
use crate::flags::{BenchArgs, SandboxUpArgs, StateDirArg};
use crate::sandbox::{self, State};

#[derive(Debug, Clone, Copy, Serialize)]
struct Stats {
    runs: usize,
    median_s: f64,
    min_s: f64,
    max_s: f64,
}

/// What a row compares the tool with.
#[derive(Debug, Serialize)]
struct Compared {
    name: String,
    stats: Stats,
}

#[derive(Debug, Serialize)]
struct Row {
    name: String,
    tool: Stats,
    baseline: Option<Compared>,
    floor: Option<Compared>,
    /// The goal for this row, as the table shows it.
    goal: Option<String>,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let secs: Vec<f64> = samples.iter().map(Duration::as_secs_f64).collect();
    let n = secs.len();
    let median = if n % 2 == 1 {
        secs[n / 2]
    } else {
        (secs[n / 2 - 1] + secs[n / 2]) / 2.0
    };
    Stats {
        runs: n,
        median_s: median,
        min_s: secs[0],
        max_s: secs[n - 1],
    }
}

/// Runs `f` `runs` times (after `before` each time, untimed) and times it.
fn measure(
    runs: usize,
    mut before: impl FnMut(usize) -> Result<()>,
    mut f: impl FnMut(usize) -> Result<()>,
) -> Result<Stats> {
    let mut samples = Vec::new();
    for i in 0..runs {
        before(i)?;
        let started = Instant::now();
        f(i)?;
        samples.push(started.elapsed());
    }
    Ok(stats(samples))
}

fn nothing(_: usize) -> Result<()> {
    Ok(())
}

struct Bench<'a> {
    ctx: &'a Ctx,
    state: State,
    runs: usize,
    rows: RefCell<Vec<Row>>,
    /// The load rows, when they ran: a table of their own.
    load: RefCell<Option<load::Report>>,
}

impl Bench<'_> {
    /// `cargo xtask …` pointed at the bench's sandbox.
    fn tool(&self, args: &[&str]) -> Result<Cmd> {
        let (sh, cargo) = (shell()?, crate::host::cargo());
        Ok(self.on_sandbox(Cmd::from(cmd!(sh, "{cargo} xtask {args...}")).dir(&self.ctx.root)))
    }

    /// Runs a step that may take minutes (a cold compile, an uncached build, a
    /// deploy): its output kept in `target/logs/bench.log` and returned, a
    /// heartbeat line every 10 s meanwhile.
    fn long(&self, c: &Cmd) -> Result<String> {
        let log = crate::files::log_file(self.ctx, "bench")?;
        let stream = crate::exec::Stream {
            effect: false,
            ..crate::exec::Stream::logged(&log)
        };
        Ok(c.stream(self.ctx, &stream)?.join("\n"))
    }

    /// The sandbox's exports, and a docker credentials store of the bench's own.
    fn on_sandbox(&self, mut c: Cmd) -> Cmd {
        for (k, v) in self.state.exports() {
            c = c.env(k, v);
        }
        let docker_config = self.ctx.root.join("target/bench/docker-config");
        c.env("DOCKER_CONFIG", docker_config.display().to_string())
    }

    fn row(
        &self,
        name: &str,
        tool: Stats,
        baseline: Option<(&str, Stats)>,
        floor: Option<(&str, Stats)>,
        goal: Option<&str>,
    ) {
        println!("  {name}: {:.2}s median", tool.median_s);
        let compared = |c: Option<(&str, Stats)>| {
            c.map(|(name, stats)| Compared {
                name: name.to_string(),
                stats,
            })
        };
        self.rows.borrow_mut().push(Row {
            name: name.into(),
            tool,
            baseline: compared(baseline),
            floor: compared(floor),
            goal: goal.map(str::to_string),
        });
    }
}

pub fn run(ctx: &Ctx, args: &BenchArgs) -> Result<()> {
    if args.runs == 0 {
        bail!(BadInput("--runs must be at least 1".into()));
    }
    let dir = ctx.root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let state_dir = StateDirArg {
        state_dir: Some(dir.join("sandbox")),
    };
    println!("== bench sandbox");
    let state = sandbox::up(
        ctx,
        &SandboxUpArgs::for_tools(0, state_dir.state_dir.clone()),
    )?;
    let bench = Bench {
        ctx,
        state,
        runs: args.runs,
        rows: RefCell::default(),
        load: RefCell::default(),
    };
    let result = rows::all(&bench, args);
    sandbox::down(ctx, &sandbox::Layout::new(ctx, &state_dir))?;
    result?;
    let rows = bench.rows.into_inner();
    let table = markdown(&rows);
    let load_table = bench.load.borrow().as_ref().map(load::markdown);
    println!("\n{table}");
    std::fs::write(dir.join("bench.json"), serde_json::to_string_pretty(&rows)?)?;
    let mut md = table.clone();
    if let (Some(report), Some(load_table)) = (bench.load.borrow().as_ref(), &load_table) {
        println!("\n{load_table}");
        std::fs::write(dir.join("load.json"), serde_json::to_string_pretty(report)?)?;
        md = format!("{md}\n{load_table}");
    }
    std::fs::write(dir.join("bench.md"), md)?;
    println!(
        "written to {} and bench.md",
        dir.join("bench.json").display()
    );
    if args.update_readme {
        update_readme(ctx, &table, load_table.as_deref())?;
    }
    Ok(())
}

const README_START: &str = "<!-- bench table: written by `cargo xtask bench --update-readme` -->";
const README_END: &str = "<!-- end of bench table -->";
const LOAD_START: &str = "<!-- load table: written by `cargo xtask bench --update-readme` -->";
const LOAD_END: &str = "<!-- end of load table -->";

/// Writes the tables between the README's markers: the rows measured replace
/// the rows of the same name, the others stay; the load table is replaced
/// when the load ran.
fn update_readme(ctx: &Ctx, table: &str, load_table: Option<&str>) -> Result<()> {
    let path = ctx.root.join("README.md");
    let text = std::fs::read_to_string(&path).context("reading README.md")?;
    let text = between(&text, README_START, README_END, |old| {
        merge_rows(old, table)
    })?;
    let text = match load_table {
        Some(load) => between(&text, LOAD_START, LOAD_END, |_| load.to_string())?,
        None => text,
    };
    crate::files::write_atomic(&path, text.as_bytes())?;
    println!("README.md's Performance section updated");
    Ok(())
}

/// `text` with what lies between the two marker lines replaced by `with(it)`.
fn between(
    text: &str,
    start: &str,
    end: &str,
    with: impl FnOnce(&str) -> String,
) -> Result<String> {
    let (Some(s), Some(e)) = (text.find(start), text.find(end)) else {
        bail!("README.md has no markers {start} … {end}");
    };
    let inner = text[s + start.len()..e].trim_start_matches('\n');
    Ok(format!(
        "{}{start}\n{}{}",
        &text[..s],
        with(inner),
        &text[e..]
    ))
}

/// A markdown table's lines: before its rows (up to the separator line), its
/// rows, and what follows.
fn table_parts(section: &str) -> (Vec<&str>, Vec<&str>, Vec<&str>) {
    let lines: Vec<&str> = section.lines().collect();
    let head = lines
        .iter()
        .position(|l| l.starts_with("| ---"))
        .map_or(0, |i| i + 1);
    let rows_end = head
        + lines[head..]
            .iter()
            .take_while(|l| l.starts_with('|'))
            .count();
    (
        lines[..head].to_vec(),
        lines[head..rows_end].to_vec(),
        lines[rows_end..].to_vec(),
    )
}

/// `new`'s table with the rows of `old` it did not measure kept in their
/// place, and its new rows at the end. A row is known by its first cell.
fn merge_rows(old: &str, new: &str) -> String {
    let key = |row: &str| row.split(" | ").next().unwrap_or(row).to_string();
    let (head, new_rows, tail) = table_parts(new);
    let (_, old_rows, _) = table_parts(old);
    let measured = |k: &str| new_rows.iter().find(|r| key(r) == k).copied();
    let mut rows: Vec<&str> = old_rows
        .iter()
        .map(|r| measured(&key(r)).unwrap_or(r))
        .collect();
    let added: Vec<&str> = new_rows
        .iter()
        .filter(|r| !old_rows.iter().any(|o| key(o) == key(r)))
        .copied()
        .collect();
    rows.extend(added);
    let mut out: Vec<&str> = head;
    out.extend(rows);
    out.extend(tail);
    out.join("\n") + "\n"
}

fn markdown(rows: &[Row]) -> String {
    let fmt = |s: &Stats| {
        format!(
            "{:.2} s ({:.2}–{:.2}, n={})",
            s.median_s, s.min_s, s.max_s, s.runs
        )
    };
    // A `|` inside a cell would end it.
    let cell = |text: &str| text.replace('|', "\\|");
    let versus = |tool: &Stats, c: &Option<Compared>| match c {
        Some(c) => (
            format!("{}: {}", cell(&c.name), fmt(&c.stats)),
            format!("{:.2}×", tool.median_s / c.stats.median_s),
        ),
        None => ("—".into(), "—".into()),
    };
    let mut out = String::from(
        "| measurement | cargo xtask: median (min–max) | baseline (what it replaces) | ratio | floor (no tool at all) | ratio | goal |\n",
    );
    out.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
    for r in rows {
        let (base, base_ratio) = versus(&r.tool, &r.baseline);
        let (floor, floor_ratio) = versus(&r.tool, &r.floor);
        out.push_str(&format!(
            "| {} | {} | {base} | {base_ratio} | {floor} | {floor_ratio} | {} |\n",
            cell(&r.name),
            fmt(&r.tool),
            r.goal.as_deref().unwrap_or("—")
        ));
    }
    out.push_str(
        "\nratio = cargo xtask median / the other's median (below 1: the tool is faster).\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "| measurement | tool | goal |\n| --- | --- | --- |\n| warm env | 0.11 s | ≤ 2× floor |\n| build all | 0.39 s | — |\n| deploy | 38.80 s | — |\n\nratio = old footnote.\n";

    #[test]
    fn measured_rows_replace_theirs_and_the_others_stay_in_place() {
        let new = "| measurement | tool | goal |\n| --- | --- | --- |\n| build all | 0.41 s | — |\n| deploy under load | 52.00 s | — |\n\nratio = new footnote.\n";
        assert_eq!(
            merge_rows(OLD, new),
            "| measurement | tool | goal |\n| --- | --- | --- |\n| warm env | 0.11 s | ≤ 2× floor |\n| build all | 0.41 s | — |\n| deploy | 38.80 s | — |\n| deploy under load | 52.00 s | — |\n\nratio = new footnote.\n"
        );
    }

    #[test]
    fn a_whole_run_keeps_its_own_order_for_rows_the_readme_lacked() {
        let new = "| measurement | tool | goal |\n| --- | --- | --- |\n| warm env | 0.10 s | ≤ 2× floor |\n| build all | 0.40 s | — |\n| deploy | 38.00 s | — |\n\nratio = new footnote.\n";
        assert_eq!(merge_rows(OLD, new), new);
        assert_eq!(
            merge_rows("", new),
            new,
            "an empty section takes the new table"
        );
    }

    #[test]
    fn only_the_text_between_the_markers_changes() {
        let text = format!("# T\n\nbefore\n{LOAD_START}\n| old |\n{LOAD_END}\nafter\n");
        let updated = between(&text, LOAD_START, LOAD_END, |old| {
            assert_eq!(old, "| old |\n");
            "| new |\n".into()
        })
        .unwrap();
        assert_eq!(
            updated,
            format!("# T\n\nbefore\n{LOAD_START}\n| new |\n{LOAD_END}\nafter\n")
        );
        assert!(between("no markers", LOAD_START, LOAD_END, |_| String::new()).is_err());
    }

    #[test]
    fn the_readme_has_both_tables_markers() {
        let readme = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
        )
        .unwrap();
        for marker in [README_START, README_END, LOAD_START, LOAD_END] {
            assert!(readme.contains(marker), "README.md lacks {marker}");
        }
    }
}
