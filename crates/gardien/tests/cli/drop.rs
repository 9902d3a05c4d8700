//! The secure drop (issue 11), through the real binary: `drop create|list|show|revoke`,
//! then `gardien serve` on loopback driven by real `curl` and `age`: the password, the tus
//! endpoint, what lands in the vault, and every refusal (PRE-1, PRE-2, PRE-3, OPS-3).
//! tuspy and tus-js-client run in `tests/drop/`, the browser in `tests/browser/`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::*;
use crate::serve::{Auth, Server};

/// A data dir with acme, its pre-sales case, the technical operator `TECH` and their
/// laptop, and a second technical operator.
fn drop_env() -> Env {
    let env = Env::new();
    env.with_tech();
    env.ok(&["person", "add", "other-tech", "--role", "technical-operator"]);
    env.ok(&["contract", "add", "acme-trial", "--client", "acme", "--presales-until", "2099-06-30"]);
    env
}

struct Drop {
    id: String,
    token: String,
    password: String,
    recipient: String,
}

fn open_drop(env: &Env, extra: &[&str]) -> Drop {
    let mut args = vec!["drop", "create", "--client", "acme", "--to", TECH, "--contract", "acme-trial", "--json"];
    args.extend_from_slice(extra);
    let j: Value = serde_json::from_str(&env.ok(&args)).unwrap();
    Drop {
        id: j["id"].as_str().unwrap().to_owned(),
        token: j["url"].as_str().unwrap().trim_start_matches("/d/").to_owned(),
        password: j["password"].as_str().unwrap().to_owned(),
        recipient: j["recipient"].as_str().unwrap().to_owned(),
    }
}

fn serve(env: &Env) -> Server {
    Server::spawn(env.cmd(&["serve", "--listen", "127.0.0.1:0"]), "http")
}

/// The upload token a password opens.
fn session(s: &Server, d: &Drop) -> String {
    let a = s.post_json(&format!("/d/{}/session", d.token), Auth::None, &serde_json::json!({"password": d.password}));
    assert_eq!(a.status, 200, "{a:?}");
    a.json()["upload_token"].as_str().unwrap().to_owned()
}

/// What curl answered: status, headers (lower-case names), body.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// `curl -sS -i` with tus's headers and the upload token; `args` add the method, headers
/// and body.
fn curl(s: &Server, token: &str, path: &str, args: &[&str]) -> Reply {
    let out = tool("curl")
        .args(["-sS", "-i", "-H", "Tus-Resumable: 1.0.0", "-H", &format!("Authorization: Bearer {token}")])
        .args(args)
        .arg(format!("{}{path}", s.base))
        .output()
        .unwrap();
    parse_reply(&String::from_utf8_lossy(&out.stdout))
}

fn parse_reply(text: &str) -> Reply {
    // The last response (curl prints a 100 Continue first for uploads).
    let start = text.rfind("HTTP/1.1 ").unwrap_or_else(|| panic!("no HTTP response in {text:?}"));
    let text = &text[start..];
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply { status, headers, body: body.to_owned() }
}

/// A PATCH of `args` (headers and body) at `url`, as tus sends it.
fn patch_with(s: &Server, token: &str, url: &str, args: &[&str]) -> Reply {
    let mut all = vec!["-X", "PATCH", "-H", "Content-Type: application/offset+octet-stream"];
    all.extend_from_slice(args);
    curl(s, token, url, &all)
}

fn age_encrypt(recipient: &str, input: &Path, output: &Path) {
    let st = tool("age").args(["-r", recipient, "-o"]).arg(output).arg(input).status().unwrap();
    assert!(st.success());
}

/// Creates an upload of `file` with its length and sends it whole (creation-with-upload).
fn send_whole(s: &Server, token: &str, file: &Path) -> Reply {
    let len = std::fs::metadata(file).unwrap().len().to_string();
    curl(
        s,
        token,
        "/tus",
        &[
            "-X",
            "POST",
            "-H",
            &format!("Upload-Length: {len}"),
            "-H",
            "Content-Type: application/offset+octet-stream",
            "-T",
            file.to_str().unwrap(),
        ],
    )
}

fn drop_json(env: &Env, id: &str) -> Value {
    serde_json::from_str(&env.ok(&["drop", "show", id, "--json"])).unwrap()
}

fn events(env: &Env, action: &str) -> Vec<String> {
    env.sql(&format!(
        "SELECT CAST(entry AS TEXT) FROM ledger_entries WHERE CAST(entry AS TEXT) LIKE '%action {action}%' ORDER BY idx"
    ))
    .split("gardien-event/v1")
    .filter(|e| !e.trim().is_empty())
    .map(str::to_owned)
    .collect()
}

