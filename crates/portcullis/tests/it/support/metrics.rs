//! Reading `/metrics` as Prometheus would: scraped over HTTP, parsed by a text-format parser.

pub use prometheus_parse::Sample;

/// Scrapes `http://{addr}/metrics`; returns the raw text (for messages) and its samples.
pub async fn scrape(addr: &str) -> (String, Vec<Sample>) {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let samples = prometheus_parse::Scrape::parse(lines)
        .expect("valid Prometheus text")
        .samples;
    (text, samples)
}

/// The sum of the counter or gauge samples named `name` whose labels include `labels`.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}
