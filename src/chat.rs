//! The non-streaming driver: one chat completion over a model chain, each try a single
//! POST whose whole body is checked before the chain accepts it.

use crate::answer_facts::read_chat_body;
use crate::failover::{
    min_opt, walk_chain, AttemptOutcome, Backoff, ChainError, ChatRequest, ChatSuccess,
};
use crate::response::error_from_response;
use crate::transport::{version_name, Transport};

/// Run a non-streaming chat completion over the chain.
pub async fn complete(
    transport: &Transport,
    request: &ChatRequest,
    backoff: &Backoff,
) -> Result<ChatSuccess, ChainError> {
    let attempt_limit = request.timeouts.attempt;
    let headers = &request.headers;
    let path = request.path.as_str();
    let ((body, (summary, tape), response_headers), attempts) =
        walk_chain(request, backoff, |model, body, remaining| async move {
            // `model` is the chain entry: a `backend::model` goes to that backend.
            let mut http_version = None;
            let result = transport
                .send_chat(
                    &model,
                    path,
                    body,
                    headers,
                    min_opt(attempt_limit, remaining),
                )
                .await
                .and_then(|response| {
                    http_version = Some(version_name(response.version));
                    if response.status.is_success() {
                        read_chat_body(&response.headers, response.body)
                            .map(|(body, summary, tape)| (body, (summary, tape), response.headers))
                    } else {
                        Err(error_from_response(
                            response.status.as_u16(),
                            &response.headers,
                            &response.body,
                        ))
                    }
                });
            let (provider, cost) = match &result {
                Ok((_, (summary, _), _)) => (summary.provider.clone(), summary.cost.clone()),
                Err(_) => (None, None),
            };
            AttemptOutcome {
                result,
                provider,
                cost,
                first_token: None,
                http_version,
            }
        })
        .await?;
    Ok(ChatSuccess {
        body,
        summary,
        tape,
        attempts,
        headers: response_headers,
    })
}
