//! The browser-facing files: the landing page, the room page, their scripts and stylesheet, and
//! the client library (`/edge-signal.js`). They are embedded in the worker at compile time
//! (`include_str!`; the scripts minified by `build.rs`), so one `wrangler deploy` ships code and
//! pages together, every response carries the same strict Content-Security-Policy set in one
//! place, and nothing is fetched from anywhere else: the pages work offline and under
//! `default-src 'none'`.

/// One embedded file.
#[derive(Debug, PartialEq, Eq)]
pub struct Asset {
    /// The URL path it is served at.
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
    /// A hash of `body`, computed at compile time: the file's `ETag` (see [`Asset::etag`]).
    pub hash: u64,
    /// Whether pages on other origins may load it (`Access-Control-Allow-Origin: *`): only the
    /// client library, which is public code meant to be imported by apps everywhere.
    pub cross_origin: bool,
}

/// FNV-1a over `bytes`, at compile time: enough to tell one build's file from another's (an
/// ETag only has to change when the body does).
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

impl Asset {
    const fn new(path: &'static str, content_type: &'static str, body: &'static str) -> Asset {
        Asset {
            path,
            content_type,
            body,
            hash: fnv1a(body.as_bytes()),
            cross_origin: false,
        }
    }

    /// The strong `ETag` header value: `"<16 hex digits>"`.
    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", self.hash)
    }

    /// Whether a request's `If-None-Match` names this file's current body (answer 304).
    pub fn matches(&self, if_none_match: &str) -> bool {
        let etag = self.etag();
        if_none_match
            .split(',')
            .map(|t| {
                let t = t.trim();
                t.strip_prefix("W/").unwrap_or(t)
            })
            .any(|t| t == "*" || t == etag)
    }

    /// The fixed headers of this file's responses (200 and 304), besides its `ETag`: type,
    /// security headers, and for the client library the cross-origin ones.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &'static str)> {
        let cross: &'static [(&str, &str)] = if self.cross_origin {
            &CROSS_ORIGIN_HEADERS
        } else {
            &[]
        };
        std::iter::once(("Content-Type", self.content_type))
            .chain(SECURITY_HEADERS.iter().copied())
            .chain(cross.iter().copied())
    }
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The landing page, at `/`.
pub static LANDING: Asset = Asset::new("/", HTML, include_str!("../public/index.html"));
/// The room page, at `/rooms/{room}` (it reads the room from its own URL).
pub static ROOM_PAGE: Asset =
    Asset::new("/rooms/{room}", HTML, include_str!("../public/room.html"));

/// Files served at their own path.
pub static FILES: [Asset; 4] = [
    Asset {
        cross_origin: true,
        ..Asset::new(
            "/edge-signal.js",
            JS,
            include_str!(concat!(env!("OUT_DIR"), "/edge-signal.js")),
        )
    },
    Asset::new(
        "/room.js",
        JS,
        include_str!(concat!(env!("OUT_DIR"), "/room.js")),
    ),
    Asset::new(
        "/landing.js",
        JS,
        include_str!(concat!(env!("OUT_DIR"), "/landing.js")),
    ),
    Asset::new(
        "/app.css",
        CSS,
        include_str!(concat!(env!("OUT_DIR"), "/app.css")),
    ),
];

/// The file served at `path`, if any.
pub fn file(path: &str) -> Option<&'static Asset> {
    FILES.iter().find(|a| a.path == path)
}

/// The security headers of every page and file.
///
/// - scripts, styles and connections only from this origin (`connect-src 'self'` covers the
///   page's own `ws:`/`wss:` socket); media elements play `MediaStream`s, which need no source;
/// - no framing, no `<base>` tricks, forms only to this origin;
/// - `no-referrer`: a room's URL is its key, so it must not leak to other sites in `Referer`.
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    // Pages and scripts are small and change with each deploy: always revalidate (the ETag
    // makes that a 304 with no body).
    ("Cache-Control", "no-cache"),
];

/// The client library's extra headers: any origin may import it (`import ... from
/// "https://<host>/edge-signal.js"` from an app's own pages, which browsers refuse without CORS)
/// and embed it under `Cross-Origin-Embedder-Policy`.
pub const CROSS_ORIGIN_HEADERS: [(&str, &str); 2] = [
    ("Access-Control-Allow-Origin", "*"),
    ("Cross-Origin-Resource-Policy", "cross-origin"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_found_at_its_path() {
        for asset in &FILES {
            assert_eq!(file(asset.path), Some(asset));
            assert!(!asset.body.is_empty());
        }
        assert_eq!(file("/nope.js"), None);
    }

    #[test]
    fn etags_follow_the_body_and_match_if_none_match() {
        let client = file("/edge-signal.js").unwrap();
        assert_ne!(client.etag(), file("/room.js").unwrap().etag());
        assert_eq!(client.etag().len(), 18);
        assert!(client.matches(&client.etag()));
        assert!(client.matches(&format!("\"x\", W/{}", client.etag())));
        assert!(client.matches("*"));
        assert!(!client.matches("\"0000000000000000\""));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn only_the_client_library_is_for_other_origins() {
        for asset in FILES.iter().chain([&LANDING, &ROOM_PAGE]) {
            let cors = asset
                .headers()
                .any(|(k, v)| k == "Access-Control-Allow-Origin" && v == "*");
            assert_eq!(cors, asset.path == "/edge-signal.js", "{}", asset.path);
        }
    }

    #[test]
    fn pages_load_only_local_scripts_and_styles() {
        for page in [&LANDING, &ROOM_PAGE] {
            for tag in page
                .body
                .split('<')
                .filter(|t| t.starts_with("script") || t.starts_with("link"))
            {
                assert!(
                    !tag.contains("http:") && !tag.contains("https:") && !tag.contains("//"),
                    "{tag}"
                );
            }
            assert!(
                !page.body.contains("style=\""),
                "inline styles break the CSP"
            );
            assert!(!page.body.contains(" on"), "inline handlers break the CSP");
        }
    }

    #[test]
    fn every_script_a_page_loads_is_served() {
        for page in [&LANDING, &ROOM_PAGE] {
            let tags = page
                .body
                .split('<')
                .filter(|t| t.starts_with("script") || t.starts_with("link"));
            for tag in tags {
                let attr = if tag.starts_with("script") {
                    "src=\""
                } else {
                    "href=\""
                };
                let path = tag
                    .split(attr)
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .unwrap();
                if path.starts_with("data:") {
                    continue; // the empty favicon: inline, so browsers ask for no /favicon.ico
                }
                assert!(file(path).is_some(), "{path} is not served");
            }
        }
    }
}
