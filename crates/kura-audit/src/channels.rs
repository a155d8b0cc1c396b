//! Notification channels (syslog, SMTP, webhook) and delivery with bounded retries.

use std::net::{ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::chain::{Entry, Outcome};
use crate::event::{ChannelDelivery, Event, Severity};
use crate::log::AuditLog;

/// Syslog's `/dev/log` (syslog(3), journald and rsyslog all listen there).
const DEV_LOG: &str = "/dev/log";
/// Keep datagrams well under the smallest limit daemons accept (RFC 5426 §3.2: 480/2048 octets).
const SYSLOG_MAX: usize = 2048;

/// One notification channel, as written in `kura.toml` (`type = "syslog" | "smtp" | "webhook"`).
/// Secrets never appear here: only the name of an environment variable or a file holding them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelConfig {
    Syslog {
        /// Local datagram socket (default `/dev/log`).
        socket: Option<PathBuf>,
        /// Remote syslog server `host:port` over UDP, instead of the socket.
        server: Option<String>,
        /// `daemon` (default), `auth`, `authpriv`, `local0` … `local7`, …
        facility: Option<String>,
        /// Default `kura`.
        app_name: Option<String>,
        /// Default `rfc3164` on the local socket (what syslog(3) sends), `rfc5424` to a server.
        format: Option<SyslogFormat>,
        min_severity: Option<Severity>,
    },
    Smtp {
        host: String,
        /// Default 587.
        port: Option<u16>,
        /// Require STARTTLS (default true); false only for a trusted relay on the same host or LAN.
        starttls: Option<bool>,
        username: Option<String>,
        /// Name of the environment variable holding the password.
        password_env: Option<String>,
        /// File holding the password (trailing newline ignored).
        password_file: Option<PathBuf>,
        from: String,
        to: Vec<String>,
        /// Default `[kura]`.
        subject_prefix: Option<String>,
        /// Per try; default 30.
        timeout_secs: Option<u64>,
        min_severity: Option<Severity>,
    },
    Webhook {
        url: String,
        /// Name of the environment variable holding a bearer token.
        bearer_token_env: Option<String>,
        /// Per try; default 10.
        timeout_secs: Option<u64>,
        min_severity: Option<Severity>,
    },
}

/// Syslog line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyslogFormat {
    Rfc3164,
    Rfc5424,
}

impl ChannelConfig {
    /// A stable name for the channel, used in delivery history (no credentials, no URL query).
    pub fn label(&self) -> String {
        match self {
            ChannelConfig::Syslog { socket, server, .. } => match (server, socket) {
                (Some(server), _) => format!("syslog:udp:{server}"),
                (None, Some(socket)) => format!("syslog:{}", socket.display()),
                (None, None) => format!("syslog:{DEV_LOG}"),
            },
            ChannelConfig::Smtp { host, port, .. } => {
                format!("smtp:{host}:{}", port.unwrap_or(587))
            }
            ChannelConfig::Webhook { url, .. } => format!("webhook:{}", redact_url(url)),
        }
    }

    /// Whether the channel wants events of `severity`.
    pub fn wants(&self, severity: Severity) -> bool {
        let min = match self {
            ChannelConfig::Syslog { min_severity, .. }
            | ChannelConfig::Smtp { min_severity, .. }
            | ChannelConfig::Webhook { min_severity, .. } => *min_severity,
        };
        min.is_none_or(|m| severity >= m)
    }

    /// Checks what can be checked without sending; the message says what to fix in `kura.toml`.
    pub fn validate(&self) -> std::result::Result<(), String> {
        match self {
            ChannelConfig::Syslog {
                socket,
                server,
                facility,
                ..
            } => {
                if socket.is_some() && server.is_some() {
                    return Err(format!(
                        "{}: set either socket or server, not both",
                        self.label()
                    ));
                }
                facility_code(facility.as_deref()).map(|_| ())
            }
            ChannelConfig::Smtp {
                username,
                password_env,
                password_file,
                to,
                ..
            } => {
                if to.is_empty() {
                    return Err(format!("{}: `to` lists no recipient", self.label()));
                }
                if password_env.is_some() && password_file.is_some() {
                    return Err(format!(
                        "{}: set either password_env or password_file, not both",
                        self.label()
                    ));
                }
                if username.is_some() != (password_env.is_some() || password_file.is_some()) {
                    return Err(format!(
                        "{}: username needs password_env or password_file, and they need a username",
                        self.label()
                    ));
                }
                Ok(())
            }
            ChannelConfig::Webhook { url, .. } => {
                if url.starts_with("http://") || url.starts_with("https://") {
                    Ok(())
                } else {
                    Err(format!(
                        "{}: url must start with http:// or https://",
                        self.label()
                    ))
                }
            }
        }
    }
}

