//! The comparison as data: each row's metrics (exact or estimated, with their uncertainty)
//! and the one table model the printed table, the HTML, the CSV and the JSON are made from.

use super::*;

pub(super) use fisherlab_app::compare::{ESTIMATED, Metrics};

/// One row of the comparison: an approximation (or the exact reference) with its costs and
/// its metrics.
pub(super) struct Row {
    pub(super) name: String,
    pub(super) about: String,
    pub(super) build_seconds: f64,
    pub(super) solve_seconds: f64,
    pub(super) memory: Usage,
    pub(super) metrics: Option<Metrics>,
    /// Whether the metrics are estimates (a matrix-free reference): the JSON then carries each
    /// one's uncertainty, estimator, products and failure.
    pub(super) estimated: bool,
}

impl Row {
    pub(super) fn json(&self) -> Value {
        let mb = |b: usize| b as f64 / 1e6;
        let mut j = json!({
            "approximation": self.name,
            "about": self.about,
            "build_seconds": self.build_seconds,
            "solve_seconds": self.solve_seconds,
            "peak_memory_mb": mb(self.memory.peak),
            "kept_memory_mb": mb(self.memory.kept),
        });
        if let Value::Object(o) = &mut j {
            o.extend(Metrics::json(self.metrics.as_ref(), self.estimated));
        }
        j
    }

    /// A table cell: the value, with `± uncertainty` when it is an estimate, or why it is
    /// missing.
    pub(super) fn cell(j: &Value, key: &str) -> String {
        let value = format::cell(&j[key]);
        if let Some(u) = j[format!("{key}_uncertainty")].as_f64() {
            return format!("{value} ± {}", format::short(u));
        }
        if j[format!("{key}_failure")].is_string() {
            return "no convergence".into();
        }
        value
    }
}

/// The columns of the printed and HTML tables: header and JSON key.
pub(super) const COLUMNS: [(&str, &str); 11] = [
    ("approximation", "approximation"),
    ("build s", "build_seconds"),
    ("solve s", "solve_seconds"),
    ("peak MB", "peak_memory_mb"),
    ("kept MB", "kept_memory_mb"),
    ("rel Frob", "rel_frobenius"),
    ("rel spec", "rel_spectral"),
    ("NGD cos", "ngd_cosine"),
    ("NGD rel err", "ngd_rel_error"),
    ("quad ratio g", "quad_ratio_gradient"),
    ("Δ logdet", "logdet_difference"),
];

/// Everything the command computed, before anything is written.
pub(super) struct Results {
    pub(super) summary: Value,
    pub(super) rows: Vec<Row>,
    pub(super) outcomes: Vec<Outcome>,
    pub(super) initial_loss: f64,
    pub(super) spectra: Vec<(String, Vec<f64>)>,
    pub(super) blocks: Vec<(String, Mat<f64>)>,
    pub(super) block_title: String,
}

/// One line saying which reference the table measures against.
pub(super) fn reference_line(summary: &Value) -> String {
    let r = &summary["reference"];
    let of = |n: &Value| {
        if summary["fisher_inputs"] == summary["inputs"] {
            String::new()
        } else {
            format!(
                ", on {} of the {} inputs (--fisher-inputs, drawn with --seed)",
                n, summary["inputs"]
            )
        }
    };
    match r["route"].as_str() {
        Some("matrix-free") => format!(
            "reference: matrix-free — {}{}; every metric estimated (± one standard error, or a bound)\n",
            r["about"].as_str().unwrap_or(""),
            of(&summary["fisher_inputs"])
        ),
        _ => format!(
            "reference: dense — {}{}\n",
            r["about"].as_str().unwrap_or(""),
            of(&summary["fisher_inputs"])
        ),
    }
}

/// Under a matrix-free table: each metric's estimator (as the first approximation used it),
/// the metrics that did not converge, and the approximations skipped.
pub(super) fn estimator_notes(r: &Results) -> String {
    let mut out = String::new();
    let rows: Vec<Value> = r.rows.iter().skip(1).map(Row::json).collect();
    if let Some(first) = rows
        .first()
        .filter(|j| j["rel_frobenius_estimator"].is_string())
    {
        out.push_str("estimators:\n");
        for (key, header) in
            ESTIMATED
                .iter()
                .zip(["rel Frob", "rel spec", "NGD cos", "NGD rel err", "Δ logdet"])
        {
            if let Some(e) = first[format!("{key}_estimator")].as_str() {
                let _ = writeln!(out, "  {header}: {e}");
            }
        }
    }
    for j in &rows {
        for key in ESTIMATED {
            if let Some(f) = j[format!("{key}_failure")].as_str() {
                let _ = writeln!(
                    out,
                    "{} {key}: not reported: {f}",
                    j["approximation"].as_str().unwrap_or("")
                );
            }
        }
    }
    if let Some(skipped) = r.summary["reference"]["skipped"].as_array() {
        for s in skipped {
            let _ = writeln!(
                out,
                "skipped {}: {}",
                s["approximation"].as_str().unwrap_or(""),
                s["reason"].as_str().unwrap_or("")
            );
        }
    }
    out
}

