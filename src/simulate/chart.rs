//! The charts (SVG, plotters): the point price order by order, and each cohort's outcome per
//! unit spent in both models. Figures become floats here only to place pixels.

use super::run::Outcome;
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::ops::Range;
use std::path::Path;

fn f(v: Decimal) -> f64 {
    v.to_f64().unwrap_or(0.0)
}

/// A point to draw: an index (an order, a cohort) and a figure.
fn xy(x: u64, y: Decimal) -> (f64, f64) {
    (x as f64, f(y))
}

fn draw_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing the chart: {e:?}")
}

/// Writes `price.svg` and `cohorts.svg` into `dir` (made when missing); returns their paths.
pub fn write(o: &Outcome, dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let price = dir.join("price.svg");
    let cohorts = dir.join("cohorts.svg");
    price_chart(o, &price)?;
    cohort_chart(o, &cohorts)?;
    Ok(vec![price, cohorts])
}

struct Series {
    points: Vec<(f64, f64)>,
    colour: RGBColor,
    label: String,
    /// Mark each point (few points: cohorts) or only draw the line (many: orders).
    dots: bool,
}

struct Frame<'a> {
    caption: &'a str,
    x: Range<f64>,
    x_desc: String,
    y_desc: &'a str,
    legend: SeriesLabelPosition,
}

fn line_chart(path: &Path, frame: Frame, series: Vec<Series>) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let top = series.iter().flat_map(|s| &s.points).map(|p| p.1).fold(1.0f64, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(&root)
        .caption(frame.caption, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(frame.x, 0f64..top)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc(frame.x_desc)
        .y_desc(frame.y_desc)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(draw_err)?;
    for s in series {
        let colour = s.colour;
        chart
            .draw_series(LineSeries::new(s.points.clone(), colour.stroke_width(2)))
            .map_err(draw_err)?
            .label(s.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
        if s.dots {
            chart.draw_series(s.points.into_iter().map(|p| Circle::new(p, 3, colour.filled()))).map_err(draw_err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(frame.legend)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(draw_err)?;
    root.present().map_err(draw_err)?;
    Ok(())
}

fn price_chart(o: &Outcome, path: &Path) -> anyhow::Result<()> {
    let n = (o.orders.len() as f64).max(1.0);
    let frame = Frame {
        caption: "Price of a point after each order",
        x: 0.0..n,
        x_desc: "order".into(),
        y_desc: "price",
        legend: SeriesLabelPosition::UpperLeft,
    };
    let series = vec![
        Series {
            points: o.orders.iter().map(|r| xy(r.order, r.price)).collect(),
            colour: BLUE,
            label: "points pool: pool ÷ points outstanding".into(),
            dots: false,
        },
        Series {
            points: vec![(0.0, 1.0), (n, 1.0)],
            colour: RED,
            label: format!("fixed cashback: 1 unit = 1 {}, always", o.scenario.currency.code()),
            dots: false,
        },
    ];
    line_chart(path, frame, series)
}

fn cohort_chart(o: &Outcome, path: &Path) -> anyhow::Result<()> {
    let minor = o.scenario.currency.minor_units();
    let per = |pick: &dyn Fn(&super::run::Cohort) -> Decimal| -> Vec<(f64, f64)> {
        o.cohorts.iter().map(|c| xy(c.index + 1, pick(c) / c.spent)).collect()
    };
    let frame = Frame {
        caption: "What each cohort gets back per unit spent",
        x: 0.5..o.cohorts.len() as f64 + 0.5,
        x_desc: format!("cohort (buyers of {} orders each, in order of arrival)", o.scenario.cohort_size),
        y_desc: "received ÷ spent",
        legend: SeriesLabelPosition::UpperRight,
    };
    let series = vec![
        Series {
            points: per(&|c| c.outcome()),
            colour: BLUE,
            label: "points pool: cash + points' value at the end".into(),
            dots: true,
        },
        Series {
            points: per(&|c| c.cash + c.run_cash),
            colour: MAGENTA,
            label: "points pool: cash if everyone sold at the end".into(),
            dots: true,
        },
        Series {
            points: per(&|c| Decimal::new(c.fixed_cashback_minor, minor)),
            colour: RED,
            label: "fixed cashback: money, at checkout".into(),
            dots: true,
        },
    ];
    line_chart(path, frame, series)
}
