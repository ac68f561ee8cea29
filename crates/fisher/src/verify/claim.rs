//! The claimed matrix: `[[e11, e12, …], …]`, entries expressions in the parameters.

use super::*;

/// Parse a claimed matrix `[[e11, e12, …], [e21, …], …]` whose entries are expressions in the
/// parameters (the data variable may not appear).
///
/// # Errors
/// Malformed brackets, rows of different lengths, a shape other than P × P, an entry that does
/// not parse or uses the data variable.
pub fn parse_claim(text: &str, symbols: &Symbols) -> Result<Vec<Vec<Expr>>> {
    let bad = |what: String| Error::InvalidInput {
        what: format!("claimed matrix: {what}"),
    };
    let t = text.trim();
    let inner = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| bad("must look like [[a, b], [c, d]]".into()))?;
    // split the rows at top-level brackets
    let mut rows: Vec<String> = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in inner.chars() {
        match c {
            '[' => {
                depth += 1;
                if depth == 1 {
                    current.clear();
                    continue;
                }
            }
            ']' => {
                depth -= 1;
                if depth == 0 {
                    rows.push(current.clone());
                    continue;
                }
            }
            '(' => depth += 2,
            ')' => depth -= 2,
            _ => {}
        }
        if depth < 0 {
            return Err(bad("unbalanced brackets".into()));
        }
        if depth >= 1 {
            current.push(c);
        } else if !(c.is_whitespace() || c == ',') {
            return Err(bad(format!("unexpected `{c}` between rows")));
        }
    }
    if depth != 0 {
        return Err(bad("unbalanced brackets".into()));
    }
    let p = symbols.num_params();
    if rows.len() != p {
        return Err(bad(format!("{} rows for {p} parameters", rows.len())));
    }
    let mut out = Vec::with_capacity(p);
    for (i, row) in rows.iter().enumerate() {
        // entries are separated by commas outside parentheses
        let mut entries = Vec::new();
        let mut level = 0;
        let mut cur = String::new();
        for c in row.chars() {
            match c {
                '(' => level += 1,
                ')' => level -= 1,
                ',' if level == 0 => {
                    entries.push(std::mem::take(&mut cur));
                    continue;
                }
                _ => {}
            }
            cur.push(c);
        }
        entries.push(cur);
        if entries.len() != p {
            return Err(bad(format!(
                "row {} has {} entries, not {p}",
                i + 1,
                entries.len()
            )));
        }
        let mut parsed = Vec::with_capacity(p);
        for (j, e) in entries.iter().enumerate() {
            let expr = fisherlab_symbolic::parse(e.trim(), symbols).map_err(|err| {
                bad(format!(
                    "entry ({}, {}) `{}`: {err}",
                    i + 1,
                    j + 1,
                    e.trim()
                ))
            })?;
            if expr.depends_on(0) {
                return Err(bad(format!(
                    "entry ({}, {}) uses the data variable {}",
                    i + 1,
                    j + 1,
                    symbols.names()[0]
                )));
            }
            parsed.push(expr);
        }
        out.push(parsed);
    }
    Ok(out)
}
