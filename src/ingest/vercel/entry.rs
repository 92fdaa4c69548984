//! One log entry as Vercel's Log Drains reference describes it (`/docs/drains/reference/logs`),
//! reduced to the fields launchguard reads. Unknown fields are skipped (the schema grows), and
//! nothing is rejected for a missing field marked required: Vercel's own test payload lacks
//! `level`. Strings borrow from the body where they carry no escapes.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

#[derive(Debug, Deserialize)]
pub struct Entry<'a> {
    /// "Unique identifier for the log entry".
    #[serde(borrow, default)]
    pub id: Option<Cow<'a, str>>,
    /// build, edge, lambda, static, external, firewall, redirect.
    #[serde(borrow, default)]
    pub source: Option<Cow<'a, str>>,
    /// Unix milliseconds when the log was generated.
    #[serde(default)]
    pub timestamp: Option<f64>,
    #[serde(borrow, default, rename = "projectId")]
    pub project_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "projectName")]
    pub project_name: Option<Cow<'a, str>>,
    /// production or preview.
    #[serde(borrow, default)]
    pub environment: Option<Cow<'a, str>>,
    /// "Function or dynamic path of the request" (seen without a leading slash: `api/hello`).
    #[serde(borrow, default)]
    pub path: Option<Cow<'a, str>>,
    /// The message as raw JSON text: only searched for a REPORT line, never unescaped.
    #[serde(borrow, default)]
    pub message: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "requestId")]
    pub request_id: Option<Cow<'a, str>>,
    /// The request's status; -1: "no response returned and the lambda crashed".
    #[serde(default, rename = "statusCode")]
    pub status_code: Option<f64>,
    #[serde(borrow, default)]
    pub proxy: Option<Proxy<'a>>,
}

/// The `proxy` object: the request as Vercel's proxy saw it.
#[derive(Debug, Deserialize)]
pub struct Proxy<'a> {
    /// Unix milliseconds when the request was made.
    #[serde(default)]
    pub timestamp: Option<f64>,
    /// The path requested, with its query string.
    #[serde(borrow, default)]
    pub path: Option<Cow<'a, str>>,
    /// Only whether one of them is Vercel Cron's (`vercel-cron/1.0`) is kept.
    #[serde(default, rename = "userAgent")]
    pub user_agent: CronAgent,
    /// The response's status; -1: "the revalidation occurred in the background".
    #[serde(default, rename = "statusCode")]
    pub status_code: Option<f64>,
    #[serde(default, rename = "responseByteSize")]
    pub response_byte_size: Option<f64>,
    #[serde(borrow, default, rename = "vercelId")]
    pub vercel_id: Option<Cow<'a, str>>,
}

/// `proxy.userAgent` (an array of strings; a lone string is taken too): true when one of them
/// is Vercel Cron's user agent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CronAgent(pub bool);

/// "Vercel Functions triggered by a cron job on Vercel will always contain `vercel-cron/1.0` as
/// the user agent" (Vercel's cron jobs docs); any version is taken.
pub fn is_cron_agent(ua: &str) -> bool {
    ua.trim_start().starts_with("vercel-cron/")
}

