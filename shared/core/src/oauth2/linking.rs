//! The linking policy: whose account a sign-in reaches, one decision function over the
//! facts account resolution reads (`docs/security.md`, "the linking policy").

use super::*;

/// What account resolution knows about one sign-in (the inputs of [`decide`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The signed-in user, only when the flow was started by that same session in this browser
    /// (the binding cookie and the sealed session mark both match); `None` otherwise.
    pub linking: Option<String>,
    /// The user this provider account is linked to.
    pub identity_owner: Option<String>,
    /// The provider gave an address (verified or not).
    pub address: bool,
    /// The address is verified by a provider trusted to verify addresses.
    pub verified: bool,
    /// The user whose email claim holds the (verified) address, and whether that account has
    /// verified it itself.
    pub email_owner: Option<(String, bool)>,
    /// The user whose identities hold the (verified) address.
    pub identity_email_owner: Option<String>,
}

/// Whose account a sign-in reaches: the linking policy, one function (table in
/// `docs/security.md`, proved row by row in `tests::linking_table`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Link the provider account to the signed-in user (or refresh its link to them).
    Link(String),
    /// Sign in to the user the provider account is linked to.
    SignIn(String),
    /// Link to the account that holds and has verified the provider's verified address.
    LinkByAddress(String),
    /// A new user; `with_email`: the provider's verified address becomes its email.
    NewUser {
        with_email: bool,
    },
    Refuse(ErrorType, &'static str),
}

pub(super) const HELD_BY_ANOTHER: &str =
    "The provider account or its email address belongs to another user.";
pub(super) const UNPROVEN_ACCOUNT: &str = "An account with this email address exists, but its owner has not verified the address. Sign in to that account and verify it, or link the provider from it.";
pub(super) const NO_EMAIL: &str = "OAuth provider failed to return email.";

/// The linking policy. An address counts only when `verified` (a trusted provider verified it);
/// otherwise it is as if the provider had sent none, except that a new account may still be
/// made (without the address).
pub fn decide(f: &Facts) -> Decision {
    // (a) Linking to the signed-in user who started the flow. A new link is refused when the
    // provider account or its verified address is another user's (Appwrite's rule); a link
    // already the user's is refreshed (its address then stays unreserved, see `resolve`).
    if let Some(me) = &f.linking {
        let mine = f.identity_owner.as_deref() == Some(me.as_str());
        let address_elsewhere = f.verified
            && (f.email_owner.as_ref().is_some_and(|(o, _)| o != me)
                || f.identity_email_owner.as_deref().is_some_and(|o| o != me));
        if !mine && (f.identity_owner.is_some() || address_elsewhere) {
            return Decision::Refuse(ErrorType::UserAlreadyExists, HELD_BY_ANOTHER);
        }
        return Decision::Link(me.clone());
    }
    // (b) A known provider account.
    if let Some(owner) = &f.identity_owner {
        return Decision::SignIn(owner.clone());
    }
    if f.verified {
        // (c) An account with the address: only one that verified it itself (no pre-registered
        // account captures the sign-in).
        if let Some((owner, proven)) = &f.email_owner {
            return match proven {
                true => Decision::LinkByAddress(owner.clone()),
                false => Decision::Refuse(ErrorType::UserAlreadyExists, UNPROVEN_ACCOUNT),
            };
        }
        // (d) Another identity holds the verified address: its user.
        if let Some(owner) = &f.identity_email_owner {
            return Decision::LinkByAddress(owner.clone());
        }
    }
    // (e) A new user; an unverified address is not claimed.
    match f.address {
        true => Decision::NewUser {
            with_email: f.verified,
        },
        false => Decision::Refuse(ErrorType::UserUnauthorized, NO_EMAIL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of the linking table of `docs/security.md`: (row, facts, decision).
    #[test]
    fn linking_table() {
        use Decision::*;
        let me = || Some("me".to_owned());
        let other = || Some("other".to_owned());
        let f = |linking: Option<String>,
                 identity_owner: Option<String>,
                 address: bool,
                 verified: bool,
                 email_owner: Option<(&str, bool)>,
                 identity_email_owner: Option<String>| Facts {
            linking,
            identity_owner,
            address,
            verified,
            email_owner: email_owner.map(|(o, p)| (o.to_owned(), p)),
            identity_email_owner,
        };
        let exists = |m: &'static str| Refuse(ErrorType::UserAlreadyExists, m);
        let rows: Vec<(&str, Facts, Decision)> = vec![
            (
                "L1 link, nothing known",
                f(me(), None, true, true, None, None),
                Link("me".into()),
            ),
            (
                "L2 link, already mine",
                f(me(), me(), true, true, Some(("me", true)), me()),
                Link("me".into()),
            ),
            (
                "L3 link, account is another's",
                f(me(), other(), true, true, None, None),
                exists(HELD_BY_ANOTHER),
            ),
            (
                "L4 link, verified address is another's",
                f(me(), None, true, true, Some(("other", true)), None),
                exists(HELD_BY_ANOTHER),
            ),
            (
                "L5 link, verified address on another's identity",
                f(me(), None, true, true, None, other()),
                exists(HELD_BY_ANOTHER),
            ),
            (
                "L6 link, unverified address is ignored",
                f(me(), None, true, false, None, None),
                Link("me".into()),
            ),
            (
                "L7 link, no address",
                f(me(), None, false, false, None, None),
                Link("me".into()),
            ),
            (
                "L8 refresh, verified address now another's",
                f(me(), me(), true, true, Some(("other", true)), None),
                Link("me".into()),
            ),
            (
                "S1 known provider account",
                f(None, other(), true, false, None, None),
                SignIn("other".into()),
            ),
            (
                "S2 known, address now another's",
                f(None, other(), true, true, Some(("me", true)), None),
                SignIn("other".into()),
            ),
            (
                "A1 verified address, proven account",
                f(None, None, true, true, Some(("other", true)), None),
                LinkByAddress("other".into()),
            ),
            (
                "A2 verified address, unproven account",
                f(None, None, true, true, Some(("other", false)), None),
                exists(UNPROVEN_ACCOUNT),
            ),
            (
                "A3 verified address on an identity",
                f(None, None, true, true, None, other()),
                LinkByAddress("other".into()),
            ),
            (
                "N1 verified, free address",
                f(None, None, true, true, None, None),
                NewUser { with_email: true },
            ),
            (
                "N2 unverified or untrusted address",
                f(None, None, true, false, None, None),
                NewUser { with_email: false },
            ),
            (
                "N3 no address",
                f(None, None, false, false, None, None),
                Refuse(ErrorType::UserUnauthorized, NO_EMAIL),
            ),
        ];
        for (row, facts, want) in rows {
            assert_eq!(decide(&facts), want, "{row}");
        }
    }
}
