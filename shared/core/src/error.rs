//! The one error type. Every failure a request can meet is an [`Error`] whose [`ErrorType`] maps,
//! in this file only, to Appwrite's `type` string, HTTP status and default message.

use serde_json::json;

/// Appwrite's server version reported in every error envelope.
pub const APPWRITE_VERSION: &str = "1.9.6";

macro_rules! error_types {
    ($( $variant:ident => ($ty:literal, $code:literal, $msg:literal), )*) => {
        /// Appwrite error types this API can raise (`app/config/errors.php`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorType { $( $variant, )* }

        impl ErrorType {
            /// The wire `type` string.
            pub fn as_str(self) -> &'static str { match self { $( Self::$variant => $ty, )* } }
            /// The HTTP status (and envelope `code`).
            pub fn status(self) -> u16 { match self { $( Self::$variant => $code, )* } }
            /// Appwrite's default message for this type.
            pub fn default_message(self) -> &'static str { match self { $( Self::$variant => $msg, )* } }
        }
    };
}

error_types! {
    ArgumentInvalid => ("general_argument_invalid", 400, "The request contains one or more invalid arguments. Please refer to the endpoint documentation."),
    QueryInvalid => ("general_query_invalid", 400, "The query's syntax is invalid. Please check the query and try again."),
    CursorNotFound => ("general_cursor_not_found", 400, "The cursor is invalid. This can happen if the item represented by the cursor has been deleted."),
    BadRequest => ("general_bad_request", 400, "There was an error processing your request. Please check the inputs and try again."),
    RouteNotFound => ("general_route_not_found", 404, "The requested route was not found. Please refer to the API docs and try again."),
    UnauthorizedScope => ("general_unauthorized_scope", 401, "The current user or API key does not have the required scopes to access the requested resource."),
    RateLimitExceeded => ("general_rate_limit_exceeded", 429, "Rate limit for the current endpoint has been exceeded. Please try again after some time."),
    UnknownOrigin => ("general_unknown_origin", 403, "The request originated from an unknown origin. If you trust this domain, please list it as a trusted platform in the Appwrite console."),
    ServerError => ("general_server_error", 500, "Server Error"),
    Unknown => ("general_unknown", 500, "Server Error"),
    ProjectNotFound => ("project_not_found", 404, "Project with the requested ID could not be found. Please check the value of the X-Appwrite-Project header to ensure the correct project ID is being used."),
    UserUnauthorized => ("user_unauthorized", 401, "The current user is not authorized to perform the requested action."),
    UserBlocked => ("user_blocked", 403, "The current user has been blocked. You can unblock the user by making a request to the User API's \"Update User Status\" endpoint or in the Appwrite Console's Auth section."),
    UserInvalidCredentials => ("user_invalid_credentials", 401, "Invalid credentials. Please check the email and password."),
    UserAlreadyExists => ("user_already_exists", 409, "A user with the same id, email, or phone already exists in this project."),
    UserTargetAlreadyExists => ("user_target_already_exists", 409, "A target with the same ID already exists."),
    UserPhoneAlreadyExists => ("user_phone_already_exists", 409, "A user with the same phone number already exists in the current project."),
    UserNotFound => ("user_not_found", 404, "User with the requested ID could not be found."),
    UserSessionNotFound => ("user_session_not_found", 404, "The current user session could not be found."),
    UserSessionAlreadyExists => ("user_session_already_exists", 401, "Creation of a session is prohibited when a session is active."),
    UserPasswordResetRequired => ("user_password_reset_required", 412, "The current user requires a password reset."),
    UserIdentityNotFound => ("user_identity_not_found", 404, "The identity could not be found. Please sign in with OAuth provider to create identity first."),
    UserMoreFactorsRequired => ("user_more_factors_required", 401, "More factors are required to complete the sign in process."),
    UserChallengeRequired => ("user_challenge_required", 401, "A recently succeessful challenge is required to complete this action. A challenge is considered recent for 5 minutes."),
    UserAuthenticatorNotFound => ("user_authenticator_not_found", 404, "Authenticator could not be found on the current user."),
    UserAuthenticatorAlreadyVerified => ("user_authenticator_already_verified", 409, "This authenticator is already verified on the current user."),
    UserRecoveryCodesAlreadyExists => ("user_recovery_codes_already_exists", 409, "The current user already generated recovery codes and they can only be read once for security reasons."),
    UserRecoveryCodesNotFound => ("user_recovery_codes_not_found", 404, "The current user does not have recovery codes."),
    UserAuthMethodUnsupported => ("user_auth_method_unsupported", 501, "Current authentication method is not supported."),
    UserEmailNotVerified => ("user_email_not_verified", 400, "The email of the current user has not been verified."),
    UserPhoneNotVerified => ("user_phone_not_verified", 400, "The phone of the current user has not been verified."),
    UserCountExceeded => ("user_count_exceeded", 400, "The current project has exceeded the maximum number of users. Please check your user limit in the Appwrite console."),
    ProviderDisabled => ("project_provider_disabled", 412, "This provider is disabled. Please enable the provider from your Appwrite console to continue."),
    InvalidFailureUrl => ("project_invalid_failure_url", 400, "Invalid redirect URL for OAuth failure."),
    InvalidSuccessUrl => ("project_invalid_success_url", 400, "Invalid redirect URL for OAuth success."),
    OAuth2ProviderError => ("user_oauth2_provider_error", 424, "Failed to obtain access token. The OAuth2 provider returned an error."),
    OAuth2ProviderFailure => ("user_oauth2_provider_failure", 424, "Failed to obtain access token. The OAuth2 provider responded with an error."),
    OAuth2BadRequest => ("user_oauth2_bad_request", 400, "OAuth2 provider rejected the bad request."),
    UserMissingId => ("user_missing_id", 400, "Missing ID from OAuth2 provider."),
    UserInvalidToken => ("user_invalid_token", 401, "Invalid token passed in the request."),
    UserEmailNotFound => ("user_email_not_found", 400, "The current user does not have an email address. Please add an email address to continue."),
    UserPhoneNotFound => ("user_phone_not_found", 400, "The current user does not have a phone number. Please add a phone number to continue."),
    UserEmailAlreadyVerified => ("user_email_already_verified", 409, "The email address of the current user has already been verified."),
    UserPhoneAlreadyVerified => ("user_phone_already_verified", 409, "The phone number of the current user has already been verified."),
    UserEmailAlreadyExists => ("user_email_already_exists", 409, "A user with the same email already exists in the current project."),
    SmtpDisabled => ("general_smtp_disabled", 503, "SMTP is disabled for your project. Please configure SMTP to use this endpoint."),
    PhoneDisabled => ("general_phone_disabled", 503, "Phone provider is not configured for your project. Please configure a phone provider to use this endpoint."),
    UserJwtInvalid => ("user_jwt_invalid", 401, "The JWT token is invalid. Please pass a valid JWT token."),
    UserJwtAndCookieSet => ("user_jwt_and_cookie_set", 403, "Cannot use both JWT and cookie session at the same time."),
    UserJwtCreationDenied => ("user_jwt_creation_denied", 403, "Cannot create a JWT from a JWT-authenticated request. Use a session instead."),
    ProjectKeyExpired => ("project_key_expired", 401, "The project key has expired. Please generate a new key using the Appwrite console."),
    PasswordRecentlyUsed => ("password_recently_used", 400, "The password you are trying to use is similar to your previous password. For your security, please choose a different password and try again."),
    PasswordPersonalData => ("password_personal_data", 400, "The password you are trying to use contains references to your name, email, phone or userID. For your security, please choose a different password and try again."),
    MessageDeliveryFailed => ("general_server_error", 503, "The message could not be sent. Please try again later."),
    Unavailable => ("general_server_error", 503, "The server is temporarily unavailable. Please try again later."),
}

