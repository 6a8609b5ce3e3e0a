//! Runbooks: markdown with YAML front matter (`title`, `service`, `tags`,
//! `source_url`), cut into one chunk per section (headings, with a size cap), each
//! chunk a point of the `runbooks` collection with the list items of the section as
//! its `steps`. A runbook is the set of its chunks: it is rebuilt from them, replaced
//! by upserting the new chunks and deleting those past the new end, and removed by
//! its `runbook_id`. Chunk ids derive from (runbook id, chunk index).
//!
//! Folder sync takes the `*.md` files of a folder as the caller read them (the id is
//! the file's path relative to it, without `.md`), marks what it writes with
//! `origin: "folder:<canonical dir>"` and removes the runbooks of that origin whose
//! file is gone. Nothing here reads files: the binary walks the folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use inquest_domain::redact::redact;
use inquest_domain::{collections, derived_uuid, service_key_of};
use inquest_ports::{PayloadFilter, StoreError, StoredPoint, Stores, vector_point};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::{Document, FeedError};

/// A chunk longer than this (characters) is cut at paragraph, then line boundaries.
pub const MAX_CHUNK_CHARS: usize = 1500;
/// Chunks of one runbook at most; a longer runbook is refused (split it).
pub const MAX_CHUNKS: usize = 500;
/// Points read when listing every runbook of a project.
const LIST_LIMIT: usize = 100_000;
/// The origin of runbooks written through the API.
pub const API_ORIGIN: &str = "api";

/// A runbook as given: its fields and its markdown body (already redacted).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Runbook {
    pub id: String,
    pub title: String,
    /// `cluster/namespace/name` (a bare name is `default/default/<name>`).
    pub service_key: Option<String>,
    pub tags: Vec<String>,
    pub source_url: Option<String>,
    pub body: String,
}

/// Fields given beside the markdown (the API's JSON); each wins over the front matter.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Fields {
    pub title: Option<String>,
    pub service: Option<String>,
    pub tags: Option<Vec<String>>,
    pub source_url: Option<String>,
}

/// The YAML front matter. Other keys (owner, last_reviewed, ...) are allowed and ignored,
/// since documentation sites put their own there.
#[derive(Debug, Default, Deserialize)]
struct FrontMatter {
    title: Option<String>,
    service: Option<String>,
    #[serde(default)]
    tags: Option<Tags>,
    source_url: Option<String>,
}

/// `tags: [a, b]` or `tags: a, b`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Tags {
    List(Vec<String>),
    One(String),
}

impl Tags {
    fn into_vec(self) -> Vec<String> {
        match self {
            Tags::List(v) => v,
            Tags::One(s) => s.split(',').map(str::to_string).collect(),
        }
    }
}

/// The front matter and the body after it; no `---` first line means no front matter.
fn split_front_matter(text: &str) -> Result<(FrontMatter, &str), FeedError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = text.strip_prefix("---\n").or_else(|| text.strip_prefix("---\r\n")) else {
        return Ok((FrontMatter::default(), text));
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        let end = offset + line.len();
        if matches!(line.trim_end(), "---" | "...") {
            let yaml = &rest[..offset];
            let fm = if yaml.trim().is_empty() {
                FrontMatter::default()
            } else {
                serde_yaml_ng::from_str::<FrontMatter>(yaml)
                    .map_err(|e| FeedError::invalid("front_matter", format!("not valid YAML: {e}")))?
            };
            return Ok((fm, &rest[end..]));
        }
        offset = end;
    }
    Err(FeedError::invalid("front_matter", "no closing '---' line"))
}

/// Check a runbook id: 1 to 200 of `A-Z a-z 0-9 . _ - /`, no empty or `..` segment.
pub fn check_id(id: &str) -> Result<(), FeedError> {
    let chars_ok = id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    let segments_ok = id.split('/').all(|s| !s.is_empty() && s != "." && s != "..");
    if id.is_empty() || id.len() > 200 || !chars_ok || !segments_ok {
        return Err(FeedError::invalid(
            "id",
            format!("'{id}' is not a runbook id (1 to 200 of A-Z a-z 0-9 . _ - /, no empty or '..' segment)"),
        ));
    }
    Ok(())
}

