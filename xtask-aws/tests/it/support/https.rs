//! The release location as a customer's download tools see it: a local HTTPS server
//! with a self-signed certificate that each test trusts explicitly (curl through
//! `CURL_CA_BUNDLE`, GNU wget through a `WGETRC`, OpenSSL through `SSL_CERT_FILE`),
//! and beside it a plain HTTP server and a port that refuses FTP, for the redirects a
//! download must refuse. All listen on 127.0.0.1 only and stop with the value.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, ChildStdin, Command, Stdio},
};

use super::{system_tool, text, workspace_root};

pub struct Https {
    child: Child,
    _stdin: ChildStdin,
    port: u16,
    http_port: u16,
    ftp_port: u16,
    dir: tempfile::TempDir,
}

impl Https {
    pub fn serve() -> Https {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        make_certificate(dir.path());
        std::fs::write(
            dir.path().join("wgetrc"),
            format!("ca_certificate = {}\n", dir.path().join("cert.pem").display()),
        )
        .unwrap();
        let script = workspace_root().join("xtask-aws/tests/it/support/https_server.py");
        let mut child = Command::new(system_tool("python3", "python3"))
            .arg(script)
            .args(["root", "cert.pem", "key.pem"])
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("requests.log")).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let ports: Vec<u16> = line.split_whitespace().map(|port| port.parse().unwrap()).collect();
        assert_eq!(ports.len(), 3, "the HTTPS server did not start: {line:?}");
        let stdin = child.stdin.take().unwrap();
        Https { child, _stdin: stdin, port: ports[0], http_port: ports[1], ftp_port: ports[2], dir }
    }

    pub fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// A base URL under which every download is redirected to `scheme` (`http`, `ftp`).
    pub fn redirecting_base_url(&self, scheme: &str) -> String {
        format!("{}/to-{scheme}", self.base_url())
    }

    /// The same files over plain HTTP.
    pub fn plain_base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn put(&self, key: &str, bytes: &[u8]) {
        let path = self.dir.path().join("root").join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    pub fn get(&self, key: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join("root").join(key)).unwrap()
    }

    pub fn trust(&self, command: &mut Command) {
        let cert = self.dir.path().join("cert.pem");
        command.env("CURL_CA_BUNDLE", &cert).env("SSL_CERT_FILE", &cert).env("WGETRC", self.dir.path().join("wgetrc"));
    }

    /// Requests served so far, one line each (`https "GET /path HTTP/1.1" 200 -`),
    /// with the ports replaced by names.
    pub fn requests(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("requests.log")).unwrap();
        self.normalise(&log)
    }

    /// Text with this server's URLs and ports replaced by `<https>`, `<http>`, `<ftp>`.
    pub fn normalise(&self, text: &str) -> String {
        text.replace(&self.base_url(), "<https>")
            .replace(&self.plain_base_url(), "<http>")
            .replace(&format!("ftp://127.0.0.1:{}", self.ftp_port), "<ftp>")
            .replace(&format!("127.0.0.1:{}", self.port), "<https host>")
    }
}

impl Drop for Https {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn make_certificate(dir: &Path) {
    let output = Command::new(system_tool("openssl", "openssl"))
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", "key.pem", "-out", "cert.pem"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "openssl req failed: {}", text(&output.stderr));
}
