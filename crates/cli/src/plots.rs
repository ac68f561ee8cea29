//! The figures of `fisherlab compare`, each drawn once for SVG and once for PNG by `plotters`.
//! Text uses the embedded DejaVu Sans (licence in `assets/DejaVuSans-LICENSE.txt`), so no
//! system font is needed.

use crate::CliError;
use faer::Mat;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const SANS: &str = "sans-serif";

type Drawn = Result<(), Box<dyn std::error::Error>>;

/// Twenty distinct colours (Tableau 10, then ten darker or lighter ones that differ from all of
/// them); the exact Fisher is black.
const COLOURS: [RGBColor; 20] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 128),
    RGBColor(128, 64, 0),
    RGBColor(0, 100, 0),
    RGBColor(128, 0, 64),
    RGBColor(255, 187, 120),
    RGBColor(152, 223, 138),
    RGBColor(174, 199, 232),
    RGBColor(197, 176, 213),
    RGBColor(90, 90, 0),
    RGBColor(0, 128, 128),
];

/// The colour of series `k`.
pub fn colour(k: usize) -> RGBColor {
    COLOURS[k % COLOURS.len()]
}

fn register_font() -> Result<(), CliError> {
    plotters::style::register_font(SANS, FontStyle::Normal, FONT)
        .map_err(|_| CliError::Failed("the embedded font could not be read".into()))
}

/// One panel of a figure.
pub enum Panel<'a> {
    /// Line series on a log y axis ([`lines`]).
    Lines {
        caption: &'a str,
        x_desc: &'a str,
        y_desc: &'a str,
        log_x: bool,
        series: &'a [Series],
        y_floor: f64,
        /// Draw the legend.
        legend: bool,
        /// The y range (shared by small multiples); from the data when `None`.
        y_range: Option<(f64, f64)>,
    },
    /// Labelled points on log-log axes ([`scatter`]).
    Scatter {
        caption: &'a str,
        x_desc: &'a str,
        y_desc: &'a str,
        points: &'a [Point],
    },
    /// Matrix blocks side by side on one colour scale ([`heatmaps`]); at most `cells` cells a
    /// side in SVG (each is an element), at most 600 in PNG.
    Heatmaps {
        blocks: &'a [(String, Mat<f64>)],
        svg_cells: usize,
    },
}

/// A figure: a title over panels in a grid.
pub struct Figure<'a> {
    /// Drawn across the top (none when empty).
    pub title: &'a str,
    /// Left to right, then top to bottom.
    pub panels: Vec<Panel<'a>>,
    /// Panels per row (0: all in one row).
    pub columns: usize,
}

fn draw<DB: DrawingBackend>(fig: &Figure<'_>, root: &DrawingArea<DB, Shift>, bitmap: bool) -> Drawn
where
    DB::ErrorType: 'static,
{
    let area = if fig.title.is_empty() {
        root.clone()
    } else {
        root.titled(fig.title, (SANS, 20))?
    };
    let n = fig.panels.len().max(1);
    let cols = if fig.columns == 0 {
        n
    } else {
        fig.columns.min(n)
    };
    let rows = n.div_ceil(cols);
    for (panel, a) in fig.panels.iter().zip(area.split_evenly((rows, cols))) {
        match panel {
            Panel::Lines {
                caption,
                x_desc,
                y_desc,
                log_x,
                series,
                y_floor,
                legend,
                y_range,
            } => lines(
                &a,
                &LinesStyle {
                    caption,
                    x_desc,
                    y_desc,
                    log_x: *log_x,
                    y_floor: *y_floor,
                    legend: *legend,
                    y_range: *y_range,
                },
                series,
            )?,
            Panel::Scatter {
                caption,
                x_desc,
                y_desc,
                points,
            } => scatter(&a, caption, x_desc, y_desc, points)?,
            Panel::Heatmaps { blocks, svg_cells } => {
                heatmaps(&a, blocks, if bitmap { 600 } else { *svg_cells })?
            }
        }
    }
    Ok(())
}

/// Draw `fig` as `stem.svg` and `stem.png` in `dir`.
pub fn render(dir: &Path, stem: &str, size: (u32, u32), fig: &Figure<'_>) -> Result<(), CliError> {
    register_font()?;
    let fail = |e: Box<dyn std::error::Error>| CliError::Failed(format!("figure {stem}: {e}"));
    let svg = dir.join(format!("{stem}.svg"));
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.into()))?;
        draw(fig, &root, false).map_err(fail)?;
        root.present().map_err(|e| fail(e.into()))?;
    }
    let png = dir.join(format!("{stem}.png"));
    let root = BitMapBackend::new(&png, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.into()))?;
    draw(fig, &root, true).map_err(fail)?;
    root.present().map_err(|e| fail(e.into()))?;
    Ok(())
}

