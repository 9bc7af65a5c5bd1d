//! The shapes painted with tiny-skia (anti-aliased) and encoded as an RGB PNG: the
//! background is opaque, so the alpha channel would carry nothing.

use tiny_skia::{
    FillRule, LineCap, LineJoin, Paint, PathBuilder, Pixmap, Stroke, StrokeDash, Transform,
};

use super::{Figure, Rgba, Shape, font};

/// Why no PNG came out.
#[derive(Debug, thiserror::Error)]
pub enum PngError {
    #[error("a chart of {0}×{1} pixels cannot be drawn")]
    Size(u32, u32),
    #[error("the PNG could not be encoded")]
    Encode(#[source] png::EncodingError),
}

fn paint(c: Rgba) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color_rgba8(c.0, c.1, c.2, c.3);
    p.anti_alias = true;
    p
}

pub(super) fn png(figure: &Figure, shapes: &[Shape]) -> Result<Vec<u8>, PngError> {
    let scale = if figure.scale.is_finite() {
        figure.scale.clamp(0.5, 4.0)
    } else {
        1.0
    };
    let (w, h) = super::dims(figure);
    let (pw, ph) = (
        (w as f32 * scale).round() as u32,
        (h as f32 * scale).round() as u32,
    );
    let mut pixmap = Pixmap::new(pw, ph).ok_or(PngError::Size(pw, ph))?;
    let at = Transform::from_scale(scale, scale);
    for shape in shapes {
        match shape {
            Shape::Rect { rect, fill, .. } => {
                if let Some(r) = tiny_skia::Rect::from_xywh(rect.x, rect.y, rect.w, rect.h) {
                    pixmap.fill_rect(r, &paint(*fill), at, None);
                }
            }
            Shape::Lines {
                runs,
                stroke,
                width,
                dashed,
                ..
            } => {
                let mut pb = PathBuilder::new();
                for run in runs {
                    let mut points = run.iter();
                    if let Some(&(x, y)) = points.next() {
                        pb.move_to(x, y);
                        for &(x, y) in points {
                            pb.line_to(x, y);
                        }
                    }
                }
                let Some(path) = pb.finish() else { continue };
                let s = Stroke {
                    width: *width,
                    line_cap: LineCap::Butt,
                    // Bevel: a round join adds an arc at each of thousands of vertices a
                    // pixel apart, for no difference that shows at this size.
                    line_join: LineJoin::Bevel,
                    dash: if *dashed {
                        StrokeDash::new(vec![6.0, 4.0], 0.0)
                    } else {
                        None
                    },
                    ..Stroke::default()
                };
                pixmap.stroke_path(&path, &paint(*stroke), &s, at, None);
            }
            Shape::Text {
                x,
                y,
                size,
                text,
                fill,
                anchor,
                ..
            } => {
                let mut pb = PathBuilder::new();
                let start = Shape::text_start(*x, text, *size, *anchor);
                font::outline(&mut pb, text, start, *y, *size);
                if let Some(path) = pb.finish() {
                    pixmap.fill_path(&path, &paint(*fill), FillRule::Winding, at, None);
                }
            }
        }
    }
    encode(&pixmap)
}

/// The pixmap as an 8-bit RGB PNG (premultiplied RGBA is plain RGB where every
/// pixel is opaque, as the background makes them).
fn encode(pixmap: &Pixmap) -> Result<Vec<u8>, PngError> {
    let rgb: Vec<u8> = pixmap
        .data()
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let mut out = Vec::with_capacity(rgb.len() / 8);
    let mut encoder = png::Encoder::new(&mut out, pixmap.width(), pixmap.height());
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(PngError::Encode)?;
    writer.write_image_data(&rgb).map_err(PngError::Encode)?;
    writer.finish().map_err(PngError::Encode)?;
    Ok(out)
}
