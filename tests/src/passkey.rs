//! A software authenticator for the passkey tests and the fault lane's passkey driver:
//! 1Password's `passkey-authenticator` (a CTAP2 authenticator with resident keys, counters and
//! user verification) behind its WebAuthn client `passkey-client`, which writes
//! `clientDataJSON` with the origin and checks the RP ID as a browser does.

use passkey_authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey_client::{Client, DefaultClientData};
use passkey_types::{
    ctap2::{Aaguid, Ctap2Error},
    webauthn, Passkey,
};
use serde_json::Value;
use url::Url;

/// The web app's origin in the tests (the RP ID is `localhost`).
pub const ORIGIN: &str = "http://localhost:3000";

/// The person at the authenticator: present, and verified (PIN, biometrics) or not.
struct Person {
    verified: bool,
}

#[async_trait::async_trait]
impl UserValidationMethod for Person {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Passkey>,
        presence: bool,
        _verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence,
            verification: self.verified,
        })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(self.verified)
    }
}

/// A software authenticator holding one credential. `Clone` copies the credential, counter
/// included: a cloned authenticator.
#[derive(Clone)]
pub struct Key {
    pub stored: Option<Passkey>,
    pub verified: bool,
    /// Keep a signature counter (a hardware key); synced passkeys report 0 forever.
    pub counter: bool,
}

impl Key {
    pub fn synced() -> Self {
        Self {
            stored: None,
            verified: true,
            counter: false,
        }
    }

    pub fn hardware() -> Self {
        Self {
            counter: true,
            ..Self::synced()
        }
    }

    fn authenticator(
        &self,
    ) -> Authenticator<Option<Passkey>, Person, passkey_crypto::AvailableBackend> {
        let mut auth = Authenticator::new(
            Aaguid::new_empty(),
            self.stored.clone(),
            Person {
                verified: self.verified,
            },
            passkey_crypto::AvailableBackend,
        );
        auth.set_make_credentials_with_signature_counter(self.counter);
        auth
    }

    /// `navigator.credentials.create(options)` at `origin`: the credential's JSON.
    pub async fn create(&mut self, options: &Value, origin: &str) -> Result<Value, String> {
        let mut client = Client::new(self.authenticator()).allows_insecure_localhost(true);
        let opts: webauthn::CredentialCreationOptions =
            serde_json::from_value(options.clone()).map_err(|e| e.to_string())?;
        let cred = client
            .register(&Url::parse(origin).unwrap(), opts, DefaultClientData)
            .await
            .map_err(|e| format!("{e:?}"))?;
        self.stored = client.authenticator().store().clone();
        Ok(serde_json::to_value(&cred).unwrap())
    }

    /// `navigator.credentials.get(options)` at `origin`.
    pub async fn get(&mut self, options: &Value, origin: &str) -> Result<Value, String> {
        let mut client = Client::new(self.authenticator()).allows_insecure_localhost(true);
        let opts: webauthn::CredentialRequestOptions =
            serde_json::from_value(options.clone()).map_err(|e| e.to_string())?;
        let cred = client
            .authenticate(&Url::parse(origin).unwrap(), opts, DefaultClientData)
            .await
            .map_err(|e| format!("{e:?}"))?;
        self.stored = client.authenticator().store().clone();
        Ok(serde_json::to_value(&cred).unwrap())
    }
}