/// The runbook id of a file at `relative` (a path under the synced folder).
pub fn id_of_path(relative: &Path) -> String {
    let parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .chars()
                .map(|ch| if ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-') { ch } else { '-' })
                .collect()
        })
        .collect();
    parts.join("/")
}

impl Runbook {
    /// A runbook from markdown that may open with front matter; `fields` win over it.
    /// Secrets in the text are redacted here, before anything is stored or embedded.
    pub fn parse(id: &str, fields: Fields, markdown: &str) -> Result<Runbook, FeedError> {
        check_id(id)?;
        let (fm, body) = split_front_matter(markdown)?;
        let title = fields.title.or(fm.title).map(|t| t.trim().to_string()).unwrap_or_default();
        if title.is_empty() {
            return Err(FeedError::invalid("title", "required (in the front matter or beside the body)"));
        }
        if title.len() > 300 {
            return Err(FeedError::invalid("title", "longer than 300 characters"));
        }
        let service = fields.service.or(fm.service).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        if let Some(s) = &service
            && (s.split('/').count() > 3 || s.split('/').any(str::is_empty) || s.chars().any(char::is_whitespace))
        {
            return Err(FeedError::invalid(
                "service",
                format!("'{s}' is not a service name or cluster/namespace/name"),
            ));
        }
        let mut tags: Vec<String> = fields.tags.or_else(|| fm.tags.map(Tags::into_vec)).unwrap_or_default();
        tags = tags.into_iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
        let mut seen = BTreeSet::new();
        tags.retain(|t| seen.insert(t.clone()));
        let source_url = fields.source_url.or(fm.source_url).map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
        if let Some(u) = &source_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err(FeedError::invalid("source_url", "must be an http:// or https:// URL"));
        }
        let body = redact(body);
        if body.trim().is_empty() {
            return Err(FeedError::invalid("body", "the runbook has no text"));
        }
        Ok(Runbook {
            id: id.to_string(),
            title: redact(&title),
            service_key: service.as_deref().map(service_key_of),
            tags,
            source_url,
            body,
        })
    }

    /// A digest of everything stored, so an unchanged file is not embedded again.
    pub fn content_hash(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(bytes))
    }

    /// One document per chunk, for the `runbooks` collection, stamped with `origin`.
    pub fn documents(&self, origin: &str) -> Result<Vec<Document>, FeedError> {
        let chunks = chunk(&self.body, MAX_CHUNK_CHARS);
        if chunks.len() > MAX_CHUNKS {
            return Err(FeedError::invalid(
                "body",
                format!(
                    "{} sections after cutting at {MAX_CHUNK_CHARS} characters; at most {MAX_CHUNKS}",
                    chunks.len()
                ),
            ));
        }
        let hash = self.content_hash();
        let n = chunks.len();
        Ok(chunks
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let mut payload = Map::new();
                payload.insert("title".into(), json!(self.title));
                if let Some(s) = &self.service_key {
                    payload.insert("service_key".into(), json!(s));
                }
                payload.insert("tags".into(), json!(self.tags));
                payload.insert("source_url".into(), json!(self.source_url));
                payload.insert("runbook_id".into(), json!(self.id));
                payload.insert("chunk".into(), json!(i));
                payload.insert("chunks".into(), json!(n));
                payload.insert("heading".into(), json!(c.heading));
                payload.insert("level".into(), json!(c.level));
                payload.insert("part".into(), json!(c.part));
                payload.insert("text".into(), json!(c.text));
                payload.insert("steps".into(), json!(c.steps));
                payload.insert("origin".into(), json!(origin));
                payload.insert("content_hash".into(), json!(hash));
                let text = format!(
                    "{}\n{}\n{}\n{}",
                    self.title,
                    self.tags.join(" "),
                    c.heading.as_deref().unwrap_or(""),
                    c.text
                );
                Document { collection: collections::RUNBOOKS, id: chunk_id(&self.id, i), text, payload }
            })
            .collect())
    }
}

