//! Turns `tls_server_config` into a rustls server config. Each problem names the field whose
//! file or value is at fault, so the loader can point at its line.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use super::file::{ClientAuth, TlsServerConfig, TlsVersion};

type Problem = (String, String);

fn problem(field: &str, msg: impl Into<String>) -> Problem {
    (format!("tls_server_config.{field}"), msg.into())
}

fn certs(path: &Path, field: &str) -> Result<Vec<CertificateDer<'static>>, Problem> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            problem(
                field,
                format!("cannot read certificates from {}: {e}", path.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(problem(
            field,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(certs)
}

/// Builds the server config; `dir` resolves relative paths (the web config file's folder).
pub fn build(t: &TlsServerConfig, dir: &Path, http2: bool) -> Result<ServerConfig, Problem> {
    if t.cert_file.as_os_str().is_empty() {
        return Err(problem("cert_file", "is required"));
    }
    if t.key_file.as_os_str().is_empty() {
        return Err(problem("key_file", "is required"));
    }
    let min = t.min_version.unwrap_or(TlsVersion::TLS12);
    let max = t.max_version.unwrap_or(TlsVersion::TLS13);
    if min < TlsVersion::TLS12 {
        return Err(problem(
            "min_version",
            "TLS10 and TLS11 are not offered; use TLS12 or TLS13",
        ));
    }
    if max < min {
        return Err(problem("max_version", "is below min_version"));
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::TLS12, &rustls::version::TLS12),
        (TlsVersion::TLS13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| *v >= min && *v <= max)
    .map(|(_, p)| p)
    .collect();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| problem("min_version", e.to_string()))?;

    let auth = t.client_auth();
    let builder = match auth {
        ClientAuth::NoClientCert => {
            if t.client_ca_file.is_some() {
                return Err(problem(
                    "client_ca_file",
                    "is set but client_auth_type is NoClientCert; choose \
                     RequireAndVerifyClientCert or VerifyClientCertIfGiven",
                ));
            }
            builder.with_no_client_auth()
        }
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            return Err(problem(
                "client_auth_type",
                "certificates that are never verified are not accepted; use \
                 VerifyClientCertIfGiven or RequireAndVerifyClientCert with a client_ca_file",
            ));
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let Some(ca) = &t.client_ca_file else {
                return Err(problem(
                    "client_auth_type",
                    "verifies client certificates, so client_ca_file is required",
                ));
            };
            let mut roots = rustls::RootCertStore::empty();
            for c in certs(&dir.join(ca), "client_ca_file")? {
                roots
                    .add(c)
                    .map_err(|e| problem("client_ca_file", format!("not a usable CA: {e}")))?;
            }
            let mut v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if auth == ClientAuth::VerifyClientCertIfGiven {
                v = v.allow_unauthenticated();
            }
            let v = v
                .build()
                .map_err(|e| problem("client_ca_file", e.to_string()))?;
            builder.with_client_cert_verifier(v)
        }
    };
    let chain = certs(&dir.join(&t.cert_file), "cert_file")?;
    let key_path = dir.join(&t.key_file);
    // The key's content never reaches a message: only its path and rustls' reason.
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
        problem(
            "key_file",
            format!("cannot read a private key from {}: {e}", key_path.display()),
        )
    })?;
    let mut cfg = builder
        .with_single_cert(chain, key)
        .map_err(|e| problem("key_file", format!("does not match cert_file: {e}")))?;
    cfg.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(cfg)
}

/// The problems `build` would report, for validation.
pub fn check(t: &TlsServerConfig, dir: &Path, http2: bool) -> Vec<Problem> {
    build(t, dir, http2).err().into_iter().collect()
}
