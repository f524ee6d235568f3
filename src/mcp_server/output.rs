//! Sizing results for a model: text cut to a budget keeping its head and its tail,
//! and JSON shrunk to a budget while keeping its shape (so it still matches the
//! tool's output schema).

use serde_json::Value;

/// The default budget of one result's text, in characters: enough for a screen of
/// output and a traceback, small next to a model's context.
pub const DEFAULT_MAX_OUTPUT_CHARS: usize = 32 * 1024;

/// The smallest budget accepted: below it the head, the tail and the marker would
/// not leave room for anything readable.
pub const MIN_MAX_OUTPUT_CHARS: usize = 1024;

/// `text` within `max` characters (plus a one-line marker): when it is longer, its
/// head and its tail, with a marker between them that says how much was cut and,
/// in `how_to_get_all`, how to get all of it. The tail is kept because that is
/// where a traceback or a result is.
pub(crate) fn fit_text(text: String, max: usize, how_to_get_all: &str) -> String {
    let total = text.chars().count();
    if total <= max {
        return text;
    }
    let head = max / 2;
    let tail = max - head;
    let head_end = byte_offset(&text, head);
    let tail_start = byte_offset(&text, total - tail);
    let cut = total - head - tail;
    format!(
        "{}\n[... {cut} of {total} characters cut here; {how_to_get_all}]\n{}",
        &text[..head_end],
        &text[tail_start..]
    )
}

/// The byte offset of character `index` of `text` (its length past the end).
fn byte_offset(text: &str, index: usize) -> usize {
    text.char_indices().nth(index).map_or(text.len(), |(at, _)| at)
}

/// The length of `value` serialised compactly, in bytes.
pub(crate) fn json_len(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(0, |bytes| bytes.len())
}

/// How far [`shrink`] goes at one pass.
#[derive(Clone, Copy)]
struct Level {
    /// Longest string kept whole, in characters.
    string: usize,
    /// Most array items kept.
    items: usize,
    /// Deepest container kept; deeper ones become `null`.
    depth: usize,
}

/// Strings are never cut below this: names, kinds and enum values stay whole.
const MIN_STRING: usize = 48;
/// Objects keep this many keys whatever the level: every typed result has fewer,
/// so only free-form data (a JSON artifact, a value) loses keys.
const MIN_KEYS: usize = 64;
/// The typed results nest no deeper than this (a tool listing's parameter, inside a
/// callable, inside a tool, is 6 deep; a parameter's default is free-form): only
/// free-form data is pruned below it.
const MIN_DEPTH: usize = 7;

/// Shrinks `value` until its compact JSON is at most `budget` bytes: long strings
/// keep their head and tail around a marker, long arrays and objects lose their
/// last items, and deep containers become `null`, each a little more at every pass.
/// Strings stay strings and arrays arrays, so a typed result still matches its
/// schema. Returns the original size when something was cut.
pub(crate) fn shrink(value: &mut Value, budget: usize) -> Option<usize> {
    let original = json_len(value);
    if original <= budget {
        return None;
    }
    let mut level = Level { string: budget, items: budget / 2, depth: 32 };
    loop {
        cut(value, level, 0);
        let floor = level.string == MIN_STRING && level.items == 0 && level.depth == MIN_DEPTH;
        if floor || json_len(value) <= budget {
            return Some(original);
        }
        level = Level {
            string: (level.string / 2).max(MIN_STRING),
            items: level.items / 2,
            depth: (level.depth - 1).max(MIN_DEPTH),
        };
    }
}

fn cut(value: &mut Value, level: Level, depth: usize) {
    match value {
        Value::String(text) => {
            let total = text.chars().count();
            // A cut shorter than its marker would only make the string longer.
            if total > level.string + 32 {
                let head = byte_offset(text, level.string / 2);
                let tail = byte_offset(text, total - level.string / 2);
                *text = format!("{}…[{} characters cut]…{}", &text[..head], total - level.string, &text[tail..]);
            }
        }
        Value::Array(_) | Value::Object(_) if depth >= level.depth => *value = Value::Null,
        Value::Array(items) => {
            items.truncate(level.items);
            for item in items {
                cut(item, level, depth + 1);
            }
        }
        Value::Object(map) => {
            let keep = level.items.max(MIN_KEYS);
            if map.len() > keep {
                let extra: Vec<String> = map.keys().skip(keep).cloned().collect();
                for key in extra {
                    map.remove(&key);
                }
            }
            for item in map.values_mut() {
                cut(item, level, depth + 1);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn text_keeps_head_and_tail_within_the_budget() {
        assert_eq!(fit_text("short".into(), 10, "hint"), "short");
        let text: String = "é".repeat(5000) + "THE END";
        let fitted = fit_text(text, 1000, "save it");
        assert!(fitted.starts_with("éé") && fitted.ends_with("THE END"), "{fitted}");
        assert!(fitted.contains("[... 4007 of 5007 characters cut here; save it]"), "{fitted}");
        assert!(fitted.chars().count() < 1100);
    }

    #[test]
    fn json_keeps_its_shape() {
        let mut small = json!({"a": [1, 2]});
        assert_eq!(shrink(&mut small, 100), None);
        let mut big = json!({
            "stdout": "x".repeat(100_000),
            "kind": "ZeroDivisionError",
            "items": (0..10_000).collect::<Vec<_>>(),
            "free": {"deep": [[[[[[[[["bottom"]]]]]]]]]},
        });
        assert!(shrink(&mut big, 2000).unwrap() > 100_000);
        assert!(json_len(&big) <= 2000, "{}", json_len(&big));
        assert!(big["stdout"].as_str().unwrap().contains("characters cut"));
        assert_eq!(big["kind"], "ZeroDivisionError");
        assert!(big["items"].is_array());
    }

    #[test]
    fn hostile_json_ends() {
        let mut wide = Value::Object((0..100_000).map(|i| (format!("k{i}"), json!("v".repeat(50)))).collect());
        shrink(&mut wide, 4096);
        assert!(json_len(&wide) < 16 * 1024);
        let mut nested = json!("x");
        for _ in 0..200 {
            nested = json!([nested, "y".repeat(100)]);
        }
        shrink(&mut nested, 4096);
        assert!(json_len(&nested) <= 4096);
    }
}