/// `stem.svg`/`.png`: full-data loss against steps and against seconds, side by side.
pub fn loss_figure(
    dir: &Path,
    stem: &str,
    title: &str,
    by_step: &[Series],
    by_time: &[Series],
) -> Result<(), CliError> {
    let panel = |caption, x_desc, series| Panel::Lines {
        caption,
        x_desc,
        y_desc: "mean negative log-likelihood (all data)",
        log_x: false,
        series,
        y_floor: 1e-12,
        legend: true,
        y_range: None,
    };
    render(
        dir,
        stem,
        (1400, 600),
        &Figure {
            title,
            panels: vec![
                panel("against steps", "step", by_step),
                panel("against time", "seconds", by_time),
            ],
            columns: 0,
        },
    )
}

/// `[lo, hi]` of the positive finite values, widened by a factor `pad` on each side (log axes).
fn log_range(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.1, 10.0);
    }
    let (lo, hi) = if hi / lo < 10.0 {
        let mid = (lo * hi).sqrt();
        (mid / 3.2, mid * 3.2)
    } else {
        (lo, hi)
    };
    (lo / pad, hi * pad)
}

/// Labels of a log axis over `[lo, hi]`: across two decades or more, powers of ten only
/// (`1e-3`; the grid shows the rest); over a narrower range the ticks 1, 2 and 5 times a power
/// of ten, in plain numbers.
fn log_labels(lo: f64, hi: f64) -> impl Fn(&f64) -> String {
    let wide = hi / lo >= 100.0;
    move |v: &f64| {
        if *v <= 0.0 {
            return String::new();
        }
        let e = v.log10();
        if !wide {
            let mantissa = v / 10f64.powf(e.floor());
            let nice = [1.0, 2.0, 5.0, 10.0]
                .iter()
                .any(|m| (mantissa - m).abs() < 1e-6 * m);
            if nice { plain_label(v) } else { String::new() }
        } else if (e - e.round()).abs() < 1e-6 {
            format!("1e{}", e.round() as i32)
        } else {
            String::new()
        }
    }
}

