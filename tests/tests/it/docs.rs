//! The README and `docs/` cannot rot: every shell command they show runs here, and what they
//! show a command printing is compared with what it prints.
//!
//! How a Markdown file is read (`docs/architecture.md` says the same for writers of docs):
//! - a ```` ```sh ```` block is run as it stands; every command in it must succeed;
//! - a ```` ```console ```` block holds `$ command` lines, each followed by what it prints
//!   (stdout and stderr, in order) up to the next `$ `. A command ending in `# exit N` must end
//!   with status N, every other with 0. A line `…` matches any number of lines, `…` inside a
//!   line any text; ids, keys, tokens and times compare as placeholders (they differ on every
//!   run) and a run of spaces as one (table columns widen with their content);
//! - a block right after a `<!-- not run: why -->` line is not run (systemd, other hosts, a
//!   cargo build): [`NOT_RUN_LIMIT`] keeps those few;
//! - other blocks (`ini`, `json`, `text`, diagrams) are output or files, not commands.
//!
//! Each file runs as one bash script, top to bottom (so a variable set in one block is seen by
//! the next), in a fresh network namespace where `raftwire-node` was started with no arguments
//! in a fresh directory — `./data`, `http://127.0.0.1:7070`, exactly what `make run` gives a
//! reader — and the workspace's binaries come first on `PATH` (build them first:
//! `cargo build -p raftwire-node -p raftwire-agent`). The namespace has its own
//! loopback, so the docs use the default ports, and dropping it kills whatever a doc started
//! in the background. Scripts do not expand aliases, so the README's `alias raftwire=…` for
//! a checkout leaves `raftwire` to the binary on `PATH`.
//!
//! `RAFTWIRE_DOCS_BLESS=1` writes what the commands printed into the files where it differs
//! from what they show, for the writer to review (`git diff`) — the check still fails.
//!
//! `docs/api.md` is also checked against the OpenAPI document: one `### METHOD /path`
//! heading per operation, each with an example, and no other.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use raftwire_tests::netns::Netns;
use raftwire_tests::probe::poll;
use raftwire_tests::procs::{binary, Proc};
use raftwire_tests::root::netns_available;
use regex::Regex;

/// How many blocks of the README and docs may be marked as not run, in all.
const NOT_RUN_LIMIT: usize = 8;

/// How long one file's commands may take together.
const FILE_LIMIT: Duration = Duration::from_secs(300);

/// One step of a file's script.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// A `sh` block: every command must succeed.
    Script { line: usize, text: String },
    /// One `$ ` command of a `console` block with the output shown after it.
    Command {
        line: usize,
        text: String,
        status: i32,
        expected: Vec<String>,
    },
}

impl Step {
    fn line(&self) -> usize {
        match self {
            Step::Script { line, .. } | Step::Command { line, .. } => *line,
        }
    }
}

/// What a file holds for this test.
#[derive(Debug, Default)]
struct Doc {
    steps: Vec<Step>,
    /// `(line, reason)` of every block marked as not run.
    not_run: Vec<(usize, String)>,
}

/// The steps of a Markdown text, in order.
fn parse(text: &str) -> Doc {
    let mut doc = Doc::default();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    let mut previous = "";
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        let Some(lang) = trimmed.strip_prefix("```") else {
            if !line.trim().is_empty() {
                previous = line.trim();
            }
            i += 1;
            continue;
        };
        let indent = line.len() - trimmed.len();
        let start = i + 1;
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && lines[i].trim() != "```" {
            let l = lines[i];
            let cut = l.len() - l.trim_start().len();
            body.push(&l[cut.min(indent)..]);
            i += 1;
        }
        i += 1;
        let lang = lang.trim();
        if !matches!(lang, "sh" | "console") {
            previous = "```";
            continue;
        }
        if let Some(reason) = previous
            .strip_prefix("<!-- not run:")
            .and_then(|r| r.strip_suffix("-->"))
        {
            doc.not_run.push((start, reason.trim().to_string()));
        } else if lang == "sh" {
            doc.steps.push(Step::Script {
                line: start + 1,
                text: body.join("\n"),
            });
        } else {
            doc.steps.extend(console_steps(start, &body));
        }
        previous = "```";
    }
    doc
}

