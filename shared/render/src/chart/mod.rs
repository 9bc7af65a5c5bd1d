//! A chart drawn twice from one picture: SVG text and PNG bytes.
//!
//! What is drawn (the ranges, the ticks and their labels, the lines, the threshold,
//! the shaded span, the legend's words) is decided by the caller (openmic's
//! `metrics::chart`); this lays it out once ([`Layout`]) into shapes, and writes the
//! shapes as SVG ([`svg`]) and paints them with tiny-skia into a PNG ([`raster`]).
//! The background is opaque and light, so the chart reads the same in a light and a
//! dark mail client. No I/O, no system font: the text of the PNG is drawn from one
//! embedded font ([`font`]).

pub mod font;
mod raster;
mod svg;

pub use raster::PngError;

/// What to draw. X is in seconds (Unix time), Y in the series' own values.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Logical size in pixels (the SVG's size; the PNG's times `scale`).
    pub width: u32,
    pub height: u32,
    /// PNG pixels per logical pixel.
    pub scale: f32,
    /// The first line (the expression).
    pub title: String,
    /// The second line (the span shown, its time zone).
    pub subtitle: String,
    pub x: Axis,
    pub y: Axis,
    /// At most [`PALETTE`]'s length of them are drawn; the caller sums up the rest
    /// in [`Figure::more`].
    pub series: Vec<Line>,
    pub threshold: Option<Threshold>,
    /// The span to shade (the alert firing), in X units; cut to the X range.
    pub shaded: Option<Shaded>,
    /// A last legend entry ("and 3 more series").
    pub more: Option<String>,
    /// The text alternative: the SVG's title.
    pub alt: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub min: f64,
    pub max: f64,
    pub ticks: Vec<Tick>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub at: f64,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The legend's name for it.
    pub name: String,
    /// (x, y); a y that is not finite (NaN, ±Inf) is a gap.
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub value: f64,
    /// The legend's words for it ("threshold > 0.5").
    pub label: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Shaded {
    pub from: f64,
    pub to: f64,
    /// The legend's words for it ("firing").
    pub label: String,
}

/// An sRGB colour with its opacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgba(pub u8, pub u8, pub u8, pub u8);

impl Rgba {
    const fn rgb(hex: u32) -> Rgba {
        Rgba((hex >> 16) as u8, (hex >> 8) as u8, hex as u8, 255)
    }
}

/// The series' colours, each distinct on the light background (contrast at least
/// 3:1 against white but for the olive, drawn thicker than the grid).
pub const PALETTE: [Rgba; 10] = [
    Rgba::rgb(0x1f77b4),
    Rgba::rgb(0xe0700a),
    Rgba::rgb(0x2a8c2a),
    Rgba::rgb(0x8a5cc0),
    Rgba::rgb(0x8c564b),
    Rgba::rgb(0x0f8fa0),
    Rgba::rgb(0xc2469f),
    Rgba::rgb(0x6b6b6b),
    Rgba::rgb(0x8f901a),
    Rgba::rgb(0x2b3a8c),
];

pub const BACKGROUND: Rgba = Rgba::rgb(0xffffff);
pub const TEXT: Rgba = Rgba::rgb(0x1f2328);
pub const MUTED: Rgba = Rgba::rgb(0x57606a);
pub const GRID: Rgba = Rgba::rgb(0xe4e7eb);
pub const FRAME: Rgba = Rgba::rgb(0xb8bec6);
pub const THRESHOLD: Rgba = Rgba::rgb(0xcf222e);
/// The firing span: the threshold's red, faint.
pub const SHADE: Rgba = Rgba(0xcf, 0x22, 0x2e, 0x2e);

/// Where the plot sits in the picture, in logical pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// The figure laid out: where the plot is, and how values map into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub plot: Rect,
    x: (f64, f64),
    y: (f64, f64),
}

impl Layout {
    /// The logical X of `t` (not cut to the plot).
    pub fn x_of(&self, t: f64) -> f32 {
        let (min, max) = self.x;
        let span = if max > min { max - min } else { 1.0 };
        self.plot.x + ((t - min) / span) as f32 * self.plot.w
    }
    /// The logical Y of `v` (not cut to the plot).
    pub fn y_of(&self, v: f64) -> f32 {
        let (min, max) = self.y;
        let span = if max > min { max - min } else { 1.0 };
        self.plot.y + self.plot.h - ((v - min) / span) as f32 * self.plot.h
    }
}

/// How a text is placed on its x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

/// One thing drawn; `class` names it in the SVG.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Rect {
        class: &'static str,
        rect: Rect,
        fill: Rgba,
    },
    /// Open polylines, each of at least two points.
    Lines {
        class: &'static str,
        runs: Vec<Vec<(f32, f32)>>,
        stroke: Rgba,
        width: f32,
        dashed: bool,
    },
    Text {
        class: &'static str,
        x: f32,
        y: f32,
        size: f32,
        text: String,
        fill: Rgba,
        anchor: Anchor,
    },
}

/// The chart drawn.
#[derive(Debug, Clone)]
pub struct Drawn {
    pub svg: String,
    pub png: Vec<u8>,
    pub layout: Layout,
}

