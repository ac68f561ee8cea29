//! Adaptive Gauss–Kronrod quadrature of vector-valued integrands on finite and infinite ranges.
//!
//! All components share one subdivision: every interval is integrated by the 21-point Kronrod
//! rule with the embedded 10-point Gauss rule as its error estimate, and the interval whose
//! largest *scaled* error is worst is bisected until every component meets
//! `error_k ≤ rel · max(scale_k, floor_k)`. Infinite ranges are mapped to `[0, 1)` by
//! `u = a + t/(1−t)` (and its mirror), so the rule never evaluates an endpoint.

use crate::{Error, Result};

/// Kronrod nodes of the 21-point rule on [−1, 1] (non-negative half, descending); the odd
/// entries are the 10-point Gauss nodes. QUADPACK `qk21` (Piessens et al. 1983).
#[allow(clippy::excessive_precision)] // digits as tabulated by QUADPACK
const XGK: [f64; 11] = [
    0.995_657_163_025_808_080_735_527_280_689_003,
    0.973_906_528_517_171_720_077_964_012_084_452,
    0.930_157_491_355_708_226_001_207_180_059_508,
    0.865_063_366_688_984_510_732_096_688_423_493,
    0.780_817_726_586_416_897_063_717_578_345_042,
    0.679_409_568_299_024_406_234_327_365_114_874,
    0.562_757_134_668_604_683_339_000_099_272_694,
    0.433_395_394_129_247_190_799_265_943_165_784,
    0.294_392_862_701_460_198_131_126_603_103_866,
    0.148_874_338_981_631_210_884_826_001_129_720,
    0.0,
];
/// Kronrod weights, matching [`XGK`].
#[allow(clippy::excessive_precision)] // digits as tabulated by QUADPACK
const WGK: [f64; 11] = [
    0.011_694_638_867_371_874_278_064_396_062_192,
    0.032_558_162_307_964_727_478_818_972_459_390,
    0.054_755_896_574_351_996_031_381_300_244_580,
    0.075_039_674_810_919_952_767_043_140_916_190,
    0.093_125_454_583_697_605_535_065_465_083_366,
    0.109_387_158_802_297_641_899_210_590_325_805,
    0.123_491_976_262_065_851_077_958_109_831_074,
    0.134_709_217_311_473_325_928_054_001_771_707,
    0.142_775_938_577_060_080_797_094_273_138_717,
    0.147_739_104_901_338_491_374_841_515_972_068,
    0.149_445_554_002_916_905_664_936_468_389_821,
];
/// Gauss weights for the nodes `XGK[1], XGK[3], …, XGK[9]`.
#[allow(clippy::excessive_precision)] // digits as tabulated by QUADPACK
const WG: [f64; 5] = [
    0.066_671_344_308_688_137_593_568_809_893_332,
    0.149_451_349_150_580_593_145_776_339_657_697,
    0.219_086_362_515_982_043_995_534_934_228_163,
    0.269_266_719_309_996_355_091_226_921_569_469,
    0.295_524_224_714_752_870_173_892_994_651_338,
];

/// One piece of the integration range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Piece {
    /// `[a, b]`.
    Finite(f64, f64),
    /// `[a, ∞)`.
    Right(f64),
    /// `(−∞, b]`.
    Left(f64),
}

impl Piece {
    /// The interval in the rule's variable t, and the map t ↦ (u, du/dt).
    fn t_range(&self) -> (f64, f64) {
        match *self {
            Piece::Finite(a, b) => (a, b),
            Piece::Right(_) | Piece::Left(_) => (0.0, 1.0),
        }
    }
    #[inline]
    fn map(&self, t: f64) -> (f64, f64) {
        match *self {
            Piece::Finite(..) => (t, 1.0),
            Piece::Right(a) => {
                let s = 1.0 - t;
                (a + t / s, 1.0 / (s * s))
            }
            Piece::Left(b) => {
                let s = 1.0 - t;
                (b - t / s, 1.0 / (s * s))
            }
        }
    }
}

/// The real line split at `centre + scale·{−8, −3, −1, 0, 1, 3, 8}`, tails mapped to `[0, 1)`.
pub fn real_line(centre: f64, scale: f64) -> Vec<Piece> {
    const CUTS: [f64; 7] = [-8.0, -3.0, -1.0, 0.0, 1.0, 3.0, 8.0];
    let pts: Vec<f64> = CUTS.iter().map(|c| centre + scale * c).collect();
    let mut v = vec![Piece::Left(pts[0])];
    v.extend(pts.windows(2).map(|w| Piece::Finite(w[0], w[1])));
    v.push(Piece::Right(pts[6]));
    v
}

