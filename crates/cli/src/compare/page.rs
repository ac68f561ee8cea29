//! The self-contained `index.html`.

use super::*;

pub(super) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) fn html_table(headers: &[&str], body: &[Vec<String>]) -> String {
    let mut t = String::from("<table>\n<tr>");
    for h in headers {
        let _ = write!(t, "<th>{}</th>", escape(h));
    }
    t.push_str("</tr>\n");
    for row in body {
        t.push_str("<tr>");
        for c in row {
            let _ = write!(t, "<td>{}</td>", escape(c));
        }
        t.push_str("</tr>\n");
    }
    t + "</table>\n"
}

pub(super) fn html(dir: &Path, r: &Results) -> Result<String, CliError> {
    let png = |stem: &str| -> Result<String, CliError> {
        let bytes = std::fs::read(dir.join(format!("{stem}.png")))
            .map_err(|e| CliError::Failed(format!("cannot read back {stem}.png: {e}")))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    };
    let s = &r.summary;
    let title = format!(
        "Exact and approximate Fisher: {}, {}, P = {}",
        s["dataset"].as_str().unwrap_or("user data"),
        describe(s),
        s["parameters"]
    );
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; max-width: 1450px; color: #222; }}
table {{ border-collapse: collapse; font-size: 14px; margin: 1em 0; }}
th, td {{ border: 1px solid #bbb; padding: 4px 8px; text-align: right; }}
th {{ background: #eee; }}
td:first-child, th:first-child {{ text-align: left; }}
figure {{ margin: 2em 0; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
dt {{ font-weight: bold; }}
</style>
</head>
<body>
<h1>{title}</h1>
"#,
        title = escape(&title)
    );
    let at = match (s["fisher_at"].as_str(), s["weights"].as_str()) {
        (Some(o), _) => format!(
            "the weights after {} steps of {o} (batch {})",
            s["steps"], s["batch"]
        ),
        (None, Some(w)) => format!("the weights in {w}"),
        _ => "the given weights".into(),
    };
    let _ = writeln!(
        h,
        "<p>{} inputs. Fisher evaluated at {}, where the mean loss is {} and the gradient norm {}. Damping λ = {}; low rank k = {}; seed {}.</p>",
        s["inputs"],
        escape(&at),
        format::short(s["loss"].as_f64().unwrap_or(f64::NAN)),
        format::short(s["gradient_norm"].as_f64().unwrap_or(f64::NAN)),
        s["lambda"],
        s["rank"],
        s["seed"]
    );
    let _ = writeln!(h, "<p>{}</p>", escape(reference_line(s).trim_end()));
    h.push_str("<h2>Approximations against the exact Fisher</h2>\n");
    let (headers, body) = comparison_cells(&r.rows);
    h += &html_table(&headers, &body);
    let notes = estimator_notes(r);
    if !notes.is_empty() {
        let _ = writeln!(h, "<pre>{}</pre>", escape(&notes));
    }
    h.push_str(
        "<dl>\n<dt>build s, solve s</dt><dd>seconds to build the operator from the data, and for one damped solve (A + λI)⁻¹g with the full-data gradient g, for an approximation A of the exact Fisher F.</dd>\n\
<dt>peak MB, kept MB</dt><dd>heap above the starting level during the build, and what the operator keeps.</dd>\n\
<dt>rel Frob, rel spec</dt><dd>‖A − F‖ / ‖F‖ in the Frobenius and spectral norms.</dd>\n\
<dt>NGD cos, NGD rel err</dt><dd>cosine and relative error between the damped natural-gradient directions (A + λI)⁻¹g and (F + λI)⁻¹g.</dd>\n\
<dt>quad ratio g</dt><dd>gᵀAg / gᵀFg: how much curvature the approximation sees along the gradient (1 is exact; the JSON also has the ratio on 16 random directions).</dd>\n\
<dt>Δ logdet</dt><dd>ln det(A + λI) − ln det(F + λI).</dd>\n</dl>\n",
    );
    let mut about = String::from("<ul>\n");
    for row in &r.rows {
        let _ = writeln!(
            about,
            "<li><b>{}</b>: {}</li>",
            escape(&row.name),
            escape(&row.about)
        );
    }
    h += &about;
    h.push_str("</ul>\n");
    for (stem, caption) in [
        ("heatmaps", r.block_title.as_str()),
        (
            "spectra",
            "Eigenvalue spectra of the exact Fisher and of each approximation, log-log.",
        ),
        (
            "error_vs_cost",
            "Each approximation's error against its cost: the matrix (left) and the natural-gradient direction it gives (right).",
        ),
        (
            "training_loss",
            "Full-data training loss of each optimizer from the same initialisation.",
        ),
    ] {
        let _ = writeln!(
            h,
            "<figure><img alt=\"{stem}\" src=\"data:image/png;base64,{}\"><figcaption>{} (<a href=\"{stem}.svg\">SVG</a>)</figcaption></figure>",
            png(stem)?,
            escape(caption)
        );
    }
    h.push_str("<h2>Optimizers</h2>\n");
    let (headers, body) = training_rows(&r.outcomes, &r.summary);
    h += &html_table(&headers, &body);
    h.push_str("<p>Data: <a href=\"comparison.json\">comparison.json</a> (everything, with the spectra), <a href=\"comparison.csv\">comparison.csv</a>, <a href=\"training.jsonl\">training.jsonl</a> (every step).</p>\n</body>\n</html>\n");
    Ok(h)
}