/// The point id of chunk `index` of runbook `id`.
pub fn chunk_id(id: &str, index: usize) -> uuid::Uuid {
    derived_uuid(&["runbook", id, &index.to_string()])
}

/// One chunk of a runbook: a section, or a part of a long one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chunk {
    /// The section's heading text (`None` before the first heading).
    pub heading: Option<String>,
    /// `1` for `#`, ... `6`; `0` before the first heading.
    pub level: u8,
    /// `0` for a section's first chunk, then `1`, `2`, ... for the parts a long one is cut into.
    pub part: usize,
    /// The exact markdown of the chunk (the heading line included in part 0), so the
    /// chunks concatenated give the body back.
    pub text: String,
    /// The numbered and bulleted list items of the chunk, in order, markup removed.
    pub steps: Vec<String>,
}

fn fence_marker(line: &str) -> Option<&'static str> {
    let t = line.trim_start();
    if line.len() - t.len() > 3 {
        return None;
    }
    if t.starts_with("```") {
        Some("```")
    } else if t.starts_with("~~~") {
        Some("~~~")
    } else {
        None
    }
}

/// `(level, text)` of an ATX heading line (`## Failover`), outside code blocks.
fn heading(line: &str) -> Option<(u8, String)> {
    let t = line.trim_end_matches(['\n', '\r']);
    let trimmed = t.trim_start_matches(' ');
    if t.len() - trimmed.len() > 3 {
        return None;
    }
    let hashes = trimmed.chars().take_while(|c| *c == '#').count();
    if hashes == 0 || hashes > 6 {
        return None;
    }
    let rest = &trimmed[hashes..];
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    // A closing sequence of `#` is not part of the text.
    let text = rest.trim().trim_end_matches('#').trim_end();
    Some((hashes as u8, text.to_string()))
}

/// The text of a list item line (`- [ ] drain the node`, `2. restart`), markup removed.
fn list_item(line: &str) -> Option<String> {
    let t = line.trim();
    let rest = if let Some(r) = t.strip_prefix(['-', '*', '+']) {
        r
    } else {
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        t[digits..].strip_prefix(['.', ')'])?
    };
    if !(rest.starts_with([' ', '\t'])) {
        return None;
    }
    let mut item = rest.trim();
    for box_ in ["[ ]", "[x]", "[X]"] {
        if let Some(r) = item.strip_prefix(box_) {
            item = r.trim_start();
        }
    }
    // `* * *` and `- - -` are rules, not items.
    if item.is_empty() || item.chars().all(|c| matches!(c, '*' | '-' | '_' | ' ')) {
        return None;
    }
    Some(item.to_string())
}

/// The list items of `text`, skipping code blocks.
fn steps_of(text: &str) -> Vec<String> {
    let mut fence: Option<&str> = None;
    let mut steps = Vec::new();
    for line in text.lines() {
        if let Some(m) = fence_marker(line) {
            fence = match fence {
                Some(open) if open == m => None,
                None => Some(m),
                other => other,
            };
            continue;
        }
        if fence.is_none()
            && let Some(s) = list_item(line)
        {
            steps.push(s);
        }
    }
    steps
}

