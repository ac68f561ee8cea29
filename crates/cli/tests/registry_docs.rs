//! The docs' tables of approximations are the registry's: `docs/cli.md` shows, between its
//! `registry:kinds` and `registry:catalogue` markers, exactly the tables rendered here from
//! `fisherlab_fisher::curvature::{kinds, catalogue}` (the one registry the CLI's `--kind`,
//! `compare --approximations` and the Python package read). On a mismatch the expected table is
//! printed; `FISHERLAB_UPDATE_DOCS=1` writes it in (review the diff; never set in CI).

use fisherlab_fisher::curvature::{CatalogueOptions, KindLabels, catalogue, kinds};

fn kinds_table() -> String {
    let mut t = String::from(
        "| `--kind` | what it computes | labels | qualified by |\n|---|---|---|---|\n",
    );
    for k in kinds() {
        let labels = match k.labels {
            KindLabels::Fixed(name) => format!("`{name}`"),
            KindLabels::Chosen => "`--kfac-type`".into(),
            KindLabels::Exact => "none: exact products".into(),
        };
        // the labels column shows --kfac-type; the rest of the options as flags
        let flags: Vec<String> = k
            .options()
            .into_iter()
            .filter(|o| *o != "kfac_type")
            .map(|o| format!("`--{}`", o.replace('_', "-")))
            .collect();
        let flags = if flags.is_empty() {
            "—".to_string()
        } else {
            flags.join(", ")
        };
        t += &format!("| `{}` | {} | {labels} | {flags} |\n", k.name, k.about);
    }
    t
}

fn catalogue_table() -> String {
    let mut t = String::from(
        "| approximation | what it keeps | as `fisherlab curvature` | scales |\n|---|---|---|---|\n",
    );
    for e in catalogue(&CatalogueOptions::default()) {
        t += &format!(
            "| `{}` | {} | `{}` | {} |\n",
            e.name,
            e.about,
            e.kind.command_line(e.spec),
            if e.scales { "yes" } else { "no" }
        );
    }
    t
}

fn between<'a>(text: &'a str, marker: &str) -> &'a str {
    let open = format!("<!-- {marker} -->\n");
    let close = format!("<!-- /{marker} -->");
    let start = text.find(&open).expect("opening marker") + open.len();
    let end = text[start..].find(&close).expect("closing marker") + start;
    &text[start..end]
}

#[test]
fn the_docs_tables_are_the_registry() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cli.md");
    let mut docs = std::fs::read_to_string(path).unwrap();
    for (marker, expected) in [
        ("registry:kinds", kinds_table()),
        ("registry:catalogue", catalogue_table()),
    ] {
        let shown = between(&docs, marker).to_string();
        if std::env::var_os("FISHERLAB_UPDATE_DOCS").is_some() && std::env::var_os("CI").is_none() {
            docs = docs.replacen(
                &format!("<!-- {marker} -->\n{shown}"),
                &format!("<!-- {marker} -->\n{expected}"),
                1,
            );
            std::fs::write(path, &docs).unwrap();
            continue;
        }
        assert_eq!(
            shown, expected,
            "docs/cli.md's {marker} table differs from the registry; expected:\n{expected}"
        );
    }
}
