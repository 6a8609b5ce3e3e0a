//! Helpers: load a fixture case into a fresh in-memory store, a fake
//! OpenAI-compatible endpoint answering with a fixed text.

use std::path::{Path, PathBuf};

use inquest_core::{InvestigationConfig, ReportWriter, investigate_and_save};
use inquest_domain::IncidentReport;
use inquest_fixtures::{FixtureCase, load_case};
use inquest_ports::Stores;
use inquest_store_embedded::EmbeddedStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub fn fixture_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(case)
}

pub async fn loaded(case: &FixtureCase) -> anyhow::Result<(EmbeddedStore, Stores)> {
    let store = EmbeddedStore::in_memory()?;
    let stores = store.stores();
    load_case(&stores, case).await?;
    Ok((store, stores))
}

pub async fn run(
    stores: &Stores,
    case: &FixtureCase,
    writer: &dyn ReportWriter,
) -> anyhow::Result<(inquest_core::Investigation, IncidentReport)> {
    let now = case.batch.incidents[0].window_end;
    Ok(investigate_and_save(stores, writer, case.incident_id, &InvestigationConfig::default(), now).await?)
}

/// A fake chat endpoint on 127.0.0.1 answering every request with `content`; the
/// request bodies it received are sent on the returned channel.
pub async fn fake_endpoint(content: String) -> anyhow::Result<(String, tokio::sync::mpsc::UnboundedReceiver<String>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let body = loop {
                let Ok(n) = sock.read(&mut chunk).await else { return };
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                    }
                }
            };
            let _ = tx.send(body);
            let resp = serde_json::json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "fake-model",
                "choices": [{ "index": 0, "finish_reason": "stop", "message": { "role": "assistant", "content": content } }],
                "usage": { "prompt_tokens": 1234, "completion_tokens": 321, "total_tokens": 1555 }
            })
            .to_string();
            let http = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{resp}",
                resp.len()
            );
            let _ = sock.write_all(http.as_bytes()).await;
        }
    });
    Ok((format!("http://{addr}/v1"), rx))
}
