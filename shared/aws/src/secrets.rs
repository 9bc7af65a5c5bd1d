//! Secrets Manager: a secret's `SecretString`, read once when a function starts (the
//! sign-in function's CloudFront key).
//!
//! Secrets Manager rather than SSM's `SecureString`: CloudFormation can make a Secrets
//! Manager secret (the template names it, the operator puts the key in it) and a role
//! can be allowed `GetSecretValue` on that one secret, whereas a `SecureString`
//! parameter cannot be made by a template at all.

use openmic_core::errors::BackendError;

use crate::Aws;

impl Aws {
    /// The `SecretString` of secret `id` (its name or ARN). Nothing of the value is
    /// ever in an error or a log line.
    pub async fn secret_string(&self, id: &str) -> Result<String, BackendError> {
        let client = aws_sdk_secretsmanager::Client::new(&self.sdk);
        let out = client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| crate::classify("Secrets Manager GetSecretValue", e))?;
        out.secret_string.ok_or_else(|| {
            BackendError::Permanent(
                "Secrets Manager GetSecretValue: the secret has no SecretString (a binary secret?)"
                    .into(),
            )
        })
    }
}
