//! The README's walk, run as written: every line a newcomer pastes works.

use crate::common::*;

#[test]
fn the_readme_walk_runs_as_written() {
    tool("age");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let walk = readme
        .split_once("<!-- walk:begin -->\n```bash\n")
        .and_then(|(_, rest)| rest.split_once("```\n<!-- walk:end -->"))
        .map(|(walk, _)| walk)
        .expect("the README has its walk between walk:begin and walk:end");
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = std::path::Path::new(BIN).parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{walk}"))
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("GARDIEN_DATA_DIR")
        .env_remove("GARDIEN_AS")
        .env_remove("GARDIEN_MASTER_KEY")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the README's walk failed ({}):\n{stdout}\n{stderr}", out.status);
    for needle in ["CREATE TABLE mdl_user", "exit 3: destroyed in the vault", "ok: certificate cert-", "ALLOW (CONF-4)"]
    {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}\n{stderr}");
    }
}
