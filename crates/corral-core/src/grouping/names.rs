//! Making frame names stable across builds, deployments and runs: the parts of
//! a function, module or file name that a compiler, bundler, runtime or
//! installer makes up (lambda ids, memory addresses, content hashes,
//! versions, install prefixes) are replaced or removed.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// Rewriting rules applied in order, and all their patterns in one set: most
/// names match none of them, which one pass of the set tells (the grouping
/// profile had a search per rule and name at a tenth of the worker's time).
struct Rules {
    any: RegexSet,
    each: Vec<(Regex, &'static str)>,
}

fn rules(list: &[(&str, &'static str)]) -> Rules {
    Rules {
        any: RegexSet::new(list.iter().map(|(pattern, _)| pattern)).expect("valid patterns"),
        each: list
            .iter()
            .map(|(pattern, replacement)| {
                (Regex::new(pattern).expect("valid pattern"), *replacement)
            })
            .collect(),
    }
}

fn apply(rules: &Rules, text: &str) -> String {
    let mut out = text.to_owned();
    if !rules.any.is_match(text) {
        return out;
    }
    for (regex, replacement) in &rules.each {
        if regex.is_match(&out) {
            out = regex.replace_all(&out, *replacement).into_owned();
        }
    }
    out
}

/// Generated parts of symbol names (functions and modules/classes).
static SYMBOL_RULES: LazyLock<Rules> = LazyLock::new(|| {
    rules(&[
        // memory addresses: `<function f at 0x7f3a…>`, JDK hidden classes
        (r"(?i)0x[0-9a-f]+", "0x?"),
        // Java/Kotlin lambdas: `Foo$$Lambda$12/0x…`, `Foo$$Lambda/0x…`, `lambda$main$0`
        (r"\$\$Lambda\$?\d*(?:/0x\?)?", "$$$$Lambda"),
        (r"\blambda\$([\w$]*?)\$\d+\b", "lambda$$$1"),
        (r"\blambda\$\d+\b", "lambda$$"),
        // Java reflection and proxies
        (
            r"\b(Generated(?:Serialization)?(?:Method|Constructor)Accessor)\d+\b",
            "$1",
        ),
        (r"\$Proxy\d+\b", "$$Proxy"),
        (
            r"\$\$(EnhancerBy\w*?|FastClassBy\w*?|SpringCGLIB)\$\$[0-9a-f]+",
            "$$$$$1",
        ),
        (r"\$HibernateProxy\$\w+", "$$HibernateProxy"),
        // anonymous inner classes: `Foo$1`
        (r"\$\d+\b", "$$#"),
        // .NET compiler-generated names: `<OnGet>d__5`, `<>c__DisplayClass5_0`, `<Main>b__0_1`
        (r"(<[\w.]*>[a-z]__)[\w]*?\d[\d_]*\b", "$1"),
        (r"(<[\w.]*>c__DisplayClass)[\d_]+", "$1"),
        // C++ and MSVC lambdas: `{lambda(int)#2}`, `<lambda_3f2a…>`
        (r"\{lambda\([^)]*\)#\d+\}", "{lambda}"),
        (r"<lambda_[0-9a-fA-F]+>", "<lambda>"),
        // Rust symbol hashes: `foo::bar::h1a2b3c4d5e6f7a8b`
        (r"::h[0-9a-f]{16}\b", ""),
        // Go closures: `main.main.func1`, `main.handler.func2.1`
        (r"\.func\d+(?:\.\d+)*", ".func"),
        // Ruby blocks: `block (2 levels) in foo`
        (r"\bblock \(\d+ levels\) in\b", "block in"),
        // Ruby view templates: `_app_views_users_show_html_erb__1234_5678`
        (r"__-?\d+_\d+\b", ""),
        // webpack: `__WEBPACK_IMPORTED_MODULE_3__`
        (
            r"__WEBPACK_IMPORTED_MODULE_\d+__",
            "__WEBPACK_IMPORTED_MODULE__",
        ),
    ])
});

/// How JavaScript engines differ in naming the same function.
static JS_FUNCTION_RULES: LazyLock<Rules> = LazyLock::new(|| {
    rules(&[
        // `Object.<anonymous>`, `Module.<anonymous>`, `Anonymous function`
        (r"^(?:[\w$.]*\.)?<anonymous>$", "<anonymous>"),
        (r"^Anonymous function$", "<anonymous>"),
        // `new Foo`, `async foo`
        (r"^(?:new|async) ", ""),
        // Firefox's nested-function suffixes: `outer/<`, `outer/inner<`
        (r"(?:/<)+$", ""),
        (r"<$", ""),
    ])
});

/// A function name with its generated parts made stable.
pub(crate) fn function(name: &str, platform: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() || matches!(name, "?" | "<unknown>" | "<redacted>") {
        return None;
    }
    let mut out = apply(&SYMBOL_RULES, name);
    if matches!(platform, "javascript" | "node") {
        out = apply(&JS_FUNCTION_RULES, &out);
    }
    let out = out.trim();
    (!out.is_empty()).then(|| out.to_owned())
}

/// A module (package, class) name with its generated parts made stable.
pub(crate) fn module(name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    Some(apply(&SYMBOL_RULES, name))
}

/// Where installed code lives: everything up to the last of these is the
/// installation's and not the code's.
const INSTALL_MARKERS: &[&str] = &[
    "/site-packages/",
    "/dist-packages/",
    "/node_modules/",
    "/gems/",
    "/vendor/",
    "/pkg/mod/",
    "/.cargo/registry/src/",
    "/.cargo/git/checkouts/",
];

/// How many trailing path segments of an absolute path without an install
/// marker are kept: enough to tell files apart, few enough that the
/// deployment directory (`/app`, `/home/alice/src/shop`) drops out.
const KEPT_SEGMENTS: usize = 3;

static URL_PREFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*").expect("valid pattern"));
static LINE_SUFFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r":\d+(?::\d+)?$").expect("valid pattern"));
static PAREN_VERSION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s*\([^()]*\d[^()]*\)").expect("valid pattern"));
static NAME_VERSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:@|-)v?\d+(?:\.\d+)+(?:[-+.][\w.]+)?$").expect("valid pattern")
});
static VERSION_SEGMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^v?\d+(?:[._]\d+)*(?:[-+][\w.]+)?$").expect("valid pattern"));
static HEX_PIECE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^[0-9a-f]{7,}$").expect("valid pattern"));

