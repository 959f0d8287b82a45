//! rmcp's Streamable HTTP client, with the acting user's credentials computed per request
//! rather than fixed when the connection opens: a signed upstream token expires within
//! minutes, while the upstream session it opened may live much longer.

use std::{collections::HashMap, sync::Arc};

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::transport::streamable_http_client::SseError;
use rmcp::{
    model::ClientJsonRpcMessage,
    transport::streamable_http_client::{
        StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
        StreamableHttpResponseLimits,
    },
};
use sse_stream::Sse;

use crate::identity::{Acting, IdentityProvider, Outgoing};

/// A reqwest client that adds the credentials of one acting user to every request.
#[derive(Clone)]
pub struct IdentityClient {
    pub http: reqwest::Client,
    pub identity: Arc<IdentityProvider>,
    pub acting: Arc<Acting>,
}

type Headers = HashMap<HeaderName, HeaderValue>;

impl IdentityClient {
    /// The bearer value and the headers with this user's credentials merged in. A failure to
    /// build them (an unsignable token, a user id that is not a header value) sends no
    /// credentials: the upstream then refuses the request, which is the safe outcome, and the
    /// cause is logged.
    fn credentials(&self, mut headers: Headers) -> (Option<String>, Headers) {
        match self.identity.outgoing(&self.acting) {
            Ok(Outgoing {
                bearer,
                headers: extra,
            }) => {
                headers.extend(extra);
                (bearer, headers)
            }
            Err(error) => {
                tracing::warn!(upstream = %self.identity.upstream, %error, "no credentials for the upstream request");
                (None, headers)
            }
        }
    }
}

impl StreamableHttpClient for IdentityClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth: Option<String>,
        headers: Headers,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let (bearer, headers) = self.credentials(headers);
        self.http
            .post_message(uri, message, session_id, bearer, headers)
            .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth: Option<String>,
        headers: Headers,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let (bearer, headers) = self.credentials(headers);
        self.http
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                bearer,
                headers,
                max_sse_event_size,
            )
            .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth: Option<String>,
        headers: Headers,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let (bearer, headers) = self.credentials(headers);
        self.http
            .post_message_with_response_limits(uri, message, session_id, bearer, headers, limits)
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth: Option<String>,
        headers: Headers,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        let (bearer, headers) = self.credentials(headers);
        self.http
            .delete_session(uri, session_id, bearer, headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth: Option<String>,
        headers: Headers,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let (bearer, headers) = self.credentials(headers);
        self.http
            .get_stream(uri, session_id, last_event_id, bearer, headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth: Option<String>,
        headers: Headers,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let (bearer, headers) = self.credentials(headers);
        self.http
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                bearer,
                headers,
                max_sse_event_size,
            )
            .await
    }
}
