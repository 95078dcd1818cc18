//! A small static file server for dist/, on 127.0.0.1, with the MIME types
//! module workers need (`text/javascript`, `application/wasm`).

use std::path::{Path, PathBuf};

pub struct Running {
    pub port: u16,
}

fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

fn handle(dist: &Path, req: tiny_http::Request) {
    let url = req.url().split('?').next().unwrap_or("/").to_string();
    let rel = url.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let path: PathBuf = dist.join(rel);
    let safe = !rel.split('/').any(|p| p == "..");
    let resp = match (safe, std::fs::read(&path)) {
        (true, Ok(body)) => {
            let header =
                tiny_http::Header::from_bytes(&b"Content-Type"[..], mime(&path).as_bytes())
                    .expect("valid header");
            tiny_http::Response::from_data(body)
                .with_header(header)
                .boxed()
        }
        _ => tiny_http::Response::from_string("not found")
            .with_status_code(404)
            .boxed(),
    };
    let _ = req.respond(resp);
}

/// Serves `dist` on a background thread; port 0 picks a free one.
pub fn spawn(dist: &Path, port: u16) -> crate::Result<Running> {
    let server = tiny_http::Server::http(("127.0.0.1", port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let port = server
        .server_addr()
        .to_ip()
        .map(|a| a.port())
        .unwrap_or(port);
    let dist = dist.to_path_buf();
    std::thread::spawn(move || {
        // Each request on a thread of its own: a response a client stops
        // reading (a worker terminated mid-fetch) never holds up the next
        // page's files behind it.
        for req in server.incoming_requests() {
            let dist = dist.clone();
            std::thread::spawn(move || handle(&dist, req));
        }
    });
    Ok(Running { port })
}

pub fn serve_forever(dist: &Path, port: u16) -> crate::Result<()> {
    let running = spawn(dist, port)?;
    println!(
        "cachelab playground: http://127.0.0.1:{}/  (Ctrl-C to stop)",
        running.port
    );
    loop {
        std::thread::park();
    }
}