/// A file name with what varies between builds and installs removed: URL
/// origins, query strings, line suffixes, versions, content hashes and
/// absolute install prefixes.
pub(crate) fn filename(name: &str) -> Option<String> {
    let mut path = name.trim().replace('\\', "/");
    let was_url = URL_PREFIX.is_match(&path);
    path = URL_PREFIX.replace(&path, "").into_owned();
    if let Some(end) = path.find(['?', '#']) {
        path.truncate(end);
    }
    path = LINE_SUFFIX.replace(&path, "").into_owned();
    // Ruby reports gems as "actionpack (6.1.7.7) lib/…".
    path = PAREN_VERSION.replace_all(&path, "").into_owned();
    // Windows drive letters.
    if path.len() >= 2 && path.as_bytes()[1] == b':' && path.as_bytes()[0].is_ascii_alphabetic() {
        path.replace_range(..2, "");
    }

    let absolute = path.starts_with('/') && !was_url;
    let marker_end = INSTALL_MARKERS
        .iter()
        .filter_map(|m| path.rfind(m).map(|i| i + m.len()))
        .max();
    if let Some(end) = marker_end {
        path = path[end..].to_owned();
    }

    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .map(stable_segment)
        .collect();
    let segments = if absolute && marker_end.is_none() && segments.len() > KEPT_SEGMENTS {
        &segments[segments.len() - KEPT_SEGMENTS..]
    } else {
        &segments[..]
    };
    let out = segments.join("/");
    (!out.is_empty()).then_some(out)
}

