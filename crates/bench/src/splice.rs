//! Puts each section's generated results into the README between its markers
//! (`<!-- bench:NAME -->` ... `<!-- /bench:NAME -->`), so that the published tables are the
//! output of one bench run, never copied by hand.

use std::path::Path;

/// Replaces every marked block of `text` by the section file of the same name in `from`; a
/// block whose section has never been run keeps its text.
pub fn splice(text: &str, from: &Path) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = text;
    let mut blocks = 0;
    while let Some(start) = rest.find("<!-- bench:") {
        let after = &rest[start + "<!-- bench:".len()..];
        let name_end = after
            .find(" -->")
            .ok_or_else(|| anyhow::anyhow!("an unterminated `<!-- bench:` marker"))?;
        let name = &after[..name_end];
        let open = format!("<!-- bench:{name} -->");
        let close = format!("<!-- /bench:{name} -->");
        let inner_start = start + open.len();
        let end = rest[inner_start..]
            .find(&close)
            .map(|i| inner_start + i)
            .ok_or_else(|| anyhow::anyhow!("`{open}` has no closing `{close}`"))?;
        let path = from.join(format!("{name}.md"));
        if !path.exists() {
            eprintln!(
                "{}: none yet (`scripts/bench.sh {name}` writes it): its README block is left as it is",
                path.display()
            );
            out.push_str(&rest[..end + close.len()]);
            rest = &rest[end + close.len()..];
            blocks += 1;
            continue;
        }
        let section = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        anyhow::ensure!(
            !section.contains("**Reduced size"),
            "{} comes from a reduced-size run: only full-size results go into the README",
            path.display()
        );
        out.push_str(&rest[..inner_start]);
        out.push('\n');
        out.push_str(section.trim_end());
        out.push('\n');
        out.push_str(&close);
        rest = &rest[end + close.len()..];
        blocks += 1;
    }
    anyhow::ensure!(blocks > 0, "no `<!-- bench:NAME -->` block to fill");
    out.push_str(rest);
    Ok(out)
}

/// Splices `file` in place.
pub fn splice_file(file: &Path, from: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let new = splice(&text, from)?;
    if new != text {
        std::fs::write(file, new)?;
        eprintln!(
            "{}: bench tables updated from {}",
            file.display(),
            from.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_replaced_by_their_section_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("files.md"), "| a | b |\n").unwrap();
        let text = "intro\n<!-- bench:files -->\nold table\n<!-- /bench:files -->\nafter\n";
        assert_eq!(
            splice(text, dir.path()).unwrap(),
            "intro\n<!-- bench:files -->\n| a | b |\n<!-- /bench:files -->\nafter\n"
        );
    }

    #[test]
    fn reduced_runs_are_refused_and_sections_not_run_kept() {
        let dir = tempfile::tempdir().unwrap();
        let text = "<!-- bench:files -->\nkept\n<!-- /bench:files -->\n";
        assert_eq!(splice(text, dir.path()).unwrap(), text);
        std::fs::write(dir.path().join("files.md"), "**Reduced size: x**\n").unwrap();
        let err = splice(text, dir.path()).unwrap_err().to_string();
        assert!(err.contains("only full-size results"), "{err}");
        let err = splice("<!-- bench:files -->\n", dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no closing"), "{err}");
    }
}
