//! The four figures of the output folder.

use super::*;

/// A relative error below this is rounding, not approximation: the route is exact, and the
/// error-against-cost figure marks it on its bottom edge instead of stretching its axis to it.
pub(super) const EXACT_ERROR: f64 = 1e-9;

pub(super) fn figures(dir: &Path, r: &Results) -> Result<(), CliError> {
    use plots::{Figure, Panel};
    let blocks = &r.blocks;
    plots::render(
        dir,
        "heatmaps",
        (440 * blocks.len() as u32 + 150, 560),
        &Figure {
            title: &r.block_title,
            panels: vec![Panel::Heatmaps {
                blocks,
                svg_cells: 80,
            }],
            columns: 0,
        },
    )?;

    // spectra as small multiples: each approximation against the exact spectrum, in the same
    // two colours and on one shared scale
    let top = r
        .spectra
        .first()
        .and_then(|(_, s)| s.first().copied())
        .unwrap_or(1.0);
    let series = |s: &[f64], name: &str, colour, width| plots::Series {
        name: name.to_string(),
        colour,
        width,
        points: s
            .iter()
            .enumerate()
            .map(|(i, v)| ((i + 1) as f64, *v))
            .collect(),
        band: Vec::new(),
    };
    let black = plotters::style::RGBColor(0, 0, 0);
    let red = plotters::style::RGBColor(214, 39, 40);
    if let Some(((_, exact), rest)) = r.spectra.split_first() {
        let pairs: Vec<(String, [plots::Series; 2])> = rest
            .iter()
            .map(|(name, s)| {
                (
                    name.clone(),
                    [series(exact, "exact", black, 3), series(s, name, red, 2)],
                )
            })
            .collect();
        let all: Vec<plots::Series> = r
            .spectra
            .iter()
            .map(|(n, s)| series(s, n, black, 1))
            .collect();
        let y_range = plots::y_range_of(&all, top * 1e-10);
        let columns = 4;
        let rows = pairs.len().div_ceil(columns).max(1);
        plots::render(
            dir,
            "spectra",
            (1600, 330 * rows as u32 + 40),
            &Figure {
                title: "Eigenvalues, largest first: the exact Fisher (black) and each approximation (red); below 1e-10 × the largest drawn at that floor",
                panels: pairs
                    .iter()
                    .map(|(name, pair)| Panel::Lines {
                        caption: name,
                        x_desc: "index k",
                        y_desc: "eigenvalue",
                        log_x: true,
                        series: pair,
                        y_floor: top * 1e-10,
                        legend: false,
                        y_range: Some(y_range),
                    })
                    .collect(),
                columns,
            },
        )?;
    }

    let approx = &r.rows[1..];
    let points = |cost: &dyn Fn(&Row) -> f64, key: &str| {
        approx
            .iter()
            .enumerate()
            .map(|(k, row)| {
                let y = row.json()[key].as_f64().unwrap_or(f64::NAN);
                plots::Point {
                    name: row.name.clone(),
                    colour: plots::colour(k),
                    x: cost(row),
                    y,
                    // an exact route (matrix-free): rounding error only
                    exact: y < EXACT_ERROR,
                }
            })
            .collect::<Vec<_>>()
    };
    let left = points(&|row| row.build_seconds, "rel_frobenius");
    let right = points(
        &|row| row.build_seconds + row.solve_seconds,
        "ngd_rel_error",
    );
    let cost_caption = format!(
        "Error against cost (the exact Fisher builds in {} s)",
        format::short(r.rows[0].build_seconds)
    );
    plots::render(
        dir,
        "error_vs_cost",
        (1400, 620),
        &Figure {
            title: &cost_caption,
            panels: vec![
                Panel::Scatter {
                    caption: "Matrix A against the exact F: ‖A − F‖_F / ‖F‖_F",
                    x_desc: "build time (s)",
                    y_desc: "relative Frobenius error",
                    points: &left,
                },
                Panel::Scatter {
                    caption: "Natural gradient: ‖dA − dF‖ / ‖dF‖",
                    x_desc: "build + damped solve time (s)",
                    y_desc: "relative error of dA = (A + λI)⁻¹g",
                    points: &right,
                },
            ],
            columns: 0,
        },
    )?;

    let curves = |by_seconds: bool| -> Vec<plots::Series> {
        r.outcomes
            .iter()
            .enumerate()
            .map(|(k, o)| {
                // one run's curve: its bands collapse to the line
                let points = crate::tune::bands(std::slice::from_ref(o), &[r.initial_loss])
                    .iter()
                    .map(|p| (if by_seconds { p.1 } else { p.0 }, p.2))
                    .collect();
                plots::Series {
                    name: o.name.to_string(),
                    colour: plots::colour(k),
                    width: 2,
                    points,
                    band: Vec::new(),
                }
            })
            .collect()
    };
    let (by_step, by_time) = (curves(false), curves(true));
    plots::loss_figure(
        dir,
        "training_loss",
        "Training loss on all the data, same initialisation and mini-batches",
        &by_step,
        &by_time,
    )
}
