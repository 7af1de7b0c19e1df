//! Account resolution and the sign-in write: rules (a)-(e) of contract section 4.6 under
//! [`decide`], the identity change, and the session or token-mode secret, in one transaction.

use super::*;

/// The issuer a provider account's subject belongs to, part of its identity's key: the OpenID
/// issuer, or a plain provider's token endpoint (GitHub Enterprise moves it).
pub(super) fn issuer_key(conf: &OAuth2Provider) -> String {
    match (conf.provider.protocol, &conf.issuer, &conf.token_url) {
        (_, Some(issuer), _) => issuer.clone(),
        (Protocol::Oidc { issuer: Some(i) }, None, _) => i.to_owned(),
        (Protocol::OAuth2(_), None, Some(token)) => token.clone(),
        (Protocol::OAuth2(plain), None, None) => plain.token.to_owned(),
        (Protocol::Oidc { issuer: None }, None, _) => String::new(),
    }
}

/// Who the sign-in is for.
pub(super) enum Target {
    Existing {
        uid: String,
        identity: Option<IdentityItem>,
    },
    New(UserItem),
}

impl Target {
    fn uid(&self) -> &str {
        match self {
            Target::Existing { uid, .. } => uid,
            Target::New(u) => &u.id,
        }
    }
}

/// The identity after this sign-in: `(before, after)`, `before` empty for a new link.
/// `reserve`: its address is verified and nobody else's, so it is reserved for the user.
pub(super) fn identity_change(
    cx: &Ctx<'_, '_>,
    target: &Target,
    (provider, issuer): (&str, &str),
    profile: &Profile,
    tokens: &session::ProviderTokens,
    reserve: bool,
) -> (Option<IdentityItem>, IdentityItem) {
    if let Target::Existing {
        identity: Some(old),
        ..
    } = target
    {
        let mut new = old.clone();
        // An identity of before issuers were keyed moves to its issuer's key now.
        new.issuer = issuer.to_owned();
        new.provider_email = profile.email.clone().unwrap_or_default();
        new.provider_email_verified = reserve;
        new.access_token_sealed = tokens.access_sealed.clone();
        new.refresh_token_sealed = tokens.refresh_sealed.clone();
        new.access_token_expiry = tokens.expiry;
        new.updated = cx.now;
        return (Some(old.clone()), new);
    }
    let id = crate::ids::unique(cx.now, cx.app.entropy.as_ref());
    let uid = target.uid();
    (
        None,
        IdentityItem {
            pk: item::user_pk(uid),
            sk: item::identity_sk(&id),
            id,
            uid: uid.to_owned(),
            provider: provider.to_owned(),
            provider_uid: profile.id.clone(),
            issuer: issuer.to_owned(),
            provider_email: profile.email.clone().unwrap_or_default(),
            provider_email_verified: reserve,
            access_token_sealed: tokens.access_sealed.clone(),
            refresh_token_sealed: tokens.refresh_sealed.clone(),
            access_token_expiry: tokens.expiry,
            created: cx.now,
            updated: cx.now,
        },
    )
}

/// What the sign-in grants: a session (cookie mode), or a one-time secret and its token item
/// (token mode).
pub(super) enum Grant {
    Session(Box<NewSession>),
    Token {
        item: Box<TokenItem>,
        secret: String,
    },
}

pub(super) fn grant(
    cx: &Ctx<'_, '_>,
    state: &State,
    uid: &str,
    provider: &str,
    profile: &Profile,
    tokens: &session::ProviderTokens,
) -> Grant {
    let app = cx.app;
    if !state.t {
        let mut built = session::build(cx, uid, provider, &profile.id, &["email"]);
        built.item.provider_access_token = tokens.access_sealed.clone();
        built.item.provider_refresh_token = tokens.refresh_sealed.clone();
        built.item.provider_access_token_expiry = tokens.expiry;
        return Grant::Session(Box::new(built));
    }
    let secret = crate::token::Kind::OAuth2.new_secret(app.entropy.as_ref());
    let expire = cx.now + TOKEN_SECS * 1000;
    let kind = crate::token::Kind::OAuth2.as_str();
    let item = TokenItem {
        pk: item::user_pk(uid),
        sk: item::token_sk(kind),
        id: crate::ids::unique(cx.now, app.entropy.as_ref()),
        uid: uid.to_owned(),
        kind: kind.to_owned(),
        secret_hash: crate::token::secret_hash(&app.config.keys, &secret),
        target: provider.to_owned(),
        created: cx.now,
        expire,
        expires_at: expire / 1000,
        phrase: String::new(),
    };
    Grant::Token {
        item: Box::new(item),
        secret,
    }
}