/// Drops `user:pass@`, the query and the fragment (tokens often hide there).
fn redact_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    }
}

impl Event {
    /// The channels that want this event (by severity) and have not had it yet.
    pub fn undelivered<'a>(&self, channels: &'a [ChannelConfig]) -> Vec<&'a ChannelConfig> {
        channels
            .iter()
            .filter(|c| c.wants(self.severity) && !self.delivered_to(&c.label()))
            .collect()
    }
}

/// How hard [`deliver_with`] tries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// Tries per channel (at least 1; default 3).
    pub tries: u32,
    /// Wait after the first failed try, doubled after each further one (default 500 ms).
    pub backoff: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            tries: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

/// What [`deliver`] did for one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    pub event_id: u64,
    pub results: Vec<ChannelDelivery>,
    /// Set when the outcome could not be written to the audit log.
    pub audit_error: Option<String>,
}

impl DeliveryReport {
    /// True when every channel got the event and the audit log recorded it.
    pub fn ok(&self) -> bool {
        self.audit_error.is_none() && self.results.iter().all(|r| r.ok)
    }

    /// The channels that did not get the event.
    pub fn failed(&self) -> impl Iterator<Item = &ChannelDelivery> {
        self.results.iter().filter(|r| !r.ok)
    }
}

/// [`deliver_with`] with the default options (3 tries, 0.5 s then 1 s between).
pub fn deliver(
    channels: &[ChannelConfig],
    event: &Event,
    log: Option<&AuditLog>,
) -> DeliveryReport {
    deliver_with(channels, event, log, &DeliveryOptions::default())
}

/// Sends `event` to each channel that wants its severity, retrying each a bounded number of times, and
/// appends one `event.notify` record per channel to `log` (outcome `failed` with the error when it did not
/// get through). Nothing is dropped silently: record the report in the event with
/// [`crate::EventStore::record_delivery`] (or use [`crate::EventStore::deliver`], which does) so that
/// [`crate::EventStore::deliver_pending`] retries it later.
pub fn deliver_with(
    channels: &[ChannelConfig],
    event: &Event,
    log: Option<&AuditLog>,
    options: &DeliveryOptions,
) -> DeliveryReport {
    let mut report = DeliveryReport {
        event_id: event.id,
        results: Vec::new(),
        audit_error: None,
    };
    for channel in channels.iter().filter(|c| c.wants(event.severity)) {
        let result = deliver_one(channel, event, options);
        if let Some(log) = log {
            let entry = Entry::new(
                crate::current_actor(),
                "event.notify",
                format!("event:{}", event.id),
                if result.ok {
                    Outcome::Ok
                } else {
                    Outcome::Failed
                },
            )
            .with_details(serde_json::json!({
                "kind": event.kind,
                "channel": result.channel,
                "tries": result.tries,
                "error": result.error,
            }));
            if let Err(e) = log.append(entry) {
                report.audit_error = Some(e.to_string());
            }
        }
        report.results.push(result);
    }
    report
}

fn deliver_one(
    channel: &ChannelConfig,
    event: &Event,
    options: &DeliveryOptions,
) -> ChannelDelivery {
    let tries = options.tries.max(1);
    let mut wait = options.backoff;
    let mut error = None;
    let mut used = 0;
    for attempt in 1..=tries {
        used = attempt;
        let sent = channel.validate().and_then(|()| send(channel, event));
        match sent {
            Ok(()) => {
                error = None;
                break;
            }
            Err(e) => error = Some(e),
        }
        if attempt < tries && !wait.is_zero() {
            std::thread::sleep(wait);
            wait = wait.saturating_mul(2);
        }
    }
    ChannelDelivery {
        channel: channel.label(),
        time_utc: Timestamp::now(),
        ok: error.is_none(),
        tries: used,
        error,
    }
}

