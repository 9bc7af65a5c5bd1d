//! GitLab incident issues for alerts (`CREATE_INCIDENTS=true`): one issue per alert,
//! in the first project of `GITLAB_PROJECT_ID`, found again by a marker in its
//! description so a retry never opens a second one; closed on resolution with
//! `AUTO_CLOSE_INCIDENTS=true`.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::OnceCell;

use super::record::{AlertRecord, IssueLink};
use crate::config::metrics::LogsTemplate;
use crate::errors::BackendError;
use crate::gitlab::{ApiError, Gitlab};
use crate::ids::IncidentId;
use crate::time;

/// Opens and closes GitLab incident issues for alerts (with `CREATE_INCIDENTS`).
#[async_trait]
pub trait IncidentIssues: Send + Sync {
    async fn open(&self, record: &AlertRecord) -> Result<IssueLink, BackendError>;
    async fn close(&self, issue: &IssueLink) -> Result<(), BackendError>;
    /// The issue's call link as its description has it now (`Bridge: <url>`).
    async fn call_link(&self, issue: &IssueLink) -> Result<Option<String>, BackendError>;
    /// Uploads the alert's chart (PNG) and its data (CSV) to the issue's project and
    /// shows them in an internal note on the issue, with the text alternative.
    async fn attach_chart(
        &self,
        issue: &IssueLink,
        chart: &crate::metrics::chart::Chart,
    ) -> Result<(), BackendError> {
        let _ = (issue, chart);
        Ok(())
    }
}

pub struct GitlabIncidents {
    api: Arc<dyn Gitlab>,
    /// Where alerts' issues are opened.
    project: u64,
    template_name: Option<String>,
    template: OnceCell<Option<String>>,
    /// `LOGS_URL_TEMPLATE`: the issue links the alert's logs.
    logs: Option<LogsTemplate>,
}

impl GitlabIncidents {
    pub fn new(api: Arc<dyn Gitlab>, project: u64, template_name: Option<String>) -> Self {
        GitlabIncidents {
            api,
            project,
            template_name,
            template: OnceCell::new(),
            logs: None,
        }
    }

    /// The issues with a "View logs" link made by `logs` (`LOGS_URL_TEMPLATE`).
    pub fn with_logs(mut self, logs: Option<LogsTemplate>) -> Self {
        self.logs = logs;
        self
    }

    /// The issue template's content, fetched once.
    async fn template(&self) -> Result<Option<String>, ApiError> {
        let Some(name) = &self.template_name else {
            return Ok(None);
        };
        self.template
            .get_or_try_init(|| async {
                let t = self.api.issue_template(self.project, name).await?;
                if t.is_none() {
                    tracing::warn!(template = %name, "INCIDENT_TEMPLATE names no issue template of the project");
                }
                Ok(t)
            })
            .await
            .cloned()
    }
}

/// The marker that finds the issue again: `openmic-alert:<thread id>`.
pub fn marker(record: &AlertRecord) -> String {
    format!(
        "openmic-alert:{}",
        record.thread_id.trim_matches(|c| c == '<' || c == '>')
    )
}

/// Text as a fenced code block: GitLab renders it literally and runs no quick action
/// found in it.
fn fenced(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    format!("{fence}text\n{text}\n{fence}")
}

/// The description's "View logs" line: `url` is [`crate::chat::safe_url`]'s, so it
/// holds no space, `<`, `>`, `(` or `)` that could end the link early.
fn logs_line(url: &str) -> String {
    format!("\n\n[View logs]({url})")
}

/// The alert's details for the issue description.
pub fn details(record: &AlertRecord) -> String {
    let a = &record.alert;
    let mut lines = vec![
        format!("Title:       {}", crate::mail::header_safe(&a.title)),
        format!("Severity:    {}", a.severity.as_str()),
        format!(
            "Started:     {}",
            time::format(&a.starts_at.unwrap_or(record.first_seen))
        ),
        format!("Fingerprint: {}", record.fingerprint),
    ];
    let mut opt = |label: &str, v: Option<&String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            lines.push(format!("{label:<13}{v}"));
        }
    };
    opt("Environment:", a.environment.as_ref());
    opt("Service:", a.service.as_ref());
    opt("Source:", a.monitoring_tool.as_ref());
    opt("Runbook:", a.runbook.as_ref());
    opt("Graph:", a.generator_url.as_ref());
    if !a.hosts.is_empty() {
        lines.push(format!("Hosts:       {}", a.hosts.join(", ")));
    }
    if let Some(d) = a.description.as_ref().filter(|d| !d.is_empty()) {
        lines.push(String::new());
        lines.push(d.clone());
    }
    fenced(&lines.join("\n"))
}