impl<'de> Deserialize<'de> for CronAgent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CronAgent;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of user agent strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CronAgent, E> {
                Ok(CronAgent(is_cron_agent(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<CronAgent, E> {
                Ok(CronAgent(false))
            }
            fn visit_none<E: de::Error>(self) -> Result<CronAgent, E> {
                Ok(CronAgent(false))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CronAgent, A::Error> {
                let mut cron = false;
                while let Some(ua) = seq.next_element::<Cow<'de, str>>()? {
                    cron |= is_cron_agent(&ua);
                }
                Ok(CronAgent(cron))
            }
        }
        d.deserialize_any(V)
    }
}

/// The function's duration in milliseconds from a Lambda REPORT line in the message
/// (`REPORT RequestId: … Duration: 1472.20 ms Billed Duration: 1473 ms …`), as Vercel's
/// own drain test sends it. `None` when the message has no REPORT line.
pub fn report_duration_ms(message_json: &str) -> Option<f64> {
    let report = message_json.find("REPORT RequestId:")?;
    let mut rest = &message_json[report..];
    loop {
        let at = rest.find("Duration: ")?;
        let before = &rest[..at];
        rest = &rest[at + "Duration: ".len()..];
        if before.ends_with("Billed ") || before.ends_with("Init ") {
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let unit_ok = rest[end..].starts_with(" ms");
        return rest[..end].parse::<f64>().ok().filter(|_| unit_ok);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_fields_and_skips_the_rest() {
        let e: Entry = serde_json::from_str(
            r#"{"id":"1573817187330377061717300000","deploymentId":"dpl_x","source":"lambda",
                "host":"a.vercel.app","timestamp":1573817187330,"projectId":"prj_1",
                "level":"info","message":"line\nwith escapes","type":"stdout",
                "requestId":"fra1::iad1::abc","statusCode":200,"environment":"production",
                "trace.id":"t","ja4Digest":"x","newField":{"nested":[1,2,3]},
                "proxy":{"timestamp":1573817187320,"method":"GET","host":"a.example",
                  "path":"/api/x?y=1","userAgent":["Mozilla/5.0"],"region":"fra1",
                  "statusCode":201,"responseByteSize":1843,"vercelId":"fra1::iad1::abc",
                  "vercelCache":"MISS","wafAction":"log"}}"#,
        )
        .unwrap();
        assert_eq!(e.id.as_deref(), Some("1573817187330377061717300000"));
        assert_eq!(e.timestamp, Some(1573817187330.0));
        let p = e.proxy.unwrap();
        assert_eq!(p.timestamp, Some(1573817187320.0));
        assert_eq!(p.path.as_deref(), Some("/api/x?y=1"));
        assert_eq!(
            (p.status_code, p.response_byte_size),
            (Some(201.0), Some(1843.0))
        );
        assert_eq!(p.user_agent, CronAgent(false));
        assert_eq!(e.message.unwrap().get(), r#""line\nwith escapes""#);
    }

    #[test]
    fn cron_user_agent_in_an_array_or_alone() {
        let p: Proxy = serde_json::from_str(r#"{"userAgent":["x","vercel-cron/1.0"]}"#).unwrap();
        assert_eq!(p.user_agent, CronAgent(true));
        let p: Proxy = serde_json::from_str(r#"{"userAgent":"vercel-cron/1.0"}"#).unwrap();
        assert_eq!(p.user_agent, CronAgent(true));
        let p: Proxy = serde_json::from_str(r#"{"userAgent":null}"#).unwrap();
        assert_eq!(p.user_agent, CronAgent(false));
        assert!(serde_json::from_str::<Proxy>(r#"{"userAgent":[1]}"#).is_err());
    }

    #[test]
    fn report_lines() {
        // As in Vercel's drain test payload (tabs escaped once or twice in the JSON text).
        let m = r#""START RequestId: x Version: $LATEST\nEND RequestId: x\nREPORT RequestId: x\tDuration: 1472.20 ms\tBilled Duration: 1473 ms\tMemory Size: 1024 MB\tMax Memory Used: 147 MB\t\n""#;
        assert_eq!(report_duration_ms(m), Some(1472.2));
        let m = r#""REPORT RequestId: x\\tInit Duration: 300.5 ms\\tDuration: 12 ms\\tBilled Duration: 13 ms""#;
        assert_eq!(report_duration_ms(m), Some(12.0));
        assert_eq!(report_duration_ms(r#""Duration: 5 ms""#), None);
        assert_eq!(
            report_duration_ms(r#""REPORT RequestId: x Duration: abc ms""#),
            None
        );
        assert_eq!(
            report_duration_ms(r#""REPORT RequestId: x Duration: 5 s""#),
            None
        );
    }
}