#[test]
fn a_drop_is_addressed_to_an_active_technical_operator_and_its_secrets_are_kept_hashed() {
    let env = drop_env();
    // PRE-3: one addressee, an active technical operator.
    let e = env.fails(&["drop", "create", "--client", "acme", "--to", "operator", "--contract", "acme-trial"], 1);
    assert!(e.contains("PRE-3") && e.contains("technical operator"), "{e}");
    env.ok(&["person", "add", "gone", "--role", "technical-operator"]);
    env.ok(&["person", "disable", "gone"]);
    let e = env.fails(&["drop", "create", "--client", "acme", "--to", "gone", "--contract", "acme-trial"], 1);
    assert!(e.contains("disabled"), "{e}");
    // OPS-3: loading data once the contract is concluded.
    let e = env.fails(
        &["drop", "create", "--client", "acme", "--to", TECH, "--contract", "acme-trial", "--class", "loading-data"],
        1,
    );
    assert!(e.contains("OPS-3"), "{e}");
    // Another client's case, a class a drop does not take, a size and a date out of bounds.
    env.ok(&["client", "add", "beta", "--name", "Beta"]);
    let e = env.fails(&["drop", "create", "--client", "beta", "--to", TECH, "--contract", "acme-trial"], 1);
    assert!(e.contains("acme's, not beta's"), "{e}");
    env.fails(
        &["drop", "create", "--client", "acme", "--to", TECH, "--contract", "acme-trial", "--class", "backup"],
        1,
    );
    env.fails(
        &["drop", "create", "--client", "acme", "--to", TECH, "--contract", "acme-trial", "--max-size", "2PiB"],
        1,
    );
    env.fails(&["drop", "create", "--client", "acme", "--to", TECH, "--contract", "acme-trial", "--expires", "91d"], 1);
    // A client's people do not open drops (OPS-1).
    env.ok(&["person", "add", "admin-acme", "--role", "client-admin", "--client", "acme"]);
    let e = env.fails(
        &["--as", "admin-acme", "drop", "create", "--client", "acme", "--to", TECH, "--contract", "acme-trial"],
        4,
    );
    assert!(e.contains("refused"), "{e}");
    let d = open_drop(&env, &["--max-size", "500MiB", "--expires", "48h"]);
    assert!(d.token.len() >= 43, "a 256-bit token: {}", d.token);
    assert!(d.recipient.starts_with("age1"));
    // Neither the token nor the password is in the catalog.
    let db = env.catalog_bytes();
    assert!(!contains(&db, d.token.as_bytes()) && !contains(&db, d.password.as_bytes()));
    assert!(env.sql(&format!("SELECT password FROM drops WHERE id = '{}'", d.id)).starts_with("$argon2id$"));
    // Listed and shown to ops, the addressee and acme's admin; not to another technical
    // operator, to whom it answers as an unknown drop.
    for who in ["operator", TECH] {
        assert!(env.ok(&["--as", who, "drop", "list"]).contains(&d.id), "{who}");
    }
    for who in ["operator", TECH, "admin-acme"] {
        env.ok(&["--as", who, "drop", "show", &d.id]);
    }
    // The client's people name their client (OPS-1).
    env.fails(&["--as", "admin-acme", "drop", "list"], 4);
    assert!(env.ok(&["--as", "admin-acme", "drop", "list", "--client", "acme"]).contains(&d.id));
    assert!(!env.ok(&["--as", "other-tech", "drop", "list"]).contains(&d.id));
    // Another technical operator: the drop does not exist for them (PRE-3), as an unknown one.
    let hidden = env.fails(&["--as", "other-tech", "drop", "show", &d.id], 1);
    let unknown = env.fails(&["--as", "other-tech", "drop", "show", "dr-0000000000000000"], 1);
    assert_eq!(hidden.replace(&d.id, "ID"), unknown.replace("dr-0000000000000000", "ID"));
    env.fails(&["--as", "other-tech", "drop", "revoke", &d.id], 1);
    // Revoked by its addressee: it opens no more.
    env.ok(&["--as", TECH, "drop", "revoke", &d.id]);
    assert_eq!(drop_json(&env, &d.id)["state"], "revoked");
    env.fails(&["drop", "revoke", &d.id], 1);
}

