//! Session device fields from the User-Agent. Parsing uses `woothee` (maintained, table-driven, no
//! regex compilation at start-up, so it adds nothing to cold start); its names are mapped to the
//! Matomo device-detector codes Appwrite reports (`WIN`, `CH`, `Blink`, …).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Device {
    pub os_code: String,
    pub os_name: String,
    pub os_version: String,
    pub client_type: String,
    pub client_code: String,
    pub client_name: String,
    pub client_version: String,
    pub client_engine: String,
    pub client_engine_version: String,
    pub device_name: String,
    pub device_brand: String,
    pub device_model: String,
}

/// Keep `major.minor` as Matomo does (`70.0.3538.77` → `70.0`).
fn short_version(v: &str) -> String {
    let mut parts = v.split('.').filter(|p| !p.is_empty());
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => format!("{a}.{b}"),
        (Some(a), None) => format!("{a}.0"),
        _ => String::new(),
    }
}

fn os_fields(os: &str, os_version: &str) -> (&'static str, &'static str, String) {
    match os {
        o if o.starts_with("Windows") => {
            let v = match o.trim_start_matches("Windows").trim() {
                "" | "UNKNOWN" => os_version.trim_start_matches("NT ").to_owned(),
                rest => rest.to_owned(),
            };
            ("WIN", "Windows", v)
        }
        "Mac OSX" | "Mac OS Classic" => ("MAC", "Mac", os_version.replace('_', ".")),
        "iPhone" | "iPad" | "iPod" | "iOS" => ("IOS", "iOS", os_version.replace('_', ".")),
        "Android" => ("AND", "Android", os_version.to_owned()),
        "Linux" => ("LIN", "GNU/Linux", String::new()),
        "ChromeOS" => ("COS", "Chrome OS", String::new()),
        "BlackBerry" | "BlackBerry 10" => ("BLB", "BlackBerry OS", os_version.to_owned()),
        "FreeBSD" => ("BSD", "FreeBSD", String::new()),
        _ => ("", "", String::new()),
    }
}

fn client_fields(name: &str, os: &str) -> (&'static str, &'static str, &'static str) {
    let mobile_os = matches!(os, "Android" | "iPhone" | "iPad" | "iPod" | "iOS");
    match name {
        "Chrome" if mobile_os => ("CM", "Chrome Mobile", "Blink"),
        "Chrome" => ("CH", "Chrome", "Blink"),
        "Firefox" if mobile_os => ("FM", "Firefox Mobile", "Gecko"),
        "Firefox" => ("FF", "Firefox", "Gecko"),
        "Safari" if mobile_os => ("MF", "Mobile Safari", "WebKit"),
        "Safari" => ("SF", "Safari", "WebKit"),
        "Edge" => ("PS", "Microsoft Edge", "Blink"),
        "Opera" => ("OP", "Opera", "Blink"),
        "Internet Explorer" => ("IE", "Internet Explorer", "Trident"),
        "Vivaldi" => ("VI", "Vivaldi", "Blink"),
        "Sleipnir" => ("SL", "Sleipnir", ""),
        _ => ("", "", ""),
    }
}

/// Parse a User-Agent into Appwrite's twelve device fields; unknown parts stay `""`.
pub fn parse(user_agent: &str) -> Device {
    let Some(r) = woothee::parser::Parser::new().parse(user_agent) else {
        return Device::default();
    };
    let (os_code, os_name, os_version) = os_fields(r.os, &r.os_version);
    let (client_code, client_name, engine) = client_fields(r.name, r.os);
    let client_version = if client_code.is_empty() {
        String::new()
    } else {
        short_version(r.version)
    };
    let client_type = match r.category {
        "pc" | "smartphone" | "mobilephone" if !client_code.is_empty() => "browser",
        "crawler" => "bot",
        _ => "",
    };
    let device_name = match r.category {
        "pc" => "desktop",
        "smartphone" if r.os == "iPad" => "tablet",
        "smartphone" => "smartphone",
        "mobilephone" => "feature phone",
        "appliance" => "console",
        _ => "",
    };
    let device_brand = match r.os {
        "iPhone" | "iPad" | "iPod" | "Mac OSX" => "Apple",
        _ => "",
    };
    let device_model = match r.os {
        "iPhone" => "iPhone",
        "iPad" => "iPad",
        "iPod" => "iPod Touch",
        _ => "",
    };
    Device {
        os_code: os_code.into(),
        os_name: os_name.into(),
        os_version,
        client_type: client_type.into(),
        client_code: client_code.into(),
        client_name: client_name.into(),
        client_engine: engine.into(),
        client_engine_version: if engine.is_empty() {
            String::new()
        } else {
            client_version_full(r.version)
        },
        client_version,
        device_name: device_name.into(),
        device_brand: device_brand.into(),
        device_model: device_model.into(),
    }
}

fn client_version_full(v: &str) -> String {
    v.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chrome_on_windows_like_appwrite_e2e() {
        let d = parse("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.77 Safari/537.36");
        assert_eq!(
            (
                d.os_code.as_str(),
                d.os_name.as_str(),
                d.os_version.as_str()
            ),
            ("WIN", "Windows", "10")
        );
        assert_eq!(
            (
                d.client_type.as_str(),
                d.client_code.as_str(),
                d.client_name.as_str(),
                d.client_version.as_str()
            ),
            ("browser", "CH", "Chrome", "70.0")
        );
        assert_eq!(d.client_engine, "Blink");
        assert_eq!(d.device_name, "desktop");
    }

    #[test]
    fn chrome_mobile_on_android() {
        let d = parse("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.5735.196 Mobile Safari/537.36");
        assert_eq!(
            (d.client_code.as_str(), d.client_name.as_str()),
            ("CM", "Chrome Mobile")
        );
        assert_eq!(d.os_code, "AND");
        assert_eq!(d.device_name, "smartphone");
    }

    #[test]
    fn sdk_user_agent_is_blank_not_null() {
        let d = parse("AppwriteNodeJSSDK/27.1.0 (linux; x64) Node.js/v20.20.2");
        assert_eq!(d.client_code, "");
        let v = serde_json::to_value(&d).unwrap();
        assert!(v.as_object().unwrap().values().all(|x| x.is_string()));
        assert_eq!(parse(""), Device::default());
    }
}