fn send(channel: &ChannelConfig, event: &Event) -> std::result::Result<(), String> {
    match channel {
        ChannelConfig::Syslog {
            socket,
            server,
            facility,
            app_name,
            format,
            ..
        } => {
            let app = app_name.as_deref().unwrap_or("kura");
            let pri = facility_code(facility.as_deref())? * 8 + syslog_severity(event.severity);
            match server {
                Some(server) => {
                    let line =
                        syslog_line(format.unwrap_or(SyslogFormat::Rfc5424), pri, app, event);
                    let addr = server
                        .to_socket_addrs()
                        .map_err(|e| format!("cannot resolve syslog server {server}: {e}"))?
                        .next()
                        .ok_or_else(|| format!("syslog server {server} has no address"))?;
                    let bind = if addr.is_ipv4() {
                        "0.0.0.0:0"
                    } else {
                        "[::]:0"
                    };
                    UdpSocket::bind(bind)
                        .and_then(|s| s.send_to(line.as_bytes(), addr))
                        .map(|_| ())
                        .map_err(|e| format!("cannot send to syslog server {server}: {e}"))
                }
                None => {
                    let line =
                        syslog_line(format.unwrap_or(SyslogFormat::Rfc3164), pri, app, event);
                    let path = socket.clone().unwrap_or_else(|| PathBuf::from(DEV_LOG));
                    UnixDatagram::unbound()
                        .and_then(|s| s.send_to(line.as_bytes(), &path))
                        .map(|_| ())
                        .map_err(|e| {
                            format!("cannot send to syslog socket {}: {e}", path.display())
                        })
                }
            }
        }
        ChannelConfig::Smtp { .. } => send_mail(channel, event),
        ChannelConfig::Webhook {
            url,
            bearer_token_env,
            timeout_secs,
            ..
        } => {
            let mut payload = event.clone();
            payload.deliveries.clear();
            let body = serde_json::to_vec(&serde_json::json!({
                "source": "kura",
                "text": summary(event),
                "event": payload,
            }))
            .map_err(|e| format!("cannot encode event {} as JSON: {e}", event.id))?;
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(timeout_secs.unwrap_or(10))))
                .build()
                .into();
            let mut request = agent
                .post(url.as_str())
                .header("content-type", "application/json");
            if let Some(var) = bearer_token_env {
                let token = std::env::var(var).map_err(|_| {
                    format!("environment variable {var} (bearer_token_env) is not set")
                })?;
                request = request.header("authorization", format!("Bearer {}", token.trim()));
            }
            request
                .send(&body[..])
                .map(|_| ())
                .map_err(|e| format!("POST {} failed: {e}", redact_url(url)))
        }
    }
}

/// One line describing the event, for subjects, syslog and chat webhooks.
fn summary(event: &Event) -> String {
    format!(
        "{} {} on {}: {}",
        event.severity.to_string().to_uppercase(),
        event.kind,
        event.host,
        event.message
    )
}

fn syslog_severity(severity: Severity) -> u8 {
    // RFC 5424 §6.2.1 table 2: 2 critical, 4 warning, 6 informational.
    match severity {
        Severity::Critical => 2,
        Severity::Warning => 4,
        Severity::Info => 6,
    }
}

fn facility_code(name: Option<&str>) -> std::result::Result<u8, String> {
    // RFC 5424 §6.2.1 table 1.
    const NAMES: [&str; 24] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2",
        "local3", "local4", "local5", "local6", "local7",
    ];
    let name = name.unwrap_or("daemon");
    NAMES
        .iter()
        .position(|n| *n == name)
        .and_then(|p| u8::try_from(p).ok())
        .ok_or_else(|| {
            format!(
                "unknown syslog facility {name:?}; use daemon, auth, authpriv or local0..local7"
            )
        })
}

