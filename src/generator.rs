//! Realistic sample logs for the demo, the docker-compose log generator,
//! tests and benchmarks: nginx access and error lines, python-logstash and
//! generic JSON application logs, Java-style text logs with stack traces,
//! and Filebeat's Kafka-output envelope around any of them.
//!
//! Client IPs and user agents repeat with a skewed (Zipf-like) distribution,
//! as in real traffic, which matters for the user-agent and GeoIP caches.
//! Deterministic for a given seed.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;

/// Which kind of log line to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// nginx combined format with a trailing `"$http_x_forwarded_for"`.
    NginxAccess,
    /// nginx error log.
    NginxError,
    /// JSON application logs (python-logstash_formatter and generic).
    AppJson,
    /// Plain-text Java/Python application logs with stack traces.
    AppText,
    /// Filebeat's Kafka output envelope around a mix of the above.
    Filebeat,
}

/// Addresses present in the GeoIP fixture databases, so demo documents
/// carry geo fields.
const GEO_IPS: &[&str] = &[
    "81.2.69.142",
    "81.2.69.143",
    "216.160.83.58",
    "89.160.20.130",
    "89.160.20.200",
    "175.16.199.12",
    "85.181.35.98",
    "199.96.1.1",
    "199.96.44.7",
    "67.43.156.14",
    "2a03:2880:f12f:83:face:b00c:0:25de",
];

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "curl/8.4.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "kube-probe/1.28",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.12; rv:49.0) Gecko/20100101 Firefox/49.0",
    "Mozilla/5.0 (Windows NT 6.1; rv:15.0) Gecko/20120716 Firefox/15.0a2",
    "Mozilla/5.0 (compatible; Facebot 1.0; https://developers.facebook.com/docs/sharing/webmasters/crawler)",
    "Amazon CloudFront",
    "-",
];

const PATHS: &[&str] = &[
    "/",
    "/index.html",
    "/api/v1/users/{id}",
    "/api/v1/orders?page={n}",
    "/api/v1/cart",
    "/static/js/app.{hash}.js",
    "/static/css/main.{hash}.css",
    "/images/products/{id}.jpg",
    "/favicon.ico",
    "/healthz",
    "/login",
    "/search?q=shoes+size+{n}",
    "/wp-login.php",
    "/checkout/confirm",
];

const STATUSES: &[(u16, u32)] = &[
    (200, 780),
    (304, 70),
    (301, 20),
    (302, 20),
    (404, 60),
    (401, 10),
    (403, 5),
    (499, 5),
    (500, 6),
    (502, 3),
    (503, 1),
];

const LOGGERS: &[&str] = &["app.payments", "app.orders", "app.api", "app.auth", "app.inventory"];

const JAVA_LOGGERS: &[&str] = &[
    "com.example.payments.ChargeService",
    "com.example.orders.OrderController",
    "org.springframework.web.servlet.DispatcherServlet",
    "com.zaxxer.hikari.pool.HikariPool",
];

/// A deterministic sample-log generator.
pub struct Generator {
    kind: Kind,
    rng: SmallRng,
    ip_pool: Vec<String>,
    sequence: u64,
}

impl Generator {
    /// A generator of `kind` seeded with `seed`.
    pub fn new(kind: Kind, seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut ip_pool: Vec<String> = GEO_IPS.iter().map(|s| (*s).to_owned()).collect();
        for _ in 0..2000 {
            let ip = if rng.random_bool(0.05) {
                format!(
                    "2001:db8:{:x}:{:x}::{:x}",
                    rng.random_range(0..0xffff_u32),
                    rng.random_range(0..0xffff_u32),
                    rng.random_range(1..0xffff_u32)
                )
            } else {
                format!(
                    "{}.{}.{}.{}",
                    rng.random_range(1..224_u32),
                    rng.random_range(0..256_u32),
                    rng.random_range(0..256_u32),
                    rng.random_range(1..255_u32)
                )
            };
            ip_pool.push(ip);
        }
        Generator {
            kind,
            rng,
            ip_pool,
            sequence: 0,
        }
    }

    /// Index into a list with a skewed distribution: low indices are much
    /// more frequent, like popular clients and browsers.
    fn skewed(&mut self, len: usize) -> usize {
        let u: f64 = self.rng.random();
        ((u * u * u) * len as f64) as usize % len.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = self.skewed(items.len());
        items[i]
    }

