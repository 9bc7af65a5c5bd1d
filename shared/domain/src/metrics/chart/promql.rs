//! What a chart reads from an alert's PromQL expression, without evaluating it: the
//! expression itself (an Alertmanager alert's `generatorURL`, `g0.expr`), the
//! threshold it compares with (`x > 0.5`, `0.5 < x`), and the unit of its values (a
//! metric's `_seconds` or `_bytes` suffix, a ratio of two series). Only the top level
//! is read: a comparison inside parentheses or a function is no threshold.

/// A comparison's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
    /// The same comparison with its sides swapped (`0.5 < x` is `x > 0.5`).
    fn flipped(self) -> Op {
        match self {
            Op::Gt => Op::Lt,
            Op::Ge => Op::Le,
            Op::Lt => Op::Gt,
            Op::Le => Op::Ge,
            o => o,
        }
    }
    /// Whether the alert fires on values below the threshold.
    pub fn below(self) -> bool {
        matches!(self, Op::Lt | Op::Le)
    }
}

/// The expression compared with a number at its top level.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// `value op threshold` is what fires.
    pub op: Op,
    pub value: f64,
    /// The side that is not the number.
    pub measured: String,
}

/// The expression in an alert's `generatorURL` (Prometheus' graph link:
/// `…/graph?g0.expr=…&g0.tab=1`), if it carries one.
pub fn expression(generator_url: &str) -> Option<String> {
    let url = url::Url::parse(generator_url).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "g0.expr")
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The expression's top-level pieces: text outside strings, brackets and comments,
/// with the byte offset of each top-level character.
fn top_level(expr: &str) -> Vec<(usize, char)> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut comment = false;
    for (i, c) in expr.char_indices() {
        if comment {
            if c == '\n' {
                comment = false;
            }
            continue;
        }
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '#' => comment = true,
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => depth -= 1,
            _ if depth == 0 => out.push((i, c)),
            _ => {}
        }
    }
    out
}

/// Whether `word` stands alone at the top level of `expr` (`and`, `or`, `unless`).
fn has_word(expr: &str, word: &str) -> bool {
    let top: String = top_level(expr)
        .into_iter()
        .map(|(_, c)| c.to_ascii_lowercase())
        .collect();
    top.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .any(|w| w == word)
}

/// A PromQL number literal (`0.5`, `1e3`, `-2`, `+Inf`, `0x1F`), if `text` is one.
fn number(text: &str) -> Option<f64> {
    let t = text.trim();
    let t = t
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or(t)
        .trim();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => (-1.0, rest.trim_start()),
        None => (1.0, t.strip_prefix('+').unwrap_or(t).trim_start()),
    };
    let v = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16).ok()? as f64
    } else if digits.eq_ignore_ascii_case("inf") {
        f64::INFINITY
    } else if digits
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
    {
        digits.parse::<f64>().ok()?
    } else {
        return None;
    };
    Some(sign * v)
}

/// The threshold of `expr`: its last top-level comparison with a number on one side
/// (`rate(x[5m]) > 0.5`, `up == 0`, `10 > free_bytes`, `x > bool 3`). None where
/// `and`/`or`/`unless` join several conditions, or neither side is a number.
pub fn threshold(expr: &str) -> Option<Threshold> {
    if ["and", "or", "unless"].iter().any(|w| has_word(expr, w)) {
        return None;
    }
    let top = top_level(expr);
    let mut found: Option<(usize, usize, Op)> = None;
    let mut k = 0;
    while k < top.len() {
        let (i, c) = top[k];
        let next = top.get(k + 1).filter(|(j, _)| *j == i + 1).map(|(_, c)| *c);
        let (op, len) = match (c, next) {
            ('>', Some('=')) => (Some(Op::Ge), 2),
            ('<', Some('=')) => (Some(Op::Le), 2),
            ('=', Some('=')) => (Some(Op::Eq), 2),
            ('!', Some('=')) => (Some(Op::Ne), 2),
            ('=', Some('~')) | ('!', Some('~')) => (None, 2),
            ('>', _) => (Some(Op::Gt), 1),
            ('<', _) => (Some(Op::Lt), 1),
            _ => (None, 1),
        };
        if let Some(op) = op {
            found = Some((i, i + len, op));
        }
        k += len;
    }
    let (at, after, op) = found?;
    let left = expr[..at].trim();
    let right = expr[after..].trim();
    let right = right
        .strip_prefix("bool")
        .filter(|r| r.starts_with(|c: char| c.is_whitespace() || c == '('))
        .unwrap_or(right)
        .trim();
    match (number(left), number(right)) {
        (None, Some(v)) if !left.is_empty() => Some(Threshold {
            op,
            value: v,
            measured: left.to_owned(),
        }),
        (Some(v), None) if !right.is_empty() => Some(Threshold {
            op: op.flipped(),
            value: v,
            measured: right.to_owned(),
        }),
        _ => None,
    }
    .filter(|t| t.value.is_finite())
}