/// Resolve the user and write the sign-in in one transaction; a lost race re-resolves once.
pub(super) async fn sign_in(
    cx: &Ctx<'_, '_>,
    conf: &OAuth2Provider,
    state: &State,
    profile: Profile,
    linking: Option<(&UserItem, &str)>,
) -> Result<Finished> {
    let provider = conf.provider.key;
    let issuer = issuer_key(conf);
    let tokens = session::ProviderTokens {
        access_sealed: seal_token(cx, &profile.access_token)?,
        refresh_sealed: seal_token(cx, &profile.refresh_token)?,
        expiry: profile.expires_at,
    };
    for attempt in 0..2 {
        let (target, reserve) = resolve(cx, conf, &profile, linking).await?;
        let uid = target.uid().to_owned();
        let who = (provider, issuer.as_str());
        let (old, new) = identity_change(cx, &target, who, &profile, &tokens, reserve);
        let granted = grant(cx, state, &uid, provider, &profile, &tokens);
        let email_claim = match &target {
            Target::New(u) => u.email.as_deref().map(|e| EmailItem::new(e, &u.id, None)),
            Target::Existing { .. } => None,
        };
        let w = OAuthSignIn {
            new_user: match &target {
                Target::New(u) => Some((u, email_claim.as_ref())),
                Target::Existing { .. } => None,
            },
            existing: matches!(target, Target::Existing { .. }).then_some(uid.as_str()),
            identity: match &old {
                Some(old) => IdentityWrite::Update(old, &new),
                None => IdentityWrite::New(&new),
            },
            session: match &granted {
                Grant::Session(s) => Some(&s.item),
                Grant::Token { .. } => None,
            },
            token: match &granted {
                Grant::Token { item, .. } => Some(item),
                Grant::Session(_) => None,
            },
            delete_session: linking.map(|(_, sid)| sid),
            now: cx.now,
        };
        // The session index (for the session limit) is read beside the write, as every login
        // does; a new user has no other session.
        let cookie_mode_existing =
            matches!(granted, Grant::Session(_)) && matches!(target, Target::Existing { .. });
        let (written, index) = tokio::join!(cx.app.store.oauth2_sign_in(w), async {
            match cookie_mode_existing {
                true => cx.app.store.session_index(&uid).await.ok(),
                false => None,
            }
        });
        match written {
            Ok(()) => {
                return granted_answer(cx, state, &uid, &profile, granted, index).await;
            }
            // Another sign-in of the same provider account or email won the race: resolve again.
            Err(WriteError::Conflict(
                Conflict::Identity | Conflict::Email | Conflict::IdentityEmail,
            )) if attempt == 0 => continue,
            Err(e) => return Err(sign_in_error(e)),
        }
    }
    Err(Error::contended())
}

pub(super) fn sign_in_error(e: WriteError) -> Error {
    match e {
        WriteError::Conflict(Conflict::ProfileCondition) => Error::new(ErrorType::UserBlocked),
        WriteError::Conflict(Conflict::Session) => Error::with_message(
            ErrorType::UserUnauthorized,
            "The session that started this sign-in has ended. Sign in and link the provider again.",
        ),
        WriteError::Conflict(Conflict::UserLimit) => Error::new(ErrorType::UserCountExceeded),
        WriteError::Conflict(_) => Error::new(ErrorType::UserAlreadyExists),
        WriteError::Other(e) => e,
    }
}

