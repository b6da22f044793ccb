//! The chart: one panel per metric, a bar per runtime (its median), drawn
//! as SVG by hand.

use crate::measure::Runtime;
use crate::report::Metric;

const COLORS: [&str; 3] = ["#d9480f", "#1c7ed6", "#2f9e44"];
const PANEL_W: f64 = 460.0;
const PANEL_H: f64 = 110.0;
const BAR_H: f64 = 20.0;
const LABEL_W: f64 = 70.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Draws every metric; returns the SVG document.
pub fn draw(metrics: &[Metric], rts: &[Runtime], machine: &str) -> String {
    let cols = 2;
    let rows = metrics.len().div_ceil(cols);
    let width = PANEL_W * cols as f64 + 20.0;
    let height = PANEL_H * rows as f64 + 60.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">corral beside runc and crun (medians)</text>\n\
         <text x=\"10\" y=\"38\" fill=\"#555\">{}</text>\n",
        esc(machine)
    );
    for (k, m) in metrics.iter().enumerate() {
        let x0 = 10.0 + (k % cols) as f64 * PANEL_W;
        let y0 = 50.0 + (k / cols) as f64 * PANEL_H;
        let best = if m.lower_is_better {
            "lower is better"
        } else {
            "higher is better"
        };
        s.push_str(&format!(
            "<text x=\"{x0}\" y=\"{}\" font-weight=\"bold\">{} <tspan fill=\"#777\" font-weight=\"normal\">({best})</tspan></text>\n",
            y0 + 14.0,
            esc(&m.name)
        ));
        let max = (0..rts.len())
            .map(|r| m.median(r))
            .fold(0.0_f64, f64::max)
            .max(f64::MIN_POSITIVE);
        let span = PANEL_W - LABEL_W - 90.0;
        for (r, rt) in rts.iter().enumerate() {
            let v = m.median(r);
            let y = y0 + 22.0 + r as f64 * (BAR_H + 4.0);
            let w = (v / max * span).max(1.0);
            s.push_str(&format!(
                "<text x=\"{x0}\" y=\"{}\">{}</text>\n\
                 <rect x=\"{}\" y=\"{y}\" width=\"{w:.1}\" height=\"{BAR_H}\" fill=\"{}\"/>\n\
                 <text x=\"{:.1}\" y=\"{}\">{}</text>\n",
                y + 14.0,
                esc(&rt.name),
                x0 + LABEL_W,
                COLORS[r % COLORS.len()],
                x0 + LABEL_W + w + 5.0,
                y + 14.0,
                esc(&crate::report::fmt(v, m.unit))
            ));
        }
    }
    s.push_str("</svg>\n");
    s
}
