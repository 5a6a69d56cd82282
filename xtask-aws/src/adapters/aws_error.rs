//! What an AWS SDK error says, in words a release engineer can act on.

use aws_smithy_runtime_api::client::{orchestrator::HttpResponse, result::SdkError};
use aws_smithy_types::error::{display::DisplayErrorContext, metadata::ProvideErrorMetadata};

/// An SDK error as a release engineer reads it: which call AWS refused and what it said,
/// and for a refusal (403, AccessDenied) that a permission is missing and where each
/// queue's policy is. The SDK alone says "service error".
pub fn aws_error<E>(call: &str, error: SdkError<E, HttpResponse>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = error.raw_response().map(|response| response.status().as_u16());
    let code = error.code().map(str::to_owned);
    let said = match (&code, error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.clone(),
        _ => status.map_or_else(|| "no answer".to_owned(), |status| format!("HTTP {status}")),
    };
    let refused = status == Some(403) || code.as_deref().is_some_and(|code| code.starts_with("AccessDenied"));
    if refused {
        return anyhow::anyhow!(
            "AWS refused {call} ({said}): the credentials in use lack a permission this command needs. The policy \
             of each pipeline queue is printed by `cargo xtask iam-policy ops|release` (RELEASE.md, Agents and \
             their credentials); compare the role's policy with it"
        );
    }
    anyhow::anyhow!("{call} failed ({said}): {}", DisplayErrorContext(&error))
}