/// What the values of an expression measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count, or what cannot be told.
    Plain,
    Seconds,
    Bytes,
    /// 0..1, shown as a percentage.
    Ratio,
    /// Already a percentage.
    Percent,
}

/// Words of PromQL that are not metric names: keywords and aggregation operators.
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "and",
    "or",
    "unless",
    "inf",
    "nan",
    "start",
    "end",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// The keywords followed by a list of label names in parentheses.
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names an expression reads: names outside strings, braces and grouping
/// lists (`by (job)`) that are not functions (followed by `(`) or keywords.
pub fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut braces = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\\' && c != '`' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                continue;
            }
            '{' => braces += 1,
            '}' => braces -= 1,
            _ => {}
        }
        let part = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
        if braces > 0 || !part(c) {
            i += 1;
            continue;
        }
        let begin = i;
        while i < chars.len() && part(chars[i]) {
            i += 1;
        }
        let word: String = chars[begin..i].iter().collect();
        let mut next = i;
        while next < chars.len() && chars[next].is_whitespace() {
            next += 1;
        }
        let lower = word.to_ascii_lowercase();
        let call = chars.get(next) == Some(&'(');
        if GROUPING.contains(&lower.as_str()) && call {
            // Skip the label names in parentheses.
            let mut depth = 0;
            i = next;
            while i < chars.len() {
                match chars[i] {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            continue;
        }
        let numeric = word.starts_with(|c: char| c.is_ascii_digit());
        // A duration (`5m`) or number is not a name; neither is a function or keyword.
        if !call && !numeric && !KEYWORDS.contains(&lower.as_str()) {
            out.push(word);
        }
    }
    out
}

/// The unit of a metric by its name's suffix (Prometheus' naming conventions).
pub fn unit_of_metric(name: &str) -> Unit {
    let base = ["_total", "_sum", "_bucket", "_count", "_created"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    if base.ends_with("_seconds") {
        Unit::Seconds
    } else if base.ends_with("_bytes") {
        Unit::Bytes
    } else if base.ends_with("_ratio") {
        Unit::Ratio
    } else if base.ends_with("_percent") || base.ends_with("_percentage") {
        Unit::Percent
    } else {
        Unit::Plain
    }
}

/// The unit of what `measured` (an expression, or its compared side) gives: a
/// top-level division of one series by another is a ratio; otherwise the first
/// metric with a unit in its name gives it, when it is not multiplied or divided by a
/// number (`x_bytes / 1024` is no longer bytes).
pub fn unit(measured: &str) -> Unit {
    let top = top_level(measured);
    let divisions: Vec<usize> = top
        .iter()
        .filter(|(_, c)| *c == '/')
        .map(|(i, _)| *i)
        .collect();
    let scaled = top.iter().any(|(_, c)| *c == '*');
    if let Some(&at) = divisions.first() {
        let (left, right) = (&measured[..at], &measured[at + 1..]);
        if divisions.len() == 1 && number(right).is_none() && number(left).is_none() {
            return Unit::Ratio;
        }
        return Unit::Plain;
    }
    if scaled {
        return Unit::Plain;
    }
    metric_names(measured)
        .iter()
        .map(|n| unit_of_metric(n))
        .find(|u| *u != Unit::Plain)
        .unwrap_or(Unit::Plain)
}

/// Whether the expression is a per-second rate (`rate`, `irate`, `deriv`).
pub fn per_second(measured: &str) -> bool {
    let lower = measured.to_ascii_lowercase();
    ["rate(", "irate(", "deriv("].iter().any(|f| {
        lower.match_indices(f).any(|(i, _)| {
            i == 0
                || !lower.as_bytes()[i - 1].is_ascii_alphanumeric()
                    && lower.as_bytes()[i - 1] != b'_'
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expression_is_read_from_the_generator_url() {
        assert_eq!(
            expression(
                "http://prometheus:9090/graph?g0.expr=rate%28http_requests_total%7Bcode%3D~%225..%22%7D%5B5m%5D%29+%3E+0.5&g0.tab=1"
            )
            .as_deref(),
            Some("rate(http_requests_total{code=~\"5..\"}[5m]) > 0.5")
        );
        assert_eq!(
            expression("https://grafana.example.com/alerting/x/view"),
            None
        );
        assert_eq!(expression("http://p/graph?g0.expr=&g0.tab=1"), None);
        assert_eq!(expression("not a url"), None);
    }

    #[test]
    fn a_threshold_is_the_number_a_top_level_comparison_holds() {
        let t = |e: &str| threshold(e).map(|t| (t.op, t.value, t.measured));
        assert_eq!(t("expr > 0.5"), Some((Op::Gt, 0.5, "expr".into())));
        assert_eq!(t("x >= 3"), Some((Op::Ge, 3.0, "x".into())));
        assert_eq!(t("x < 10"), Some((Op::Lt, 10.0, "x".into())));
        assert_eq!(t("up == 0"), Some((Op::Eq, 0.0, "up".into())));
        assert_eq!(t("x != 1e3"), Some((Op::Ne, 1000.0, "x".into())));
        assert_eq!(
            t("0.9 < free_ratio"),
            Some((Op::Gt, 0.9, "free_ratio".into()))
        );
        assert_eq!(t("x > bool 2"), Some((Op::Gt, 2.0, "x".into())));
        assert_eq!(t("x <= -1.5"), Some((Op::Le, -1.5, "x".into())));
        assert_eq!(
            t("sum by (job) (rate(errors_total{path=\"a>b\"}[5m])) / sum by (job) (rate(requests_total[5m])) > 0.05"),
            Some((
                Op::Gt,
                0.05,
                "sum by (job) (rate(errors_total{path=\"a>b\"}[5m])) / sum by (job) (rate(requests_total[5m]))".into()
            ))
        );
        // No number on either side, a comparison only inside brackets or strings, or
        // several conditions: no threshold.
        for none in [
            "up",
            "x > y",
            "max_over_time((x > 3)[5m:])",
            "x{a=\"b>3\"}",
            "x > 3 and y < 2",
            "x > 3 unless on(job) y",
            "x =~ 3",
            "x > Inf",
        ] {
            assert_eq!(t(none), None, "{none}");
        }
    }

    #[test]
    fn the_unit_comes_from_the_metric_name_or_a_ratio() {
        assert_eq!(
            unit("http_request_duration_seconds{job=\"a\"}"),
            Unit::Seconds
        );
        assert_eq!(
            unit(
                "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"
            ),
            Unit::Seconds
        );
        assert_eq!(unit("node_memory_MemAvailable_bytes"), Unit::Bytes);
        assert_eq!(unit("node_memory_MemAvailable_bytes / 1024"), Unit::Plain);
        assert_eq!(unit("node_memory_MemAvailable_bytes * 8"), Unit::Plain);
        assert_eq!(
            unit("rate(errors_total[5m]) / rate(requests_total[5m])"),
            Unit::Ratio
        );
        assert_eq!(unit("disk_used_ratio"), Unit::Ratio);
        assert_eq!(unit("cpu_usage_percent"), Unit::Percent);
        assert_eq!(unit("up"), Unit::Plain);
        assert_eq!(unit("sum by (instance) (x{le=\"_bytes\"})"), Unit::Plain);
        assert!(per_second("rate(x_bytes_total[5m])"));
        assert!(per_second("sum(irate(x[1m]))"));
        assert!(!per_second("generate(x)"));
        assert!(!per_second("x_rate"));
        let names =
            metric_names("sum by (job) (rate(http_requests_total{code=\"500\"}[5m])) > 0.5");
        assert!(
            names.contains(&"http_requests_total".to_owned()),
            "{names:?}"
        );
        assert_eq!(names, ["http_requests_total"]);
        assert_eq!(
            metric_names("sum without (instance) (x) / on(job) group_left(team) y{a='b'}"),
            ["x", "y"]
        );
    }
}
