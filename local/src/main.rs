//! `openmic-local`: openmic on one machine.
//!
//! - `serve --listen 127.0.0.1:8080 --data-dir DIR`: `POST /gitlab`, `POST /alerts`,
//!   the alert links (`GET|POST /alerts/ack`, `/alerts/silence`), `GET /healthz`, the
//!   subscription routes (`SUBSCRIPTIONS=on`; mail to the outbox), and the status site
//!   at `/`.
//! - `replay --data-dir DIR FILE...`: API Gateway events through the same router, each
//!   processed to the end before the next.
//! - `backup --data-dir DIR --to FILE`, `restore --data-dir DIR --from FILE [--force]`:
//!   the data directory's state in one tar file (`openmic_local::backup`).
//! - `oncall [--at TIME] [--config PATH]`: who is on call per schedule of a local
//!   on-call file (`ONCALL_CONFIG`), `<schedule>\t<person>` a line (`openmic_local::oncall`).

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use openmic::config::Config;
use openmic::config::alerting::ALERT_LINK_SECRET;
use openmic::config::subscriptions::PUBLIC_API_URL;
use openmic_aws::telemetry::{self, or_exit};
use openmic_local::{Backend, Runner, default_data_dir, local_config};

#[derive(Parser)]
#[command(
    name = "openmic-local",
    version,
    about = "openmic on one machine: GitLab incidents to a status page, alerts to mail"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve intake, the alert links, the status site and /healthz, and process queued
    /// events (and send storms' digests).
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        #[arg(long, default_value_os_t = default_data_dir())]
        data_dir: PathBuf,
        #[arg(long, value_enum, default_value_t = Backend::Embedded)]
        backend: Backend,
    },
    /// Feed API Gateway event files through the router, one by one, each processed
    /// to the end; prints each file with its HTTP status.
    Replay {
        #[arg(long, default_value_os_t = default_data_dir())]
        data_dir: PathBuf,
        #[arg(long, value_enum, default_value_t = Backend::Embedded)]
        backend: Backend,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Rebuild incidents from GitLab's API (GITLAB_URL, GITLAB_TOKEN) and republish
    /// them: the given issues, or every published incident.
    Resync {
        #[arg(long, default_value_os_t = default_data_dir())]
        data_dir: PathBuf,
        #[arg(long, value_enum, default_value_t = Backend::Embedded)]
        backend: Backend,
        /// Issues as IID (of the first project of GITLAB_PROJECT_ID) or PROJECT/IID;
        /// none means every published incident.
        issues: Vec<String>,
    },
    /// Write the data directory's state/, status/, queue/ and subscription-secret to
    /// one tar file (not the outbox); stop `serve` first for a backup of one moment.
    Backup {
        #[arg(long, default_value_os_t = default_data_dir())]
        data_dir: PathBuf,
        /// The tar file to write.
        #[arg(long)]
        to: PathBuf,
    },
    /// Unpack a backup into an empty or new data directory.
    Restore {
        #[arg(long, default_value_os_t = default_data_dir())]
        data_dir: PathBuf,
        /// The tar file `backup` wrote.
        #[arg(long)]
        from: PathBuf,
        /// Replace the state/, status/ and queue/ of a directory in use.
        #[arg(long)]
        force: bool,
    },
    /// Print who is on call in each schedule of the on-call file, one line each:
    /// `<schedule>\t<person>` (`-` when nobody).
    Oncall {
        /// When (RFC 3339, such as 2026-12-07T09:00:00Z); now without it.
        #[arg(long)]
        at: Option<String>,
        /// The on-call file (a local path).
        #[arg(long, env = "ONCALL_CONFIG")]
        config: Option<PathBuf>,
        /// Print each person's calendar link instead (`<person>\t<link>`), signed with
        /// ALERT_LINK_SECRET under PUBLIC_API_URL.
        #[arg(long)]
        calendars: bool,
    },
    /// Move what an earlier release wrote to this release's layout (serve and replay
    /// do it by themselves on first use); prints what moved.
    Migrate {
        #[arg(long, default_value_os_t = default_data_dir())]
        data_dir: PathBuf,
        #[arg(long, value_enum, default_value_t = Backend::Embedded)]
        backend: Backend,
    },
}

async fn runner(backend: Backend, data_dir: &std::path::Path, config: Config) -> Runner {
    match backend {
        Backend::Embedded => or_exit(
            Runner::embedded(data_dir, config).map_err(|e| format!("{}: {e}", data_dir.display())),
        ),
        Backend::Aws => or_exit(Runner::aws(config).await),
    }
}

/// The queue consumers on a thread of their own, at a lower CPU priority than the
/// server's: while a burst lands, replies to GitLab come first and processing catches
/// up after (as on AWS, where intake and processing are separate functions).
fn spawn_workers(runner: Arc<Runner>) {
    or_exit(
        std::thread::Builder::new()
            .name("openmic-workers".into())
            .spawn(move || {
                lower_priority();
                let rt = or_exit(
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| format!("the workers' runtime: {e}")),
                );
                rt.block_on(runner.run_workers());
            })
            .map_err(|e| format!("the workers' thread: {e}")),
    );
}

/// Nice 10 for the calling thread (Linux schedules threads by their own nice value).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority and gettid take plain integers and touch no memory of ours.
    unsafe {
        let tid = libc::gettid();
        if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10) != 0 {
            tracing::warn!(
                "could not lower the workers' priority; intake and processing share the CPU evenly"
            );
        }
    }
}

