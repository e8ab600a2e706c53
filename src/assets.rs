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
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The landing page, at `/`.
pub static LANDING: Asset = Asset {
    path: "/",
    content_type: HTML,
    body: include_str!("../public/index.html"),
};
/// The room page, at `/rooms/{room}` (it reads the room from its own URL).
pub static ROOM_PAGE: Asset = Asset {
    path: "/rooms/{room}",
    content_type: HTML,
    body: include_str!("../public/room.html"),
};

/// Files served at their own path.
pub static FILES: [Asset; 4] = [
    Asset {
        path: "/edge-signal.js",
        content_type: JS,
        body: include_str!(concat!(env!("OUT_DIR"), "/edge-signal.js")),
    },
    Asset {
        path: "/room.js",
        content_type: JS,
        body: include_str!(concat!(env!("OUT_DIR"), "/room.js")),
    },
    Asset {
        path: "/landing.js",
        content_type: JS,
        body: include_str!(concat!(env!("OUT_DIR"), "/landing.js")),
    },
    Asset {
        path: "/app.css",
        content_type: CSS,
        body: include_str!("../public/app.css"),
    },
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
    // Pages are small and change with each deploy: always revalidate.
    ("Cache-Control", "no-cache"),
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