/// The commands of a `console` block whose first line is line `start` of its file.
fn console_steps(start: usize, body: &[&str]) -> Vec<Step> {
    let status_re = Regex::new(r"#\s*exit\s+(\d+)\s*$").expect("a valid regex");
    let mut steps = Vec::new();
    let mut j = 0;
    while j < body.len() {
        let Some(first) = body[j].strip_prefix("$ ") else {
            // Text before the first prompt is not a command's output: keep it out.
            j += 1;
            continue;
        };
        let line = start + j + 1;
        let mut text = first.to_string();
        while unfinished(&text) && j + 1 < body.len() {
            j += 1;
            text.push('\n');
            text.push_str(body[j]);
        }
        j += 1;
        let mut expected = Vec::new();
        while j < body.len() && !body[j].starts_with("$ ") {
            expected.push(body[j].to_string());
            j += 1;
        }
        let status = status_re
            .captures(&text)
            .and_then(|c| c[1].parse().ok())
            .unwrap_or(0);
        steps.push(Step::Command {
            line,
            text,
            status,
            expected,
        });
    }
    steps
}

/// Whether a command goes on on the next line: after a trailing `\\`, inside single quotes
/// (a JSON body over several lines) or inside `$(…)`.
fn unfinished(text: &str) -> bool {
    let count = |c: char| text.chars().filter(|&x| x == c).count();
    text.ends_with('\\') || count('\'') % 2 == 1 || count('(') > count(')')
}

/// The marker printed after every step: `@@doc <step> <status>@@`.
fn marker_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\n?@@doc (\d+) (-?\d+)@@\n").expect("a valid regex"))
}

/// The bash script that runs `steps` and marks the end of each with its status.
fn script(steps: &[Step]) -> String {
    let mut s = String::from("exec 2>&1\n");
    for (n, step) in steps.iter().enumerate() {
        match step {
            Step::Script { text, .. } => {
                s.push_str(&format!(
                    "set -e\n{text}\nset +e\nprintf '\\n@@doc {n} 0@@\\n'\n"
                ));
            }
            Step::Command { text, .. } => {
                s.push_str(&format!("{text}\nprintf '\\n@@doc {n} %d@@\\n' $?\n"));
            }
        }
    }
    s
}

/// Placeholders for what differs between runs, and one space for every run of spaces.
fn normalise(line: &str) -> String {
    static RES: OnceLock<Vec<(Regex, &str)>> = OnceLock::new();
    let res = RES.get_or_init(|| {
        [
            (
                r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                "<id>",
            ),
            (r"[A-Za-z0-9+/]{43}=", "<key>"),
            (r"\brw[a-z]*_[A-Za-z0-9_-]{16,}", "<token>"),
            // A network's WireGuard interface is named after its id.
            (r"\brw[0-9a-f]{10}\b", "<iface>"),
            (r"\b[0-9a-f]{32,}\b", "<token>"),
            (
                r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?",
                "<time>",
            ),
            (r"\s+", " "),
        ]
        .into_iter()
        .map(|(re, to)| (Regex::new(re).expect("a valid regex"), to))
        .collect()
    });
    let mut out = line.trim().to_string();
    for (re, to) in res {
        out = re.replace_all(&out, *to).into_owned();
    }
    out
}

