//! `inquest`: the command-line entry point (demo, load, investigate, report, incidents, eval, serve, worker,
//! migrate, doctor, projects, users, members, tokens, integrations, runbooks, topology, git).

mod access;
mod bundled;
mod git;
mod import;
mod runbooks;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use clap::{Parser, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};
use inquest_core::investigate_and_save;
use inquest_domain::{Hypothesis, IncidentId, ProjectId, service_name_of};
use inquest_eval::{EvalReport, run_case_with, score_case, summarize};
use inquest_fixtures::{FixtureCase, discover_cases, load_case};
use inquest_ports::Stores;

mod intake;
mod investigation;
mod keys;
mod logging;
mod poll;
mod serve;
mod shutdown;
mod stores;
mod topology;
mod worker;
mod writers;

#[derive(Parser)]
#[command(
    name = "inquest",
    version,
    about = "Incident investigation engine: ranks root-cause hypotheses with evidence"
)]
struct Cli {
    /// Directory of the embedded store (default `.inquest`).
    #[arg(long, global = true, env = "INQUEST_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// TOML settings file (stores, pools); see the README.
    #[arg(long, global = true, env = "INQUEST_CONFIG")]
    config: Option<PathBuf>,
    /// The project `load`, `investigate`, `report`, `incidents` and `demo` act in
    /// (with Postgres it must exist in `projects`).
    #[arg(long, global = true, env = "INQUEST_PROJECT", default_value = "default")]
    project: ProjectId,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load the bundled fixtures into the store, investigate each, write the reports.
    Demo {
        /// A folder of fixture cases instead of the ones bundled in the binary.
        #[arg(long)]
        fixtures: Option<PathBuf>,
        /// Where the markdown reports go.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
    },
    /// Load a fixture case, or a folder of cases, into the store.
    Load { dir: PathBuf },
    /// Investigate an incident (UUID or fixture case id) and save hypotheses and report.
    Investigate {
        incident: String,
        /// Print the markdown report.
        #[arg(long)]
        markdown: bool,
    },
    /// Print the latest report of an incident.
    Report { incident: String },
    /// List incidents in the store with their top hypothesis.
    Incidents,
    /// Replay fixture cases in fresh stores and score the ranking.
    Eval {
        dir: PathBuf,
        /// Also write the full result as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Replay the cases in date order in one store, confirming the true hypothesis
        /// and rejecting a wrong top one after each; AC@1 with and without feedback.
        #[arg(long)]
        replay_feedback: bool,
    },
    /// Serve the HTTP API and the dashboard.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: String,
        /// Run `demo` first (load the fixtures, investigate, write reports).
        #[arg(long)]
        demo: bool,
        /// With `--demo`: a folder of fixture cases instead of the bundled ones.
        #[arg(long)]
        fixtures: Option<PathBuf>,
    },
    /// Run the investigation workers and the records writer of the intake, without HTTP.
    Worker,
    /// Create or upgrade the stores' schemas (idempotent).
    Migrate {
        /// Move the Postgres schema up or down to this version (0: none); down drops
        /// what the reverted migrations created, data included.
        #[arg(long)]
        to: Option<i64>,
    },
    /// Check every configured store: reachable, schema applied.
    Doctor,
    /// Create and list projects.
    #[command(subcommand)]
    Projects(access::ProjectsCommand),
    /// Add and list local users.
    #[command(subcommand)]
    Users(access::UsersCommand),
    /// Set or remove a user's role in a project.
    #[command(subcommand)]
    Members(access::MembersCommand),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Tokens(access::TokensCommand),
    /// Maintain integrations (re-encrypt their secrets after a key rotation).
    #[command(subcommand)]
    Integrations(access::IntegrationsCommand),
    /// Apply declarative topology documents (a source's services, databases and dependencies).
    #[command(subcommand)]
    Topology(topology::TopologyCommand),
    /// Sync runbooks (markdown with front matter) from a folder.
    #[command(subcommand)]
    Runbooks(runbooks::RunbooksCommand),
    /// Sync commits, diffs and diff chunks from local git clones.
    #[command(subcommand)]
    Git(git::GitCommand),
    /// Turn a public fault-injection dataset into fixture cases (rcaeval, petshop, nezha).
    Import {
        format: inquest_import::Format,
        path: PathBuf,
        #[arg(long, default_value = "imported")]
        out: PathBuf,
        /// PetShop: normal-operation metrics.csv (or its directory) for the baseline.
        #[arg(long)]
        normal: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    logging::init()?;
    let cli = Cli::parse();
    let settings = stores::load_settings(cli.config.as_deref(), cli.data_dir.clone())?;
    match cli.command {
        Command::Demo { fixtures, out } => demo(&settings, &cli.project, fixtures.as_deref(), &out).await,
        Command::Load { dir } => {
            let stores = stores::project_stores(&settings, &cli.project).await?;
            let cases = read_cases(&dir)?;
            load_all(&stores, &cases).await?;
            for c in &cases {
                println!("{}  incident {}", c.id, c.incident_id);
            }
            Ok(())
        }
        Command::Investigate { incident, markdown } => {
            let stores = stores::project_stores(&settings, &cli.project).await?;
            let id = parse_incident(&incident)?;
            let writer = writers::report_writer(&settings);
            let (inv, report) =
                investigate_and_save(&stores, writer.as_ref(), id, &investigation::config(&settings)?, Utc::now())
                    .await?;
            let mut t = table(&["rank", "type", "hypothesis", "service", "confidence"]);
            for h in &inv.hypotheses {
                t.add_row(vec![
                    h.rank.to_string(),
                    h.hypothesis_type.to_string(),
                    h.title.clone(),
                    service_name_of(h.service_key().unwrap_or("?")).to_string(),
                    format!("{:.2}", h.confidence),
                ]);
            }
            println!("{t}");
            for g in &inv.gaps {
                println!("evidence gap: {} ({}) {}: {}", g.port, g.backend, g.operation, g.message);
            }
            println!("{} evidence artifacts; report {} saved", inv.evidence.len(), report.report_id);
            if markdown {
                println!("\n{}", report.report_markdown);
            }
            Ok(())
        }
        Command::Report { incident } => {
            let stores = stores::project_stores(&settings, &cli.project).await?;
            let id = parse_incident(&incident)?;
            let reports = stores.records.reports(id).await?;
            let Some(latest) = reports.last() else {
                bail!("incident {id} has no report yet: run `inquest investigate {incident}`");
            };
            println!("{}", latest.report_markdown);
            Ok(())
        }
        Command::Incidents => {
            let stores = stores::project_stores(&settings, &cli.project).await?;
            let services = stores.records.list_services().await?;
            let mut t = table(&["incident", "service", "status", "sev", "window start", "top hypothesis", "conf"]);
            for i in stores.records.list_incidents().await? {
                let hypotheses = stores.records.hypotheses(i.incident_id).await?;
                let top = Hypothesis::top(&hypotheses);
                let svc = services
                    .iter()
                    .find(|s| s.service_id == i.service_id)
                    .map(|s| s.service_name.clone())
                    .unwrap_or_default();
                t.add_row(vec![
                    i.incident_id.to_string(),
                    svc,
                    i.status.to_string(),
                    i.severity.to_string(),
                    i.window_start.format("%Y-%m-%d %H:%M").to_string(),
                    top.map(|h| h.title.clone()).unwrap_or_else(|| "(not investigated)".into()),
                    top.map(|h| format!("{:.2}", h.confidence)).unwrap_or_default(),
                ]);
            }
            println!("{t}");
            Ok(())
        }
        Command::Import { format, path, out, normal } => import::run(format, &path, &out, normal),
        Command::Git(c) => git::run(&settings, &cli.project, c).await,
        Command::Projects(c) => access::projects(&settings, c).await,
        Command::Users(c) => access::users(&settings, c).await,
        Command::Members(c) => access::members(&settings, c).await,
        Command::Tokens(c) => access::tokens(&settings, c).await,
        Command::Integrations(c) => access::integrations(&settings, c).await,
        Command::Topology(c) => topology::run(&settings, &cli.project, c).await,
        Command::Runbooks(c) => runbooks::run(&settings, &cli.project, c).await,
        Command::Serve { bind, demo: run_demo, fixtures } => {
            if run_demo {
                demo(&settings, &ProjectId::default_project(), fixtures.as_deref(), Path::new("reports")).await?;
            }
            let built = stores::build_stores(&settings).await?;
            serve::run(&settings, built, &bind).await
        }
        Command::Worker => {
            let built = stores::build_stores(&settings).await?;
            worker::run(&settings, built).await
        }
        Command::Eval { dir, json, replay_feedback: true } => {
            let cases = read_cases(&dir)?;
            let r = inquest_eval::replay_by_dataset(&cases, &investigation::config(&settings)?).await?;
            print_replay(&r);
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&r)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(())
        }
        Command::Eval { dir, json, replay_feedback: false } => {
            let cases = read_cases(&dir)?;
            let bar = progress(cases.len() as u64, "evaluating");
            let cfg = investigation::config(&settings)?;
            let embedder = writers::embedder(&settings).await;
            let mut results = Vec::new();
            for c in &cases {
                bar.set_message(c.id.clone());
                results.push(run_case_with(c, &cfg, Some(embedder.clone())).await?);
                bar.inc(1);
            }
            bar.finish_and_clear();
            let report = summarize(results);
            print_eval(&report);
            import::print_by_dataset(&cases, &report.cases)?;
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&report)?)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("JSON written to {}", path.display());
            }
            Ok(())
        }
        Command::Migrate { to: None } => stores::migrate(&settings).await,
        Command::Migrate { to: Some(version) } => stores::migrate_to(&settings, version).await,
        Command::Doctor => {
            let stores_ok = stores::doctor(&settings, cli.config.as_deref()).await?;
            let policy_ok = intake::doctor(&settings).await;
            let ok = stores_ok && policy_ok;
            println!("{}", if ok { "all stores ok" } else { "some stores need attention (see above)" });
            if !ok {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

fn parse_incident(s: &str) -> Result<IncidentId> {
    if let Ok(id) = s.parse::<IncidentId>() {
        return Ok(id);
    }
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        // A fixture case id: the incident id is derived from it.
        return Ok(IncidentId::derived(&["fixture", s, "incident"]));
    }
    bail!("'{s}' is neither an incident UUID nor a fixture case id")
}

fn read_cases(dir: &Path) -> Result<Vec<FixtureCase>> {
    let dirs = discover_cases(dir)?;
    let bar = progress(dirs.len() as u64, "reading fixtures");
    let mut cases = Vec::new();
    for d in dirs {
        bar.set_message(d.display().to_string());
        cases.push(FixtureCase::read(&d)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    ids.sort();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        bail!("two fixture cases share the id '{}'", w[0]);
    }
    Ok(cases)
}

async fn load_all(stores: &Stores, cases: &[FixtureCase]) -> Result<()> {
    let bar = progress(cases.len() as u64, "loading");
    for c in cases {
        bar.set_message(c.id.clone());
        load_case(stores, c).await?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// The demo on `fixtures`, or on the cases bundled in the binary when none is given, in `project`.
async fn demo(
    settings: &inquest_config::Settings,
    project: &ProjectId,
    fixtures: Option<&Path>,
    out: &Path,
) -> Result<()> {
    let bundled;
    let dir = match fixtures {
        Some(dir) => dir,
        None => {
            bundled = bundled::extract()?;
            bundled.path()
        }
    };
    let stores = stores::project_stores(settings, project).await?;
    let writer = writers::report_writer(settings);
    let cases = read_cases(dir)?;
    load_all(&stores, &cases).await?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let bar = progress(cases.len() as u64, "investigating");
    let cfg = investigation::config(settings)?;
    let mut results = Vec::new();
    for c in &cases {
        bar.set_message(c.id.clone());
        let started = std::time::Instant::now();
        let (inv, report) = investigate_and_save(&stores, writer.as_ref(), c.incident_id, &cfg, Utc::now()).await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let path = out.join(format!("{}.md", c.id));
        std::fs::write(&path, &report.report_markdown).with_context(|| format!("writing {}", path.display()))?;
        results.push(score_case(&c.id, &c.truth, &inv.hypotheses, ms));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut t = table(&["case", "truth", "top hypothesis", "conf", "match rank"]);
    for r in &results {
        let top = r.ranked.first();
        t.add_row(vec![
            r.case_id.clone(),
            format!("{} {}", r.truth.hypothesis_type, service_name_of(&r.truth.service_key)),
            top.map(|h| format!("{} {}: {}", h.hypothesis_type, service_name_of(&h.service_key), h.title))
                .unwrap_or_default(),
            top.map(|h| format!("{:.2}", h.confidence)).unwrap_or_default(),
            r.match_rank.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
        ]);
    }
    println!("{t}");
    let summary = summarize(results);
    println!(
        "AC@1 {:.3}  AC@3 {:.3}  MRR {:.3}  over {} incidents (investigation + report + save p50 {:.1} ms, p95 {:.1} ms)",
        summary.hypotheses.ac1,
        summary.hypotheses.ac3,
        summary.hypotheses.mrr,
        summary.hypotheses.cases,
        summary.latency.p50_ms,
        summary.latency.p95_ms
    );
    println!(
        "stores:  records {}, metrics {}, topology {}, semantic {} (embedded file {})",
        stores.records.backend(),
        stores.metrics.backend(),
        stores.topology.backend(),
        stores.semantic.backend(),
        stores::embedded_path(settings).display()
    );
    println!("reports: {}/ ({} files)", out.display(), cases.len());
    let eval_dir = fixtures.map_or("<folder of cases>".to_string(), |f| f.display().to_string());
    println!("next:    inquest incidents | inquest report <case-id> | inquest eval {eval_dir}");
    Ok(())
}

fn print_eval(r: &EvalReport) {
    let mut t = table(&["scope", "cases", "AC@1", "AC@3", "Avg@5", "MRR"]);
    let row = |name: &str, a: &inquest_eval::Accuracy| {
        vec![
            name.to_string(),
            a.cases.to_string(),
            format!("{:.3}", a.ac1),
            format!("{:.3}", a.ac3),
            format!("{:.3}", a.avg5),
            format!("{:.3}", a.mrr),
        ]
    };
    t.add_row(row("all (hypothesis)", &r.hypotheses));
    t.add_row(row("all (service)", &r.services));
    for (k, a) in &r.per_type {
        t.add_row(row(&format!("type {k}"), a));
    }
    println!("{t}");
    let mut c = table(&["case", "truth", "match rank", "service rank", "top hypothesis", "ms"]);
    for case in &r.cases {
        c.add_row(vec![
            case.case_id.clone(),
            format!("{} {}", case.truth.hypothesis_type, service_name_of(&case.truth.service_key)),
            case.match_rank.map(|x| x.to_string()).unwrap_or_else(|| "-".into()),
            case.service_rank.map(|x| x.to_string()).unwrap_or_else(|| "-".into()),
            case.ranked
                .first()
                .map(|h| format!("{} {}", h.hypothesis_type, service_name_of(&h.service_key)))
                .unwrap_or_default(),
            format!("{:.1}", case.latency_ms),
        ]);
    }
    println!("{c}");
    println!(
        "investigation latency: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        r.latency.p50_ms, r.latency.p95_ms, r.latency.max_ms
    );
}

fn print_replay(reports: &std::collections::BTreeMap<String, inquest_eval::ReplayReport>) {
    let rank = |x: Option<usize>| x.map(|x| x.to_string()).unwrap_or_else(|| "-".into());
    let mut t = table(&["dataset", "case", "truth", "rank without feedback", "rank with feedback"]);
    for (name, r) in reports {
        for (a, b) in r.without.cases.iter().zip(&r.with.cases) {
            t.add_row(vec![
                name.clone(),
                a.case_id.clone(),
                format!("{} {}", a.truth.hypothesis_type, service_name_of(&a.truth.service_key)),
                rank(a.match_rank),
                rank(b.match_rank),
            ]);
        }
    }
    println!("{t}");
    let mut s = table(&[
        "dataset",
        "cases",
        "AC@1 without",
        "AC@1 with",
        "AC@3 without",
        "AC@3 with",
        "MRR without",
        "MRR with",
        "service AC@1 without",
        "service AC@1 with",
        "feedback events",
    ]);
    for (name, r) in reports {
        let f = |x: f64| format!("{x:.3}");
        s.add_row(vec![
            name.clone(),
            r.without.hypotheses.cases.to_string(),
            f(r.without.hypotheses.ac1),
            f(r.with.hypotheses.ac1),
            f(r.without.hypotheses.ac3),
            f(r.with.hypotheses.ac3),
            f(r.without.hypotheses.mrr),
            f(r.with.hypotheses.mrr),
            f(r.without.services.ac1),
            f(r.with.services.ac1),
            r.feedback_events.to_string(),
        ]);
    }
    println!("replay in date order, one store per dataset, without and with feedback:\n{s}");
    for (name, r) in reports {
        let w = &r.weights;
        if !w.learned {
            println!(
                "{name}: {} pair(s) from {} judged incident(s), fewer than {}: default weights",
                w.pairs, w.incidents, w.min_pairs
            );
            continue;
        }
        let moved: Vec<String> = w
            .factors
            .iter()
            .filter(|f| (f.multiplier - 1.0).abs() >= 0.005)
            .map(|f| format!("{} {} -> {}", f.factor, f.default_weight, f.learned_weight))
            .collect();
        println!(
            "{name}: weights learned from {} pairs of {} judged incidents: {}",
            w.pairs,
            w.incidents,
            if moved.is_empty() { "all at their defaults".to_string() } else { moved.join(", ") }
        );
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(header.to_vec());
    t
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
