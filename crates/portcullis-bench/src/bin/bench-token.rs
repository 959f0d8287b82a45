//! `bench-token keygen DIR` writes private.pem/public.pem; `bench-token mint KEY ISS AUD SUB
//! SCOPE` prints an RS256 token valid for a day. Used by `bench/load.sh`.

use portcullis_bench::{BenchKey, rs256_token};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["keygen", dir] => {
            let key = BenchKey::generate();
            std::fs::write(format!("{dir}/private.pem"), key.private_pem)
                .expect("write private.pem");
            std::fs::write(format!("{dir}/public.pem"), key.public_pem).expect("write public.pem");
        }
        ["mint", key, iss, aud, sub, scope] => {
            let pem = std::fs::read_to_string(key).expect("read key");
            println!("{}", rs256_token(&pem, iss, aud, sub, scope, 86_400));
        }
        _ => {
            eprintln!("usage: bench-token keygen DIR | bench-token mint KEY ISS AUD SUB SCOPE");
            std::process::exit(2);
        }
    }
}