#[async_trait]
impl IncidentIssues for GitlabIncidents {
    async fn open(&self, record: &AlertRecord) -> Result<IssueLink, BackendError> {
        let marker = marker(record);
        let link = |i: crate::gitlab::ApiIssue| IssueLink {
            chart: false,
            id: Some(i.id),
            project: Some(self.project),
            iid: i.iid,
            call_link: i
                .description
                .as_deref()
                .and_then(crate::chat::commands::bridge::from_description),
            url: i.web_url.unwrap_or_default(),
            closed: i.state == "closed",
        };
        if let Some(found) = self.api.find_issue(self.project, &marker).await? {
            return Ok(link(found));
        }
        let mut description = String::new();
        if let Some(t) = self.template().await? {
            description.push_str(t.trim_end());
            description.push_str("\n\n");
        }
        description.push_str("## Alert\n\n");
        description.push_str(&details(record));
        if let Some(url) = super::message::logs_link(self.logs.as_ref(), record, record.last_seen) {
            description.push_str(&logs_line(&url));
        }
        description.push_str(&format!("\n\n<!-- {marker} -->\n"));
        let a = &record.alert;
        let title = match &a.environment {
            Some(env) => format!(
                "{}: {}",
                crate::mail::header_safe(env),
                crate::mail::header_safe(&a.title)
            ),
            None => crate::mail::header_safe(&a.title),
        };
        let labels = format!("incident,severity::{}", a.severity.as_str());
        let issue = self
            .api
            .create_incident(self.project, &title, &description, &labels)
            .await?;
        tracing::info!(iid = issue.iid, "incident issue opened");
        Ok(link(issue))
    }

    async fn close(&self, issue: &IssueLink) -> Result<(), BackendError> {
        let project = issue.project.unwrap_or(self.project);
        self.api
            .close_issue(IncidentId::new(project, issue.iid))
            .await?;
        tracing::info!(iid = issue.iid, "incident issue closed");
        Ok(())
    }

    async fn attach_chart(
        &self,
        issue: &IssueLink,
        chart: &crate::metrics::chart::Chart,
    ) -> Result<(), BackendError> {
        let project = issue.project.unwrap_or(self.project);
        let png = self
            .api
            .upload(project, "chart.png", "image/png", chart.png.clone())
            .await?;
        let data = if chart.from == crate::metrics::chart::ChartFrom::Grafana {
            "No CSV: the image is Grafana's, which sends no data with it.".to_owned()
        } else {
            let csv = self
                .api
                .upload(
                    project,
                    "chart.csv",
                    "text/csv; charset=utf-8",
                    chart.csv.clone().into_bytes(),
                )
                .await?;
            format!("Its data: {csv}")
        };
        let body = format!(
            "The metric behind the alert (openmic):\n\n{png}\n\n{data}\n\n{}",
            fenced(&chart.text)
        );
        self.api
            .create_note(IncidentId::new(project, issue.iid), &body, true)
            .await?;
        tracing::info!(
            iid = issue.iid,
            "the alert's chart uploaded to its incident issue"
        );
        Ok(())
    }

    async fn call_link(&self, issue: &IssueLink) -> Result<Option<String>, BackendError> {
        let project = issue.project.unwrap_or(self.project);
        let found = self.api.issue(IncidentId::new(project, issue.iid)).await?;
        Ok(found
            .and_then(|i| i.description)
            .as_deref()
            .and_then(crate::chat::commands::bridge::from_description))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_outlast_backticks() {
        assert_eq!(fenced("a"), "```text\na\n```");
        assert_eq!(fenced("x ```` y"), "`````text\nx ```` y\n`````");
    }
}