/// Whether one shown line matches one printed line (`…` stands for any text).
fn line_matches(expected: &str, actual: &str) -> bool {
    let (e, a) = (normalise(expected), normalise(actual));
    let parts: Vec<&str> = e.split('…').collect();
    if parts.len() == 1 {
        return e == a;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !a.starts_with(first) || a.len() < first.len() + last.len() || !a.ends_with(last) {
        return false;
    }
    let mut rest = &a[first.len()..a.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Whether the printed lines match the shown ones (a line `…` stands for any lines).
fn output_matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e.trim() == "…" => {
            (0..=actual.len()).any(|k| output_matches(rest, &actual[k..]))
        }
        Some((e, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| line_matches(e, a) && output_matches(rest, more)),
    }
}

/// The lines of a text without leading and trailing blank lines.
fn trimmed_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let start = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(start, |e| e + 1);
    lines[start..end].to_vec()
}

/// What a console command printed where it differs from what its file shows: the 0-based
/// line of the file its shown output starts on, how many lines that output has, and the
/// printed lines.
type Blessing = (usize, usize, Vec<String>);

/// Checks what the script printed against the steps: the failures, each naming its line, and
/// for `RAFTWIRE_DOCS_BLESS=1` the printed output of every command that differs.
fn check(file: &str, steps: &[Step], output: &str) -> (Vec<String>, Vec<Blessing>) {
    let mut failures = Vec::new();
    let mut blessings = Vec::new();
    let mut from = 0;
    let mut done = 0;
    for caps in marker_re().captures_iter(output) {
        let whole = caps.get(0).expect("the whole match");
        let printed = &output[from..whole.start()];
        from = whole.end();
        let n: usize = caps[1].parse().expect("a step number");
        let status: i32 = caps[2].parse().expect("a status");
        done = n + 1;
        let Step::Command {
            line,
            text,
            status: want,
            expected,
        } = &steps[n]
        else {
            continue;
        };
        let actual = trimmed_lines(printed);
        let shown: Vec<String> = trimmed_lines(&expected.join("\n"))
            .into_iter()
            .map(str::to_string)
            .collect();
        if !output_matches(&shown, &actual) {
            let first = line + text.lines().count() - 1;
            let printed = actual.iter().map(|l| l.to_string()).collect();
            blessings.push((first, expected.len(), printed));
        }
        if status != *want || !output_matches(&shown, &actual) {
            failures.push(format!(
                "{file}:{line}: $ {text}\n  exit status {status} (shown: {want})\n  shown:\n{}\n  printed:\n{}",
                indent(&shown.join("\n")),
                indent(&actual.join("\n"))
            ));
        }
    }
    if done < steps.len() {
        failures.push(format!(
            "{file}:{}: the script stopped in this block (a command failed, or it ran out of \
             time); what it printed since the previous step:\n{}",
            steps[done].line(),
            indent(&output[from..])
        ));
    }
    (failures, blessings)
}

/// Writes what the commands printed into the file in place of what it showed
/// (`RAFTWIRE_DOCS_BLESS=1`, for a writer to review with `git diff`).
fn bless(file: &Path, mut blessings: Vec<Blessing>) {
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    blessings.sort_by_key(|b| std::cmp::Reverse(b.0));
    for (first, count, printed) in blessings {
        // Output shown in an indented block (a list item's) is indented like its command.
        let command = lines[..first]
            .iter()
            .rev()
            .find(|l| l.trim_start().starts_with("$ "))
            .map_or("", String::as_str);
        let indent = &command[..command.len() - command.trim_start().len()];
        let printed: Vec<String> = printed.iter().map(|l| format!("{indent}{l}")).collect();
        lines.splice(first..first + count, printed);
    }
    std::fs::write(file, lines.join("\n") + "\n").unwrap();
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Removes every `RAFTWIRE_*` variable from `cmd`'s environment: the docs show what a reader
/// who set none sees, whatever is set where the tests run (a server URL, a token, CI's own).
fn as_reader(cmd: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("RAFTWIRE_")) {
        cmd.env_remove(k);
    }
    cmd
}

/// Runs `script` with bash in `dir` (through `wrap`, e.g. `ip netns exec …`), at most
/// [`FILE_LIMIT`]; what it printed.
fn run_script(dir: &Path, script: &str, wrap: &[&str], path: &str) -> String {
    let file = dir.join("doc-script.sh");
    std::fs::write(&file, script).unwrap();
    let limit = FILE_LIMIT.as_secs().to_string();
    let mut args: Vec<&str> = wrap.to_vec();
    args.extend([
        "timeout",
        "-k",
        "5",
        &limit,
        "bash",
        "--noprofile",
        "--norc",
    ]);
    let file = file.to_string_lossy().into_owned();
    args.push(&file);
    let out = as_reader(&mut Command::new(args[0]))
        .args(&args[1..])
        .current_dir(dir)
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The repository's root (this crate lives in `tests/`).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// The README and every Markdown file of `docs/`, as paths relative to the repository.
fn doc_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    files.sort();
    files.insert(0, "README.md".to_string());
    files
}

/// Runs one file's commands next to a fresh default node in a namespace of its own.
fn run_file(file: &str, doc: &Doc) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let ns = Netns::new("doc");
    let node_bin = binary("raftwire-node");
    let bin_dir = node_bin.parent().expect("the binaries' directory");
    // The CLI and the agent too, so a missing one fails here with a hint, not in a script.
    binary("raftwire");
    binary("raftwire-agent");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = ns.command(&node_bin.to_string_lossy());
    as_reader(&mut cmd)
        .current_dir(dir.path())
        .env("RUST_LOG", "info,openraft=warn");
    let node = Proc::spawn("default node", cmd, dir.path().join("node.log"));
    let ready = poll(Duration::from_secs(30), || {
        ns.try_exec("curl", &["-sf", "-m", "2", "http://127.0.0.1:7070/readyz"])
            .0
            .then_some(())
    });
    assert!(
        ready.is_some(),
        "{file}: the default node never got ready:\n{}",
        node.output()
    );
    let wrap = ["ip", "netns", "exec", ns.name.as_str()];
    let output = run_script(dir.path(), &script(&doc.steps), &wrap, &path);
    let (mut failures, blessings) = check(file, &doc.steps, &output);
    if std::env::var("RAFTWIRE_DOCS_BLESS").is_ok_and(|v| v == "1") && !blessings.is_empty() {
        bless(&repo().join(file), blessings);
    }
    if !failures.is_empty() {
        failures.push(format!(
            "{file}: the default node's log:\n{}",
            indent(&node.output())
        ));
    }
    drop(node);
    drop(ns);
    failures
}