    fn status(&mut self) -> u16 {
        let total: u32 = STATUSES.iter().map(|(_, w)| w).sum();
        let mut x = self.rng.random_range(0..total);
        for (s, w) in STATUSES {
            if x < *w {
                return *s;
            }
            x -= w;
        }
        200
    }

    fn fill(&mut self, template: &str) -> String {
        let id = self.rng.random_range(1..50_000_u32).to_string();
        let n = self.rng.random_range(1..20_u32).to_string();
        let hash = format!("{:08x}", self.rng.random::<u32>());
        template
            .replace("{id}", &id)
            .replace("{n}", &n)
            .replace("{hash}", &hash)
    }

    /// The next line, stamped with `now`.
    pub fn line(&mut self, now: DateTime<Utc>) -> String {
        self.sequence += 1;
        match self.kind {
            Kind::NginxAccess => self.nginx_access(now),
            Kind::NginxError => self.nginx_error(now),
            Kind::AppJson => self.app_json(now),
            Kind::AppText => self.app_text(now),
            Kind::Filebeat => self.filebeat(now),
        }
    }

    fn nginx_access(&mut self, now: DateTime<Utc>) -> String {
        let i = self.skewed(self.ip_pool.len());
        let client = self.ip_pool[i].clone();
        let behind_lb = self.rng.random_bool(0.25);
        let (remote, xff) = if behind_lb {
            let lb = format!(
                "10.0.{}.{}",
                self.rng.random_range(0..4_u32),
                self.rng.random_range(2..30_u32)
            );
            (lb, format!("{client}, 10.1.0.7"))
        } else {
            (client, "-".to_owned())
        };
        let user = if self.rng.random_bool(0.05) { "alice" } else { "-" };
        let offset = if self.rng.random_bool(0.7) { 0 } else { 8 * 3600 };
        let zone = FixedOffset::east_opt(offset).unwrap_or(FixedOffset::east_opt(0).expect("zero offset is valid"));
        let ts = now.with_timezone(&zone).format("%d/%b/%Y:%H:%M:%S %z");
        let method = match self.rng.random_range(0..20_u32) {
            0..=14 => "GET",
            15..=17 => "POST",
            18 => "PUT",
            _ => "HEAD",
        };
        let path_template = self.pick(PATHS);
        let path = self.fill(path_template);
        let status = self.status();
        let bytes = if status == 304 {
            0
        } else {
            self.rng.random_range(100..200_000_u32)
        };
        let referrer = if self.rng.random_bool(0.3) {
            "https://shop.example.com/"
        } else {
            "-"
        };
        let ua = self.pick(USER_AGENTS);
        format!(
            "{remote} - {user} [{ts}] \"{method} {path} HTTP/1.1\" {status} {bytes} \"{referrer}\" \"{ua}\" \"{xff}\""
        )
    }

    fn nginx_error(&mut self, now: DateTime<Utc>) -> String {
        let level = ["error", "warn", "crit", "notice"][self.skewed(4)];
        let i = self.skewed(self.ip_pool.len());
        let client = self.ip_pool[i].clone();
        let template = self.pick(PATHS);
        let path = self.fill(template);
        let pid = 1000 + self.rng.random_range(0..8_u32);
        let conn = self.rng.random_range(1..100_000_u32);
        let what = match self.rng.random_range(0..3_u32) {
            0 => format!("open() \"/usr/share/nginx/html{path}\" failed (2: No such file or directory)"),
            1 => {
                "upstream timed out (110: Connection timed out) while reading response header from upstream".to_owned()
            }
            _ => "connect() failed (111: Connection refused) while connecting to upstream".to_owned(),
        };
        format!(
            "{} [{level}] {pid}#0: *{conn} {what}, client: {client}, server: shop.example.com, request: \"GET {path} HTTP/1.1\", host: \"shop.example.com\"",
            now.format("%Y/%m/%d %H:%M:%S")
        )
    }

    fn traceback(&mut self) -> String {
        let n = self.rng.random_range(1..1000_u32);
        format!(
            "Traceback (most recent call last):\n  File \"/app/payments/charge.py\", line 88, in charge\n    result = gateway.submit(order)\n  File \"/app/payments/gateway.py\", line 41, in submit\n    raise GatewayError(\"declined: code {n}\")\npayments.gateway.GatewayError: declined: code {n}"
        )
    }