/// Integers without a decimal point, other values to 3 significant digits.
fn plain_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 * v.abs().max(1.0) {
        format!("{}", v.round())
    } else {
        let digits = (2 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

/// One line series: a name, its colour, its points, and a band `(x, lo, hi)` drawn under it
/// in its colour (none when empty).
pub struct Series {
    pub name: String,
    pub colour: RGBColor,
    pub width: u32,
    pub points: Vec<(f64, f64)>,
    pub band: Vec<(f64, f64, f64)>,
}

/// How [`lines`] draws.
pub struct LinesStyle<'a> {
    pub caption: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub log_x: bool,
    pub y_floor: f64,
    pub legend: bool,
    pub y_range: Option<(f64, f64)>,
}

/// The y range of line series on a log axis: their points and bands at or above `floor`,
/// widened by 1.3 on each side.
pub fn y_range_of(series: &[Series], floor: f64) -> (f64, f64) {
    let ys = series.iter().flat_map(|s| {
        s.points
            .iter()
            .map(|p| p.1)
            .chain(s.band.iter().flat_map(|b| [b.1, b.2]))
            .map(|y| y.max(floor))
    });
    log_range(ys, 1.3)
}

/// A log-log or lin-log line chart, with a legend unless told otherwise.
pub fn lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    st: &LinesStyle<'_>,
    series: &[Series],
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let (caption, x_desc, y_desc, log_x, y_floor) =
        (st.caption, st.x_desc, st.y_desc, st.log_x, st.y_floor);
    let (y0, y1) = st.y_range.unwrap_or_else(|| y_range_of(series, y_floor));
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let mut chart = ChartBuilder::on(area);
    chart
        .caption(caption, (SANS, 20))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(78);
    let style = |s: &Series| ShapeStyle::from(&s.colour).stroke_width(s.width);
    macro_rules! finish {
        ($chart:expr, $yfmt:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .label_style((SANS, 14))
                .axis_desc_style((SANS, 16))
                .x_label_formatter(&plain_label)
                .y_label_formatter($yfmt)
                .x_labels(10)
                .y_labels(10)
                .light_line_style(WHITE.mix(0.0))
                .draw()?;
            for s in series.iter().filter(|s| s.band.len() > 1) {
                let outline: Vec<(f64, f64)> = s
                    .band
                    .iter()
                    .map(|&(x, lo, _)| (x, lo.max(y_floor)))
                    .chain(s.band.iter().rev().map(|&(x, _, hi)| (x, hi.max(y_floor))))
                    .collect();
                chart.draw_series(std::iter::once(Polygon::new(
                    outline,
                    s.colour.mix(0.18).filled(),
                )))?;
            }
            for s in series {
                let st = style(s);
                chart
                    .draw_series(LineSeries::new(
                        s.points.iter().map(|&(x, y)| (x, y.max(y_floor))),
                        st,
                    ))?
                    .label(s.name.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], st));
            }
            if st.legend {
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperRight)
                    .background_style(WHITE.mix(0.9))
                    .border_style(BLACK)
                    .label_font((SANS, 13))
                    .draw()?;
            }
        }};
    }
    // values within a factor 3 of each other (a loss with a large constant, such as a Gaussian
    // head's) read better on a linear axis
    let (ly0, ly1, linear_y) = {
        let ys: Vec<f64> = series
            .iter()
            .flat_map(|s| {
                s.points
                    .iter()
                    .map(|p| p.1)
                    .chain(s.band.iter().flat_map(|b| [b.1, b.2]))
            })
            .filter(|y| y.is_finite())
            .collect();
        let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let pad = ((hi - lo) * 0.05).max(1e-12 * hi.abs().max(1.0));
        (
            lo - pad,
            hi + pad,
            st.y_range.is_none() && lo > 0.0 && hi < 3.0 * lo,
        )
    };
    let log_fmt = log_labels(y0, y1);
    let (x0, x1) = if log_x {
        log_range(xs.iter().copied(), 1.1)
    } else {
        let x1 = xs.iter().copied().fold(0.0f64, f64::max);
        let x0 = xs.iter().copied().fold(x1, f64::min).min(0.0);
        (x0, if x1 > x0 { x1 * 1.02 } else { x0 + 1.0 })
    };
    match (log_x, linear_y) {
        (true, false) => finish!(
            chart.build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())?,
            &log_fmt
        ),
        (true, true) => finish!(
            chart.build_cartesian_2d((x0..x1).log_scale(), ly0..ly1)?,
            &plain_label
        ),
        (false, false) => finish!(
            chart.build_cartesian_2d(x0..x1, (y0..y1).log_scale())?,
            &log_fmt
        ),
        (false, true) => finish!(chart.build_cartesian_2d(x0..x1, ly0..ly1)?, &plain_label),
    }
    Ok(())
}

/// One labelled point of a scatter.
pub struct Point {
    pub name: String,
    pub colour: RGBColor,
    pub x: f64,
    pub y: f64,
    /// An exact route (error at rounding level): kept out of the axis range and drawn as a
    /// hollow marker on the bottom edge, its value in the label.
    pub exact: bool,
}