const PAD: f32 = 12.0;
const TITLE: f32 = 14.0;
const SMALL: f32 = 11.0;
const ROW: f32 = 17.0;
const SWATCH: f32 = 18.0;

/// Lays `figure` out and draws it as SVG and PNG.
pub fn draw(figure: &Figure) -> Result<Drawn, PngError> {
    let (layout, shapes) = shapes(figure);
    let svg = svg::write(figure, &shapes);
    let png = raster::png(figure, &shapes)?;
    Ok(Drawn { svg, png, layout })
}

/// Only the PNG.
pub fn png(figure: &Figure) -> Result<Vec<u8>, PngError> {
    let (_, shapes) = shapes(figure);
    raster::png(figure, &shapes)
}

/// Only the SVG (no rasterising).
pub fn draw_svg(figure: &Figure) -> (String, Layout) {
    let (layout, shapes) = shapes(figure);
    (svg::write(figure, &shapes), layout)
}

/// A legend entry: its mark and its words.
enum Mark {
    Line(Rgba, bool),
    Box(Rgba),
    None,
}

/// The figure as shapes, and its layout.
pub fn shapes(f: &Figure) -> (Layout, Vec<Shape>) {
    let (w, h) = dims(f);
    let (w, h) = (w as f32, h as f32);
    let mut out = Vec::new();
    out.push(Shape::Rect {
        class: "background",
        rect: Rect {
            x: 0.0,
            y: 0.0,
            w,
            h,
        },
        fill: BACKGROUND,
    });
    let text = |class, x, y, size, text: String, fill, anchor| Shape::Text {
        class,
        x,
        y,
        size,
        text,
        fill,
        anchor,
    };
    out.push(text(
        "title",
        PAD,
        PAD + TITLE,
        TITLE,
        font::fit(&f.title, TITLE, w - 2.0 * PAD),
        TEXT,
        Anchor::Start,
    ));
    out.push(text(
        "subtitle",
        PAD,
        PAD + TITLE + 6.0 + SMALL,
        SMALL,
        font::fit(&f.subtitle, SMALL, w - 2.0 * PAD),
        MUTED,
        Anchor::Start,
    ));

    // The legend's entries, wrapped in rows below the plot.
    let drawn = f.series.len().min(PALETTE.len());
    let mut entries: Vec<(Mark, String)> = f.series[..drawn]
        .iter()
        .zip(PALETTE)
        .map(|(s, c)| (Mark::Line(c, false), s.name.clone()))
        .collect();
    if let Some(t) = &f.threshold {
        entries.push((Mark::Line(THRESHOLD, true), t.label.clone()));
    }
    if let Some(s) = &f.shaded {
        entries.push((Mark::Box(SHADE), s.label.clone()));
    }
    if let Some(more) = &f.more {
        entries.push((Mark::None, more.clone()));
    }
    let room = w - 2.0 * PAD;
    let mut placed = Vec::new();
    let (mut x, mut row) = (0.0f32, 0usize);
    for (mark, words) in entries {
        let mark_w = if matches!(mark, Mark::None) {
            0.0
        } else {
            SWATCH + 5.0
        };
        let words = font::fit(&words, SMALL, (room - mark_w).min(room * 0.5));
        let entry_w = mark_w + font::width(&words, SMALL);
        if x > 0.0 && x + entry_w > room {
            x = 0.0;
            row += 1;
        }
        placed.push((mark, words, x, row));
        x += entry_w + 16.0;
    }
    let legend_h = if placed.is_empty() {
        0.0
    } else {
        (row + 1) as f32 * ROW
    };

    // The plot: left of it the widest value label, below it the time labels.
    let label_w =
        f.y.ticks
            .iter()
            .map(|t| font::width(&t.label, SMALL))
            .fold(0.0f32, f32::max);
    let top = PAD + TITLE + 6.0 + SMALL + 14.0;
    let left = PAD + label_w + 8.0;
    let right = w - PAD - 10.0;
    let bottom = h - PAD - legend_h - 8.0 - (SMALL + 8.0);
    let plot = Rect {
        x: left,
        y: top,
        w: (right - left).max(10.0),
        h: (bottom - top).max(10.0),
    };
    let layout = Layout {
        plot,
        x: (f.x.min, f.x.max),
        y: (f.y.min, f.y.max),
    };
    let inside_x = |x: f64| x >= f.x.min && x <= f.x.max;
    let inside_y = |y: f64| y >= f.y.min && y <= f.y.max;
    // Crisp one-pixel lines: on a pixel's middle.
    let crisp = |v: f32| v.floor() + 0.5;

    if let Some(s) = &f.shaded {
        let from = s.from.max(f.x.min);
        let to = s.to.min(f.x.max);
        if to > from {
            let (x0, x1) = (layout.x_of(from), layout.x_of(to));
            out.push(Shape::Rect {
                class: "firing",
                rect: Rect {
                    x: x0,
                    y: plot.y,
                    w: x1 - x0,
                    h: plot.h,
                },
                fill: SHADE,
            });
        }
    }
    let mut grid = Vec::new();
    for t in f.y.ticks.iter().filter(|t| inside_y(t.at)) {
        let y = crisp(layout.y_of(t.at));
        grid.push(vec![(plot.x, y), (plot.x + plot.w, y)]);
        out.push(text(
            "value",
            plot.x - 6.0,
            y + SMALL * 0.35,
            SMALL,
            t.label.clone(),
            MUTED,
            Anchor::End,
        ));
    }
    let mut last_end = f32::NEG_INFINITY;
    for t in f.x.ticks.iter().filter(|t| inside_x(t.at)) {
        let x = crisp(layout.x_of(t.at));
        grid.push(vec![(x, plot.y), (x, plot.y + plot.h)]);
        let half = font::width(&t.label, SMALL) / 2.0;
        // A label that would overlap the one before it, or leave the picture, is left out.
        if x - half > last_end + 4.0 && x + half <= w - 2.0 {
            last_end = x + half;
            out.push(text(
                "time",
                x,
                plot.y + plot.h + 6.0 + SMALL,
                SMALL,
                t.label.clone(),
                MUTED,
                Anchor::Middle,
            ));
        }
    }
    out.push(Shape::Lines {
        class: "grid",
        runs: grid,
        stroke: GRID,
        width: 1.0,
        dashed: false,
    });
    let (x0, y0) = (crisp(plot.x), crisp(plot.y));
    let (x1, y1) = (crisp(plot.x + plot.w), crisp(plot.y + plot.h));
    out.push(Shape::Lines {
        class: "frame",
        runs: vec![vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]],
        stroke: FRAME,
        width: 1.0,
        dashed: false,
    });

    let (top_y, bottom_y) = (plot.y, plot.y + plot.h);
    for (s, colour) in f.series[..drawn].iter().zip(PALETTE) {
        let mut runs: Vec<Vec<(f32, f32)>> = Vec::new();
        let mut run: Vec<(f32, f32)> = Vec::new();
        let mut dots = Vec::new();
        for &(t, v) in &s.points {
            if !v.is_finite() || !inside_x(t) {
                flush(&mut runs, &mut run, &mut dots);
                continue;
            }
            let y = layout.y_of(v).clamp(top_y, bottom_y);
            run.push((layout.x_of(t), y));
        }
        flush(&mut runs, &mut run, &mut dots);
        // A lone point between gaps is drawn as a short tick, so it shows.
        runs.extend(
            dots.into_iter()
                .map(|(x, y)| vec![(x - 1.5, y), (x + 1.5, y)]),
        );
        if !runs.is_empty() {
            out.push(Shape::Lines {
                class: "series",
                runs,
                stroke: colour,
                width: 1.75,
                dashed: false,
            });
        }
    }
    if let Some(t) = &f.threshold
        && inside_y(t.value)
    {
        let y = layout.y_of(t.value);
        out.push(Shape::Lines {
            class: "threshold",
            runs: vec![vec![(plot.x, y), (plot.x + plot.w, y)]],
            stroke: THRESHOLD,
            width: 1.5,
            dashed: true,
        });
    }

    let legend_top = h - PAD - legend_h;
    for (mark, words, x, row) in placed {
        let x = PAD + x;
        let mid = legend_top + row as f32 * ROW + ROW / 2.0;
        let mut tx = x;
        match mark {
            Mark::Line(c, dashed) => {
                out.push(Shape::Lines {
                    class: "legend",
                    runs: vec![vec![(x, mid), (x + SWATCH, mid)]],
                    stroke: c,
                    width: if dashed { 1.5 } else { 2.5 },
                    dashed,
                });
                tx += SWATCH + 5.0;
            }
            Mark::Box(c) => {
                out.push(Shape::Rect {
                    class: "legend",
                    rect: Rect {
                        x,
                        y: mid - 6.0,
                        w: SWATCH,
                        h: 12.0,
                    },
                    fill: c,
                });
                tx += SWATCH + 5.0;
            }
            Mark::None => {}
        }
        out.push(text(
            "legend",
            tx,
            mid + SMALL * 0.35,
            SMALL,
            words,
            TEXT,
            Anchor::Start,
        ));
    }
    (layout, out)
}

/// The logical size drawn: the figure's, within 200×150 and 4000×3000.
pub fn dims(f: &Figure) -> (u32, u32) {
    (f.width.clamp(200, 4000), f.height.clamp(150, 3000))
}

fn flush(runs: &mut Vec<Vec<(f32, f32)>>, run: &mut Vec<(f32, f32)>, dots: &mut Vec<(f32, f32)>) {
    match run.len() {
        0 => {}
        1 => dots.push(run[0]),
        _ => runs.push(std::mem::take(run)),
    }
    run.clear();
}

impl Shape {
    /// The text's left end, for a reader that has no anchors (the PNG).
    fn text_start(x: f32, text: &str, size: f32, anchor: Anchor) -> f32 {
        match anchor {
            Anchor::Start => x,
            Anchor::Middle => x - font::width(text, size) / 2.0,
            Anchor::End => x - font::width(text, size),
        }
    }
}

#[cfg(test)]
mod tests;
