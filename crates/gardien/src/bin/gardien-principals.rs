//! `gardien-principals SOCKET USER KEY-ID SERIAL CA-FINGERPRINT`: what sshd runs as the
//! bastion's `AuthorizedPrincipalsCommand` (`gardien bastion sshd-config --socket` writes
//! it). It asks the daemon (`gardien bastion serve`), prints the principals line for a
//! grant in force and exits 0, or says why not on stderr and exits with the refusal's code
//! (4: refused by the policy). Nothing else: it is small so that a login waits for little.
#![forbid(unsafe_code)]

#[path = "../ask.rs"]
mod ask;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [socket, user, key_id, serial, ca] = args.as_slice() else {
        eprintln!("usage: gardien-principals SOCKET USER KEY-ID SERIAL CA-FINGERPRINT (sshd's %u %i %s %F)");
        return ExitCode::from(2);
    };
    match ask::ask(std::path::Path::new(socket), [user, key_id, serial, ca]) {
        Ok(ask::Answer::Line(line)) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Ok(ask::Answer::Refused(code, why)) => {
            eprintln!("gardien-principals: {}", why.escape_debug());
            ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("gardien-principals: {}", e.escape_debug());
            ExitCode::from(1)
        }
    }
}
