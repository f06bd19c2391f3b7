//! Transparency logs and witnesses for the tests: `ct log` and `ct witness`
//! started on 127.0.0.1 (port 0, the address read from what they print),
//! killed and reaped when dropped.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use cerro_core::image::layout::{basic_config, LayoutBuilder};

use crate::{ct_bin, require, run};

/// An OCI layout `d/img-TAG` with one small layer (`note.txt` holding
/// `note`), tagged `tag`: its `oci:` name.
pub fn note_layout(d: &Path, note: &[u8], tag: &str) -> String {
    let dir = d.join(format!("img-{tag}"));
    let mut b = LayoutBuilder::new(&dir).expect("a layout");
    b.layer_tar(&[("note.txt", 0o644, note)]).expect("a layer");
    b.finish(basic_config(&["/note.txt"]), Some(tag)).expect("the image");
    format!("oci:{}:{tag}", dir.display())
}

/// A child process killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server started here: its verifier key, its URL, and the process.
#[derive(Debug)]
pub struct Server {
    /// The verifier key it prints at keygen.
    pub vkey: String,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Killed when dropped.
    pub process: Killed,
}

impl Server {
    /// `URL=VKEY`, as `--log` and `--witness` take it.
    pub fn endpoint(&self) -> String {
        format!("{}={}", self.url, self.vkey)
    }
}

/// Starts `cmd` (which prints `… http://ADDR …` on its first stdout line
/// once it listens) and returns its URL.
fn spawn_listening(cmd: &mut Command) -> (String, Killed) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("starting the server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("its stdout"))
        .read_line(&mut line)
        .expect("reading its first line");
    let addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("the server printed {line:?}"))
        .parse()
        .expect("an address");
    (format!("http://{addr}"), Killed(child))
}

/// Makes the key and directory of a log named `origin` under `d` (files
/// named by `tag`), and returns its verifier key.
pub fn make_log(d: &Path, origin: &str, tag: &str) -> String {
    let key = d.join(format!("{tag}.key"));
    let out = run(Command::new(ct_bin())
        .args(["log", "keygen", "--name", origin, "-o"])
        .arg(&key));
    run(Command::new(ct_bin())
        .args(["log", "init", "--dir"])
        .arg(d.join(format!("{tag}-log")))
        .arg("--key")
        .arg(&key));
    String::from_utf8(out.stdout).expect("UTF-8").trim().to_owned()
}

/// `ct log serve` of the log made by [`make_log`] with `tag`, asking the
/// `witnesses` (`URL=VKEY`).
pub fn serve_log(d: &Path, vkey: &str, tag: &str, witnesses: &[String]) -> Server {
    let mut cmd = Command::new(ct_bin());
    cmd.args(["log", "serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(d.join(format!("{tag}-log")))
        .arg("--key")
        .arg(d.join(format!("{tag}.key")));
    for w in witnesses {
        cmd.args(["--witness", w]);
    }
    let (url, process) = spawn_listening(&mut cmd);
    Server {
        vkey: vkey.to_owned(),
        url,
        process,
    }
}

/// `ct log keygen|init|serve` for a log named `origin` under `d`.
pub fn start_log(d: &Path, origin: &str, tag: &str, witnesses: &[String]) -> Server {
    let vkey = make_log(d, origin, tag);
    serve_log(d, &vkey, tag, witnesses)
}

/// Makes the key and state directory of a witness named `name` under `d`,
/// and returns its verifier key.
pub fn make_witness(d: &Path, name: &str, tag: &str) -> String {
    let key = d.join(format!("{tag}.wkey"));
    let out = run(Command::new(ct_bin())
        .args(["witness", "keygen", "--name", name, "-o"])
        .arg(&key));
    run(Command::new(ct_bin())
        .args(["witness", "init", "--dir"])
        .arg(d.join(format!("{tag}-witness")))
        .arg("--key")
        .arg(&key));
    String::from_utf8(out.stdout).expect("UTF-8").trim().to_owned()
}

/// `ct witness serve` of the witness made by [`make_witness`] with `tag`,
/// for the logs with these verifier keys.
pub fn serve_witness(d: &Path, vkey: &str, tag: &str, logs: &[&str]) -> Server {
    let mut cmd = Command::new(ct_bin());
    cmd.args(["witness", "serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(d.join(format!("{tag}-witness")))
        .arg("--key")
        .arg(d.join(format!("{tag}.wkey")));
    for l in logs {
        cmd.args(["--log", l]);
    }
    let (url, process) = spawn_listening(&mut cmd);
    Server {
        vkey: vkey.to_owned(),
        url,
        process,
    }
}

/// Debian's nginx serving `root` (a log directory: its read side, as
/// tlog-tiles lays it out) on a free port of 127.0.0.1: one process in the
/// foreground, every path of its own under `work`; `checkpoint` served
/// `no-store`, tiles immutable. Killed when dropped.
pub fn nginx(root: &Path, work: &Path) -> (Killed, SocketAddr) {
    require("nginx");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    std::fs::create_dir_all(work.join("tmp")).unwrap();
    let w = work.display();
    let conf = format!(
        r#"daemon off;
master_process off;
pid {w}/nginx.pid;
error_log {w}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {w}/tmp/body;
    proxy_temp_path {w}/tmp/proxy;
    fastcgi_temp_path {w}/tmp/fastcgi;
    uwsgi_temp_path {w}/tmp/uwsgi;
    scgi_temp_path {w}/tmp/scgi;
    default_type application/octet-stream;
    server {{
        listen {addr};
        root {root};
        location = /checkpoint {{
            types {{ }}
            default_type "text/plain; charset=utf-8";
            add_header Cache-Control "no-store";
        }}
        location /tile/ {{
            add_header Cache-Control "public, max-age=604800, immutable";
        }}
    }}
}}
"#,
        root = root.display()
    );
    let path = work.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    run(Command::new("nginx").arg("-t").arg("-c").arg(&path).arg("-p").arg(work));
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&path)
        .arg("-p")
        .arg(work)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Killed(child);
    // It starts in well under a second; 600 tries of 50 ms bound a broken start.
    for _ in 0..600 {
        if TcpStream::connect(addr).is_ok() {
            return (child, addr);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("nginx does not listen on {addr}");
}

/// A status, the headers (lowercase names) and the body.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The headers, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The first header with this (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request with `Connection: close`; the answer read to EOF.
/// Both servers here send `Content-Length` (no chunked bodies).
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Answer {
    try_http(addr, method, path, body).unwrap()
}

/// [`http`], with a failed connection or a cut answer as an error.
pub fn try_http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> std::io::Result<Answer> {
    let cut = || std::io::Error::other("the answer was cut short");
    let mut s = TcpStream::connect(addr)?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(cut)?;
    let head = String::from_utf8(raw[..split].to_vec()).map_err(|_| cut())?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(cut)?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            Some((n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    let body = raw[split + 4..].to_vec();
    let complete = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .is_some_and(|(_, v)| v.parse() == Ok(body.len()));
    if !complete {
        return Err(cut());
    }
    Ok(Answer { status, headers, body })
}
