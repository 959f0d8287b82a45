//! Token verification: Portcullis's verifier (header, typ, kid selection, claims to a
//! Principal) against a bare `jsonwebtoken::decode` of the same RS256 token, and the same
//! token answered from the verified-token cache.

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis_auth::{KeySet, KeySource, ResourceServer, ResourceServerConfig};
use portcullis_bench::{BenchKey, rs256_token};

const ISS: &str = "https://issuer.bench";
const AUD: &str = "http://127.0.0.1:1/mcp";

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = BenchKey::generate();
    let token = rs256_token(
        &key.private_pem,
        ISS,
        AUD,
        "alice",
        "tasks:read tasks:write",
        86_400,
    );
    let resource_server = |cache: usize| {
        let keys = KeySet::from_pem(key.public_pem.as_bytes()).unwrap();
        let mut config =
            ResourceServerConfig::new(AUD.parse().unwrap(), ISS.into(), KeySource::Static(keys));
        config.token_cache_size = cache;
        rt.block_on(ResourceServer::new(config)).unwrap()
    };
    // Off, so every iteration checks the signature; the cached case is measured apart.
    let rs = resource_server(0);
    let cached = resource_server(10_000);

    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[AUD]);
    let decoding = DecodingKey::from_rsa_pem(key.public_pem.as_bytes()).unwrap();

    let mut group = c.benchmark_group("verify_rs256");
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation).unwrap()
        })
    });
    group.bench_function("portcullis_resource_server", |b| {
        b.to_async(&rt)
            .iter(|| async { rs.verify(&token).await.unwrap() })
    });
    group.bench_function("portcullis_cached", |b| {
        b.to_async(&rt)
            .iter(|| async { cached.verify(&token).await.unwrap() })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
