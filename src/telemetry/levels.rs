//! Runtime log levels: Kafka's BROKER_LOGGER config resource (`kafka-configs --entity-type
//! broker-loggers`). A "logger" is `root` or a module path of this crate (`runnel::log`,
//! `runnel::handlers::produce`, ...), the targets `tracing` events carry.
//!
//! The configured filter (`telemetry.log_level` or `RUST_LOG`) is the base; levels set at
//! runtime are layered on top and the subscriber's `EnvFilter` is rebuilt and swapped through
//! a `tracing_subscriber::reload` handle. Without an installed subscriber (tests) the levels
//! are still kept and described. State is process-wide, like the subscriber itself, behind a
//! sync mutex held only while a filter string is built (never across `.await`).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Kafka's log levels (`LogLevelConfig.VALID_LOG_LEVELS`), in severity order.
pub const KAFKA_LEVELS: &[&str] = &["FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

/// The loggers always listed (others appear once a level is set on them).
const KNOWN_LOGGERS: &[&str] = &[
    "runnel",
    "runnel::broker",
    "runnel::cluster",
    "runnel::group",
    "runnel::handlers",
    "runnel::http",
    "runnel::log",
    "runnel::protocol",
    "runnel::runtime",
    "runnel::server",
    "runnel::store",
];

/// The root logger's name, as in Kafka.
pub const ROOT: &str = "root";

/// Swaps the subscriber's filter (installed by `init_logging`).
type Reload = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

struct Levels {
    base: String,
    /// Logger → Kafka level name, set at runtime.
    set: BTreeMap<String, &'static str>,
    reload: Option<Reload>,
}

static LEVELS: Mutex<Levels> = Mutex::new(Levels {
    base: String::new(),
    set: BTreeMap::new(),
    reload: None,
});

fn levels() -> std::sync::MutexGuard<'static, Levels> {
    LEVELS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why a level change was refused; `InvalidConfig` → INVALID_CONFIG, `InvalidRequest` →
/// INVALID_REQUEST (Kafka's choices).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LevelError {
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidRequest(String),
}

/// Records the configured filter and the function that swaps the live one.
pub(super) fn install(base: &str, reload: Option<Reload>) {
    let mut l = levels();
    l.base = base.to_string();
    l.reload = reload;
}

fn tracing_level(kafka: &str) -> &'static str {
    match kafka {
        "FATAL" | "ERROR" => "error",
        "WARN" => "warn",
        "DEBUG" => "debug",
        "TRACE" => "trace",
        _ => "info",
    }
}

fn kafka_level(tracing: &str) -> &'static str {
    match tracing.trim().to_ascii_lowercase().as_str() {
        "error" => "ERROR",
        "warn" => "WARN",
        "debug" => "DEBUG",
        "trace" => "TRACE",
        "off" => "OFF",
        _ => "INFO",
    }
}

/// Splits a filter into its global level and its `target=level` directives.
fn parse_base(base: &str) -> (Option<String>, Vec<(String, String)>) {
    let mut global = None;
    let mut targets = Vec::new();
    for d in base.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match d.split_once('=') {
            Some((t, l)) => targets.push((t.trim().to_string(), l.trim().to_string())),
            None => global = Some(d.to_string()),
        }
    }
    (global, targets)
}

impl Levels {
    /// The filter string for the current base and runtime levels.
    fn filter(&self) -> String {
        let (global, targets) = parse_base(&self.base);
        let root = match self.set.get(ROOT) {
            Some(l) => tracing_level(l).to_string(),
            None => global.unwrap_or_else(|| "info".into()),
        };
        let mut parts = vec![root];
        for (t, l) in targets {
            if !self.set.contains_key(&t) {
                parts.push(format!("{t}={l}"));
            }
        }
        for (t, l) in &self.set {
            if t != ROOT {
                parts.push(format!("{t}={}", tracing_level(l)));
            }
        }
        parts.join(",")
    }

    /// The effective Kafka level of a logger: set at runtime, else the closest configured
    /// ancestor, else root.
    fn level_of(&self, logger: &str) -> &'static str {
        if let Some(l) = self.set.get(logger) {
            return l;
        }
        let (global, targets) = parse_base(&self.base);
        let root = self
            .set
            .get(ROOT)
            .copied()
            .unwrap_or_else(|| kafka_level(global.as_deref().unwrap_or("info")));
        if logger == ROOT {
            return root;
        }
        let mut best: Option<(usize, &'static str)> = None;
        let ancestors = self
            .set
            .iter()
            .map(|(t, l)| (t.clone(), *l))
            .chain(targets.iter().map(|(t, l)| (t.clone(), kafka_level(l))));
        for (t, l) in ancestors {
            let covers = logger == t || logger.starts_with(&format!("{t}::"));
            if covers && t != ROOT && best.is_none_or(|(n, _)| t.len() > n) {
                best = Some((t.len(), l));
            }
        }
        best.map_or(root, |(_, l)| l)
    }

