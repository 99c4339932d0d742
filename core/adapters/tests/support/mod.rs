//! Real local receivers for the notification tests, started by the tests and stopped when
//! dropped: an HTTP receiver (Python's http.server), aiosmtpd, moto_server and rsyslogd.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code,
    reason = "test support"
)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The Python with the receivers' packages (moto, aiosmtpd): `TRAILALERTS_TEST_PYTHON`, or the
/// workspace's `.venv` that `make test-deps` creates.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TRAILALERTS_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let p = workspace().join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} not found: run `make test-deps` (creates .venv with moto[server] and aiosmtpd) or set TRAILALERTS_TEST_PYTHON",
        p.display()
    );
    p
}

pub fn script(name: &str) -> PathBuf {
    workspace().join("tests/receivers").join(name)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn wait_port(port: u16, what: &str) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub struct HttpReceiver {
    _proc: Proc,
    pub port: u16,
}

impl HttpReceiver {
    pub fn start() -> Self {
        Self::start_on(0)
    }
    pub fn start_on(port: u16) -> Self {
        Self::spawn(&[port.to_string()])
    }
    /// A fault-injecting proxy in front of `upstream`.
    pub fn proxy(upstream: &str) -> Self {
        Self::spawn(&["--upstream".to_owned(), upstream.to_owned()])
    }
    fn spawn(args: &[String]) -> Self {
        let mut child = Command::new(python())
            .arg(script("http_receiver.py"))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start http_receiver.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("receiver printed {line:?}"));
        Self {
            _proc: Proc(child),
            port,
        }
    }
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
    fn get(&self, path: &str) -> Value {
        let body = ureq::get(self.url(path))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        serde_json::from_str(&body).unwrap()
    }
    pub fn requests(&self) -> Vec<Value> {
        self.get("/_requests")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
    pub fn stats(&self) -> (u64, u64) {
        let s = self.get("/_stats");
        (
            s["started"].as_u64().unwrap(),
            s["finished"].as_u64().unwrap(),
        )
    }
    pub fn control(&self, mode: Value) {
        ureq::post(self.url("/_control"))
            .send(mode.to_string().as_bytes())
            .unwrap();
    }
}

pub struct Smtp {
    _proc: Proc,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Smtp {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for d in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(dir.path().join("mail").join(d)).unwrap();
        }
        let port = free_port();
        let child = Command::new(python())
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(dir.path().join("mail"))
            .stdout(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        wait_port(port, "aiosmtpd");
        Self {
            _proc: Proc(child),
            port,
            dir,
        }
    }
    /// Messages received, parsed by Python's email package.
    pub fn messages(&self) -> Vec<Value> {
        let out = Command::new(python())
            .arg(script("parse_mail.py"))
            .arg(self.dir.path().join("mail"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .cloned()
            .unwrap()
    }
}

pub struct Moto {
    _proc: Proc,
    pub port: u16,
}

impl Moto {
    pub fn start() -> Self {
        let port = free_port();
        let bin = python().parent().unwrap().join("moto_server");
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        wait_port(port, "moto_server");
        Self {
            _proc: Proc(child),
            port,
        }
    }
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    pub fn helper(&self, args: &[&str]) -> Value {
        let out = Command::new(python())
            .arg(script("aws_helper.py"))
            .arg(self.endpoint())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aws_helper {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// rsyslogd listening on loopback UDP and TCP, writing what it parsed as JSON lines.
pub struct Rsyslog {
    _proc: Proc,
    pub udp: u16,
    pub tcp: u16,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn rsyslogd() -> PathBuf {
    for p in ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("rsyslogd not found: run `make test-deps` (installs the Debian package rsyslog)");
}

impl Rsyslog {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (udp, tcp) = (free_port(), free_port());
        let out = dir.path().join("parsed.jsonl");
        let conf = format!(
            r#"global(workDirectory="{wd}")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="{udp}")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
template(name="j" type="list") {{
  constant(value="{{\"pri\":\"") property(name="pri") constant(value="\",")
  property(outname="hostname" name="hostname" format="jsonf") constant(value=",")
  property(outname="app" name="app-name" format="jsonf") constant(value=",")
  property(outname="msgid" name="msgid" format="jsonf") constant(value=",")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf") constant(value=",")
  property(outname="sd" name="structured-data" format="jsonf") constant(value=",")
  property(outname="msg" name="msg" format="jsonf")
  constant(value="}}\n")
}}
*.* action(type="omfile" file="{out}" template="j")
"#,
            wd = dir.path().display(),
            out = out.display()
        );
        let conf_path = dir.path().join("rsyslog.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(rsyslogd())
            .args(["-n", "-f"])
            .arg(&conf_path)
            .arg("-i")
            .arg(dir.path().join("rsyslog.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rsyslogd");
        wait_port(tcp, "rsyslogd");
        Self {
            _proc: Proc(child),
            udp,
            tcp,
            out,
            _dir: dir,
        }
    }
    /// Parsed messages, waiting up to 10 s for `n` of them.
    pub fn parsed(&self, n: usize) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let lines: Vec<Value> = std::fs::read_to_string(&self.out)
                .unwrap_or_default()
                .lines()
                .map(|l| {
                    serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("rsyslog wrote unparsable JSON {l}: {e}"))
                })
                .collect();
            if lines.len() >= n || start.elapsed() > Duration::from_secs(10) {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A private CA and a server certificate for 127.0.0.1 / localhost, made with `openssl`.
pub struct Certs {
    pub dir: tempfile::TempDir,
}

impl Certs {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .expect("openssl (Debian package openssl) is needed");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=trailalerts test CA",
        ]);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        Self { dir }
    }
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

impl Smtp {
    /// aiosmtpd with STARTTLS required (`starttls`) or implicit TLS (`smtps`).
    pub fn start_tls(certs: &Certs, mode: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for d in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(dir.path().join("mail").join(d)).unwrap();
        }
        let port = free_port();
        let (cert_flag, key_flag) = if mode == "smtps" {
            ("--smtpscert", "--smtpskey")
        } else {
            ("--tlscert", "--tlskey")
        };
        let child = Command::new(python())
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(dir.path().join("mail"))
            .args([
                cert_flag,
                &certs.path("server.pem"),
                key_flag,
                &certs.path("server.key"),
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        wait_port(port, "aiosmtpd");
        Self {
            _proc: Proc(child),
            port,
            dir,
        }
    }
}
