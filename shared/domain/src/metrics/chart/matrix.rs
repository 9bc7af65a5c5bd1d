//! Prometheus' answer to `/api/v1/query_range` read: `{"status":"success","data":
//! {"resultType":"matrix","result":[{"metric":{…},"values":[[<unix time>,"<value>"],…]}]}}`.
//! Each way it can go wrong is a named [`NoChart`]: too large (refused before it is
//! parsed), a series of too many points, `status: error`, not a matrix, not JSON.
//! Values are strings: `NaN`, `+Inf` and `-Inf` are kept (the drawing leaves gaps,
//! the CSV writes them).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{NoChart, Point, Series};

/// The largest answer read (4 MiB): larger is refused unread.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// The most points of one series (a 720-point range has far fewer).
pub const MAX_POINTS: usize = 10_000;

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(default)]
    result: Vec<Raw>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// A sample's value as Prometheus writes it.
fn sample(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        t => t.parse::<f64>().ok(),
    }
}

/// At most `n` characters of `text`, on one line.
fn short(text: &str, n: usize) -> String {
    let one: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(n + 1)
        .collect();
    if one.chars().count() > n {
        format!("{}…", one.chars().take(n).collect::<String>())
    } else {
        one
    }
}

/// The series of a `query_range` answer, as Prometheus gave them.
pub fn parse(body: &[u8]) -> Result<Vec<Series>, NoChart> {
    if body.len() > MAX_ANSWER_BYTES {
        return Err(NoChart::TooLarge(MAX_ANSWER_BYTES));
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        NoChart::Garbage(format!(
            "not the JSON of a query_range answer ({:?} at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    match answer.status.as_str() {
        "success" => {}
        "error" => {
            return Err(NoChart::Refused {
                error_type: short(answer.error_type.as_deref().unwrap_or("unknown"), 40),
                message: short(answer.error.as_deref().unwrap_or(""), 200),
            });
        }
        other => {
            return Err(NoChart::Garbage(format!(
                "status {:?}, neither success nor error",
                short(other, 40)
            )));
        }
    }
    let data = answer
        .data
        .ok_or_else(|| NoChart::Garbage("a success without data".into()))?;
    if data.result_type != "matrix" {
        return Err(NoChart::Garbage(format!(
            "resultType {:?}, not matrix",
            short(&data.result_type, 40)
        )));
    }
    let mut out = Vec::with_capacity(data.result.len());
    for raw in data.result {
        if raw.values.len() > MAX_POINTS {
            return Err(NoChart::TooManyPoints(MAX_POINTS));
        }
        let mut points = Vec::with_capacity(raw.values.len());
        for (at, value) in raw.values {
            let value = sample(&value)
                .ok_or_else(|| NoChart::Garbage("a sample's value is not a number".into()))?;
            if !at.is_finite() {
                return Err(NoChart::Garbage("a sample's time is not a number".into()));
            }
            points.push(Point {
                at_ms: (at * 1000.0).round() as i64,
                value,
            });
        }
        points.sort_by_key(|p| p.at_ms);
        out.push(Series {
            labels: raw.metric,
            points,
        });
    }
    if out.iter().all(|s| s.points.is_empty()) {
        return Err(NoChart::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Prometheus' HTTP API documentation ("Range queries").
    pub(crate) const DOCUMENTED: &str = r#"{
   "status" : "success",
   "data" : {
      "resultType" : "matrix",
      "result" : [
         {
            "metric" : {
               "__name__" : "up",
               "job" : "prometheus",
               "instance" : "localhost:9090"
            },
            "values" : [
               [ 1435781430.781, "1" ],
               [ 1435781445.781, "1" ],
               [ 1435781460.781, "1" ]
            ]
         },
         {
            "metric" : {
               "__name__" : "up",
               "job" : "node",
               "instance" : "localhost:9091"
            },
            "values" : [
               [ 1435781430.781, "0" ],
               [ 1435781445.781, "0" ],
               [ 1435781460.781, "1" ]
            ]
         }
      ]
   }
}"#;

    #[test]
    fn the_documented_answer_reads() {
        let series = parse(DOCUMENTED.as_bytes()).unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].labels["instance"], "localhost:9090");
        assert_eq!(series[1].points[0].at_ms, 1_435_781_430_781);
        assert_eq!(series[1].points[0].value, 0.0);
        assert_eq!(series[1].points[2].value, 1.0);
    }

    #[test]
    fn nan_and_infinities_are_kept() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"NaN"],[2,"+Inf"],[3,"-Inf"],[4,"2.5e-3"]]}]}}"#;
        let s = parse(body.as_bytes()).unwrap();
        let v: Vec<f64> = s[0].points.iter().map(|p| p.value).collect();
        assert!(v[0].is_nan());
        assert_eq!(&v[1..], &[f64::INFINITY, f64::NEG_INFINITY, 0.0025]);
    }

    #[test]
    fn each_bad_answer_is_named() {
        let refused = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:6: parse error"}"#;
        assert_eq!(
            parse(refused.as_bytes()),
            Err(NoChart::Refused {
                error_type: "bad_data".into(),
                message: "invalid parameter \"query\": 1:6: parse error".into()
            })
        );
        let empty = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert_eq!(parse(empty.as_bytes()), Err(NoChart::Empty));
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(
            matches!(parse(vector.as_bytes()), Err(NoChart::Garbage(w)) if w.contains("vector"))
        );
        for garbage in [
            &b"<html>502 Bad Gateway</html>"[..],
            b"",
            b"{\"status\":\"success\"}",
            b"{\"status\":\"maybe\"}",
            b"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"values\":[[1,\"one\"]]}]}}",
            b"\xff\xfe",
        ] {
            assert!(
                matches!(parse(garbage), Err(NoChart::Garbage(_))),
                "{:?}",
                String::from_utf8_lossy(garbage)
            );
        }
        // Too large is refused before reading; too many points after.
        let big = vec![b' '; MAX_ANSWER_BYTES + 1];
        assert_eq!(parse(&big), Err(NoChart::TooLarge(MAX_ANSWER_BYTES)));
        let values: Vec<String> = (0..=MAX_POINTS).map(|i| format!("[{i},\"1\"]")).collect();
        let many = format!(
            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[{}]}}]}}}}"#,
            values.join(",")
        );
        assert!(many.len() < MAX_ANSWER_BYTES);
        assert_eq!(
            parse(many.as_bytes()),
            Err(NoChart::TooManyPoints(MAX_POINTS))
        );
    }
}
