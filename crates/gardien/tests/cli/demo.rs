//! The README's first command: the guided walk runs to its end.

use crate::common::*;

#[test]
fn the_demo_walks_through_to_age_opening_the_export() {
    tool("age");
    let dir = tempfile::tempdir().unwrap();
    let out =
        std::process::Command::new(BIN).args(["demo", "--size-mib", "2", "--dir"]).arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // Every command is printed as a shell reads it back, and every result goes to stdout
    // (refusals too): a log of stdout tells the whole story. The ledger is summarised, not
    // dumped.
    assert!(stdout.contains("$ gardien client add lycee-hugo --name 'Lycée Victor Hugo'"), "{stdout}");
    assert!(stdout.lines().count() < 400, "the demo's output is for reading: {} lines", stdout.lines().count());
    for step in [
        "== 1.",
        "refused (OPS-2)",
        "registered key age1",
        "refused (LOC-1)",
        "opened contract hugo-trial",
        "ok      ds-",
        "refused (CONF-2",
        "DENY (CONF-2",
        "refused (CONF-4): the client must be fully informed",
        "approved ap-",
        "approval:decide",
        "opened.csv is byte for byte the original sample",
        "c2sp.org/tlog-proof@v1",
        "is in the log demo.gardien.example/gardien",
        "signed checkpoints verified",
        "pre-sales ended without a deal (lost) (PRE-6)",
        "was destroyed on",
        "destroyed: ",
        "BLOCKED",
        "# Certificat de destruction",
        "ok: certificate cert-",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in stdout:\n{stdout}");
    }
}
