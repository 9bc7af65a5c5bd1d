//! The shapes written as SVG: one element per shape, named by its class, the text
//! alternative as the picture's title. Text stays text (the reader's fonts draw it).

use std::fmt::Write as _;

use super::{Anchor, Figure, Rgba, Shape, font};

/// `text` with XML's five specials escaped, and the characters XML forbids dropped.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

fn colour(c: Rgba) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn opacity(attr: &str, c: Rgba) -> String {
    if c.3 == 255 {
        String::new()
    } else {
        format!(" {attr}=\"{:.3}\"", f32::from(c.3) / 255.0)
    }
}

pub(super) fn write(figure: &Figure, shapes: &[Shape]) -> String {
    let (w, h) = super::dims(figure);
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" font-family=\"{}\">",
        font::FAMILY
    );
    let _ = write!(out, "<title>{}</title>", escaped(&figure.alt));
    for shape in shapes {
        match shape {
            Shape::Rect { class, rect, fill } => {
                let _ = write!(
                    out,
                    "<rect class=\"{class}\" x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{:.2}\" fill=\"{}\"{}/>",
                    rect.x,
                    rect.y,
                    rect.w,
                    rect.h,
                    colour(*fill),
                    opacity("fill-opacity", *fill)
                );
            }
            Shape::Lines {
                class,
                runs,
                stroke,
                width,
                dashed,
            } => {
                let mut d = String::with_capacity(runs.iter().map(|r| r.len() * 14).sum());
                for run in runs {
                    for (i, (x, y)) in run.iter().enumerate() {
                        let _ = write!(d, "{}{:.1} {:.1}", if i == 0 { 'M' } else { 'L' }, x, y);
                    }
                }
                let _ = write!(
                    out,
                    "<path class=\"{class}\" d=\"{d}\" fill=\"none\" stroke=\"{}\"{} stroke-width=\"{width}\" stroke-linejoin=\"round\"{}/>",
                    colour(*stroke),
                    opacity("stroke-opacity", *stroke),
                    if *dashed {
                        " stroke-dasharray=\"6 4\""
                    } else {
                        ""
                    }
                );
            }
            Shape::Text {
                class,
                x,
                y,
                size,
                text,
                fill,
                anchor,
            } => {
                let anchor = match anchor {
                    Anchor::Start => "start",
                    Anchor::Middle => "middle",
                    Anchor::End => "end",
                };
                let _ = write!(
                    out,
                    "<text class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"{size}\" fill=\"{}\" text-anchor=\"{anchor}\">{}</text>",
                    colour(*fill),
                    escaped(text)
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}