    fn app_json(&mut self, now: DateTime<Utc>) -> String {
        let ts = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        let level = ["INFO", "INFO", "INFO", "WARNING", "ERROR", "DEBUG"][self.rng.random_range(0..6_usize)];
        let logger = self.pick(LOGGERS);
        let request_id = format!("req-{:016x}", self.rng.random::<u64>());
        if self.rng.random_bool(0.6) {
            // python-logstash_formatter (LogstashFormatterV1)
            let mut v = json!({
                "@timestamp": ts,
                "@version": "1",
                "message": format!("order {} processed in {} ms", self.rng.random_range(1..99_999_u32), self.rng.random_range(1..900_u32)),
                "host": format!("app-{}", self.rng.random_range(1..4_u32)),
                "levelname": level,
                "name": logger,
                "lineno": self.rng.random_range(10..400_u32),
                "funcName": "handle",
                "process": self.rng.random_range(1..200_u32),
                "threadName": "MainThread",
                "request_id": request_id,
            });
            if level == "ERROR" {
                v["message"] = json!("payment failed");
                v["exc_info"] = json!(self.traceback());
            }
            v.to_string()
        } else {
            json!({
                "time": ts,
                "level": level.to_lowercase(),
                "logger": logger,
                "message": "request served",
                "service": "checkout",
                "request_id": request_id,
                "duration_ms": self.rng.random_range(1..500_u32),
            })
            .to_string()
        }
    }

    fn app_text(&mut self, now: DateTime<Utc>) -> String {
        let level = ["INFO", "INFO", "WARN", "ERROR", "DEBUG"][self.rng.random_range(0..5_usize)];
        let logger = self.pick(JAVA_LOGGERS);
        let thread = format!("http-nio-8080-exec-{}", self.rng.random_range(1..10_u32));
        let ts = now.format("%Y-%m-%d %H:%M:%S,%3f");
        if level == "ERROR" {
            format!(
                "{ts} ERROR [{thread}] {logger} - Charge failed for order {}\njava.lang.IllegalStateException: card declined\n\tat com.example.payments.ChargeService.charge(ChargeService.java:88)\n\tat com.example.orders.OrderController.checkout(OrderController.java:41)\n\tat java.base/java.lang.Thread.run(Thread.java:1583)",
                self.rng.random_range(1..99_999_u32)
            )
        } else {
            format!(
                "{ts} {level} [{thread}] {logger} - Completed request in {} ms",
                self.rng.random_range(1..900_u32)
            )
        }
    }

    fn filebeat(&mut self, now: DateTime<Utc>) -> String {
        let (inner, path) = match self.rng.random_range(0..10_u32) {
            0..=5 => (Kind::NginxAccess, "/var/log/nginx/access.log"),
            6 => (Kind::NginxError, "/var/log/nginx/error.log"),
            7 | 8 => (Kind::AppJson, "/var/log/app/app.json"),
            _ => (Kind::AppText, "/var/log/app/app.log"),
        };
        let saved = self.kind;
        self.kind = inner;
        let message = self.line(now);
        self.kind = saved;
        json!({
            "@timestamp": now.to_rfc3339_opts(SecondsFormat::Millis, true),
            "@metadata": {"beat": "filebeat", "type": "_doc", "version": "8.12.0"},
            "message": message,
            "log": {"offset": self.sequence * 200, "file": {"path": path}},
            "input": {"type": "filestream"},
            "host": {"name": format!("web-{}", self.rng.random_range(1..4_u32))},
            "agent": {"type": "filebeat", "version": "8.12.0"},
            "ecs": {"version": "8.0.0"},
            "fields": {"env": "prod"},
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_varied() {
        let now = DateTime::parse_from_rfc3339("2024-03-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let a: Vec<String> = (0..50)
            .map(|_| Generator::new(Kind::NginxAccess, 7).line(now))
            .collect();
        let mut g = Generator::new(Kind::NginxAccess, 7);
        assert_eq!(a[0], g.line(now));
        let lines: std::collections::HashSet<String> = (0..200).map(|_| g.line(now)).collect();
        assert!(lines.len() > 190);
        for kind in [Kind::AppJson, Kind::Filebeat] {
            let mut g = Generator::new(kind, 1);
            for _ in 0..20 {
                let l = g.line(now);
                assert!(serde_json::from_str::<serde_json::Value>(&l).is_ok(), "{l}");
            }
        }
    }
}
