//! Reading the config file: parse, validate, and name the file, line, column and field of any
//! error.

use std::fmt;
use std::path::{Path, PathBuf};

use saphyr::{LoadableYamlNode, MarkedYaml, YamlData};
use serde::de::DeserializeOwned;

use super::Config;

/// A config error with everything a person needs to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    /// 1-based line and column, when the field is written in the file.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Dotted path of the field, e.g. `tiers.growth.clients`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self
            .file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<config>".into());
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{file}:{l}:{c}")?,
            _ => write!(f, "{file}")?,
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": field `{}`: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads and validates a config file.
pub fn load_file(path: &Path) -> Result<Config, Vec<ConfigError>> {
    load_file_with(path, "config file", super::validate::validate)
}

/// Parses and validates config text. An empty document is the default config.
pub fn load_str(text: &str) -> Result<Config, Vec<ConfigError>> {
    parse_located(text, super::validate::validate)
}

/// Reads any YAML file of ours (the config, the web config) with the same located errors.
pub fn load_file_with<T: DeserializeOwned + Default>(
    path: &Path,
    what: &str,
    validate: impl Fn(&T) -> Vec<(String, String)>,
) -> Result<T, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError {
            file: Some(path.to_path_buf()),
            line: None,
            column: None,
            field: String::new(),
            message: format!("cannot read the {what}: {e}"),
        }]
    })?;
    parse_located(&text, validate).map_err(|errs| {
        errs.into_iter()
            .map(|mut e| {
                e.file = Some(path.to_path_buf());
                e
            })
            .collect()
    })
}

/// Parses YAML text into `T` and validates it; every error names line, column and field.
/// An empty document is `T::default()`.
pub fn parse_located<T: DeserializeOwned + Default>(
    text: &str,
    validate: impl Fn(&T) -> Vec<(String, String)>,
) -> Result<T, Vec<ConfigError>> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        vec![ConfigError {
            file: None,
            line: Some(e.marker().line()),
            column: Some(e.marker().col() + 1),
            field: String::new(),
            message: format!("not valid YAML: {}", e.info()),
        }]
    })?;
    let Some(root) = docs.first() else {
        return validated(T::default(), None, &validate);
    };
    if matches!(root.data, YamlData::Value(saphyr::Scalar::Null)) {
        return validated(T::default(), Some(root), &validate);
    }
    let value: T = serde_saphyr::from_str(text).map_err(|e| {
        let loc = e.location();
        let (line, column) = match loc {
            Some(l) => (Some(l.line() as usize), Some(l.column() as usize)),
            None => (None, None),
        };
        let field = line
            .zip(column)
            .map(|(l, c)| path_at(root, l, c))
            .unwrap_or_default();
        vec![ConfigError {
            file: None,
            line,
            column,
            field,
            message: first_line(&e.to_string()),
        }]
    })?;
    validated(value, Some(root), &validate)
}

fn validated<T>(
    value: T,
    root: Option<&MarkedYaml>,
    validate: &impl Fn(&T) -> Vec<(String, String)>,
) -> Result<T, Vec<ConfigError>> {
    let problems = validate(&value);
    if problems.is_empty() {
        return Ok(value);
    }
    Err(problems
        .into_iter()
        .map(|(field, message)| {
            let pos = root.and_then(|r| locate(r, &field));
            ConfigError {
                file: None,
                line: pos.map(|p| p.0),
                column: pos.map(|p| p.1),
                field,
                message,
            }
        })
        .collect())
}

/// serde-saphyr's message may carry a rendered snippet; keep the sentence.
fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid value")
        .to_string()
}

fn key_str<'a>(k: &'a MarkedYaml) -> Option<&'a str> {
    k.data.as_str()
}

/// Line and column (1-based) of the value at a dotted path, or of its nearest written parent.
pub(crate) fn locate(root: &MarkedYaml, path: &str) -> Option<(usize, usize)> {
    let mut node = root;
    let mut found = None;
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        let next = match &node.data {
            YamlData::Mapping(m) => m.iter().find(|(k, _)| key_str(k) == Some(seg)),
            YamlData::Sequence(s) => seg
                .parse::<usize>()
                .ok()
                .and_then(|i| s.get(i))
                .map(|v| (v, v)),
            _ => None,
        };
        match next {
            Some((k, v)) => {
                found = Some((k.span.start.line(), k.span.start.col() + 1));
                node = v;
            }
            None => break,
        }
    }
    found
}

