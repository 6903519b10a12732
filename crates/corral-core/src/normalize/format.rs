//! Formatting a log entry's template with its parameters, as Relay does:
//! Python's `%` style when the template has a `%`, else `str.format` style
//! when it has a `{`. A template that cannot be filled (a missing parameter,
//! a malformed placeholder) yields nothing, and the template is shown as is.

use std::fmt::Write;

use serde_json::Value;

pub(crate) fn format_message(template: &str, params: &Value) -> Option<String> {
    if template.contains('%') {
        format_percent(template, params)
    } else if template.contains('{') {
        format_brace(template, params)
    } else {
        None
    }
}

/// A parameter as Python's `str()` shows it.
fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// A parameter as Python's `repr()` shows it (close enough for strings).
fn repr(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{}'", s.replace('\'', "\\'")),
        other => display(other),
    }
}

fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// Positional parameters: a list, or a single value standing for one.
fn positional(params: &Value, index: usize) -> Option<&Value> {
    match params {
        Value::Array(items) => items.get(index),
        Value::Object(_) => None,
        single => (index == 0).then_some(single),
    }
}

fn format_percent(template: &str, params: &Value) -> Option<String> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    let mut next_index = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let mut name = None;
        if chars.peek() == Some(&'(') {
            chars.next();
            let mut key = String::new();
            loop {
                match chars.next()? {
                    ')' => break,
                    ch => key.push(ch),
                }
            }
            name = Some(key);
        }
        let mut left = false;
        let mut zero = false;
        while let Some(&flag) = chars.peek() {
            match flag {
                '-' => left = true,
                '0' => zero = true,
                '#' | ' ' | '+' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = 0usize;
        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
            width = width.saturating_mul(10).saturating_add(d as usize);
            chars.next();
        }
        let mut precision = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = 0usize;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                p = p.saturating_mul(10).saturating_add(d as usize);
                chars.next();
            }
            // bounded so a template cannot ask for a gigabyte of digits
            precision = Some(p.min(1024));
        }
        while matches!(chars.peek(), Some('h' | 'l' | 'L')) {
            chars.next();
        }
        let conversion = chars.next()?;
        let value = match &name {
            Some(key) => params.as_object()?.get(key)?,
            None => {
                let v = positional(params, next_index)?;
                next_index += 1;
                v
            }
        };
        let text = match conversion {
            's' => display(value),
            'r' | 'a' => repr(value),
            'd' | 'i' | 'u' => as_i64(value)?.to_string(),
            'f' | 'F' => format!("{:.*}", precision.unwrap_or(6), as_f64(value)?),
            'e' | 'E' => format!("{:.*e}", precision.unwrap_or(6), as_f64(value)?),
            'g' | 'G' => display(value),
            'x' => format!("{:x}", as_i64(value)?),
            'X' => format!("{:X}", as_i64(value)?),
            'o' => format!("{:o}", as_i64(value)?),
            'c' => match value {
                Value::String(s) => s.chars().next()?.to_string(),
                other => char::from_u32(u32::try_from(as_i64(other)?).ok()?)?.to_string(),
            },
            _ => return None,
        };
        let text = match (conversion, precision) {
            ('s' | 'r' | 'a', Some(p)) => text.chars().take(p).collect(),
            _ => text,
        };
        pad(&mut out, &text, width, left, zero && !left);
    }
    Some(out)
}

fn pad(out: &mut String, text: &str, width: usize, left: bool, zero: bool) {
    // Widths come from the template, which is bounded; cap them anyway so a
    // template cannot ask for a gigabyte of spaces.
    let width = width.min(1024);
    let len = text.chars().count();
    let fill = width.saturating_sub(len);
    if left {
        out.push_str(text);
        out.extend(std::iter::repeat_n(' ', fill));
    } else {
        out.extend(std::iter::repeat_n(if zero { '0' } else { ' ' }, fill));
        out.push_str(text);
    }
}

fn format_brace(template: &str, params: &Value) -> Option<String> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    let mut next_index = 0;
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '}' => return None,
            '{' => {
                let mut field = String::new();
                loop {
                    match chars.next()? {
                        '}' => break,
                        '{' => return None,
                        ch => field.push(ch),
                    }
                }
                // `name!conversion:spec` — only the name selects a value.
                let name = field.split([':', '!']).next().unwrap_or("").trim();
                let value = if name.is_empty() {
                    let v = positional(params, next_index)?;
                    next_index += 1;
                    v
                } else if let Ok(index) = name.parse::<usize>() {
                    match params {
                        Value::Object(map) => map.get(name)?,
                        _ => positional(params, index)?,
                    }
                } else {
                    params.as_object()?.get(name)?
                };
                let conversion = field.split_once('!').map(|(_, c)| c.trim_start());
                if conversion.is_some_and(|c| c.starts_with('r')) {
                    out.push_str(&repr(value));
                } else {
                    let _ = write!(out, "{}", display(value));
                }
            }
            _ => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn percent_style() {
        let f = |t: &str, p: Value| format_message(t, &p);
        assert_eq!(
            f("This is a warning: %s", json!(["warning"])).as_deref(),
            Some("This is a warning: warning")
        );
        assert_eq!(
            f("%d items, %.2f%% done, %r", json!([3, 41.5, "x"])).as_deref(),
            Some("3 items, 41.50% done, 'x'")
        );
        assert_eq!(
            f("user %(name)s has %(n)05d", json!({"name": "bob", "n": 42})).as_deref(),
            Some("user bob has 00042")
        );
        assert_eq!(f("%s", json!("single")).as_deref(), Some("single"));
        assert_eq!(f("%s and %s", json!(["only one"])), None);
        assert_eq!(f("bad %(", json!({})), None);
        assert_eq!(
            f("%s %s", json!([null, true])).as_deref(),
            Some("None True")
        );
    }

    #[test]
    fn brace_style() {
        let f = |t: &str, p: Value| format_message(t, &p);
        assert_eq!(
            f("Here is a new {foo}", json!({"foo": "error"})).as_deref(),
            Some("Here is a new error")
        );
        assert_eq!(
            f("{} + {} = {2}", json!([1, 2, 3])).as_deref(),
            Some("1 + 2 = 3")
        );
        assert_eq!(
            f("{{literal}} {0!r:>10}", json!(["x"])).as_deref(),
            Some("{literal} 'x'")
        );
        assert_eq!(f("{missing}", json!({})), None);
        assert_eq!(f("unbalanced {", json!([])), None);
        assert_eq!(f("no placeholders", json!([1])), None);
    }
}