fn syslog_line(format: SyslogFormat, pri: u8, app: &str, event: &Event) -> String {
    let mut text = format!("event {} {}", event.id, summary(event));
    if !event.details.is_null() {
        text.push(' ');
        text.push_str(&event.details.to_string());
    }
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let pid = std::process::id();
    let printable = |s: &str, max: usize| -> String {
        let s: String = s
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(max)
            .collect();
        if s.is_empty() { "-".to_owned() } else { s }
    };
    let mut line = match format {
        SyslogFormat::Rfc3164 => {
            let local = event.time_utc.to_zoned(TimeZone::system());
            format!(
                "<{pri}>{} {}[{pid}]: {text}",
                local.strftime("%b %e %H:%M:%S"),
                printable(app, 32)
            )
        }
        SyslogFormat::Rfc5424 => format!(
            "<{pri}>1 {} {} {} {pid} {} - {text}",
            event.time_utc,
            printable(&event.host, 255),
            printable(app, 48),
            printable(&event.kind, 32)
        ),
    };
    if line.len() > SYSLOG_MAX {
        let mut cut = SYSLOG_MAX;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
    line
}

fn send_mail(channel: &ChannelConfig, event: &Event) -> std::result::Result<(), String> {
    use lettre::message::{Mailbox, header::ContentType};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    use lettre::transport::smtp::extension::ClientId;
    use lettre::{Message, SmtpTransport, Transport};

    let ChannelConfig::Smtp {
        host,
        port,
        starttls,
        username,
        password_env,
        password_file,
        from,
        to,
        subject_prefix,
        timeout_secs,
        ..
    } = channel
    else {
        return Err("not an smtp channel".to_owned());
    };
    let mailbox = |addr: &str| {
        addr.parse::<Mailbox>()
            .map_err(|e| format!("bad e-mail address {addr:?} in the smtp channel: {e}"))
    };
    let subject: String = format!(
        "{} {}",
        subject_prefix.as_deref().unwrap_or("[kura]"),
        summary(event)
    )
    .chars()
    .take(180)
    .collect();
    let mut builder = Message::builder().from(mailbox(from)?).subject(subject);
    for addr in to {
        builder = builder.to(mailbox(addr)?);
    }
    let details = serde_json::to_string_pretty(&event.details).unwrap_or_default();
    let body = format!(
        "kura event {id} on {host_name}\n\ntime:     {time} (UTC)\nkind:     {kind}\nseverity: {severity}\nstate:    {state}\n\n{message}\n\ndetails:\n{details}\n\nAcknowledge it with `kura events ack {id}` once someone is handling it.\n",
        id = event.id,
        host_name = event.host,
        time = event.time_utc,
        kind = event.kind,
        severity = event.severity,
        state = event.state,
        message = event.message,
    );
    let message = builder
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| format!("cannot build the e-mail: {e}"))?;

    let mut transport = SmtpTransport::builder_dangerous(host.as_str())
        .port(port.unwrap_or(587))
        .timeout(Some(Duration::from_secs(timeout_secs.unwrap_or(30))))
        .hello_name(ClientId::Domain(
            gethostname::gethostname().to_string_lossy().into_owned(),
        ));
    if starttls.unwrap_or(true) {
        let tls = TlsParameters::new(host.clone())
            .map_err(|e| format!("cannot set up TLS for {host}: {e}"))?;
        transport = transport.tls(Tls::Required(tls));
    }
    if let Some(user) = username {
        let password = match (password_env, password_file) {
            (Some(var), _) => std::env::var(var)
                .map_err(|_| format!("environment variable {var} (password_env) is not set"))?,
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read password_file {}: {e}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            (None, None) => {
                return Err("username is set without password_env or password_file".to_owned());
            }
        };
        transport = transport.credentials(Credentials::new(user.clone(), password));
    }
    transport
        .build()
        .send(&message)
        .map(|_| ())
        .map_err(|e| format!("smtp {host}:{}: {e}", port.unwrap_or(587)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_credentials_and_queries() {
        assert_eq!(
            redact_url("https://user:pw@hooks.example/x/y?token=abc#f"),
            "https://hooks.example/x/y"
        );
        assert_eq!(redact_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }

    #[test]
    fn facilities_follow_rfc5424() {
        assert_eq!(facility_code(None), Ok(3));
        assert_eq!(facility_code(Some("authpriv")), Ok(10));
        assert_eq!(facility_code(Some("local7")), Ok(23));
        assert!(facility_code(Some("locl0")).is_err());
    }

    #[test]
    fn config_rejects_unknown_fields_and_accepts_examples() {
        let ok: Vec<ChannelConfig> = serde_json::from_str(
            r#"[{"type":"smtp","host":"mail","from":"kura@h.example","to":["it@h.example"],"username":"u","password_env":"KURA_SMTP_PASSWORD"},
                {"type":"webhook","url":"https://chat.example/hook","min_severity":"warning"},
                {"type":"syslog","facility":"local3"}]"#,
        )
        .unwrap();
        assert!(ok.iter().all(|c| c.validate().is_ok()));
        let err = serde_json::from_str::<ChannelConfig>(
            r#"{"type":"smtp","host":"mail","from":"a@b","to":["c@d"],"password":"secret"}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("unknown field `password`"),
            "{err}"
        );
    }

    #[test]
    fn severity_filter_applies() {
        let c = ChannelConfig::Webhook {
            url: "http://x".into(),
            bearer_token_env: None,
            timeout_secs: None,
            min_severity: Some(Severity::Warning),
        };
        assert!(!c.wants(Severity::Info));
        assert!(c.wants(Severity::Critical));
    }
}