#[tokio::main]
async fn main() {
    telemetry::init();
    let cli = Cli::parse();
    // Backup, restore and oncall read no configuration: a broken environment does not
    // stop them.
    match &cli.command {
        Command::Backup { data_dir, to } => {
            let counts = or_exit(openmic_local::backup::backup(data_dir, to));
            println!("{}: {counts}", to.display());
            return;
        }
        Command::Restore {
            data_dir,
            from,
            force,
        } => {
            let counts = or_exit(openmic_local::backup::restore(data_dir, from, *force));
            println!("{}: {counts}", data_dir.display());
            return;
        }
        Command::Oncall {
            at,
            config,
            calendars,
        } => {
            // Each error says all it knows (the file's problems, one a line).
            let done = if *calendars {
                openmic_local::oncall::run_calendars(
                    config.as_deref(),
                    std::env::var(PUBLIC_API_URL.name()).ok().as_deref(),
                    std::env::var(ALERT_LINK_SECRET.name()).ok().as_deref(),
                )
            } else {
                openmic_local::oncall::run(config.as_deref(), at.as_deref(), chrono::Utc::now())
            };
            match done {
                Ok(lines) => print!("{lines}"),
                Err(e) => {
                    eprintln!("openmic-local oncall: {e}");
                    std::process::exit(1);
                }
            }
            return;
        }
        _ => {}
    }
    let env = or_exit(Config::from_env());
    match cli.command {
        // Done above, before reading the environment.
        Command::Backup { .. } | Command::Restore { .. } | Command::Oncall { .. } => {}
        Command::Serve {
            listen,
            data_dir,
            backend,
        } => {
            let mut generated = Vec::new();
            let config = local_config(env, Some(&listen), &mut generated);
            for (name, value) in &generated {
                println!("{name}={value} (generated; set {name} to choose your own)");
            }
            or_exit(config.check_can_publish());
            for line in or_exit(openmic_gitlab::check_token(&config).await) {
                println!("{line}");
            }
            let runner = Arc::new(runner(backend, &data_dir, config).await);
            // An earlier release's data is moved before anything is taken.
            or_exit(runner.publisher.check_layout().await);
            let listener = or_exit(
                tokio::net::TcpListener::bind(&listen)
                    .await
                    .map_err(|e| format!("--listen {listen}: {e}")),
            );
            println!(
                "openmic-local: listening on http://{listen} (data in {})",
                data_dir.display()
            );
            if let Some(url) = runner.config.subscribe_url() {
                let mail = match backend {
                    Backend::Embedded => data_dir.join("outbox").display().to_string(),
                    Backend::Aws => "SES".into(),
                };
                println!("subscriptions on: the pages' form posts to {url}; mail goes to {mail}");
            }
            // The site is there from the start, incidents or none, in the page's
            // current language and look; and its history moves on each day.
            or_exit(runner.publisher.write_list().await);
            tokio::spawn(openmic_local::render_daily(runner.clone()));
            spawn_workers(runner.clone());
            let app = runner.app();
            let shutdown = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            or_exit(
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
                )
                .with_graceful_shutdown(shutdown)
                .await,
            );
        }
        Command::Replay {
            data_dir,
            backend,
            files,
        } => {
            let mut generated = Vec::new();
            let config = local_config(env, None, &mut generated);
            or_exit(config.check_can_publish());
            let runner = runner(backend, &data_dir, config).await;
            or_exit(runner.publisher.check_layout().await);
            // Anything left from an earlier run is handled first.
            runner.drain().await;
            let mut failed = false;
            for file in &files {
                match runner.replay(file).await {
                    Ok(status) => println!("{} {status}", file.display()),
                    Err(e) => {
                        eprintln!("{e}");
                        failed = true;
                    }
                }
            }
            if failed {
                std::process::exit(1);
            }
        }
        Command::Resync {
            data_dir,
            backend,
            issues,
        } => {
            let mut generated = Vec::new();
            let config = local_config(env, None, &mut generated);
            let ids: Vec<_> = issues
                .iter()
                .map(|i| or_exit(openmic_local::issue_arg(i, &config)))
                .collect();
            let runner = runner(backend, &data_dir, config).await;
            let results = if ids.is_empty() {
                or_exit(runner.publisher.resync_published().await)
                    .into_iter()
                    .map(|(id, r)| (id.to_string(), r))
                    .collect()
            } else {
                let mut out = Vec::new();
                for id in ids {
                    out.push((id.to_string(), runner.publisher.resync(id).await));
                }
                out
            };
            let mut failed = false;
            for (id, result) in results {
                match result {
                    Ok(outcome) => println!("{id} {outcome:?}"),
                    Err(e) => {
                        println!("{id} failed: {e}");
                        failed = true;
                    }
                }
            }
            if failed {
                std::process::exit(1);
            }
        }
        Command::Migrate { data_dir, backend } => {
            let mut generated = Vec::new();
            let config = local_config(env, None, &mut generated);
            let runner = runner(backend, &data_dir, config).await;
            let m = or_exit(runner.publisher.migrate().await);
            println!("states moved under their project: {}", m.states_moved);
            for (old, new) in &m.renumbered {
                println!("incident {old} is now {new}");
            }
            if runner.subscriptions.enabled() {
                let moved = or_exit(runner.subscriptions.migrate().await);
                println!("subscriber records with a waiting request moved: {moved}");
            }
        }
    }
}
