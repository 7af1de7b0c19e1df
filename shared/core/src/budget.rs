//! Message budgets: nobody can pump email or SMS through the project (docs/security.md,
//! "Message pumping"). Every message counts, before it is sent, against three budgets of its
//! channel: the client's address (an IPv6 client per /64) per hour, the recipient per day, and
//! the whole project per hour (`config::MessageBudget`). Each is a fixed-window counter item
//! (`RL#…`, as the route limits); the three are raised together in one transaction of
//! conditional updates, all or none, so a message refused by one budget (say, an address past
//! its own) counts against none of the others (the project's). A refusal is Appwrite's 429.
//! Requests with an API key skip the per-address budget (their address is the app's server).
//!
//! A send that fails after admission stays counted: a budget may count a message it did not
//! send, never send one it did not count.

use crate::context::Ctx;
use crate::crypto::sha256_hex;
use crate::error::{Error, ErrorType, Result};

/// The channel a message goes out on: each has its own budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

const HOUR: u32 = 3600;
const DAY: u32 = 86_400;

/// The budget key of a client address: an IPv4 address as it is, an IPv6 address by its /64
/// (one subscriber usually holds a whole /64), an IPv4-mapped IPv6 address as its IPv4 address.
/// A value that is no address (a misconfigured proxy header) keys as itself.
pub fn client_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(ip) => ip.to_string(),
        Err(_) => ip.to_owned(),
    }
}

/// The SMS country allow-list (`SMS_COUNTRIES`): 400 for a number outside it, before anything is
/// written or sent.
pub fn sms_country_allowed(cx: &Ctx<'_, '_>, number: &str) -> Result<()> {
    let allowed = &cx.app.config.sms_countries;
    if allowed.is_empty() {
        return Ok(());
    }
    let digits = number.strip_prefix('+').unwrap_or(number);
    if allowed.iter().any(|code| digits.starts_with(code.as_str())) {
        return Ok(());
    }
    Err(Error::with_message(
        ErrorType::ArgumentInvalid,
        "This project does not send SMS to numbers of this country.",
    ))
}

/// Who asked for a message, which decides whether the recipient's daily budget applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester {
    /// Anyone (a login code, a link, a verification of an address not yet proven): all three
    /// budgets, so strangers cannot flood an inbox from many addresses.
    Anyone,
    /// The signed-in owner, to their own verified address or number (an MFA code): the
    /// recipient's budget does not apply, so a stranger who spent it cannot keep the owner from
    /// their second factor.
    Owner,
}

/// Count one message to `recipient` on `channel` against its budgets; 429 when any is spent.
/// Budgets are kept with the rate limits: `RATE_LIMITS=disabled` turns them off (the SMS
/// country allow-list stays).
pub async fn admit(
    cx: &Ctx<'_, '_>,
    channel: Channel,
    recipient: &str,
    requester: Requester,
) -> Result<()> {
    let config = &cx.app.config;
    // The country allow-list is configuration, not a rate limit: it holds either way.
    if channel == Channel::Sms {
        sms_country_allowed(cx, recipient)?;
    }
    if !config.rate_limits_enabled {
        return Ok(());
    }
    let b = &config.message_budget;
    let project = match channel {
        Channel::Email => b.email_hour,
        Channel::Sms => b.sms_hour,
    };
    let c = channel.as_str();
    let window = |period: u32| crate::dates::window(cx.now, period);
    let counter = |key: String, period: u32| {
        let (start, end) = window(period);
        (format!("RL#{}#{start}", sha256_hex(&key)), end)
    };
    // (counter, limit, expires_at, project-wide); a server's API-key requests have no client
    // address of their own to budget.
    let mut budgets = vec![];
    if !cx.client.server {
        let (k, end) = counter(format!("msg:{c}:ip:{}", client_key(&cx.client.ip)), HOUR);
        budgets.push((k, b.ip_hour, end, false));
    }
    if requester == Requester::Anyone {
        let (k, end) = counter(format!("msg:{c}:to:{recipient}"), DAY);
        budgets.push((k, b.recipient_day, end, false));
    }
    let (k, end) = counter(format!("msg:{c}:project"), HOUR);
    budgets.push((k, project, end, true));
    budgets.retain(|(_, limit, _, _)| *limit > 0);
    let counters: Vec<(String, u32, i64)> = budgets
        .iter()
        .map(|(k, limit, end, _)| (k.clone(), *limit, *end))
        .collect();
    match cx.app.store.hit_counters(&counters).await? {
        None => Ok(()),
        Some(i) => {
            if budgets
                .get(i)
                .is_some_and(|(_, _, _, project_wide)| *project_wide)
            {
                // The alarm's metric filter matches this line (template.yaml, MessageBudgetAlarm).
                tracing::error!(
                    channel = c,
                    event = "message_budget_exhausted",
                    "the project's hourly message budget is spent: messages are refused"
                );
            }
            Err(Error::new(ErrorType::RateLimitExceeded))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_per_64() {
        assert_eq!(client_key("2001:db8:1:2::a"), "2001:db8:1:2::/64");
        assert_eq!(client_key("2001:db8:1:2:ffff::1"), "2001:db8:1:2::/64");
        assert_ne!(client_key("2001:db8:1:3::1"), client_key("2001:db8:1:2::1"));
        assert_eq!(client_key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(client_key("192.0.2.7"), "192.0.2.7");
    }
}
