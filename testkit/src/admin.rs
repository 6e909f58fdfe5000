//! A raw HTTP/1.1 GET against a daemon's admin port (`/metrics`, `/healthz`,
//! `/readyz`): the whole answer, status line and headers included, so tests
//! can check the status as well as the body.

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET path` on `addr`, the connection closed after the answer.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write the request");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read the answer");
    out
}