/// A log-log scatter with each point labelled by name.
pub fn scatter<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    x_desc: &str,
    y_desc: &str,
    points: &[Point],
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let floor = 1e-16;
    let (x0, x1) = log_range(points.iter().map(|p| p.x.max(floor)), 2.0);
    let (y0, y1) = log_range(
        points.iter().filter(|p| !p.exact).map(|p| p.y.max(floor)),
        2.0,
    );
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (SANS, 20))
        .margin(15)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((SANS, 14))
        .axis_desc_style((SANS, 16))
        .x_label_formatter(&log_labels(x0, x1))
        .y_label_formatter(&log_labels(y0, y1))
        .x_labels(10)
        .y_labels(10)
        .draw()?;
    // each label, in its point's colour, goes to the first of a few spots next to its point that overlaps no label
    // placed before it (boxes estimated at 7.5 px per character, 14 px high)
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let inside = |x0: i32, y0: i32, w: i32| {
        x0 >= xr.start && x0 + w <= xr.end && y0 >= yr.start && y0 + 14 <= yr.end
    };
    let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
    let mut labels = Vec::new();
    for p in points.iter().filter(|p| p.x.is_finite() && p.y.is_finite()) {
        // an exact route sits on the bottom edge, its value in its label
        let at = if p.exact {
            (p.x.max(floor), y0 * (y1 / y0).powf(0.03))
        } else {
            (p.x.max(floor), p.y.max(floor))
        };
        let name = if p.exact {
            format!("{} (exact: {:.0e})", p.name, p.y)
        } else {
            p.name.clone()
        };
        let (px, py) = chart.backend_coord(&at);
        let w = (name.chars().count() as f64 * 7.5) as i32;
        let spots = [
            (9, -16),
            (9, 2),
            (-w - 9, -16),
            (-w - 9, 2),
            (9, -32),
            (9, 18),
        ];
        let overlaps = |(dx, dy): (i32, i32)| {
            let (x0, y0) = (px + dx, py + dy);
            !inside(x0, y0, w)
                || placed
                    .iter()
                    .any(|&(a, b, c, d)| x0 < c && a < x0 + w && y0 < d && b < y0 + 14)
        };
        let (dx, dy) = spots
            .iter()
            .copied()
            .find(|&s| !overlaps(s))
            .unwrap_or(spots[0]);
        placed.push((px + dx, py + dy, px + dx + w, py + dy + 14));
        let marker = if p.exact {
            Circle::new((0, 0), 6, p.colour.stroke_width(2))
        } else {
            Circle::new((0, 0), 6, p.colour.filled())
        };
        labels.push(
            EmptyElement::at(at)
                + marker
                + Text::new(
                    name,
                    (dx, dy),
                    (SANS, 13).into_font().color(&p.colour.mix(0.9)),
                ),
        );
    }
    chart.draw_series(labels)?;
    Ok(())
}

/// Colour of a signed value `t ∈ [−1, 1]` on a white-centred blue–red scale.
fn diverging(t: f64) -> RGBColor {
    let t = t.clamp(-1.0, 1.0);
    let (r, g, b) = if t >= 0.0 {
        (178.0, 24.0, 43.0)
    } else {
        (33.0, 102.0, 172.0)
    };
    let a = t.abs();
    let mix = |c: f64| (255.0 + (c - 255.0) * a).round() as u8;
    RGBColor(mix(r), mix(g), mix(b))
}

/// Decades shown by the heatmaps' signed log scale.
pub const DECADES: f64 = 4.0;

/// The signed log scale: `sign(v) · (log10(|v|/max) + D)/D`, clipped to `[−1, 1]`.
fn signed_log(v: f64, max: f64) -> f64 {
    if v == 0.0 || max <= 0.0 {
        return 0.0;
    }
    let t = ((v.abs() / max).log10() + DECADES) / DECADES;
    v.signum() * t.clamp(0.0, 1.0)
}

/// Average `m` over a `cells × cells` grid of near-equal bins.
fn pool(m: &Mat<f64>, cells: usize) -> Mat<f64> {
    let n = m.nrows();
    let cells = cells.min(n).max(1);
    let bin = |k: usize| (k * n / cells, (k + 1) * n / cells);
    Mat::from_fn(cells, cells, |a, b| {
        let ((r0, r1), (c0, c1)) = (bin(a), bin(b));
        let mut s = 0.0;
        for i in r0..r1 {
            for j in c0..c1 {
                s += m[(i, j)];
            }
        }
        s / ((r1 - r0) * (c1 - c0)) as f64
    })
}