/// `[lo, hi]` split at `centre + scale·{±1, ±3, ±8, 0}` where those fall inside.
pub fn finite_range(lo: f64, hi: f64, centre: f64, scale: f64) -> Vec<Piece> {
    let mut pts = vec![lo];
    for c in [-8.0, -3.0, -1.0, 0.0, 1.0, 3.0, 8.0] {
        let p = centre + scale * c;
        if p > lo && p < hi {
            pts.push(p);
        }
    }
    pts.push(hi);
    pts.windows(2).map(|w| Piece::Finite(w[0], w[1])).collect()
}

/// Result of an adaptive integration.
#[derive(Debug, Clone)]
pub struct Integral {
    /// Integral of each component.
    pub value: Vec<f64>,
    /// Error estimate of each component.
    pub error: Vec<f64>,
    /// Integrand evaluations.
    pub evaluations: usize,
}

struct Interval {
    piece: usize,
    a: f64,
    b: f64,
    value: Vec<f64>,
    error: Vec<f64>,
    splittable: bool,
}

/// Accuracy request for [`integrate`].
pub struct Tolerance<'a> {
    /// Relative tolerance.
    pub rel: f64,
    /// Reference scale of each component from the current totals.
    pub scale: &'a dyn Fn(&[f64]) -> Vec<f64>,
    /// Lower bound on each component's scale (absolute floor); empty for none.
    pub floor: &'a [f64],
    /// Maximum number of intervals before giving up.
    pub max_intervals: usize,
    /// Looser tolerance accepted when `rel` cannot be reached because rounding noise in the
    /// integrand dominates the error estimate (stagnation, or `max_intervals` reached).
    pub accept: f64,
}

/// Subdivisions without a halving of the error after which the integration counts as stagnant.
const STAGNATION: usize = 100;

/// Integrand: fills `out` (length m) with f(u) for a point u of the original variable.
pub type Integrand<'a> = dyn FnMut(f64, &mut [f64]) -> Result<()> + 'a;

fn gk21(
    f: &mut Integrand<'_>,
    piece: &Piece,
    a: f64,
    b: f64,
    m: usize,
    buf: &mut [f64],
) -> Result<(Vec<f64>, Vec<f64>)> {
    let c = 0.5 * (a + b);
    let h = 0.5 * (b - a);
    let mut k = vec![0.0; m];
    let mut g = vec![0.0; m];
    for (i, (&x, &wk)) in XGK.iter().zip(&WGK).enumerate() {
        let sides: &[f64] = if i == 10 { &[0.0] } else { &[-1.0, 1.0] };
        for &s in sides {
            let (u, du) = piece.map(c + s * h * x);
            f(u, buf)?;
            for j in 0..m {
                let v = buf[j] * du;
                k[j] += wk * v;
                if i % 2 == 1 {
                    g[j] += WG[i / 2] * v;
                }
            }
        }
    }
    let value: Vec<f64> = k.iter().map(|v| v * h).collect();
    let error = k
        .iter()
        .zip(&g)
        .map(|(kv, gv)| ((kv - gv) * h).abs())
        .collect();
    Ok((value, error))
}

