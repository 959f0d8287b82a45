//! Optional TLS (rustls) for deployments without a proxy in front: `--tls-cert` and
//! `--tls-key` (PEM). Handshakes run on each connection's own task, within the connection
//! limits of [`crate::server`].

use std::{path::Path, sync::Arc};

use anyhow::Context;
use tokio_rustls::rustls::{
    ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};

/// Loads a certificate chain and its private key (both PEM) into a server configuration that
/// offers HTTP/1.1.
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| {
            format!(
                "invalid setting `tls_cert` (--tls-cert / PORTCULLIS_TLS_CERT): cannot read PEM certificates from {}",
                cert.display()
            )
        })?;
    if chain.is_empty() {
        anyhow::bail!(
            "invalid setting `tls_cert` (--tls-cert / PORTCULLIS_TLS_CERT): {} holds no certificate",
            cert.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| {
            format!(
                "invalid setting `tls_key` (--tls-key / PORTCULLIS_TLS_KEY): cannot read a PEM private key from {}",
                key.display()
            )
        })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("invalid setting `tls_key` (--tls-key / PORTCULLIS_TLS_KEY): the key does not match the certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
