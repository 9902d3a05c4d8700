//! The question sshd's `AuthorizedPrincipalsCommand` asks the bastion's daemon (`gardien
//! bastion serve`) over its Unix socket, one JSON line each way. Shared by `gardien bastion
//! principals --socket` and the small `gardien-principals` binary sshd runs (it starts in
//! a fraction of the time the whole of gardien does; a login waits for it).

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// The answer's longest.
const LIMIT: u64 = 4096;
/// How long a question may take.
const WAIT: Duration = Duration::from_secs(5);

/// The daemon's answer: the principals line, or the refusal and the exit code it carries.
pub enum Answer {
    /// What sshd reads.
    Line(String),
    /// Why not, and the code the in-process command would exit with.
    Refused(u8, String),
}

/// Asks the daemon at `socket` about `[user, key id, serial, CA fingerprint]`, and names
/// this process's parent: sshd's process for the connection, which the daemon ends if the
/// grant does.
pub fn ask(socket: &Path, args: [&str; 4]) -> Result<Answer, String> {
    let parent = std::os::unix::process::parent_id().to_string();
    let q = [args[0], args[1], args[2], args[3], parent.as_str()];
    let mut s = UnixStream::connect(socket).map_err(|e| {
        format!(
            "the bastion's daemon does not answer at {} (`gardien bastion serve`): {e}; login refused",
            socket.display()
        )
    })?;
    let io = |e: std::io::Error| format!("the bastion's daemon: {e}");
    s.set_read_timeout(Some(WAIT)).map_err(io)?;
    s.set_write_timeout(Some(WAIT)).map_err(io)?;
    let mut line = serde_json::to_vec(&q).map_err(|e| e.to_string())?;
    line.push(b'\n');
    s.write_all(&line).map_err(io)?;
    s.shutdown(std::net::Shutdown::Write).map_err(io)?;
    let mut a = String::new();
    s.take(LIMIT).read_to_string(&mut a).map_err(io)?;
    let a: serde_json::Value =
        serde_json::from_str(&a).map_err(|_| "the bastion's daemon's answer is not JSON".to_owned())?;
    if let Some(line) = a["line"].as_str() {
        return Ok(Answer::Line(line.to_owned()));
    }
    let code = a["code"].as_u64().and_then(|c| u8::try_from(c).ok()).unwrap_or(1);
    Ok(Answer::Refused(code, a["error"].as_str().unwrap_or("the bastion's daemon refused").to_owned()))
}
