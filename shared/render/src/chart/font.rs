//! The one font of the charts (Roboto Regular, cut down: see font/README.md): its
//! advances for the layout, shared by the SVG and the PNG, and its glyphs' outlines
//! for the PNG. No system font is read.

use std::sync::LazyLock;

use ttf_parser::{Face, OutlineBuilder};

static DATA: &[u8] = include_bytes!("font/Roboto-Regular-subset.ttf");

static FACE: LazyLock<Option<Face<'static>>> = LazyLock::new(|| Face::parse(DATA, 0).ok());

/// The families an SVG reader draws the text with: the same metrics first (Roboto,
/// then Arial's close widths), then whatever sans-serif it has.
pub const FAMILY: &str = "Roboto, Arial, Helvetica, sans-serif";

/// Whether the embedded font reads (it always should; a test holds it).
pub fn available() -> bool {
    FACE.is_some()
}

fn glyph(face: &Face<'_>, c: char) -> Option<ttf_parser::GlyphId> {
    face.glyph_index(c).or_else(|| face.glyph_index('?'))
}

/// How wide `text` is at `size` (logical pixels).
pub fn width(text: &str, size: f32) -> f32 {
    let Some(face) = FACE.as_ref() else {
        return text.chars().count() as f32 * size * 0.55;
    };
    let scale = size / f32::from(face.units_per_em());
    text.chars()
        .filter_map(|c| glyph(face, c))
        .map(|g| f32::from(face.glyph_hor_advance(g).unwrap_or(0)) * scale)
        .sum()
}

/// `text` cut to at most `max` wide, ending in `…` when cut.
pub fn fit(text: &str, size: f32, max: f32) -> String {
    if width(text, size) <= max {
        return text.to_owned();
    }
    let ell = width("…", size);
    let mut out = String::new();
    let mut w = 0.0;
    for c in text.chars() {
        let cw = width(c.encode_utf8(&mut [0; 4]), size);
        if w + cw + ell > max {
            break;
        }
        w += cw;
        out.push(c);
    }
    out.push('…');
    out
}

/// Adds the outlines of `text` to `path`, its baseline starting at (`x`, `y`).
pub fn outline(path: &mut tiny_skia::PathBuilder, text: &str, x: f32, y: f32, size: f32) {
    let Some(face) = FACE.as_ref() else {
        return;
    };
    let scale = size / f32::from(face.units_per_em());
    let mut pen = Pen { path, x, y, scale };
    for c in text.chars() {
        let Some(g) = glyph(face, c) else { continue };
        face.outline_glyph(g, &mut pen);
        pen.x += f32::from(face.glyph_hor_advance(g).unwrap_or(0)) * scale;
    }
}

/// Font units (y up) to the picture's (y down) at the pen's place.
struct Pen<'a> {
    path: &'a mut tiny_skia::PathBuilder,
    x: f32,
    y: f32,
    scale: f32,
}

impl Pen<'_> {
    fn at(&self, x: f32, y: f32) -> (f32, f32) {
        (self.x + x * self.scale, self.y - y * self.scale)
    }
}

impl OutlineBuilder for Pen<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        let (x, y) = self.at(x, y);
        self.path.move_to(x, y);
    }
    fn line_to(&mut self, x: f32, y: f32) {
        let (x, y) = self.at(x, y);
        self.path.line_to(x, y);
    }
    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let (x1, y1) = self.at(x1, y1);
        let (x, y) = self.at(x, y);
        self.path.quad_to(x1, y1, x, y);
    }
    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let (x1, y1) = self.at(x1, y1);
        let (x2, y2) = self.at(x2, y2);
        let (x, y) = self.at(x, y);
        self.path.cubic_to(x1, y1, x2, y2, x, y);
    }
    fn close(&mut self) {
        self.path.close();
    }
}