/// A request failure, rendered as Appwrite's `{message, code, type, version}` envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorType,
    pub message: String,
    /// What went wrong inside (an AWS error, a broken invariant): kept for the log line that
    /// `api::render` writes, never sent to the client.
    pub source: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorType) -> Self {
        Self {
            kind,
            message: kind.default_message().to_owned(),
            source: None,
        }
    }

    pub fn with_message(kind: ErrorType, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// `Param "<name>" is not optional.`
    pub fn missing_param(name: &str) -> Self {
        Self::with_message(
            ErrorType::ArgumentInvalid,
            format!("Param \"{name}\" is not optional."),
        )
    }

    /// ``Invalid `<name>` param: <description>``
    pub fn invalid_param(name: &str, description: &str) -> Self {
        Self::with_message(
            ErrorType::ArgumentInvalid,
            format!("Invalid `{name}` param: {description}"),
        )
    }

    /// An internal failure: the detail travels with the error to `render`, which logs it; the
    /// client sees only Appwrite's generic 500.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self {
            source: Some(detail.to_string()),
            ..Self::new(ErrorType::ServerError)
        }
    }

    /// Another write changed the account between our read and our transaction, every time we
    /// tried: nothing was written, and the client is told so rather than told its input was bad.
    pub fn contended() -> Self {
        Self::internal("the account changed while the request ran; nothing was written")
    }

    /// The HTTP status sent: Appwrite passes only some statuses through, the rest become 500.
    pub fn status(&self) -> u16 {
        match self.kind.status() {
            s @ (400 | 401 | 402 | 403 | 404 | 405 | 408 | 409 | 410 | 412 | 416 | 422 | 429
            | 451 | 501 | 503) => s,
            _ => 500,
        }
    }

    /// The JSON envelope; a 500 never carries internal detail.
    pub fn envelope(&self) -> serde_json::Value {
        let status = self.status();
        let message = if status == 500 {
            "Server Error"
        } else {
            self.message.as_str()
        };
        json!({
            "message": message,
            "code": status,
            "type": self.kind.as_str(),
            "version": APPWRITE_VERSION,
        })
    }
}

impl From<ErrorType> for Error {
    fn from(kind: ErrorType) -> Self {
        Self::new(kind)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.kind.as_str(),
            self.status(),
            self.message
        )?;
        // Logged where an error is swallowed (a best-effort clean-up), so keep the cause.
        match &self.source {
            Some(source) => write!(f, " [{source}]"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_all_four_fields() {
        let e = Error::missing_param("email");
        let v = e.envelope();
        assert_eq!(v["message"], "Param \"email\" is not optional.");
        assert_eq!(v["code"], 400);
        assert_eq!(v["type"], "general_argument_invalid");
        assert_eq!(v["version"], APPWRITE_VERSION);
    }

    #[test]
    fn internal_errors_keep_their_source_for_the_log_only() {
        let e = Error::internal("ConditionalCheckFailed on USER#u1");
        assert_eq!(
            e.source.as_deref(),
            Some("ConditionalCheckFailed on USER#u1")
        );
        assert!(!e.envelope().to_string().contains("USER#u1"));
    }

    #[test]
    fn server_errors_hide_detail() {
        let e = Error::with_message(ErrorType::ServerError, "dynamodb exploded at table x");
        assert_eq!(e.envelope()["message"], "Server Error");
        assert_eq!(e.envelope()["code"], 500);
    }
}