/// Dotted path of the deepest key whose entry holds (line, column).
fn path_at(root: &MarkedYaml, line: usize, col: usize) -> String {
    let pos = |l: usize, c: usize| (l, c);
    let target = pos(line, col);
    let mut path: Vec<String> = Vec::new();
    let mut node = root;
    loop {
        let mut best: Option<(String, &MarkedYaml)> = None;
        match &node.data {
            YamlData::Mapping(m) => {
                for (k, v) in m.iter() {
                    let start = (k.span.start.line(), k.span.start.col() + 1);
                    if let Some(name) = key_str(k).filter(|_| start <= target) {
                        best = Some((name.to_string(), v));
                    }
                }
            }
            YamlData::Sequence(s) => {
                for (i, v) in s.iter().enumerate() {
                    let start = (v.span.start.line(), v.span.start.col() + 1);
                    if start <= target {
                        best = Some((i.to_string(), v));
                    }
                }
            }
            _ => {}
        }
        match best {
            Some((name, v)) => {
                path.push(name);
                node = v;
            }
            None => break,
        }
    }
    path.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_is_the_default_config() {
        assert_eq!(load_str("").unwrap(), Config::default());
        assert_eq!(load_str("# nothing\n").unwrap(), Config::default());
    }

    #[test]
    fn unknown_field_names_line_column_and_path() {
        let e = &load_str("tiers:\n  growth:\n    clientz: 5\n").unwrap_err()[0];
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.field.starts_with("tiers.growth"), "{e}");
        assert!(e.message.contains("clientz"), "{e}");
    }

    #[test]
    fn wrong_type_is_located() {
        let e = &load_str("budgets:\n  daily_usd: [1, 2]\n").unwrap_err()[0];
        assert_eq!(e.line, Some(2), "{e}");
        assert_eq!(e.field, "budgets.daily_usd", "{e}");
    }

    #[test]
    fn unknown_tier_is_refused() {
        let e = &load_str("tier: platinum\n").unwrap_err()[0];
        assert_eq!(e.line, Some(1), "{e}");
        assert_eq!(e.field, "tier", "{e}");
    }

    #[test]
    fn semantic_errors_are_located() {
        let text = "thresholds:\n  queue_depth:\n    warning: 300\n    critical: 200\n";
        let errs = load_str(text).unwrap_err();
        let e = &errs[0];
        assert_eq!(e.field, "thresholds.queue_depth.warning", "{e}");
        assert_eq!((e.line, e.column), (Some(3), Some(5)), "{e}");
        let e = &load_str("timezone: Mars/Olympus\n").unwrap_err()[0];
        assert_eq!((e.field.as_str(), e.line), ("timezone", Some(1)), "{e}");
        let e = &load_str("tiers:\n  growth:\n    clients: 0\n").unwrap_err()[0];
        assert_eq!(
            (e.field.as_str(), e.line),
            ("tiers.growth.clients", Some(3)),
            "{e}"
        );
    }

    #[test]
    fn display_names_file_line_column_and_field() {
        let mut e = load_str("budgets:\n  daily_usd: -1\n")
            .unwrap_err()
            .remove(0);
        e.file = Some("/etc/lg.yaml".into());
        assert_eq!(
            e.to_string(),
            "/etc/lg.yaml:2:3: field `budgets.daily_usd`: must be greater than zero"
        );
    }
}

#[cfg(test)]
mod edge_tests {
    use super::*;

    #[test]
    fn odd_documents_are_clear_errors_not_panics() {
        for text in [
            "- a\n- b\n",
            "tier: [\n",
            "tier: growth\ntier: soft_launch\n",
            "database:\n  url: postgres://u:hunter2@h/db\n",
            "budgets:\n  daily_usd: lots\n",
            "tiers:\n  growth:\n    clients: -5\n",
            "database:\n  interval: soon\n",
            "---\ntier: growth\n---\ntier: soft_launch\n",
        ] {
            let errs = load_str(text).expect_err(text);
            let e = &errs[0];
            assert!(!e.message.is_empty(), "{text:?}");
            assert!(e.line.is_some(), "{text:?} -> {e}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn secret_literal_is_located_without_echo() {
        let e = &load_str("database:\n  url: postgres://u:hunter2@h/db\n").unwrap_err()[0];
        assert_eq!((e.field.as_str(), e.line), ("database.url", Some(2)), "{e}");
        assert!(e.message.contains("${ENV_VAR}"), "{e}");
    }
}