/// One path segment without its version or content hash:
/// `sentry-go@v0.6.0` → `sentry-go`, `1.2.3` → `<version>`,
/// `main.3f9a2c1b.chunk.js` → `main.<hash>.chunk.js`.
fn stable_segment(segment: &str) -> String {
    if VERSION_SEGMENT.is_match(segment) {
        return "<version>".to_owned();
    }
    if HEX_PIECE.is_match(segment) && segment.bytes().any(|b| b.is_ascii_digit()) {
        return "<hash>".to_owned();
    }
    let segment = NAME_VERSION.replace(segment, "");
    // Pieces of a file name between dots or dashes: a bundler's content hash
    // or chunk number is not part of the name.
    let mut out = String::with_capacity(segment.len());
    let mut piece = String::new();
    let flush = |piece: &mut String, out: &mut String| {
        if HEX_PIECE.is_match(piece) && piece.bytes().any(|b| b.is_ascii_digit()) {
            out.push_str("<hash>");
        } else if !piece.is_empty() && piece.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str("<n>");
        } else {
            out.push_str(piece);
        }
        piece.clear();
    };
    for c in segment.chars() {
        if c == '.' || c == '-' {
            flush(&mut piece, &mut out);
            out.push(c);
        } else {
            piece.push(c);
        }
    }
    flush(&mut piece, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions() {
        let f = |name: &str, platform: &str| function(name, platform).unwrap_or_default();
        let same = [
            (("lambda$main$0", "java"), ("lambda$main$3", "java")),
            (("lambda$0", "java"), ("lambda$12", "java")),
            (
                ("com.acme.Foo$$Lambda$12/0x0000000800c02a00.apply", "java"),
                ("com.acme.Foo$$Lambda$97/0x0000000800d1b440.apply", "java"),
            ),
            (
                ("com.acme.Foo$$Lambda/0x000071d2cc0a5c38.run", "java"),
                ("com.acme.Foo$$Lambda/0x000071d2cc0b1a10.run", "java"),
            ),
            (
                ("GeneratedMethodAccessor123.invoke", "java"),
                ("GeneratedMethodAccessor7.invoke", "java"),
            ),
            (("Foo$1.run", "java"), ("Foo$2.run", "java")),
            (("<OnGet>d__5", "csharp"), ("<OnGet>d__12", "csharp")),
            (
                ("<>c__DisplayClass5_0", "csharp"),
                ("<>c__DisplayClass7_1", "csharp"),
            ),
            (
                ("Object.<anonymous>", "node"),
                ("Module.<anonymous>", "node"),
            ),
            (("<anonymous>", "node"), ("Context.<anonymous>", "node")),
            (
                ("renderEventHandlerClosure/<", "javascript"),
                ("renderEventHandlerClosure", "javascript"),
            ),
            (("new Widget", "javascript"), ("Widget", "javascript")),
            (("main.main.func1", "go"), ("main.main.func3", "go")),
            (
                ("block (2 levels) in index", "ruby"),
                ("block (3 levels) in index", "ruby"),
            ),
            (
                ("_app_views_users_show_html_erb__1234_5678", "ruby"),
                ("_app_views_users_show_html_erb__-99_1", "ruby"),
            ),
            (
                ("<function handler at 0x7f3a2b1c>", "python"),
                ("<function handler at 0x7f00ffee>", "python"),
            ),
            (
                ("{lambda(int)#1}::operator()", "native"),
                ("{lambda(int)#2}::operator()", "native"),
            ),
            (
                ("app::run::h1a2b3c4d5e6f7a8b", "native"),
                ("app::run::h0000000000000000", "native"),
            ),
        ];
        for ((a, pa), (b, pb)) in same {
            assert_eq!(f(a, pa), f(b, pb), "{a} vs {b}");
        }
        let different = [
            (("save", "python"), ("load", "python")),
            (("lambda$main$0", "java"), ("lambda$init$0", "java")),
            (("<OnGet>d__5", "csharp"), ("<OnPost>d__5", "csharp")),
            (("md5sum", "python"), ("md4sum", "python")),
        ];
        for ((a, pa), (b, pb)) in different {
            assert_ne!(f(a, pa), f(b, pb), "{a} vs {b}");
        }
        assert_eq!(function("?", "javascript"), None);
        assert_eq!(function("  ", "python"), None);
        assert_eq!(function("<lambda>", "python").as_deref(), Some("<lambda>"));
    }

    #[test]
    fn filenames() {
        let same = [
            (
                "http://localhost:4201/vendor.js",
                "https://cdn.example.com/vendor.js?v=3#x",
            ),
            (
                "/static/js/main.3f9a2c1b.chunk.js",
                "/static/js/main.77aa0e12.chunk.js",
            ),
            ("/static/js/7.chunk.js", "/static/js/12.chunk.js"),
            (
                "/usr/local/lib/python3.8/site-packages/django/urls/base.py",
                "/home/me/.venv/lib/python3.12/site-packages/django/urls/base.py",
            ),
            (
                "actionpack (6.1.7.7) lib/abstract_controller/callbacks.rb",
                "actionpack (7.0.1) lib/abstract_controller/callbacks.rb",
            ),
            (
                "/usr/local/bundle/gems/actionpack-6.1.7.7/lib/action_controller.rb",
                "/var/lib/gems/3.0.0/gems/actionpack-7.0.1/lib/action_controller.rb",
            ),
            (
                "/root/go/pkg/mod/github.com/getsentry/sentry-go@v0.6.0/client.go",
                "/go/pkg/mod/github.com/getsentry/sentry-go@v0.7.1/client.go",
            ),
            (
                "/app/src/api/handlers.py",
                "/home/alice/shop/src/api/handlers.py",
            ),
            (
                "C:\\build\\agent\\shop\\src\\api\\Handlers.cs",
                "D:\\dev\\shop\\src\\api\\Handlers.cs",
            ),
            ("app/models.py:123", "app/models.py"),
            (
                "/srv/app/node_modules/express/lib/router/index.js",
                "/x/node_modules/express/lib/router/index.js",
            ),
        ];
        for (a, b) in same {
            assert_eq!(filename(a), filename(b), "{a} vs {b}");
        }
        let different = [
            ("app/models.py", "app/views.py"),
            ("/static/js/main.js", "/static/js/vendor.js"),
            ("src/api/handlers.py", "src/web/handlers.py"),
        ];
        for (a, b) in different {
            assert_ne!(filename(a), filename(b), "{a} vs {b}");
        }
        assert_eq!(
            filename("file-not-found.go").as_deref(),
            Some("file-not-found.go")
        );
        assert_eq!(filename("http://localhost:4201/").as_deref(), None);
    }
}
