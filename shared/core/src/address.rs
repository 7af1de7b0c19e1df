//! Email addresses as the project stores and compares them: one syntax check and one normal
//! form (lower case), shared by the parameter validator and by OAuth2, whose providers' addresses
//! must not slip past the rules a user's own input meets (a trailing dot, whitespace, Unicode
//! look-alikes).

/// The address in its stored form, or `None` if it is not one we accept.
pub fn email(value: &str) -> Option<String> {
    if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = value.rsplit_once('@')?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    (local_ok && domain_ok).then(|| value.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_are_not_addresses() {
        assert_eq!(email("Ada@Example.COM").as_deref(), Some("ada@example.com"));
        for bad in [
            "ada@example.com.",
            "ada@exa\u{0430}mple.com",
            "ada@example.com ",
            "ada\\@example.com",
            "ad\u{0430}@example.com",
            "ada@@example.com",
            "",
        ] {
            assert_eq!(email(bad), None, "{bad:?}");
        }
    }
}
