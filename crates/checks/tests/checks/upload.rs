//! A smoke scenario that uploads a file (`[MultipartFormData]`), against a server that
//! answers with the request it received, so the asserts see the encoding on the wire.

use cutover_checks::http::Client;
use cutover_checks::smoke::SmokeProbe;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

/// Serves one request on a free port, answering 200 with the raw request as its body.
fn echo_once() -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut echo = head.into_bytes();
        echo.extend(body);
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            echo.len()
        )
        .unwrap();
        stream.write_all(&echo).unwrap();
    });
    (port, server)
}

#[tokio::test]
async fn a_scenario_uploads_a_file_as_multipart_form_data() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("fixtures")).unwrap();
    std::fs::write(
        dir.path().join("fixtures/photo.txt"),
        "pretend photo bytes\n",
    )
    .unwrap();
    let (port, server) = echo_once();
    let hurl = dir.path().join("upload.hurl");
    std::fs::write(
        &hurl,
        format!(
            "POST http://127.0.0.1:{port}/api/upload\n[MultipartFormData]\ntitle: {{{{title}}}}\nphoto: file,fixtures/photo.txt; text/plain\nHTTP 200\n[Asserts]\nbody contains \"content-type: multipart/form-data; boundary=cutover-boundary-0000000000000000\"\nbody contains \"Content-Disposition: form-data; name=\\\"title\\\"\\r\\n\\r\\nholiday\\r\\n\"\nbody contains \"name=\\\"photo\\\"; filename=\\\"photo.txt\\\"\\r\\nContent-Type: text/plain\\r\\n\\r\\npretend photo bytes\\n\\r\\n\"\n"
        ),
    )
    .unwrap();
    let probe = SmokeProbe {
        file: hurl.clone(),
        pins: vec![],
        variables: vec![("title".into(), "holiday".into(), false)],
        ca_file: None,
    };
    let o = probe.run(&Client::default()).await;
    server.join().unwrap();
    assert!(o.ok, "{o:?}");
    assert!(
        o.summary.starts_with("1 requests, 3 asserts"),
        "{}",
        o.summary
    );
    assert_eq!(
        cutover_checks::smoke::read_scenario(&hurl, "upload.hurl"),
        Ok("1 requests, 3 asserts".to_string())
    );
    // The same scenario with its upload missing is refused before anything is sent.
    std::fs::remove_file(dir.path().join("fixtures/photo.txt")).unwrap();
    assert_eq!(
        cutover_checks::smoke::read_scenario(&hurl, "upload.hurl"),
        Err("upload.hurl:4:1: upload field `photo` names fixtures/photo.txt, which does not exist (paths are relative to the Hurl file)".to_string())
    );
}