    fn apply(&self) -> Result<(), String> {
        match &self.reload {
            Some(r) => r(&self.filter()),
            None => Ok(()),
        }
    }
}

fn valid_logger(name: &str) -> bool {
    name == ROOT
        || (name == "runnel" || name.starts_with("runnel::"))
            && name
                .split("::")
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

/// Every logger with its effective Kafka level, `root` first.
pub fn loggers() -> Vec<(String, &'static str)> {
    let l = levels();
    let mut names: Vec<String> = KNOWN_LOGGERS.iter().map(|s| s.to_string()).collect();
    names.extend(l.set.keys().filter(|k| *k != ROOT).cloned());
    names.sort();
    names.dedup();
    let mut out = vec![(ROOT.to_string(), l.level_of(ROOT))];
    out.extend(names.into_iter().map(|n| {
        let lvl = l.level_of(&n);
        (n, lvl)
    }));
    out
}

/// Checks one change without applying it. `level` None = remove the runtime level.
pub fn validate_change(logger: &str, level: Option<&str>) -> Result<(), LevelError> {
    if !valid_logger(logger) {
        return Err(LevelError::InvalidConfig(format!(
            "Logger {logger} does not exist!"
        )));
    }
    match level {
        None if logger == ROOT => Err(LevelError::InvalidRequest(
            "Removing the log level of the root logger is not allowed".into(),
        )),
        Some(l) if !KAFKA_LEVELS.contains(&l.trim()) => Err(LevelError::InvalidConfig(format!(
            "Cannot set the log level of {logger} to {l} as it is not a supported log level. Valid log levels are {}",
            KAFKA_LEVELS.join(", ")
        ))),
        _ => Ok(()),
    }
}

/// Applies a batch of changes (validated first, all or nothing) and swaps the live filter.
pub fn apply_changes(changes: &[(String, Option<String>)]) -> Result<(), LevelError> {
    for (logger, level) in changes {
        validate_change(logger, level.as_deref())?;
    }
    let mut l = levels();
    let before = l.set.clone();
    for (logger, level) in changes {
        match level {
            Some(v) => {
                let v = KAFKA_LEVELS
                    .iter()
                    .copied()
                    .find(|k| *k == v.trim())
                    .unwrap_or("INFO");
                l.set.insert(logger.clone(), v);
            }
            None => {
                l.set.remove(logger);
            }
        }
    }
    if let Err(e) = l.apply() {
        l.set = before;
        return Err(LevelError::InvalidConfig(format!(
            "cannot apply log levels: {e}"
        )));
    }
    tracing::info!(filter = %l.filter(), "log levels changed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_and_levels() {
        let mut l = Levels {
            base: "info,runnel::server=debug".into(),
            set: BTreeMap::new(),
            reload: None,
        };
        assert_eq!(l.level_of(ROOT), "INFO");
        assert_eq!(l.level_of("runnel::server::connection"), "DEBUG");
        assert_eq!(l.level_of("runnel::log"), "INFO");
        l.set.insert("runnel::log".into(), "TRACE");
        l.set.insert("runnel::server".into(), "WARN");
        assert_eq!(l.filter(), "info,runnel::log=trace,runnel::server=warn");
        assert_eq!(l.level_of("runnel::log::partition"), "TRACE");
        l.set.insert(ROOT.into(), "ERROR");
        assert_eq!(l.filter(), "error,runnel::log=trace,runnel::server=warn");
        assert_eq!(l.level_of("runnel::group"), "ERROR");
    }

    #[test]
    fn validation_uses_kafka_errors() {
        assert!(validate_change("runnel::log", Some("DEBUG")).is_ok());
        assert!(matches!(
            validate_change("com.example", Some("DEBUG")),
            Err(LevelError::InvalidConfig(m)) if m.contains("does not exist")
        ));
        assert!(matches!(
            validate_change("runnel::log", Some("LOUD")),
            Err(LevelError::InvalidConfig(_))
        ));
        assert!(matches!(
            validate_change(ROOT, None),
            Err(LevelError::InvalidRequest(_))
        ));
    }
}
