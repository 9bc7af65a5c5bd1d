//! The page's accent colour (`PAGE_ACCENT`), kept readable: links and focus rings in
//! the accent need WCAG AA contrast (4.5:1) against every background they sit on, in
//! the light scheme and the dark one. An accent that falls short is darkened (light
//! scheme) or lightened (dark scheme) just as far as needed, keeping its hue; the
//! colour as given still marks the header, where it carries no text.

/// The backgrounds text sits on in the light scheme: the page and the cards.
pub const LIGHT_BACKGROUNDS: [&str; 2] = ["#ffffff", "#f6f6f8"];
/// The same in the dark scheme.
pub const DARK_BACKGROUNDS: [&str; 2] = ["#121316", "#1c1d22"];
/// WCAG 2's AA level for normal text.
pub const AA: f64 = 4.5;

/// The accent as given, and the shades used for text in each scheme.
#[derive(Debug, Clone, PartialEq)]
pub struct Accent {
    pub given: String,
    pub light: String,
    pub dark: String,
}

type Rgb = [f64; 3];

fn rgb(hex: &str) -> Option<Rgb> {
    let h = hex.strip_prefix('#')?;
    if h.len() != 6 {
        return None;
    }
    let c = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok().map(f64::from);
    Some([c(0)?, c(2)?, c(4)?])
}

fn hex(c: Rgb) -> String {
    format!(
        "#{:02x}{:02x}{:02x}",
        c[0].round() as u8,
        c[1].round() as u8,
        c[2].round() as u8
    )
}

/// WCAG 2's relative luminance.
fn luminance(c: Rgb) -> f64 {
    let lin = |v: f64| {
        let s = v / 255.0;
        if s <= 0.04045 {
            s / 12.92
        } else {
            ((s + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
}

/// WCAG 2's contrast ratio of two colours (`#rrggbb`).
pub fn contrast(a: &str, b: &str) -> f64 {
    let (Some(a), Some(b)) = (rgb(a), rgb(b)) else {
        return 1.0;
    };
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// `colour` mixed towards `target` (black or white) by as little as gives AA
/// contrast against every one of `backgrounds`.
fn readable_on(colour: Rgb, target: f64, backgrounds: &[&str]) -> String {
    let ok = |c: &str| backgrounds.iter().all(|b| contrast(c, b) >= AA);
    for step in 0..=100 {
        let t = f64::from(step) / 100.0;
        let mixed = colour.map(|v| v + (target - v) * t);
        let candidate = hex(mixed);
        if ok(&candidate) {
            return candidate;
        }
    }
    hex([target; 3])
}

impl Accent {
    /// The accent for `given` (`#rrggbb`, as the configuration keeps it).
    pub fn new(given: &str) -> Option<Accent> {
        let c = rgb(given)?;
        Some(Accent {
            given: given.to_owned(),
            light: readable_on(c, 0.0, &LIGHT_BACKGROUNDS),
            dark: readable_on(c, 255.0, &DARK_BACKGROUNDS),
        })
    }

    /// Whether the colour as given had to change for text in either scheme.
    pub fn adjusted(&self) -> bool {
        self.light != self.given || self.dark != self.given
    }

    /// What the stylesheet needs: the variables of both schemes.
    pub fn css(&self) -> String {
        format!(
            ":root{{--accent:{};--link:{}}}\n@media (prefers-color-scheme: dark){{:root{{--link:{}}}}}\n",
            self.given, self.light, self.dark
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_is_wcags() {
        assert!((contrast("#000000", "#ffffff") - 21.0).abs() < 1e-9);
        assert!((contrast("#777777", "#ffffff") - 4.48).abs() < 0.01);
        assert!((contrast("#ffffff", "#ffffff") - 1.0).abs() < 1e-9);
    }

    #[test]
    fn every_accent_ends_up_readable_in_both_schemes() {
        // Dark enough already for light backgrounds; too dark for dark ones.
        let blue = Accent::new("#0b57d0").unwrap();
        assert_eq!(blue.light, "#0b57d0");
        assert_ne!(blue.dark, "#0b57d0");
        // A bright orange: too light on white, kept on dark.
        let orange = Accent::new("#ff9900").unwrap();
        assert_ne!(orange.light, "#ff9900");
        assert_eq!(orange.dark, "#ff9900");
        assert!(orange.adjusted());
        for given in [
            "#ff9900", "#ffff00", "#000000", "#ffffff", "#0b57d0", "#7f7f7f", "#e91e63",
        ] {
            let a = Accent::new(given).unwrap();
            for bg in LIGHT_BACKGROUNDS {
                assert!(
                    contrast(&a.light, bg) >= AA,
                    "{given} light on {bg}: {}",
                    a.light
                );
            }
            for bg in DARK_BACKGROUNDS {
                assert!(
                    contrast(&a.dark, bg) >= AA,
                    "{given} dark on {bg}: {}",
                    a.dark
                );
            }
        }
        // Only as far as needed: one step less would fall short.
        let c = rgb(&orange.light).unwrap();
        let lighter = hex(c.map(|v| (v * 1.03).min(255.0)));
        assert!(contrast(&lighter, "#f6f6f8") < AA + 0.3);
        assert!(Accent::new("orange").is_none());
    }
}
