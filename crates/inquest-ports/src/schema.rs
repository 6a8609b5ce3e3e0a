//! Splitting a schema file into statements, shared by the adapters that apply
//! `schemas/*` files one statement at a time (ClickHouse, Neo4j).

/// The statements of a schema file: lines starting with `comment` (`--` for SQL,
/// `//` for Cypher) dropped, then split on `;`, trimmed, empty ones left out.
/// A `;` inside a string literal would split it too; the schema files hold none.
pub fn statements(text: &str, comment: &str) -> Vec<String> {
    let without_comments: String =
        text.lines().filter(|l| !l.trim_start().starts_with(comment)).collect::<Vec<_>>().join("\n");
    without_comments.split(';').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_lines_are_dropped_and_statements_split_on_semicolons() {
        let sql = "-- a table\nCREATE TABLE a (x Int8);\n  -- indented comment\nCREATE TABLE b (y Int8);\n\n";
        assert_eq!(statements(sql, "--"), ["CREATE TABLE a (x Int8)", "CREATE TABLE b (y Int8)"]);
        let cypher = "// keys\nCREATE CONSTRAINT a IF NOT EXISTS\nFOR (n:A) REQUIRE n.k IS UNIQUE;\n";
        assert_eq!(statements(cypher, "//"), ["CREATE CONSTRAINT a IF NOT EXISTS\nFOR (n:A) REQUIRE n.k IS UNIQUE"]);
        assert!(statements("-- only a comment\n;\n", "--").is_empty());
    }

    #[test]
    fn a_comment_marker_of_the_other_language_is_kept() {
        assert_eq!(statements("// not sql\nSELECT 1;", "--"), ["// not sql\nSELECT 1"]);
    }
}
