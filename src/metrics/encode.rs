//! A snapshot of samples, encoded once per collection into OpenMetrics text with
//! prometheus-client. Scrapes serve the encoded bytes and never recompute anything.

use std::collections::HashMap;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::names::{Kind, MetricDef};

/// The content type Prometheus 3 requires of an OpenMetrics scrape.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone)]
struct Family {
    def: MetricDef,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

/// Samples grouped by metric family, in the order they were first set.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    families: Vec<Family>,
    index: HashMap<&'static str, usize>,
}

impl Exposition {
    /// Adds one sample. `labels` are the values of `def.labels`, in order.
    pub fn set(&mut self, def: &MetricDef, labels: &[&str], value: f64) {
        debug_assert_eq!(labels.len(), def.labels.len(), "labels of {}", def.name);
        let i = *self.index.entry(def.name).or_insert_with(|| {
            self.families.push(Family {
                def: *def,
                samples: Vec::new(),
            });
            self.families.len() - 1
        });
        let labels = def
            .labels
            .iter()
            .zip(labels)
            .map(|(k, v)| (*k, v.to_string()))
            .collect();
        self.families[i].samples.push((labels, value));
    }

    /// Declares a family with no samples yet, so its HELP and TYPE are exposed anyway.
    pub fn declare(&mut self, def: &MetricDef) {
        if !self.index.contains_key(def.name) {
            self.index.insert(def.name, self.families.len());
            self.families.push(Family {
                def: *def,
                samples: Vec::new(),
            });
        }
    }

    /// Value of the first sample of `name` whose labels match, for tests and the status page.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let f = &self.families[*self.index.get(name)?];
        f.samples
            .iter()
            .find(|(ls, _)| {
                labels
                    .iter()
                    .all(|(k, v)| ls.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, v)| *v)
    }

    /// OpenMetrics text, ending with `# EOF`.
    pub fn encode(self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Snapshot(self.families)));
        let mut out = String::with_capacity(64 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[derive(Debug)]
struct Snapshot(Vec<Family>);

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.0 {
            let ty = match f.def.kind {
                Kind::Gauge => MetricType::Gauge,
                Kind::Counter => MetricType::Counter,
            };
            let mut me = encoder.encode_descriptor(f.def.name, f.def.help, None, ty)?;
            for (labels, v) in &f.samples {
                let fe = me.encode_family(labels)?;
                match f.def.kind {
                    Kind::Gauge => ConstGauge::new(*v).encode(fe)?,
                    Kind::Counter => ConstCounter::new(*v as u64).encode(fe)?,
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::names;

    #[test]
    fn encodes_gauges_counters_and_eof() {
        let mut e = Exposition::default();
        e.set(&names::SOURCE_UP, &["supabase"], 1.0);
        e.set(&names::SOURCE_ERRORS, &["supabase", "timeout"], 3.0);
        e.set(&names::QUEUE_DEPTH, &[], 7.0);
        let text = e.encode();
        assert!(
            text.contains("# TYPE launchguard_source_up gauge\n"),
            "{text}"
        );
        assert!(
            text.contains("launchguard_source_up{source=\"supabase\"} 1.0\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE launchguard_source_errors counter\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "launchguard_source_errors_total{source=\"supabase\",reason=\"timeout\"} 3\n"
            ),
            "{text}"
        );
        assert!(text.contains("launchguard_queue_depth 7.0\n"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut e = Exposition::default();
        e.set(&names::CRON_LOAD_RATIO, &["a\"b\\c\nd"], 0.5);
        let text = e.encode();
        assert!(text.contains(r#"job="a\"b\\c\nd""#), "{text}");
    }
}