/// After the write: the log entry and the session limit (in parallel), and what the browser is
/// sent. `index` is the user's sessions, read beside the write.
pub(super) async fn granted_answer(
    cx: &Ctx<'_, '_>,
    state: &State,
    uid: &str,
    profile: &Profile,
    granted: Grant,
    index: Option<Vec<(String, Millis)>>,
) -> Result<Finished> {
    let app = cx.app;
    let log = crate::audit::entry(
        cx,
        crate::audit::event::SESSION_CREATE,
        uid,
        profile.email.as_deref().unwrap_or_default(),
        &profile.name,
    );
    let limit = async {
        match (&granted, index) {
            (Grant::Session(s), Some(index)) => {
                session::enforce_limit(cx, uid, &s.item.id, index).await
            }
            _ => Ok(()),
        }
    };
    let (logged, limited) = tokio::join!(app.store.put_logs(std::slice::from_ref(&log)), limit);
    if let Err(e) = logged {
        tracing::warn!(error = %e, "security log not written");
    }
    limited?;
    match granted {
        Grant::Session(s) => Ok(Finished::Session(s)),
        Grant::Token { secret, item } => {
            let wrapped =
                crate::token::wrap_oauth2_secret(&app.config.keys, &secret, &item.target, cx.now)?;
            let mut url = url::Url::parse(&state.s).map_err(Error::internal)?;
            url.query_pairs_mut()
                .append_pair("secret", &wrapped)
                .append_pair("userId", uid);
            Ok(Finished::Token(url.to_string()))
        }
    }
}

/// Rules (a)–(e) of contract §4.6 under [`decide`]: read the facts (one round of parallel
/// reads, plus the address holder's profile when rule (c) needs it) and build the target, with
/// whether the identity's address is reserved for it.
pub(super) async fn resolve(
    cx: &Ctx<'_, '_>,
    conf: &OAuth2Provider,
    profile: &Profile,
    linking: Option<(&UserItem, &str)>,
) -> Result<(Target, bool)> {
    let store = &cx.app.store;
    let provider = conf.provider.key;
    let issuer = issuer_key(conf);
    let verified = conf.trusted_email && profile.verified && profile.email.is_some();
    // An address nobody verified is looked up nowhere.
    let address = profile.email.as_deref().filter(|_| verified);
    let (claim, email_claim, identity_email) = tokio::join!(
        store.get_identity_claim(provider, &issuer, &profile.id),
        async {
            match address {
                Some(e) => store.get_email(e).await,
                None => Ok(None),
            }
        },
        async {
            match address {
                Some(e) => store.identity_email_owner(e).await,
                None => Ok(None),
            }
        }
    );
    let (claim, email_claim, identity_email) = (claim?, email_claim?, identity_email?);
    // Whether the holder of the address verified it matters only for rule (c).
    let proven = match (&linking, &claim, &email_claim) {
        (None, None, Some(ec)) => store
            .get_user_and_sessions(&ec.uid, &[])
            .await?
            .0
            .is_some_and(|u| u.email_verification && u.email.as_deref() == address),
        _ => false,
    };
    let facts = Facts {
        linking: linking.map(|(me, _)| me.id.clone()),
        identity_owner: claim.as_ref().map(|c| c.uid.clone()),
        address: profile.email.is_some(),
        verified,
        email_owner: email_claim.map(|c| (c.uid, proven)),
        identity_email_owner: identity_email,
    };
    let decision = decide(&facts);
    // The identity's address is reserved only when verified and no other user holds it.
    let reserve = |uid: &str| {
        verified
            && facts.email_owner.as_ref().is_none_or(|(o, _)| o == uid)
            && facts
                .identity_email_owner
                .as_deref()
                .is_none_or(|o| o == uid)
    };
    let identity_of = |uid: String| async move {
        let identity = match claim.as_ref().filter(|c| c.uid == uid) {
            None => None,
            Some(c) => store
                .list_identities(&uid)
                .await?
                .into_iter()
                .find(|i| i.id == c.identity_id),
        };
        let reserved = reserve(&uid);
        Ok::<_, Error>((Target::Existing { uid, identity }, reserved))
    };
    match decision {
        Decision::Link(uid) | Decision::SignIn(uid) | Decision::LinkByAddress(uid) => {
            identity_of(uid).await
        }
        Decision::Refuse(kind, message) => Err(Error::with_message(kind, message)),
        Decision::NewUser { with_email } => {
            let uid = crate::ids::unique(cx.now, cx.app.entropy.as_ref());
            let mut user = UserItem::new(&uid, cx.now);
            user.name = profile.name.chars().take(128).collect();
            if let (true, Some(email)) = (with_email, address) {
                user.email = Some(email.to_owned());
                user.email_verification = true;
                user.targets
                    .push(crate::account::target(cx.app, "email", email, cx.now));
            }
            let reserved = reserve(&uid);
            Ok((Target::New(user), reserved))
        }
    }
}
