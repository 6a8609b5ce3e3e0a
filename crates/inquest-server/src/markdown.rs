//! Server-side markdown rendering of reports; raw HTML in the markdown is escaped.

use pulldown_cmark::{Event, Options, Parser, html};

/// Render markdown to HTML. Raw HTML blocks and inline HTML become text, so a
/// report quoting a diff or a payload can never inject markup into the page.
pub fn render_markdown(md: &str) -> String {
    let parser = Parser::new_ext(md, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(|e| match e {
        Event::Html(t) | Event::InlineHtml(t) => Event::Text(t),
        other => other,
    });
    let mut out = String::with_capacity(md.len() * 3 / 2);
    html::push_html(&mut out, parser);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_tables_and_escapes_html() {
        let h = render_markdown("# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>alert(1)</script>\n");
        assert!(h.contains("<h1>Title</h1>"), "{h}");
        assert!(h.contains("<table>"), "{h}");
        assert!(!h.contains("<script>"), "{h}");
        assert!(h.contains("&lt;script&gt;"), "{h}");
    }
}