#[test]
fn a_sample_sent_with_curl_lands_encrypted_addressed_to_its_technical_operator() {
    let env = drop_env();
    let d = open_drop(&env, &[]);
    let s = serve(&env);
    let token = session(&s, &d);
    // The plaintext carries a marker searched for everywhere afterwards.
    let mut plain = pseudo_random(3 * 1024 * 1024 + 123, 7);
    plain.extend_from_slice(b"MARQUEUR-ELEVE-CONFIDENTIEL-2026");
    std::fs::write(env.path("dump.sql"), &plain).unwrap();
    age_encrypt(&d.recipient, &env.path("dump.sql"), &env.path("dump.sql.age"));
    // An upload left half-way beside the one that lands: it ends with the drop.
    let spare = curl(&s, &token, "/tus/", &["-X", "POST", "-H", "Upload-Length: 1000"]);
    assert_eq!(spare.status, 201, "{spare:?}");
    let r = send_whole(&s, &token, &env.path("dump.sql.age"));
    assert_eq!(r.status, 201, "{r:?}");
    let location = r.header("location").unwrap().to_owned();
    assert!(location.starts_with("/tus/up-"), "{location}");
    assert_eq!(
        r.header("upload-offset"),
        Some(std::fs::metadata(env.path("dump.sql.age")).unwrap().len().to_string().as_str())
    );
    // The dataset: a sample of acme's, addressed to TECH, provided by acme, its blob the
    // uploaded age file itself.
    let dj = drop_json(&env, &d.id);
    assert_eq!(dj["state"], "received", "{dj}");
    let ds = dj["dataset"].as_str().unwrap().to_owned();
    let show = env.show(&ds);
    assert_eq!(show["class"], "presales-sample");
    assert_eq!(show["addressed_to"], TECH);
    assert_eq!(show["sha256"], sha256_hex(&plain));
    assert_eq!(show["size"], plain.len() as u64);
    assert_eq!(sha256_file(&env.blob(&ds)), sha256_file(&env.path("dump.sql.age")), "the blob is the file sent");
    // PRE-3: the technical operator takes it out to their test machine; nobody else.
    let out = env.path("out.sql");
    env.ok(&["--as", TECH, "copy", "out", &ds, "--to", "laptop-qa-3", "-o", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(&out).unwrap(), plain);
    let e = env.fails(&["--as", "other-tech", "dataset", "get", &ds], 4);
    assert!(e.contains("refused"), "{e}");
    // One drop, one file: the link opens no more, as an unknown one.
    let again =
        s.post_json(&format!("/d/{}/session", d.token), Auth::None, &serde_json::json!({"password": d.password}));
    let unknown = s.post_json(
        "/d/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/session",
        Auth::None,
        &serde_json::json!({"password": "x"}),
    );
    assert_eq!((again.status, again.body.clone()), (unknown.status, unknown.body.clone()));
    assert_eq!(again.status, 403);
    let more = send_whole(&s, &token, &env.path("dump.sql.age"));
    assert_eq!(more.status, 403, "the upload token of a used drop: {more:?}");
    // Every step is an event, in acme's log.
    for action in ["drop:create", "drop:open", "drop:upload", "drop:receive"] {
        let ev: Vec<String> = events(&env, action).into_iter().filter(|e| e.contains(&d.id)).collect();
        assert!(!ev.is_empty(), "no {action} event");
        assert!(ev.iter().all(|e| e.contains("resource client:acme")), "{action}: {ev:?}");
    }
    assert!(events(&env, "drop:receive")[0].contains(&format!("actor drop:{}", d.id)));
    assert!(events(&env, "drop:receive")[0].contains(&format!("resource dataset:{ds}")));
    env.ok(&["ledger", "verify"]);
    // No plaintext anywhere: the data dir, the temp dir, the server's log.
    drop(s);
    for f in walk(&env.data).into_iter().chain(walk(&env.tmp)) {
        assert!(!contains(&std::fs::read(&f).unwrap(), b"MARQUEUR-ELEVE"), "plaintext in {}", f.display());
    }
    assert!(walk(&env.data.join("drops")).is_empty(), "the upload's files are gone once it landed");
}

/// A sender who gives an address gets a receipt once the file is in (its size and the
/// SHA-256 of what they sent before encryption), and the addressee is told; a bad address
/// is refused and opens nothing; the ledger never holds the sender's address (issue 15).
#[test]
fn a_sender_who_gives_an_address_gets_a_receipt_and_the_addressee_is_told() {
    use crate::notify::{Sink, header, relay};
    let env = drop_env();
    env.ok(&["person", "contact", TECH, "--email", "tech@hebergeur.example", "--lang", "en"]);
    let d = open_drop(&env, &[]);
    let s = serve(&env);
    let path = format!("/d/{}/session", d.token);
    let bad = s.post_json(&path, Auth::None, &serde_json::json!({"password": d.password, "receipt": "not an address"}));
    assert_eq!(bad.status, 400, "{bad:?}");
    assert_eq!(env.sql("SELECT count(*) FROM drop_sessions"), "0", "a refused request opens nothing");
    let a = s.post_json(&path, Auth::None, &serde_json::json!({"password": d.password, "receipt": "dsi@acme.example"}));
    assert_eq!(a.status, 200, "{a:?}");
    let token = a.json()["upload_token"].as_str().unwrap().to_owned();
    let plain = b"MARQUEUR-ELEVE rows\n".repeat(1000);
    std::fs::write(env.path("rows.sql"), &plain).unwrap();
    age_encrypt(&d.recipient, &env.path("rows.sql"), &env.path("rows.sql.age"));
    assert_eq!(send_whole(&s, &token, &env.path("rows.sql.age")).status, 201);
    let sink = Sink::start(&env.path("mail"), 0);
    relay(&env, &sink);
    env.ok(&["notify", "flush"]);
    let m = sink.messages();
    assert_eq!(m.len(), 2, "{m:?}");
    let receipt = m.iter().find(|x| header(x, "X-Envelope-To") == Some("dsi@acme.example")).unwrap();
    assert!(
        header(receipt, "Subject").is_some_and(|s| s.contains("Accusé de réception") && s.contains(&d.id)),
        "{receipt}"
    );
    assert!(receipt.contains(&sha256_hex(&plain)) && receipt.contains(&plain.len().to_string()), "{receipt}");
    assert!(!receipt.contains("https://gardien.example"), "the sender has no portal account: no link");
    let told = m.iter().find(|x| header(x, "X-Envelope-To") == Some("tech@hebergeur.example")).unwrap();
    assert!(told.contains(&format!("https://gardien.example/drops/{}", d.id)), "{told}");
    assert!(m.iter().all(|x| !x.contains("MARQUEUR")));
    assert_eq!(env.sql("SELECT count(*) FROM event_details WHERE details LIKE '%dsi@%'"), "0");
}

#[test]
fn an_upload_resumes_after_a_cut_and_a_pipe_of_unknown_length_lands() {
    let env = drop_env();
    let s = serve(&env);
    // 1. A declared length, sent in two PATCHes; a PATCH at the wrong offset is 409.
    let d = open_drop(&env, &[]);
    let token = session(&s, &d);
    let plain = pseudo_random(2 * 1024 * 1024 + 5, 11);
    std::fs::write(env.path("a.bin"), &plain).unwrap();
    age_encrypt(&d.recipient, &env.path("a.bin"), &env.path("a.age"));
    let file = std::fs::read(env.path("a.age")).unwrap();
    let c = curl(&s, &token, "/tus/", &["-X", "POST", "-H", &format!("Upload-Length: {}", file.len())]);
    assert_eq!(c.status, 201, "{c:?}");
    assert!(c.header("upload-offset").is_none());
    let url = c.header("location").unwrap().to_owned();
    let half = file.len() / 2 + 7;
    std::fs::write(env.path("first"), &file[..half]).unwrap();
    std::fs::write(env.path("rest"), &file[half..]).unwrap();
    let patch = |offset: usize, part: &str| {
        patch_with(
            &s,
            &token,
            &url,
            &["-H", &format!("Upload-Offset: {offset}"), "--data-binary", &format!("@{}", env.path(part).display())],
        )
    };
    let p1 = patch(0, "first");
    assert_eq!((p1.status, p1.header("upload-offset")), (204, Some(half.to_string().as_str())), "{p1:?}");
    let wrong = patch(half + 1, "rest");
    assert_eq!(wrong.status, 409, "{wrong:?}");
    let head = curl(&s, &token, &url, &["-I"]);
    assert_eq!(head.header("upload-offset"), Some(half.to_string().as_str()), "{head:?}");
    assert_eq!(head.header("upload-length"), Some(file.len().to_string().as_str()));
    assert!(head.header("upload-expires").is_some_and(|e| e.ends_with("GMT")), "{head:?}");
    assert_eq!(head.header("cache-control"), Some("no-store"));
    let p2 = patch(half, "rest");
    assert_eq!(p2.status, 204, "{p2:?}");
    let ds = drop_json(&env, &d.id)["dataset"].as_str().unwrap().to_owned();
    assert_eq!(env.show(&ds)["sha256"], sha256_hex(&plain));

    // 2. A pipe through age, of unknown length (creation-defer-length, chunked), then the
    // length declared by an empty PATCH. The drop takes up to 1 TiB, more than this disk
    // has free: the upload's own reservation (its drop's maximum, while its length is not
    // known) is not counted against the length it declares.
    let d2 = open_drop(&env, &["--max-size", "1TiB"]);
    let token2 = session(&s, &d2);
    let plain2 = pseudo_random(1_500_000, 12);
    std::fs::write(env.path("b.bin"), &plain2).unwrap();
    let script = format!(
        "age -r {} < {} | curl -sS -i -X POST -H 'Tus-Resumable: 1.0.0' -H 'Authorization: Bearer {token2}' \
         -H 'Upload-Defer-Length: 1' -H 'Content-Type: application/offset+octet-stream' -T - {}/tus",
        d2.recipient,
        env.path("b.bin").display(),
        s.base
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let r = parse_reply(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(r.status, 201, "{r:?} {}", String::from_utf8_lossy(&out.stderr));
    let n = r.header("upload-offset").unwrap().to_owned();
    let url2 = r.header("location").unwrap().to_owned();
    assert_eq!(drop_json(&env, &d2.id)["state"], "open", "not complete until its length is known");
    let head = curl(&s, &token2, &url2, &["-I"]);
    assert_eq!(head.header("upload-defer-length"), Some("1"), "{head:?}");
    let end = patch_with(
        &s,
        &token2,
        &url2,
        &["-H", &format!("Upload-Offset: {n}"), "-H", &format!("Upload-Length: {n}"), "--data-binary", ""],
    );
    assert_eq!(end.status, 204, "{end:?}");
    let ds2 = drop_json(&env, &d2.id)["dataset"].as_str().unwrap().to_owned();
    assert_eq!(env.show(&ds2)["sha256"], sha256_hex(&plain2));
}

#[test]
fn wrong_passwords_files_and_lengths_are_refused_and_nothing_lands() {
    let env = drop_env();
    let s = serve(&env);
    let open = |token: &str, pw: &str| {
        s.post_json(&format!("/d/{token}/session"), Auth::None, &serde_json::json!({"password": pw}))
    };
    // Five wrong passwords revoke the drop (PRE-2); the right one then opens nothing, and
    // every refusal reads as an unknown link's.
    let d = open_drop(&env, &[]);
    let unknown = open("nonexistent-token", "whatever");
    for i in 1..=5 {
        let a = open(&d.token, "wrong-password");
        assert_eq!((a.status, a.body.clone()), (unknown.status, unknown.body.clone()), "attempt {i}");
    }
    let a = open(&d.token, &d.password);
    assert_eq!((a.status, a.body.clone()), (unknown.status, unknown.body.clone()), "revoked");
    let dj = drop_json(&env, &d.id);
    assert_eq!(dj["state"], "revoked");
    assert_eq!(dj["end_reason"], "5 wrong passwords");
    assert_eq!(events(&env, "drop:open").len(), 7);
    let revoked = events(&env, "drop:revoke");
    assert!(revoked.len() == 1 && revoked[0].contains(&format!("actor drop:{}", d.id)), "{revoked:?}");
    assert!(s.log_text().contains("kind=drop"), "the fail2ban line");

    let d = open_drop(&env, &["--max-size", "1MiB"]);
    let token = session(&s, &d);
    // A declared length above the drop's maximum: 413 before a byte.
    let big = curl(&s, &token, "/tus/", &["-X", "POST", "-H", "Upload-Length: 1048577"]);
    assert_eq!(big.status, 413, "{big:?}");
    // A file that is not age, and an age file for another key: 422, nothing kept.
    std::fs::write(env.path("plain.sql"), b"-- MySQL dump 10.13\nINSERT INTO eleves VALUES ('Jeanne');\n").unwrap();
    let r = send_whole(&s, &token, &env.path("plain.sql"));
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.body.contains("age file"), "{}", r.body);
    let other = age_keygen(&env.path("other.key"));
    std::fs::write(env.path("p.bin"), pseudo_random(100_000, 3)).unwrap();
    age_encrypt(&other, &env.path("p.bin"), &env.path("other.age"));
    let r = send_whole(&s, &token, &env.path("other.age"));
    assert_eq!(r.status, 422, "{r:?}");
    // A file cut short (its last chunk missing bytes) or altered: 422.
    age_encrypt(&d.recipient, &env.path("p.bin"), &env.path("good.age"));
    let good = std::fs::read(env.path("good.age")).unwrap();
    std::fs::write(env.path("cut.age"), &good[..good.len() - 10]).unwrap();
    let r = send_whole(&s, &token, &env.path("cut.age"));
    assert_eq!(r.status, 422, "{r:?}");
    let mut bad = good.clone();
    let i = bad.len() / 2;
    bad[i] ^= 0x40;
    std::fs::write(env.path("bad.age"), &bad).unwrap();
    let r = send_whole(&s, &token, &env.path("bad.age"));
    assert_eq!(r.status, 422, "{r:?}");
    // A chunk whose checksum does not match: 460, the offset does not move.
    let c = curl(&s, &token, "/tus/", &["-X", "POST", "-H", &format!("Upload-Length: {}", good.len())]);
    let url = c.header("location").unwrap().to_owned();
    std::fs::write(env.path("chunk"), &good[..4096]).unwrap();
    let wrong_sum = patch_with(
        &s,
        &token,
        &url,
        &[
            "-H",
            "Upload-Offset: 0",
            "-H",
            "Upload-Checksum: sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "--data-binary",
            &format!("@{}", env.path("chunk").display()),
        ],
    );
    assert_eq!(wrong_sum.status, 460, "{wrong_sum:?}");
    assert_eq!(curl(&s, &token, &url, &["-I"]).header("upload-offset"), Some("0"));
    // Nothing landed; the drop is still open for a good file, which then lands.
    assert_eq!(drop_json(&env, &d.id)["state"], "open");
    assert_eq!(env.sql("SELECT count(*) FROM datasets"), "0");
    let refusals = events(&env, "drop:receive");
    assert_eq!(refusals.len(), 4, "{refusals:?}");
    assert!(refusals.iter().all(|e| e.contains("outcome failed")));
    let r = send_whole(&s, &token, &env.path("good.age"));
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(drop_json(&env, &d.id)["state"], "received");
    // Nothing of the refused files remains but the one partial upload's.
    let left: Vec<_> = walk(&env.data.join("drops"));
    assert!(left.iter().all(|p| p.to_string_lossy().contains(url.trim_start_matches("/tus/"))), "{left:?}");
}

#[test]
fn two_patches_at_once_one_waits_and_a_killed_server_resumes_from_what_was_durable() {
    let env = drop_env();
    let mut s = serve(&env);
    let d = open_drop(&env, &[]);
    let token = session(&s, &d);
    let plain = pseudo_random(24 * 1024 * 1024, 21);
    std::fs::write(env.path("big.bin"), &plain).unwrap();
    age_encrypt(&d.recipient, &env.path("big.bin"), &env.path("big.age"));
    let len = std::fs::metadata(env.path("big.age")).unwrap().len();
    let c = curl(&s, &token, "/tus/", &["-X", "POST", "-H", &format!("Upload-Length: {len}")]);
    let url = c.header("location").unwrap().to_owned();
    // A slow PATCH holds the upload...
    let slow = tool("curl")
        .args(["-sS", "-o", "/dev/null", "--limit-rate", "2M", "-X", "PATCH"])
        .args(["-H", "Tus-Resumable: 1.0.0", "-H", &format!("Authorization: Bearer {token}")])
        .args(["-H", "Content-Type: application/offset+octet-stream", "-H", "Upload-Offset: 0"])
        .arg("--data-binary")
        .arg(format!("@{}", env.path("big.age").display()))
        .arg(format!("{}{url}", s.base))
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // ...so a second one at once is refused (423), and changes nothing.
    std::fs::write(env.path("one"), b"x").unwrap();
    let second = patch_with(
        &s,
        &token,
        &url,
        &["-H", "Upload-Offset: 0", "--data-binary", &format!("@{}", env.path("one").display())],
    );
    assert!(matches!(second.status, 423 | 409), "{second:?}");
    // kill -9 of the server mid-PATCH: what was made durable stays.
    std::thread::sleep(std::time::Duration::from_millis(3000));
    s.kill9();
    let mut slow = slow;
    let _ = slow.wait();
    let s = serve(&env);
    let head = curl(&s, &token, &url, &["-I"]);
    let offset: u64 = head.header("upload-offset").unwrap().parse().unwrap();
    assert!(offset < len, "{head:?}");
    let file = std::fs::read(env.path("big.age")).unwrap();
    std::fs::write(env.path("tail"), &file[offset as usize..]).unwrap();
    let rest = patch_with(
        &s,
        &token,
        &url,
        &["-H", &format!("Upload-Offset: {offset}"), "--data-binary", &format!("@{}", env.path("tail").display())],
    );
    assert_eq!(rest.status, 204, "{rest:?}");
    let ds = drop_json(&env, &d.id)["dataset"].as_str().unwrap().to_owned();
    assert_eq!(env.show(&ds)["sha256"], sha256_hex(&plain));
}

#[test]
fn an_expired_drop_answers_as_an_unknown_one_and_its_partial_uploads_are_deleted() {
    let env = drop_env();
    let d = open_drop(&env, &["--expires", "2h"]);
    let s = serve(&env);
    let token = session(&s, &d);
    let c = curl(&s, &token, "/tus/", &["-X", "POST", "-H", "Upload-Length: 100000"]);
    assert_eq!(c.status, 201);
    assert_eq!(walk(&env.data.join("drops")).len(), 2, "the upload's bytes and its offset");
    drop(s);
    // Three hours later: the server ends the drop and deletes its partial upload at start.
    let mut cmd = Command::new("faketime");
    cmd.args(["-f", "+3h"]).arg(bin()).env("GARDIEN_DATA_DIR", &env.data).args(["serve", "--listen", "127.0.0.1:0"]);
    let s = Server::spawn(cmd, "http");
    for _ in 0..100 {
        if drop_json(&env, &d.id)["state"] == "expired" && walk(&env.data.join("drops")).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(drop_json(&env, &d.id)["state"], "expired", "{}", s.log_text());
    assert!(walk(&env.data.join("drops")).is_empty());
    let a = s.post_json(&format!("/d/{}/session", d.token), Auth::None, &serde_json::json!({"password": d.password}));
    let u = s.post_json("/d/nothing-here/session", Auth::None, &serde_json::json!({"password": d.password}));
    assert_eq!((a.status, a.body), (u.status, u.body));
    assert_eq!(curl(&s, &token, "/tus/", &["-X", "POST", "-H", "Upload-Length: 10"]).status, 403);
    assert_eq!(events(&env, "drop:expire").len(), 2, "the drop and its upload");
}

/// The staff opens, follows and revokes drops from the portal; a client's admin sees its
/// client's; another client's admin gets the unknown-drop page.
#[test]
fn the_portal_opens_shows_and_revokes_drops() {
    let env = drop_env();
    crate::serve::set_password(&env, TECH, crate::serve::PASSWORD);
    env.ok(&["client", "add", "beta", "--name", "Beta"]);
    crate::serve::person(&env, "admin-acme", "client-admin", Some("acme"));
    crate::serve::person(&env, "admin-beta", "client-admin", Some("beta"));
    let s = Server::start(&env);
    let tech = s.login(TECH, crate::serve::PASSWORD);
    let list = s.get("/drops", Auth::Cookie(&tech));
    assert_eq!(list.status, 200, "{list:?}");
    let csrf = list.body.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let made = s.post_form(
        "/drops",
        Auth::Cookie(&tech),
        &[
            ("csrf", &csrf),
            ("client", "acme"),
            ("to", TECH),
            ("contract", "acme-trial"),
            ("class", "presales-sample"),
            ("expires", "3d"),
            ("max_size", "2GiB"),
            ("label", "export Moodle"),
        ],
    );
    assert_eq!(made.status, 200, "{made:?}");
    assert!(made.body.contains("/d/") && made.body.contains("PRE-2"), "{}", made.body);
    let id = made.body.split("/drops/").nth(1).unwrap().split('"').next().unwrap().to_owned();
    // The link on the page opens the drop with the password shown beside it.
    let link = made.body.split("<code>").nth(1).unwrap().split("</code>").next().unwrap().to_owned();
    let token = link.rsplit("/d/").next().unwrap().to_owned();
    let pw = made.body.split("<code>").nth(2).unwrap().split("</code>").next().unwrap().to_owned();
    let open = s.post_json(&format!("/d/{token}/session"), Auth::None, &serde_json::json!({"password": pw}));
    assert_eq!(open.status, 200, "{open:?}");
    // A bad form changes nothing and says why.
    let bad = s.post_form(
        "/drops",
        Auth::Cookie(&tech),
        &[
            ("csrf", &csrf),
            ("client", "acme"),
            ("to", "admin-acme"),
            ("contract", "acme-trial"),
            ("class", "presales-sample"),
            ("expires", "3d"),
            ("max_size", "2GiB"),
        ],
    );
    assert!(bad.body.contains("PRE-3"), "{bad:?}");
    let admin = s.login("admin-acme", crate::serve::PASSWORD);
    let seen = s.get(&format!("/drops/{id}"), Auth::Cookie(&admin));
    assert!(seen.status == 200 && seen.body.contains(TECH) && !seen.body.contains("/revoke"), "{seen:?}");
    let other = s.login("admin-beta", crate::serve::PASSWORD);
    let hidden = s.get(&format!("/drops/{id}"), Auth::Cookie(&other));
    let unknown = s.get("/drops/dr-0000000000000000", Auth::Cookie(&other));
    assert_eq!(
        (hidden.status, hidden.body.replace(&id, "ID")),
        (unknown.status, unknown.body.replace("dr-0000000000000000", "ID"))
    );
    let page = s.get(&format!("/drops/{id}"), Auth::Cookie(&tech));
    let csrf = page.body.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let r = s.post_form(&format!("/drops/{id}/revoke"), Auth::Cookie(&tech), &[("csrf", &csrf)]);
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(drop_json(&env, &id)["state"], "revoked");
}

/// A PATCH whose sender stops sending holds its upload 30 s at most: then what arrived is
/// kept (no checksum) and the next PATCH goes on from there. A deferred upload that grows
/// past the drop's maximum is refused (413) and keeps nothing of that PATCH; the sender
/// ends an upload (termination), recorded.
#[test]
fn a_dead_connection_gives_its_upload_back_and_a_deferred_upload_cannot_outgrow_its_drop() {
    use std::io::Write as _;
    let env = drop_env();
    let s = serve(&env);
    let d = open_drop(&env, &["--max-size", "1MiB"]);
    let token = session(&s, &d);
    let c = curl(&s, &token, "/tus/", &["-X", "POST", "-H", "Upload-Defer-Length: 1"]);
    assert_eq!(c.status, 201, "{c:?}");
    let url = c.header("location").unwrap().to_owned();
    // An age file larger than the drop takes.
    std::fs::write(env.path("p"), pseudo_random(1536 * 1024, 5)).unwrap();
    age_encrypt(&d.recipient, &env.path("p"), &env.path("p.age"));
    let file = std::fs::read(env.path("p.age")).unwrap();
    // 1. A PATCH announcing 1,000 bytes, sending its first 10, then silent.
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stalled,
        "PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: 1000\r\n\r\n"
    )
    .unwrap();
    stalled.write_all(&file[..10]).unwrap();
    stalled.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    std::fs::write(env.path("b"), b"x").unwrap();
    let body = format!("@{}", env.path("b").display());
    let patch_at = |offset: &str, extra: &[&str]| {
        let mut args = vec!["-X", "PATCH", "-H", "Content-Type: application/offset+octet-stream"];
        let h = format!("Upload-Offset: {offset}");
        args.extend(["-H", &h]);
        args.extend_from_slice(extra);
        args.extend(["--data-binary", &body]);
        curl(&s, &token, &url, &args)
    };
    let busy = patch_at("0", &[]);
    assert_eq!(busy.status, 423, "{busy:?}");
    std::thread::sleep(std::time::Duration::from_secs(32));
    let head = curl(&s, &token, &url, &["-I"]);
    assert_eq!(head.header("upload-offset"), Some("10"), "what arrived is kept: {head:?}");
    drop(stalled);
    // 2. Growing past 1 MiB: 413, the offset stays.
    std::fs::write(env.path("big"), &file[10..]).unwrap();
    let big = format!("@{}", env.path("big").display());
    let r = patch_with(&s, &token, &url, &["-H", "Upload-Offset: 10", "--data-binary", &big]);
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(curl(&s, &token, &url, &["-I"]).header("upload-offset"), Some("10"));
    // 3. Terminated by its sender: gone, recorded.
    let del = curl(&s, &token, &url, &["-X", "DELETE"]);
    assert_eq!(del.status, 204, "{del:?}");
    assert_eq!(curl(&s, &token, &url, &["-I"]).status, 404);
    assert!(walk(&env.data.join("drops")).is_empty());
    assert_eq!(events(&env, "drop:terminate").len(), 1);
}

/// What an attack on the drop's first version found (each fails on that binary).
#[test]
fn attack_a_refused_patch_takes_its_check_back_and_the_drop_checks_again_when_the_file_lands() {
    let env = drop_env();
    let s = serve(&env);
    // F1: a PATCH past the upload's length is refused (413) and the age check goes back
    // with the bytes: a next PATCH at offset 0 with the file's second half is not age.
    let d = open_drop(&env, &[]);
    let token = session(&s, &d);
    std::fs::write(env.path("p"), pseudo_random(180_000, 9)).unwrap();
    age_encrypt(&d.recipient, &env.path("p"), &env.path("p.age"));
    let file = std::fs::read(env.path("p.age")).unwrap();
    let half = file.len() / 2;
    let c = curl(&s, &token, "/tus/", &["-X", "POST", "-H", &format!("Upload-Length: {half}")]);
    let url = c.header("location").unwrap().to_owned();
    std::fs::write(env.path("over"), &file[..half + 1]).unwrap();
    std::fs::write(env.path("second"), &file[half..]).unwrap();
    let patch = |part: &str| {
        let body = format!("@{}", env.path(part).display());
        patch_with(&s, &token, &url, &["-H", "Upload-Offset: 0", "--data-binary", &body])
    };
    assert_eq!(patch("over").status, 413);
    assert_eq!(curl(&s, &token, &url, &["-I"]).header("upload-offset"), Some("0"));
    let r = patch("second");
    assert_eq!(r.status, 422, "the second half alone is not an age file: {r:?}");
    assert_eq!(env.sql("SELECT count(*) FROM datasets"), "0");
    assert_eq!(drop_json(&env, &d.id)["state"], "open");
    // F4: a drop's uploads under way are bounded; an empty file is no age file.
    for _ in 0..8 {
        assert_eq!(curl(&s, &token, "/tus/", &["-X", "POST", "-H", "Upload-Length: 1000"]).status, 201);
    }
    assert_eq!(curl(&s, &token, "/tus/", &["-X", "POST", "-H", "Upload-Length: 1000"]).status, 413);
    let d2 = open_drop(&env, &[]);
    let token2 = session(&s, &d2);
    assert_eq!(curl(&s, &token2, "/tus/", &["-X", "POST", "-H", "Upload-Length: 0"]).status, 400);
    // F5: the addressee disabled after the drop was opened: the file is not taken.
    env.ok(&["person", "add", "leaving", "--role", "technical-operator"]);
    let mut args = vec!["drop", "create", "--client", "acme", "--to", "leaving", "--contract", "acme-trial", "--json"];
    args.truncate(9);
    let j: Value = serde_json::from_str(&env.ok(&args)).unwrap();
    let d3 = Drop {
        id: j["id"].as_str().unwrap().to_owned(),
        token: j["url"].as_str().unwrap().trim_start_matches("/d/").to_owned(),
        password: j["password"].as_str().unwrap().to_owned(),
        recipient: j["recipient"].as_str().unwrap().to_owned(),
    };
    let token3 = session(&s, &d3);
    env.ok(&["person", "disable", "leaving"]);
    age_encrypt(&d3.recipient, &env.path("p"), &env.path("p3.age"));
    let r = send_whole(&s, &token3, &env.path("p3.age"));
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.body.contains("PRE-3"), "{}", r.body);
    assert_eq!(env.sql("SELECT count(*) FROM datasets"), "0");
}

/// F2: senders holding many PATCHes open do not freeze the server: past 32 at once a PATCH
/// is asked to come back (503, Retry-After), and sign-ins and other drops go on.
#[test]
fn attack_stalled_patches_do_not_freeze_the_server() {
    use std::io::Write as _;
    let env = drop_env();
    let s = serve(&env);
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut stalled = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        let d = open_drop(&env, &[]);
        let token = session(&s, &d);
        for _ in 0..8 {
            let c =
                curl(&s, &token, "/tus/", &["-X", "POST", "-H", "Upload-Concat: partial", "-H", "Upload-Length: 1000"]);
            assert_eq!(c.status, 201, "{c:?}");
            let url = c.header("location").unwrap().to_owned();
            let mut conn = std::net::TcpStream::connect(&addr).unwrap();
            write!(
                conn,
                "PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: 1000\r\n\r\nx"
            )
            .unwrap();
            stalled.push(conn);
            last = Some((token.clone(), url));
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // 32 held: as many as the server writes at once.
    let (token, _) = last.unwrap();
    let c = curl(&s, &token, "/tus/", &["-X", "POST", "-H", "Upload-Concat: partial", "-H", "Upload-Length: 10"]);
    assert_eq!(c.status, 413, "the drop's uploads under way are bounded: {c:?}");
    let d = open_drop(&env, &[]);
    let started = std::time::Instant::now();
    let token = session(&s, &d);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "another drop opens at once");
    let c = curl(&s, &token, "/tus/", &["-X", "POST", "-H", "Upload-Length: 100"]);
    let url = c.header("location").unwrap().to_owned();
    std::fs::write(env.path("one"), b"a").unwrap();
    let body = format!("@{}", env.path("one").display());
    let busy = patch_with(&s, &token, &url, &["-H", "Upload-Offset: 0", "--data-binary", &body]);
    assert_eq!(busy.status, 503, "{busy:?}");
    assert_eq!(busy.header("retry-after"), Some("5"));
    assert_eq!(s.get("/healthz", Auth::None).status, 200);
    drop(stalled);
}