/// Paragraph blocks of a section (a fenced code block stays whole), for cutting.
fn blocks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    let mut fence: Option<&str> = None;
    for line in text.split_inclusive('\n') {
        offset += line.len();
        if let Some(m) = fence_marker(line) {
            fence = match fence {
                Some(open) if open == m => None,
                None => Some(m),
                other => other,
            };
        }
        if fence.is_none() && line.trim().is_empty() {
            out.push(&text[start..offset]);
            start = offset;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// `text` cut into pieces of at most `cap` characters, at line then character boundaries.
fn cut_hard(text: &str, cap: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.split_inclusive('\n') {
        if cur.chars().count() + line.chars().count() > cap && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        if line.chars().count() > cap {
            let chars: Vec<char> = line.chars().collect();
            for piece in chars.chunks(cap) {
                out.push(piece.iter().collect());
            }
        } else {
            cur.push_str(line);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A section's text in parts of at most `cap` characters, paragraphs kept together when they fit.
fn cut(text: &str, cap: usize) -> Vec<String> {
    if text.chars().count() <= cap {
        return vec![text.to_string()];
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    for block in blocks(text) {
        let len = block.chars().count();
        if cur.chars().count() + len > cap && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        if len > cap {
            out.extend(cut_hard(block, cap));
        } else {
            cur.push_str(block);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Cut a markdown body into chunks: one per ATX heading (`#` to `######`, not inside
/// code blocks), the text before the first heading its own chunk unless blank (then it
/// goes with the first section), each cut into parts of at most `cap` characters.
pub fn chunk(body: &str, cap: usize) -> Vec<Chunk> {
    let cap = cap.max(1);
    let mut sections: Vec<(Option<String>, u8, String)> = Vec::new();
    let mut cur = (None, 0u8, String::new());
    let mut fence: Option<&str> = None;
    for line in body.split_inclusive('\n') {
        if let Some(m) = fence_marker(line) {
            fence = match fence {
                Some(open) if open == m => None,
                None => Some(m),
                other => other,
            };
        } else if fence.is_none()
            && let Some((level, text)) = heading(line)
        {
            let prev = std::mem::replace(&mut cur, (Some(text), level, String::new()));
            if prev.0.is_some() || !prev.2.trim().is_empty() {
                sections.push(prev);
            } else {
                cur.2.push_str(&prev.2);
            }
        }
        cur.2.push_str(line);
    }
    if cur.0.is_some() || !cur.2.trim().is_empty() {
        sections.push(cur);
    } else if let Some(last) = sections.last_mut() {
        last.2.push_str(&cur.2);
    }
    let mut out = Vec::new();
    for (heading, level, text) in sections {
        for (part, piece) in cut(&text, cap).into_iter().enumerate() {
            out.push(Chunk { heading: heading.clone(), level, part, steps: steps_of(&piece), text: piece });
        }
    }
    out
}

/// One section of a stored runbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub heading: Option<String>,
    pub level: u8,
    pub text: String,
    pub steps: Vec<String>,
}

/// A runbook as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: String,
    pub title: String,
    pub service_key: Option<String>,
    pub tags: Vec<String>,
    pub source_url: Option<String>,
    /// `api`, or `folder:<canonical dir>` for folder sync.
    pub origin: String,
    pub chunks: usize,
    pub content_hash: String,
}

/// A runbook rebuilt from its chunks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    #[serde(flatten)]
    pub summary: Summary,
    pub body: String,
    pub sections: Vec<Section>,
}

fn text(p: &Map<String, Value>, key: &str) -> Option<String> {
    p.get(key).and_then(Value::as_str).map(str::to_string)
}

fn index(p: &StoredPoint) -> u64 {
    p.payload.get("chunk").and_then(Value::as_u64).unwrap_or(u64::MAX)
}

/// Rebuild a runbook from its points (any order); `None` without any.
pub fn rebuild(mut points: Vec<StoredPoint>) -> Option<Stored> {
    points.sort_by_key(index);
    let first = points.first()?.payload.clone();
    let summary = Summary {
        id: text(&first, "runbook_id").unwrap_or_default(),
        title: text(&first, "title").unwrap_or_default(),
        service_key: text(&first, "service_key"),
        tags: first
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        source_url: text(&first, "source_url"),
        origin: text(&first, "origin").unwrap_or_default(),
        chunks: points.len(),
        content_hash: text(&first, "content_hash").unwrap_or_default(),
    };
    let mut body = String::new();
    let mut sections: Vec<Section> = Vec::new();
    for p in &points {
        let t = text(&p.payload, "text").unwrap_or_default();
        let steps: Vec<String> = p
            .payload
            .get("steps")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        body.push_str(&t);
        let part = p.payload.get("part").and_then(Value::as_u64).unwrap_or(0);
        match sections.last_mut() {
            Some(s) if part > 0 => {
                s.text.push_str(&t);
                s.steps.extend(steps);
            }
            _ => sections.push(Section {
                heading: text(&p.payload, "heading"),
                level: p.payload.get("level").and_then(Value::as_u64).unwrap_or(0) as u8,
                text: t,
                steps,
            }),
        }
    }
    Some(Stored { summary, body, sections })
}

fn by_id(id: &str) -> PayloadFilter {
    PayloadFilter::default().any_of("runbook_id", vec![json!(id)])
}

/// The stored chunks of runbook `id`.
pub async fn points(stores: &Stores, id: &str) -> Result<Vec<StoredPoint>, StoreError> {
    stores.semantic.points(collections::RUNBOOKS, &by_id(id), MAX_CHUNKS * 2).await
}

/// Runbook `id` rebuilt from its chunks.
pub async fn get(stores: &Stores, id: &str) -> Result<Option<Stored>, StoreError> {
    Ok(rebuild(points(stores, id).await?))
}

/// Every runbook of the project, by id. Points without a `runbook_id` (a fixture's
/// runbooks, one point each) are not runbooks of this API and are left out.
pub async fn list(stores: &Stores) -> Result<Vec<Summary>, StoreError> {
    let all = stores.semantic.points(collections::RUNBOOKS, &PayloadFilter::default(), LIST_LIMIT).await?;
    let mut grouped: BTreeMap<String, Vec<StoredPoint>> = BTreeMap::new();
    for p in all {
        if let Some(id) = text(&p.payload, "runbook_id") {
            grouped.entry(id).or_default().push(p);
        }
    }
    Ok(grouped.into_values().filter_map(rebuild).map(|s| s.summary).collect())
}

/// What `put` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Written {
    pub chunks: usize,
    /// Chunks of the previous version past the new end, removed.
    pub removed: u64,
}

/// Write `runbook` as `origin`: its chunks are upserted (ids from the runbook id and
/// index, so a chunk overwrites the previous version's), then chunks of `previous`
/// past the new end are deleted, so a shorter version leaves no orphan. A failure
/// between the two leaves the new chunks and some old ones; writing again repairs it.
pub async fn put(
    stores: &Stores,
    runbook: &Runbook,
    origin: &str,
    previous: &[StoredPoint],
) -> Result<Written, FeedError> {
    let docs = runbook.documents(origin)?;
    stores.semantic.ensure_collection(collections::RUNBOOKS, stores.embedder.dim()).await?;
    for batch in docs.chunks(64) {
        let texts: Vec<String> = batch.iter().map(|d| d.text.clone()).collect();
        let vectors = stores.embedder.embed(&texts).await?;
        let points: Vec<_> = batch
            .iter()
            .zip(vectors)
            .map(|(d, v)| vector_point(d.id, v, d.payload.clone(), stores.embedder.model()))
            .collect();
        stores.semantic.upsert(collections::RUNBOOKS, &points).await?;
    }
    let stale: Vec<Value> = previous.iter().map(index).filter(|i| *i >= docs.len() as u64).map(Value::from).collect();
    let removed = if stale.is_empty() {
        0
    } else {
        stores.semantic.delete(collections::RUNBOOKS, &by_id(&runbook.id).any_of("chunk", stale)).await?
    };
    Ok(Written { chunks: docs.len(), removed })
}

/// Remove every chunk of runbook `id`; how many were removed.
pub async fn delete(stores: &Stores, id: &str) -> Result<u64, StoreError> {
    stores.semantic.delete(collections::RUNBOOKS, &by_id(id)).await
}

/// The origin folder sync marks its runbooks with.
pub fn folder_origin(canonical_dir: &Path) -> String {
    format!("folder:{}", canonical_dir.display())
}

/// What a folder sync did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncSummary {
    pub origin: String,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub deleted: Vec<String>,
    /// `(file, why)` of files not synced: invalid, or an id another origin holds.
    pub failed: Vec<(String, String)>,
}

/// Sync `files` (relative path, text), read from the folder `origin` names: each
/// becomes the runbook of its path's id; runbooks of `origin` whose file is not among
/// them are deleted. An invalid file is reported and keeps its stored runbook; an id
/// written by another origin (the API, another folder) is not taken over.
pub async fn sync(
    stores: &Stores,
    origin: &str,
    files: &[(std::path::PathBuf, String)],
) -> Result<SyncSummary, StoreError> {
    let mut summary = SyncSummary { origin: origin.to_string(), ..Default::default() };
    let existing: BTreeMap<String, Summary> = list(stores).await?.into_iter().map(|s| (s.id.clone(), s)).collect();
    let mut seen = BTreeSet::new();
    for (path, text) in files {
        let file = path.display().to_string();
        let id = id_of_path(path);
        seen.insert(id.clone());
        let runbook = match Runbook::parse(&id, Fields::default(), text) {
            Ok(r) => r,
            Err(e) => {
                summary.failed.push((file, e.to_string()));
                continue;
            }
        };
        let before = existing.get(&id);
        if let Some(b) = before {
            if b.origin != origin {
                summary.failed.push((file, format!("runbook '{id}' is held by origin '{}'", b.origin)));
                continue;
            }
            if b.content_hash == runbook.content_hash() {
                summary.unchanged.push(id);
                continue;
            }
        }
        let previous = if before.is_some() { points(stores, &id).await? } else { Vec::new() };
        match put(stores, &runbook, origin, &previous).await {
            Ok(_) if before.is_some() => summary.updated.push(id),
            Ok(_) => summary.created.push(id),
            Err(FeedError::Store(e)) => return Err(e),
            Err(e) => summary.failed.push((file, e.to_string())),
        }
    }
    for (id, s) in &existing {
        if s.origin == origin && !seen.contains(id) {
            delete(stores, id).await?;
            summary.deleted.push(id.clone());
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(md: &str) -> Result<Runbook, FeedError> {
        Runbook::parse("db/failover", Fields::default(), md)
    }

    fn field(e: FeedError) -> String {
        match e {
            FeedError::Invalid { field, .. } => field,
            other => panic!("not an invalid-input error: {other}"),
        }
    }

    #[test]
    fn front_matter_gives_the_fields() {
        let r = parse(
            "---\ntitle: Postgres failover\nservice: payments\ntags: [db, postgres]\nsource_url: https://wiki.example.com/failover\nowner: dba-team\n---\n# Steps\n1. promote the replica\n",
        )
        .expect("valid runbook");
        assert_eq!(r.title, "Postgres failover");
        assert_eq!(r.service_key.as_deref(), Some("default/default/payments"));
        assert_eq!(r.tags, vec!["db", "postgres"]);
        assert_eq!(r.source_url.as_deref(), Some("https://wiki.example.com/failover"));
        assert_eq!(r.body, "# Steps\n1. promote the replica\n");
    }

    #[test]
    fn tags_may_be_one_comma_separated_string_and_fields_win() {
        let fields = Fields { title: Some("Given".into()), ..Default::default() };
        let r = Runbook::parse("x", fields, "---\ntitle: In the file\ntags: db, cache , db\n---\nbody\n")
            .expect("valid runbook");
        assert_eq!(r.title, "Given");
        assert_eq!(r.tags, vec!["db", "cache"]);
    }

    #[test]
    fn a_missing_title_names_title() {
        assert_eq!(field(parse("---\nservice: payments\n---\n# Steps\n").expect_err("no title")), "title");
        assert_eq!(field(parse("# Just markdown\n").expect_err("no title")), "title");
    }

    #[test]
    fn bad_yaml_names_the_front_matter() {
        assert_eq!(field(parse("---\ntitle: [unclosed\n---\nbody\n").expect_err("bad yaml")), "front_matter");
        assert_eq!(field(parse("---\ntitle: x\nbody without an end\n").expect_err("unclosed")), "front_matter");
        assert_eq!(field(parse("---\ntitle: {a: 1}\n---\nbody\n").expect_err("title not text")), "front_matter");
    }

    #[test]
    fn bad_fields_are_named() {
        assert_eq!(field(parse("---\ntitle: t\nsource_url: wiki/page\n---\nb\n").expect_err("url")), "source_url");
        assert_eq!(field(parse("---\ntitle: t\n---\n\n  \n").expect_err("empty")), "body");
        assert_eq!(field(Runbook::parse("../x", Fields::default(), "b").expect_err("id")), "id");
        assert_eq!(field(Runbook::parse("a b", Fields::default(), "b").expect_err("id")), "id");
    }

    #[test]
    fn secrets_are_redacted_before_chunking() {
        let r = parse("---\ntitle: t\n---\nlog in with password=hunter2hunter2 then restart\n").expect("valid");
        assert!(!r.body.contains("hunter2"), "{}", r.body);
        let docs = r.documents("api").expect("documents");
        assert!(docs.iter().all(|d| !d.text.contains("hunter2")));
    }

    #[test]
    fn chunks_follow_headings_and_give_the_body_back() {
        let body = "Intro line.\n\n# Failover\n\nWhen the primary is down:\n\n1. Promote the replica\n2) Repoint the pool\n   - check `pg_stat_replication`\n\n```sh\n# not a heading\n- not a step\n```\n\n## Rollback ##\n- [ ] demote\n- [x] verify\n* * *\n";
        let chunks = chunk(body, MAX_CHUNK_CHARS);
        let headings: Vec<_> = chunks.iter().map(|c| c.heading.as_deref()).collect();
        assert_eq!(headings, vec![None, Some("Failover"), Some("Rollback")]);
        assert_eq!(chunks.iter().map(|c| c.level).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(chunks[1].steps, vec!["Promote the replica", "Repoint the pool", "check `pg_stat_replication`"]);
        assert_eq!(chunks[2].steps, vec!["demote", "verify"]);
        assert_eq!(chunks.iter().map(|c| c.text.as_str()).collect::<String>(), body);
    }

    #[test]
    fn a_blank_preamble_joins_the_first_section() {
        let chunks = chunk("\n\n# Only\ntext\n", 100);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, "\n\n# Only\ntext\n");
    }

    #[test]
    fn long_sections_are_cut_at_paragraphs_under_the_cap() {
        let para = "word ".repeat(30) + "\n\n";
        let body = format!("# Long\n\n{}", para.repeat(10));
        let chunks = chunk(&body, 400);
        assert!(chunks.len() > 3, "{} chunks", chunks.len());
        assert!(chunks.iter().all(|c| c.text.chars().count() <= 400));
        assert!(chunks.iter().all(|c| c.heading.as_deref() == Some("Long")));
        assert_eq!(chunks.iter().map(|c| c.part).collect::<Vec<_>>(), (0..chunks.len()).collect::<Vec<_>>());
        assert_eq!(chunks.iter().map(|c| c.text.as_str()).collect::<String>(), body);
        // A single line longer than the cap is cut too.
        let chunks = chunk(&"x".repeat(1000), 300);
        assert_eq!(chunks.len(), 4);
    }

    #[test]
    fn documents_rebuild_into_the_runbook() {
        let r = parse("---\ntitle: Cache\ntags: [redis]\n---\n# One\n- a\n# Two\n1. b\n").expect("valid");
        let docs = r.documents("folder:/srv/runbooks").expect("documents");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].id, chunk_id("db/failover", 1));
        assert_ne!(docs[0].id, docs[1].id);
        let points: Vec<StoredPoint> =
            docs.iter().rev().map(|d| StoredPoint { id: d.id, payload: d.payload.clone() }).collect();
        let back = rebuild(points).expect("rebuilt");
        assert_eq!(back.body, r.body);
        assert_eq!(back.summary.title, "Cache");
        assert_eq!(back.summary.origin, "folder:/srv/runbooks");
        assert_eq!(back.summary.content_hash, r.content_hash());
        assert_eq!(back.sections.len(), 2);
        assert_eq!(back.sections[1].steps, vec!["b"]);
    }

    #[test]
    fn ids_of_paths() {
        assert_eq!(id_of_path(Path::new("db/Postgres failover.md")), "db/Postgres-failover");
        assert_eq!(id_of_path(Path::new("cache.md")), "cache");
    }
}
