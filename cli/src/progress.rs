//! Progress of a long run: a bar or a spinner on a terminal (indicatif), nothing at all when
//! stderr is piped, so that logs and CI output stay clean.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar (known length) or a spinner (steps by name), cleared when dropped.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A spinner showing the current step, on a terminal.
    pub fn spinner() -> Self {
        Progress(std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        }))
    }

    /// A bar of `len` items, on a terminal.
    pub fn bar(len: u64, unit: &str) -> Self {
        Progress(std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(len);
            let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} ({{per_sec}}, {{eta}} left)");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style);
            }
            bar
        }))
    }

    /// Whether anything is shown.
    pub fn interactive(&self) -> bool {
        self.0.is_some()
    }

    /// Shows `text` as the current step.
    pub fn step(&self, text: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(text.to_string());
        }
    }

    /// Moves the bar to `done` items.
    pub fn done(&self, done: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(done);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