/// The comparison table — headers and cells — that the printed table and the HTML both show.
pub(super) fn comparison_cells(rows: &[Row]) -> ([&'static str; 11], Vec<Vec<String>>) {
    let body = rows
        .iter()
        .map(|r| {
            let j = r.json();
            COLUMNS.iter().map(|(_, k)| Row::cell(&j, k)).collect()
        })
        .collect();
    (COLUMNS.map(|(h, _)| h), body)
}

pub(super) fn comparison_table(rows: &[Row]) -> String {
    let (headers, body) = comparison_cells(rows);
    format::table(&headers, &body)
}

pub(super) fn report_json(r: &Results) -> Value {
    let mut report = r.summary.clone();
    report["approximations"] = Value::Array(r.rows.iter().map(Row::json).collect());
    report["training"] = Value::Array(train::summary(&r.outcomes, None));
    report["spectra"] = Value::Object(
        r.spectra
            .iter()
            .map(|(n, s)| (n.clone(), json!(s)))
            .collect(),
    );
    report["files"] = json!(FILES);
    report
}

pub(super) fn csv(rows: &[Row]) -> String {
    let jsons: Vec<Value> = rows.iter().map(Row::json).collect();
    let keys: Vec<String> = jsons
        .first()
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let mut out = keys.join(",") + "\n";
    for j in &jsons {
        let cells: Vec<String> = keys
            .iter()
            .map(|k| match &j[k] {
                Value::Null => String::new(),
                Value::String(s) => format!("\"{}\"", s.replace('"', "\"\"")),
                v => v.to_string(),
            })
            .collect();
        out += &(cells.join(",") + "\n");
    }
    out
}

/// Every output file; the figures first, so that `comparison.json` records their seconds.
pub(super) fn write_outputs(
    dir: &Path,
    r: &Results,
    report: &mut Value,
    started: Instant,
) -> Result<(), CliError> {
    let file = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text)
            .map_err(|e| CliError::Failed(format!("cannot write {name}: {e}")))
    };
    let clock = Instant::now();
    figures(dir, r)?;
    file("index.html", &html(dir, r)?)?;
    report["seconds"]["figures"] = json!(clock.elapsed().as_secs_f64());
    report["seconds"]["total"] = json!(started.elapsed().as_secs_f64());
    file(
        "comparison.json",
        &(serde_json::to_string_pretty(report).map_err(|e| CliError::Failed(e.to_string()))?
            + "\n"),
    )?;
    file("comparison.csv", &csv(&r.rows))?;
    let mut log = Vec::new();
    train::write_log(&mut log, &report["provenance"], &r.outcomes)
        .map_err(|e| CliError::Failed(format!("training log: {e}")))?;
    std::fs::write(dir.join("training.jsonl"), log)
        .map_err(|e| CliError::Failed(format!("cannot write training.jsonl: {e}")))
}

/// The optimizers' summary: headers and cells.
pub(super) fn training_rows(
    outcomes: &[Outcome],
    summary: &Value,
) -> ([&'static str; 9], Vec<Vec<String>>) {
    let cols = [
        ("optimizer", "optimizer"),
        ("steps", "steps"),
        ("final loss", "final_loss"),
        ("seconds", "seconds"),
        ("s/step", "seconds_per_step"),
        ("× sgd", "time_per_step_vs_sgd"),
    ];
    let settings = summary["training_settings"].as_array();
    let body = train::summary(outcomes, None)
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut cells: Vec<String> = cols.iter().map(|(_, k)| format::cell(&row[*k])).collect();
            if !row["error"].is_null() {
                cells[0].push_str(" (failed)");
            }
            let s = settings.and_then(|v| v.get(i));
            let plain = matches!(row["optimizer"].as_str(), Some("sgd" | "adam"));
            let num = |k: &str| match s.and_then(|s| s[k].as_f64()) {
                Some(v) => format::short(v),
                None if plain && k == "damping" => "-".into(),
                None => "default".into(),
            };
            cells.push(num("lr"));
            cells.push(num("damping"));
            cells.push(
                s.and_then(|s| s["source"].as_str())
                    .unwrap_or("")
                    .to_string(),
            );
            cells
        })
        .collect();
    let headers = [
        cols[0].0, cols[1].0, cols[2].0, cols[3].0, cols[4].0, cols[5].0, "lr", "λ", "settings",
    ];
    (headers, body)
}

/// `MLP 64-32-10 (tanh, categorical)` or `network Conv2d-ReLU-…-Linear (categorical)`.
pub(super) fn describe(s: &Value) -> String {
    let head = s["likelihood"].as_str().unwrap_or("");
    match (s["arch"].as_str(), s["activation"].as_str()) {
        (Some(arch), Some(act)) => format!("MLP {} ({act}, {head})", arch.replace(',', "-")),
        _ => format!("network {} ({head})", s["network"].as_str().unwrap_or("")),
    }
}
