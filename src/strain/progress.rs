//! Live progress: an indicatif bar on a terminal, plain periodic lines otherwise (CI logs).
//! Both go to stderr so stdout keeps only the summary table.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::engine::Live;

/// How often the plain output prints a line.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

pub enum Progress {
    Bar(Option<ProgressBar>),
    Plain { last: Duration },
}

impl Progress {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Progress {
        if std::io::stderr().is_terminal() {
            Progress::Bar(None)
        } else {
            Progress::Plain {
                last: Duration::ZERO,
            }
        }
    }

    pub fn start(&mut self, name: &str, duration: Duration, target_rate: f64) {
        match self {
            Progress::Bar(slot) => {
                let pb = ProgressBar::new(duration.as_secs().max(1));
                pb.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>16} [{bar:30.cyan/blue}] {pos:>4}/{len}s {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                pb.set_prefix(name.to_string());
                pb.set_message(format!("target {target_rate:.1} req/s"));
                *slot = Some(pb);
            }
            Progress::Plain { last } => {
                *last = Duration::ZERO;
                eprintln!(
                    "strain: {name}: start, {target_rate:.1} req/s for {}",
                    humantime::format_duration(duration)
                );
            }
        }
    }

    pub fn tick(&mut self, name: &str, l: &Live) {
        let secs = l.elapsed.as_secs_f64().max(1e-3);
        let err = if l.finished > 0 {
            100.0 * l.errors as f64 / l.finished as f64
        } else {
            0.0
        };
        let p95 = l.p95_ms.map_or("-".to_string(), |v| format!("{v:.1} ms"));
        let line = format!(
            "sent {} ({:.1}/s), errors {err:.1}%, p95 {p95}, late {}",
            l.sent,
            l.sent as f64 / secs,
            l.late
        );
        match self {
            Progress::Bar(Some(pb)) => {
                pb.set_position(l.elapsed.as_secs().min(pb.length().unwrap_or(u64::MAX)));
                pb.set_message(line);
            }
            Progress::Bar(None) => {}
            Progress::Plain { last } => {
                if l.elapsed >= *last + PLAIN_EVERY {
                    *last = l.elapsed;
                    eprintln!("strain: {name}: {:>5.0}s {line}", l.elapsed.as_secs_f64());
                }
            }
        }
    }

    pub fn finish(&mut self, name: &str, verdict: &str) {
        match self {
            Progress::Bar(slot) => {
                if let Some(pb) = slot.take() {
                    pb.finish_with_message(verdict.to_string());
                }
            }
            Progress::Plain { .. } => eprintln!("strain: {name}: {verdict}"),
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}