/// Integrate a vector integrand over the union of `pieces`.
///
/// # Errors
/// [`Error::NotConverged`] if the tolerance is not met within `max_intervals`; any error of the
/// integrand.
pub fn integrate(
    f: &mut Integrand<'_>,
    pieces: &[Piece],
    m: usize,
    tol: &Tolerance<'_>,
) -> Result<Integral> {
    let mut buf = vec![0.0; m];
    let mut intervals = Vec::new();
    let mut evaluations = 0;
    for (pi, piece) in pieces.iter().enumerate() {
        let (a, b) = piece.t_range();
        if b <= a {
            continue;
        }
        let (value, error) = gk21(f, piece, a, b, m, &mut buf)?;
        evaluations += 21;
        intervals.push(Interval {
            piece: pi,
            a,
            b,
            value,
            error,
            splittable: true,
        });
    }
    let mut best = f64::INFINITY;
    let mut since_best = 0usize;
    loop {
        let mut total = vec![0.0; m];
        let mut err = vec![0.0; m];
        for iv in &intervals {
            for j in 0..m {
                total[j] += iv.value[j];
                err[j] += iv.error[j];
            }
        }
        let mut scale = (tol.scale)(&total);
        for (s, fl) in scale.iter_mut().zip(tol.floor) {
            *s = s.max(*fl);
        }
        let norm = |e: &[f64]| {
            e.iter()
                .zip(&scale)
                .map(|(e, s)| if *s > 0.0 { e / s } else { *e })
                .fold(0.0, f64::max)
        };
        let worst = norm(&err);
        if worst < 0.5 * best {
            best = worst;
            since_best = 0;
        } else {
            since_best += 1;
        }
        let stagnant = since_best >= STAGNATION || intervals.len() >= tol.max_intervals;
        if worst <= tol.rel || (stagnant && worst <= tol.accept) {
            return Ok(Integral {
                value: total,
                error: err,
                evaluations,
            });
        }
        let pick = intervals
            .iter()
            .enumerate()
            .filter(|(_, iv)| iv.splittable)
            .map(|(i, iv)| (i, norm(&iv.error)))
            .max_by(|x, y| x.1.total_cmp(&y.1));
        let Some((i, _)) = pick else {
            return Err(Error::NotConverged {
                error: worst,
                tolerance: tol.rel,
                evaluations,
            });
        };
        if intervals.len() >= tol.max_intervals {
            return Err(Error::NotConverged {
                error: worst,
                tolerance: tol.rel,
                evaluations,
            });
        }
        let iv = intervals.swap_remove(i);
        let mid = 0.5 * (iv.a + iv.b);
        if !(mid > iv.a && mid < iv.b) || (iv.b - iv.a) < 1e-15 * (iv.a.abs() + iv.b.abs()) {
            intervals.push(Interval {
                splittable: false,
                ..iv
            });
            continue;
        }
        let piece = pieces[iv.piece];
        for (a, b) in [(iv.a, mid), (mid, iv.b)] {
            let (value, error) = gk21(f, &piece, a, b, m, &mut buf)?;
            evaluations += 21;
            intervals.push(Interval {
                piece: iv.piece,
                a,
                b,
                value,
                error,
                splittable: true,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tol<'a>(rel: f64, scale: &'a dyn Fn(&[f64]) -> Vec<f64>) -> Tolerance<'a> {
        Tolerance {
            rel,
            scale,
            floor: &[],
            max_intervals: 2000,
            accept: rel,
        }
    }

    #[test]
    fn kronrod_table_is_consistent() {
        // weights sum to the interval length 2 (both rules)
        let sk: f64 = 2.0 * WGK[..10].iter().sum::<f64>() + WGK[10];
        let sg: f64 = 2.0 * WG.iter().sum::<f64>();
        assert!((sk - 2.0).abs() < 1e-15 && (sg - 2.0).abs() < 1e-15);
        // K21 integrates x^30 exactly (degree 31), G10 integrates x^18 exactly (degree 19)
        let mono = |p: i32, kron: bool| {
            let mut s = 0.0;
            for i in 0..11 {
                let (x, w) = if kron {
                    (XGK[i], WGK[i])
                } else if i % 2 == 1 {
                    (XGK[i], WG[i / 2])
                } else {
                    continue;
                };
                s += if i == 10 {
                    w * x.powi(p)
                } else {
                    2.0 * w * x.powi(p)
                };
            }
            s
        };
        assert!((mono(30, true) - 2.0 / 31.0).abs() < 1e-15);
        assert!((mono(18, false) - 2.0 / 19.0).abs() < 1e-15);
        assert!(
            (mono(30, false) - 2.0 / 31.0).abs() > 1e-6,
            "Gauss-10 is not exact at degree 30"
        );
    }

    #[test]
    fn gaussian_moments_on_the_real_line() {
        // ∫ φ(x)·(1, x², x⁴) dx = (1, 1, 3)
        let mut f = |x: f64, out: &mut [f64]| {
            let p = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
            out[0] = p;
            out[1] = p * x * x;
            out[2] = p * x.powi(4);
            Ok(())
        };
        let scale = |v: &[f64]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
        let r = integrate(&mut f, &real_line(0.0, 1.0), 3, &tol(1e-12, &scale)).unwrap();
        for (got, want) in r.value.iter().zip([1.0, 1.0, 3.0]) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
    }

    #[test]
    fn endpoint_singularity_and_heavy_tail() {
        // ∫₀¹ x^{-1/2} dx = 2 ; ∫ 1/(π(1+x²)) dx over ℝ = 1
        let mut f = |x: f64, out: &mut [f64]| {
            out[0] = x.powf(-0.5);
            Ok(())
        };
        let scale = |v: &[f64]| vec![v[0].abs()];
        let r = integrate(&mut f, &[Piece::Finite(0.0, 1.0)], 1, &tol(1e-10, &scale)).unwrap();
        assert!((r.value[0] - 2.0).abs() < 1e-9);
        let mut c = |x: f64, out: &mut [f64]| {
            out[0] = 1.0 / (std::f64::consts::PI * (1.0 + x * x));
            Ok(())
        };
        let r = integrate(&mut c, &real_line(0.0, 1.0), 1, &tol(1e-12, &scale)).unwrap();
        assert!((r.value[0] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn non_convergence_is_an_error() {
        // ∫₀¹ 1/x diverges
        let mut f = |x: f64, out: &mut [f64]| {
            out[0] = 1.0 / x;
            Ok(())
        };
        let scale = |v: &[f64]| vec![v[0].abs()];
        let t = Tolerance {
            rel: 1e-10,
            scale: &scale,
            floor: &[],
            max_intervals: 200,
            accept: 1e-10,
        };
        assert!(matches!(
            integrate(&mut f, &[Piece::Finite(0.0, 1.0)], 1, &t),
            Err(Error::NotConverged { .. })
        ));
    }
}