/// Heatmaps of one block per panel on one shared signed log colour scale, with a colour bar.
pub fn heatmaps<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    blocks: &[(String, Mat<f64>)],
    max_cells: usize,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let (w, _) = area.dim_in_pixel();
    let (panels, bar) = area.split_horizontally(w.saturating_sub(150));
    let max = blocks
        .first()
        .map_or(1.0, |(_, m)| m.norm_max())
        .max(f64::MIN_POSITIVE);
    let n = blocks.first().map_or(1, |(_, m)| m.nrows());
    for ((name, m), panel) in blocks
        .iter()
        .zip(panels.split_evenly((1, blocks.len().max(1))))
    {
        let cells = m.nrows().min(max_cells);
        let pooled = pool(m, cells);
        let scale = n as f64 / cells as f64;
        let mut chart = ChartBuilder::on(&panel)
            .caption(name, (SANS, 18))
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..n as f64, n as f64..0.0)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("column (parameter in the block)")
            .y_desc("row (parameter in the block)")
            .label_style((SANS, 12))
            .axis_desc_style((SANS, 14))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        chart.draw_series((0..cells).flat_map(|i| {
            let pooled = &pooled;
            (0..cells).map(move |j| {
                let (x0, y0) = (j as f64 * scale, i as f64 * scale);
                Rectangle::new(
                    [(x0, y0), (x0 + scale, y0 + scale)],
                    diverging(signed_log(pooled[(i, j)], max)).filled(),
                )
            })
        }))?;
    }
    // the colour bar: t ∈ [−1, 1] ↦ ±max·10^{D(|t|−1)}
    let mut chart = ChartBuilder::on(&bar)
        .caption("entry", (SANS, 14))
        .margin_top(20)
        .margin_bottom(50)
        .margin_right(10)
        .y_label_area_size(90)
        .build_cartesian_2d(0.0..1.0, -1.0..1.0)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(9)
        .label_style((SANS, 12))
        .y_label_formatter(&|t: &f64| {
            if t.abs() < 1e-9 {
                "0".into()
            } else {
                format!(
                    "{:+.0e}",
                    t.signum() * max * 10f64.powf(DECADES * (t.abs() - 1.0))
                )
            }
        })
        .draw()?;
    let steps = 200;
    chart.draw_series((0..steps).map(|k| {
        let t0 = -1.0 + 2.0 * k as f64 / steps as f64;
        let t1 = t0 + 2.0 / steps as f64;
        Rectangle::new([(0.0, t0), (1.0, t1)], diverging(0.5 * (t0 + t1)).filled())
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_log_scale_maps_decades_linearly() {
        // max ↦ 1, max·1e-2 ↦ 1/2, max·1e-4 and below ↦ 0; the sign is kept
        assert!((signed_log(5.0, 5.0) - 1.0).abs() < 1e-15);
        assert!((signed_log(-5e-2, 5.0) + 0.5).abs() < 1e-12);
        assert!(signed_log(5e-5, 5.0).abs() < 1e-15);
        assert!(signed_log(0.0, 5.0).abs() < 1e-15);
        // white at 0, the end colours at ±1
        assert_eq!(diverging(0.0), RGBColor(255, 255, 255));
        assert_eq!(diverging(1.0), RGBColor(178, 24, 43));
        assert_eq!(diverging(-1.0), RGBColor(33, 102, 172));
    }

    #[test]
    fn pooling_averages_bins_and_keeps_the_mean() {
        let m = Mat::from_fn(5, 5, |i, j| (i * 5 + j) as f64);
        let p = pool(&m, 2);
        // bins rows/cols {0,1} and {2,3,4}: mean of the top-left 2×2 block is (0+1+5+6)/4
        assert!((p[(0, 0)] - 3.0).abs() < 1e-15);
        let total: f64 = (0..25).map(|k| k as f64).sum::<f64>() / 25.0;
        let weighted =
            (p[(0, 0)] * 4.0 + p[(0, 1)] * 6.0 + p[(1, 0)] * 6.0 + p[(1, 1)] * 9.0) / 25.0;
        assert!((weighted - total).abs() < 1e-12);
        // at least as many cells as rows: unchanged
        assert!((pool(&m, 9) - &m).norm_max() < 1e-15);
    }

    #[test]
    fn log_ranges_cover_the_data() {
        let (lo, hi) = log_range([1e-3, 5.0, 0.0, f64::NAN].into_iter(), 2.0);
        assert!(lo <= 1e-3 / 2.0 && hi >= 10.0);
        // a narrow range is widened to at least a decade
        let (lo, hi) = log_range([2.0, 3.0].into_iter(), 1.0);
        assert!(hi / lo >= 10.0 && lo < 2.0 && hi > 3.0);
    }
}
