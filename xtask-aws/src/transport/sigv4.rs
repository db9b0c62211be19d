//! AWS Signature Version 4 for header-signed requests, and the two time
//! formats AWS uses (`20240102T030405Z` to sign, ISO 8601 in answers).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};

use super::Credentials;

/// A request about to be sent: `url` as it goes on the wire, `headers` those
/// the caller sends (only `content-type` and `x-amz-*` are signed).
pub struct SignableRequest<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// The headers to add to `req`: `x-amz-date`, `x-amz-security-token` with
/// temporary credentials, and `authorization`.
pub fn sign(
    req: &SignableRequest<'_>,
    creds: &Credentials,
    region: &str,
    service: &str,
    now: SystemTime,
) -> Vec<(String, String)> {
    let amz_date = amz_date(now);
    let mut added = vec![("x-amz-date".to_string(), amz_date.clone())];
    if let Some(token) = &creds.session_token {
        added.push(("x-amz-security-token".to_string(), token.clone()));
    }
    let (host, path, query) = split_url(req.url);
    let mut headers: Vec<(String, String)> = vec![("host".into(), host.to_string())];
    headers.extend(added.iter().cloned());
    for (name, value) in req.headers {
        let name = name.trim().to_ascii_lowercase();
        // Ours win over the caller's: they are what the signature covers.
        let ours = matches!(
            name.as_str(),
            "host" | "x-amz-date" | "x-amz-security-token" | "authorization"
        );
        if !ours && (name == "content-type" || name.starts_with("x-amz-")) {
            headers.push((name, value.split_whitespace().collect::<Vec<_>>().join(" ")));
        }
    }
    // Stable by name: repeated headers keep their order, joined with commas.
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut merged: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        match merged.last_mut() {
            Some(last) if last.0 == name => {
                last.1.push(',');
                last.1.push_str(&value);
            }
            _ => merged.push((name, value)),
        }
    }
    let signed_headers = merged
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_headers: String = merged.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        req.method.to_ascii_uppercase(),
        canonical_path(path),
        canonical_query(query),
        hex(&Sha256::digest(req.body)),
    );
    let scope = format!("{}/{region}/{service}/aws4_request", &amz_date[..8]);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{}", creds.secret_access_key).as_bytes(),
        &amz_date[..8],
    );
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part);
    }
    let signature = hex(&hmac(&key, &string_to_sign));
    added.push((
        "authorization".to_string(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            creds.access_key_id
        ),
    ));
    added
}

/// RFC 3986 percent-encoding: everything but the unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `k1=v1&k2=v2`, encoded: a query string or a form body.
pub fn form(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `20240102T030405Z`, UTC.
pub(super) fn amz_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or_default());
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// An ISO 8601 time as AWS writes them: `2024-01-02T03:04:05Z`, with
/// optional fractions and a `Z`, `UTC` (the SSO cache) or `±hh:mm` zone.
pub(super) fn parse_time(s: &str) -> Result<SystemTime> {
    let parse = || -> Option<SystemTime> {
        let b = s.as_bytes();
        let num = |from: usize, len: usize| s.get(from..from + len)?.parse::<i64>().ok();
        if b.get(4) != Some(&b'-') || b.get(10).map(u8::to_ascii_uppercase) != Some(b'T') {
            return None;
        }
        let days = days_from_civil(num(0, 4)?, num(5, 2)?, num(8, 2)?);
        let mut secs = days * 86_400 + num(11, 2)? * 3600 + num(14, 2)? * 60 + num(17, 2)?;
        let zone = s
            .get(19..)?
            .trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
        match zone {
            "Z" | "UTC" | "" => {}
            _ => {
                let sign = match zone.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let (h, m) = zone[1..].split_once(':')?;
                secs -= sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60);
            }
        }
        Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
    };
    parse().with_context(|| format!("not an ISO 8601 time: {s:?}"))
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Host (with a port only when not the scheme's default), path and query.
fn split_url(url: &str) -> (&str, &str, &str) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let rest = rest.split('#').next().unwrap_or_default();
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let host = authority.rsplit('@').next().unwrap_or_default();
    let default_port = if scheme.eq_ignore_ascii_case("http") {
        ":80"
    } else {
        ":443"
    };
    (host.strip_suffix(default_port).unwrap_or(host), path, query)
}

/// The path without empty or dot segments, encoded once more (all services
/// but S3 sign the path as sent, encoded again).
fn canonical_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = format!("/{}", segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// Decoded, then encoded strictly and sorted, so a URL that left `/` or `*`
/// unencoded signs the same as one that did not.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (encode(&decode(k)), encode(&decode(v)))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = s
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Days since 1970-01-01 to a (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm): no date crate for two conversions.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

#[cfg(test)]
#[path = "sigv4_tests.rs"]
mod tests;
