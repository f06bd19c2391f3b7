//! A one-shot HTTP server on 127.0.0.1 for the unit tests of the clients
//! (a log's and a mirror's), so each can be shown an exact answer: a
//! status, a body and a Content-Length that may disagree with it.

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

use std::io::{Read as _, Write as _};

/// Serves one answer of `status` with `body` and `length` as its
/// Content-Length, after reading the request; returns `http://ADDR`.
pub(crate) fn answer_once(status: &str, length: usize, body: Vec<u8>) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let status = status.to_owned();
    std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = c.read(&mut buf);
        let _ = write!(
            c,
            "HTTP/1.1 {status}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
        );
        let _ = c.write_all(&body);
    });
    format!("http://{addr}")
}
