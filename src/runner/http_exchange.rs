//! The HTTP action: renders a step's request with the iteration's variables and sends it
//! on the target's pooled client, waiting for the whole response until the step's deadline.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

use tokio::time::Instant;

use super::spans::{IterationSpan, StepSpan};
use tokio::time::Timeout;

use super::{Context, Deadline};
use crate::client::{self, HttpClient, Response, TransportError};
use crate::plan::{Entry, HttpRequest, Step};

/// An HTTP request ready to send.
pub type Rendered = Request<Full<Bytes>>;

/// The request of `http`, rendered with `context`; `None` when a variable it uses has no
/// value or the rendered URL or header is not valid (the step cannot be sent).
pub fn render_request(http: &HttpRequest, context: &Context) -> Option<Rendered> {
    let body = match &http.body_template {
        Some(template) => Bytes::from(context.render(template)?),
        None => http.body.clone(),
    };
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = http.method.clone();
    *request.uri_mut() = match &http.uri_template {
        Some(template) => context.render(template)?.parse().ok()?,
        None => http.uri.clone(),
    };
    *request.headers_mut() = http.headers.clone();
    for (name, template) in &http.header_templates {
        let mut value = http::HeaderValue::from_str(&context.render(template)?).ok()?;
        value.set_sensitive(true);
        request.headers_mut().insert(name.clone(), value);
    }
    Some(request)
}

/// The request of a replayed log entry, sent under its route's step (`route`): the
/// entry's method, URI, body and headers over the route's headers.
pub(super) fn replayed(entry: &Entry, route: &HttpRequest) -> Rendered {
    let mut request = Request::new(Full::new(entry.body.clone()));
    *request.method_mut() = entry.method.clone();
    *request.uri_mut() = entry.uri.clone();
    *request.headers_mut() = route.headers.clone();
    for (name, value) in &entry.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    request
}

/// The span of step `index`, intended at `intended_at`, when tracing is on; `request`
/// then carries its context (`traceparent`) to the target.
pub(super) fn traced(
    trace: Option<&IterationSpan<'_>>,
    index: usize,
    intended_at: Instant,
    request: &mut Rendered,
) -> Option<StepSpan> {
    let span = trace?.start_step(index, intended_at, request);
    span.inject(request.headers_mut());
    Some(span)
}

/// Sends `request` of `step` (whose action is `http`) and reads its response, keeping the
/// body when the step's checks or extractions need it, until `deadline` (see
/// `Exchange::within` for what the result amounts to).
///
/// A plain function returning the future, not an `async fn`: an `async fn` would keep its
/// arguments beside the send future it builds from them, and that future sizes every
/// iteration's task, which the scheduler moves on each spawn.
pub(super) fn exchange<'a>(
    client: &'a HttpClient,
    step: &Step,
    http: &HttpRequest,
    request: Rendered,
    deadline: Deadline,
) -> Timeout<impl Future<Output = Result<Response, TransportError>> + Send + 'a> {
    let keep_body = step.needs_body().then_some(http.max_body_bytes);
    tokio::time::timeout_at(deadline.at, client::send(client, request, keep_body))
}