#[test]
fn every_command_of_the_readme_and_the_docs_runs_and_prints_what_they_show() {
    if !netns_available("docs::every_command_of_the_readme_and_the_docs_runs") {
        return;
    }
    let mut failures = Vec::new();
    let mut not_run = Vec::new();
    let mut commands = 0;
    for file in doc_files() {
        let text = std::fs::read_to_string(repo().join(&file)).unwrap();
        let doc = parse(&text);
        for (line, reason) in &doc.not_run {
            assert!(
                !reason.is_empty(),
                "{file}:{line}: say why a block is not run"
            );
            not_run.push(format!("{file}:{line} ({reason})"));
        }
        commands += doc.steps.len();
        eprintln!(
            "{file}: {} steps, {} not run",
            doc.steps.len(),
            doc.not_run.len()
        );
        failures.extend(run_file(&file, &doc));
    }
    eprintln!(
        "{commands} steps run; {} blocks not run:\n  {}",
        not_run.len(),
        not_run.join("\n  ")
    );
    assert!(
        not_run.len() <= NOT_RUN_LIMIT,
        "{} blocks are marked as not run (at most {NOT_RUN_LIMIT}): {not_run:#?}",
        not_run.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// The checker itself: a shown output that differs from the printed one, or a wrong status,
/// fails; placeholders, `…` and column widths do not.
#[test]
fn a_doc_command_whose_output_or_status_differs_from_what_is_shown_fails() {
    let doc = |text: &str| -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let steps = parse(text).steps;
        let path = std::env::var("PATH").unwrap_or_default();
        let output = run_script(dir.path(), &script(&steps), &[], &path);
        check("t.md", &steps, &output).0
    };
    let good = "```console\n$ echo 'id  3f2a5e1c-1111-4222-8333-444455556666 at 2026-01-02T03:04:05Z'\n\
        id 0b4c7a1e-aaaa-4bbb-8ccc-ddddeeeeffff   at …\n$ printf 'a\\nb\\nc\\n'\na\n…\n$ false   # exit 1\n```\n\
        ```sh\nX=5\n```\n```console\n$ echo $X\n5\n```\n";
    assert_eq!(doc(good), Vec::<String>::new());
    let wrong_output = doc("```console\n$ echo hello\ngoodbye\n```\n");
    assert_eq!(wrong_output.len(), 1, "{wrong_output:?}");
    assert!(
        wrong_output[0].contains("t.md:2: $ echo hello"),
        "{wrong_output:?}"
    );
    let wrong_status = doc("```console\n$ false\n```\n");
    assert_eq!(wrong_status.len(), 1, "{wrong_status:?}");
    let failing_script =
        doc("```sh\ntrue\nfalse\necho never\n```\n```console\n$ echo after\nafter\n```\n");
    assert_eq!(failing_script.len(), 1, "{failing_script:?}");
    assert!(
        failing_script[0].contains("t.md:2: the script stopped"),
        "{failing_script:?}"
    );
    let marked = parse("<!-- not run: needs systemd -->\n```sh\nsystemctl start x\n```\n");
    assert!(marked.steps.is_empty());
    assert_eq!(marked.not_run, vec![(2, "needs systemd".to_string())]);
}

/// `### METHOD /path` headings of `docs/api.md`, each with the line it is on and whether a
/// runnable example follows it before the next heading.
fn api_doc_operations() -> Vec<(String, String, usize, bool)> {
    let text = std::fs::read_to_string(repo().join("docs/api.md")).unwrap();
    let heading = Regex::new(r"^#{2,4} (GET|POST|PUT|PATCH|DELETE) (/\S*)\s*$").unwrap();
    let mut ops: Vec<(String, String, usize, bool)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if let Some(c) = heading.captures(line) {
            let path = c[2].trim_matches('`').to_string();
            ops.push((c[1].to_string(), path, n + 1, false));
        } else if line.starts_with('#') {
            // Another heading ends the previous operation's section.
            ops.push((String::new(), String::new(), n + 1, true));
        } else if line.trim_start().starts_with("```sh")
            || line.trim_start().starts_with("```console")
        {
            if let Some(last) = ops.last_mut() {
                last.3 = true;
            }
        }
    }
    ops.retain(|o| !o.0.is_empty());
    ops
}

#[test]
fn the_api_doc_has_every_operation_of_the_openapi_document_with_an_example_and_no_other() {
    let document: serde_json::Value =
        serde_json::from_str(raftwire_node::http::openapi::document()).unwrap();
    let mut in_openapi = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                in_openapi.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let ops = api_doc_operations();
    let in_doc: BTreeSet<(String, String)> =
        ops.iter().map(|o| (o.0.clone(), o.1.clone())).collect();
    assert_eq!(
        ops.len(),
        in_doc.len(),
        "docs/api.md names an operation twice"
    );
    let missing: Vec<_> = in_openapi.difference(&in_doc).collect();
    let extra: Vec<_> = in_doc.difference(&in_openapi).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/api.md lacks {missing:?}; it names operations the OpenAPI document does not have: {extra:?}"
    );
    let without: Vec<_> = ops
        .iter()
        .filter(|o| !o.3)
        .map(|o| format!("line {}: {} {}", o.2, o.0, o.1))
        .collect();
    assert!(
        without.is_empty(),
        "operations of docs/api.md without an example: {without:#?}"
    );
}
