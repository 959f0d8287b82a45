//! A tool's structured result as the JSON text it was printed to, for a caller that writes
//! the answer itself (the HTTP layer's direct path).
//!
//! Why: a tool's payload goes out twice, as `structuredContent` and as the same JSON in a text
//! block. Through rmcp's types that means printing the payload, also building it into a
//! `serde_json::Value` (a map and a string per field) and walking that Value again when the
//! answer is written; in `list_tasks` profiles that was a fifth of the server's time. Inside
//! [`capture`] a tool leaves `structuredContent` out of its result and hands over the printed
//! text instead, which the caller writes verbatim. Outside it (rmcp's transport, the gateway),
//! results are built as usual.

use std::cell::RefCell;

use serde_json::value::RawValue;

tokio::task_local! {
    static PRINTED: RefCell<Option<Box<RawValue>>>;
}

/// Runs `call`; returns its output and the structured payload a tool printed during it, if one
/// did (the result then lacks `structuredContent`, and the caller must write this in its place).
pub async fn capture<F: Future>(call: F) -> (F::Output, Option<Box<RawValue>>) {
    PRINTED
        .scope(RefCell::new(None), async move {
            let output = call.await;
            (output, PRINTED.with(|slot| slot.borrow_mut().take()))
        })
        .await
}

/// Hands `payload` to the enclosing [`capture`]; gives it back outside one.
pub(crate) fn hand_over(payload: Box<RawValue>) -> Result<(), Box<RawValue>> {
    let mut payload = Some(payload);
    let kept = PRINTED.try_with(|slot| *slot.borrow_mut() = payload.take());
    match (kept, payload) {
        (Ok(()), None) => Ok(()),
        (_, payload) => Err(payload.expect("not taken when the slot is absent")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    #[tokio::test]
    async fn a_payload_reaches_the_enclosing_capture_only() {
        let given = hand_over(printed(r#"{"count":0}"#));
        assert_eq!(
            given.unwrap_err().get(),
            r#"{"count":0}"#,
            "given back outside"
        );
        let ((), kept) = capture(async {
            hand_over(printed(r#"{"count":1}"#)).unwrap();
        })
        .await;
        assert_eq!(kept.unwrap().get(), r#"{"count":1}"#);
        let ((), none) = capture(async {}).await;
        assert!(none.is_none());
    }
}
